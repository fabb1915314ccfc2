"""The answer to every request that matches no route: 405 with ``Allow`` for a known path, else 404.

API Gateway sends a request that matches none of the HTTP API's routes to its ``$default`` route (this
function) instead of answering its own ``404 {"message": "Not Found"}``. The contract's answer is in the
product's error shape: ``405 method_not_allowed`` with an ``Allow`` header naming the path's methods when
a route of the API serves the path with another method (``PATCH /stores/1``), else ``404 not_found``.
A path of its own (``/judges/rollback``) serves its own methods, not those of a route with a parameter
that matches it too (``/judges/{judge_id}``). HEAD and OPTIONS are methods like any other: no route
declares them, so a known path answers them 405 and any other path 404 (CORS preflights never get
here: API Gateway answers them from the API's CORS configuration).

The route table is ``routes.json`` beside this module, written from template.yaml by
``python -m infra.api_gateway`` and held equal to it by a test. The route has no authorizer (a
caller without a token gets 404 or 405, as anyone may learn from the API's description), so it has its
own throttle and reserved concurrency, like the webhooks. No database, no secret, no network call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shop_marketing.errors import error_object

ROUTES_FILE = Path(__file__).with_name("routes.json")
# A path is quoted in the message up to this length: a hostile one is not echoed whole.
MAX_QUOTED_PATH = 200


def _pattern(path: str) -> re.Pattern[str]:
    """``/stores/{store_id}`` as API Gateway matches it: a parameter is one segment, ``{proxy+}`` the rest."""
    parts = re.split(r"(\{[^/{}]+\})", path)
    regex = "".join(
        (".+" if part.endswith("+}") else "[^/]+") if part.startswith("{") else re.escape(part) for part in parts
    )
    return re.compile(f"^{regex}$", re.DOTALL)


def load_routes(file: Path = ROUTES_FILE) -> list[tuple[str, str]]:
    """The API's routes, ``(method, path)`` in API Gateway's form (``/stores/{store_id}``)."""
    return [(method, path) for method, path in json.loads(file.read_text())]


class RouteTable:
    """Which methods the API's routes serve on a concrete path."""

    def __init__(self, routes: list[tuple[str, str]]):
        self.routes = [(method.upper(), path, _pattern(path)) for method, path in routes]

    def allowed(self, path: str) -> set[str]:
        matching = [(method, template) for method, template, pattern in self.routes if pattern.match(path)]
        fixed = {method for method, template in matching if "{" not in template}
        return fixed or {method for method, _ in matching}

    def answer(self, method: str, path: str) -> tuple[int, dict[str, str], str]:
        """The status, headers and body for ``method path``, which no route serves."""
        quoted = path if len(path) <= MAX_QUOTED_PATH else path[:MAX_QUOTED_PATH] + "..."
        headers = {"Content-Type": "application/json"}
        allowed = self.allowed(path)
        if allowed:
            headers["Allow"] = ", ".join(sorted(allowed))
            error = error_object("method_not_allowed", f"{method} is not allowed on {quoted}.")
            return 405, headers, json.dumps({"error": error})
        return 404, headers, json.dumps({"error": error_object("not_found", f"No route for {method} {quoted}.")})


TABLE = RouteTable(load_routes())


def _text(value: Any, default: str) -> str:
    return value if isinstance(value, str) and value else default


def _member(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, Mapping) else None


def lambda_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway's HTTP API event (payload 2.0) of an unrouted request: its answer, never a failure."""
    http = _member(_member(event, "requestContext"), "http")
    method = _text(_member(http, "method"), "GET").upper()
    path = _text(_member(event, "rawPath"), _text(_member(http, "path"), "/"))
    status, headers, body = TABLE.answer(method, path)
    return {"statusCode": status, "headers": headers, "body": body, "isBase64Encoded": False}
