"""What API Gateway does for the local run: the route table read from template.yaml (every function's
``HttpApi`` events), the ``$default`` route that answers requests no route matches, and the HTTP API
(payload 2.0) event a request becomes.

``python -m infra.api_gateway`` writes the route table the ``$default`` route's function ships with
(functions/unrouted/routes.json); a test holds it equal to template.yaml's routes."""

from __future__ import annotations

import base64
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import yaml

from infra.local_auth import route_scopes

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
# The route API Gateway sends every request that matches no other route to.
DEFAULT_ROUTE = "$default"
ROUTE_TABLE = ROOT / "functions" / "unrouted" / "routes.json"
TEXT_TYPES = ("application/json", "application/jsonl", "text/")


class _TemplateLoader(yaml.SafeLoader):
    """YAML loader that accepts CloudFormation's short-form tags (!Ref, !Sub, ...) as plain values."""


def _cloudformation_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)  # the only other kind of node
        value = loader.construct_mapping(node, deep=True)
    return {suffix: value}


_TemplateLoader.add_multi_constructor("!", _cloudformation_tag)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_TemplateLoader)  # noqa: S506 - SafeLoader subclass


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # API Gateway form: /stores/{store_id}
    function: str  # logical id in the template
    code_dir: Path
    handler: str  # module.function
    pattern: re.Pattern
    scopes: tuple[str, ...] | None = ()  # what the API's JWT authorizer demands; None: public (webhooks)

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


def routes_from_template(template: dict[str, Any] | None = None) -> list[Route]:
    """Every route of the API, ``$default`` (no route of its own: what matches none) left out."""
    return [route for route in _http_api_routes(template) if route.path != DEFAULT_ROUTE]


def default_route_from_template(template: dict[str, Any] | None = None) -> Route:
    """The ``$default`` route: the function that answers every request no route matches."""
    [route] = [route for route in _http_api_routes(template) if route.path == DEFAULT_ROUTE]
    return route


def route_table(routes: list[Route]) -> list[list[str]]:
    """The routes as the ``$default`` route's function reads them: ``[method, path]``, sorted."""
    return sorted([route.method, route.path] for route in routes)


def write_route_table(file: Path = ROUTE_TABLE) -> None:
    lines = ",\n".join(f" {json.dumps(route)}" for route in route_table(routes_from_template()))
    file.write_text(f"[\n{lines}\n]\n")


def _http_api_routes(template: dict[str, Any] | None = None) -> list[Route]:
    template = template or load_template()
    globals_ = template.get("Globals", {}).get("Function", {})
    resources = template["Resources"]
    routes = []
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        for event in properties.get("Events", {}).values():
            if event.get("Type") != "HttpApi":
                continue
            path, method = event["Properties"]["Path"], event["Properties"]["Method"].upper()
            regex = re.sub(r"\{(\w+)\+?\}", lambda m: f"(?P<{m.group(1)}>[^/]+)", path)
            api_id = event["Properties"].get("ApiId")
            api = resources.get(api_id["Ref"]) if isinstance(api_id, dict) and "Ref" in api_id else None
            routes.append(
                Route(
                    method=method,
                    path=path,
                    function=logical_id,
                    code_dir=ROOT / properties.get("CodeUri", globals_.get("CodeUri", ".")),
                    handler=properties.get("Handler", globals_.get("Handler", "app.lambda_handler")),
                    pattern=re.compile(f"^{regex}$"),
                    scopes=route_scopes(api, event),
                )
            )
    return routes


def api_gateway_event(
    method: str,
    path: str,
    *,
    body: bytes | str | None = None,
    headers: dict[str, str] | None = None,
    query: str = "",
    route_key: str | None = None,
    path_parameters: dict[str, str] | None = None,
    base64_encoded: bool | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event, shaped as API Gateway sends it."""
    headers = {name.lower(): value for name, value in (headers or {}).items()}
    raw = body.encode() if isinstance(body, str) else body
    content_type = headers.get("content-type", "application/json").lower()
    if base64_encoded is None:
        # As API Gateway does: a body passes as text only if it is text and decodes as UTF-8;
        # anything else (an image, invalid UTF-8) arrives base64-encoded.
        base64_encoded = raw is not None and not (content_type.startswith(TEXT_TYPES) and _is_utf8(raw))
    if raw is None:
        event_body = None
    elif base64_encoded:
        event_body = base64.b64encode(raw).decode()
    else:
        event_body = raw.decode("utf-8")
    now = datetime.now(UTC)
    request_id = str(uuid.uuid4())
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key or f"{method.upper()} {path}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"host": "127.0.0.1:3000", "x-amzn-trace-id": f"Root=1-{request_id[:8]}", **headers},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "127.0.0.1",
            "domainPrefix": "local",
            "http": {
                "method": method.upper(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("user-agent", "local"),
            },
            "requestId": request_id,
            "routeKey": route_key or f"{method.upper()} {path}",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": base64_encoded,
    }
    if query:
        parameters: dict[str, str] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            parameters[name] = f"{parameters[name]},{value}" if name in parameters else value
        event["queryStringParameters"] = parameters
    if path_parameters:
        event["pathParameters"] = path_parameters
    if event_body is not None:
        event["body"] = event_body
    return event


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


if __name__ == "__main__":
    write_route_table()
    print(f"wrote {ROUTE_TABLE.relative_to(ROOT)}")
