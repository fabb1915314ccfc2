"""Serves the HTTP API locally, the way API Gateway would call the functions.

``make local`` runs ``python -m infra.local_api``: it reads every ``HttpApi`` event of every function in
``template.yaml`` (the one route table), turns each HTTP request into an API Gateway HTTP API (payload
2.0) event and invokes that function's handler in this process. With ``DATABASE_URL`` unset it starts
an embedded PostgreSQL and migrates it first. Neither Docker nor AWS is needed.
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import json
import os
import re
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
TEXT_TYPES = ("application/json", "application/jsonl", "text/")


class _TemplateLoader(yaml.SafeLoader):
    """YAML loader that accepts CloudFormation's short-form tags (!Ref, !Sub, ...) as plain values."""


def _cloudformation_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
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

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


def routes_from_template(template: dict[str, Any] | None = None) -> list[Route]:
    template = template or load_template()
    globals_ = template.get("Globals", {}).get("Function", {})
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
            routes.append(
                Route(
                    method=method,
                    path=path,
                    function=logical_id,
                    code_dir=ROOT / properties.get("CodeUri", globals_.get("CodeUri", ".")),
                    handler=properties.get("Handler", globals_.get("Handler", "app.lambda_handler")),
                    pattern=re.compile(f"^{regex}$"),
                )
            )
    return routes


def load_handler(code_dir: Path, handler: str = "app.lambda_handler"):
    """Import a function's handler from its code directory, as Lambda does, under a unique name."""
    module_name, _, attribute = handler.rpartition(".")
    module = _load_module(code_dir / f"{module_name}.py", f"lambda_{code_dir.name}_{module_name}")
    return getattr(module, attribute)


def _load_module(path: Path, name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class LocalContext:
    """The parts of the Lambda context object that Powertools reads."""

    function_name: str = "local"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    aws_request_id: str = ""
    log_group_name: str = "local"
    log_stream_name: str = "local"
    timeout_seconds: float = 30.0

    def __post_init__(self) -> None:
        self.aws_request_id = self.aws_request_id or str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


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
    content_type = headers.get("content-type", "application/json")
    if base64_encoded is None:
        base64_encoded = raw is not None and not content_type.startswith(TEXT_TYPES)
    if raw is None:
        event_body = None
    elif base64_encoded:
        event_body = base64.b64encode(raw).decode()
    else:
        event_body = raw.decode("utf-8", errors="replace")
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


class LocalApi:
    """Matches requests against the template's routes and invokes the right handler."""

    def __init__(self, routes: list[Route]):
        self.routes = routes
        self._handlers: dict[str, Any] = {}

    def handler_for(self, route: Route):
        if route.function not in self._handlers:
            self._handlers[route.function] = load_handler(route.code_dir, route.handler)
        return self._handlers[route.function]

    def invoke(self, method: str, target: str, headers: dict[str, str], body: bytes | None) -> tuple[int, dict, bytes]:
        parts = urlsplit(target)
        path = parts.path or "/"
        matching = [(route, route.pattern.match(path)) for route in self.routes]
        matching = [(route, match) for route, match in matching if match]
        chosen = next(((route, match) for route, match in matching if route.method == method.upper()), None)
        if chosen is None:
            return self._no_route(method, path, {route.method for route, _ in matching})
        route, match = chosen
        event = api_gateway_event(
            method,
            path,
            body=body if body else None,
            headers=headers,
            query=parts.query,
            route_key=route.route_key,
            path_parameters=match.groupdict() or None,
        )
        result = self.handler_for(route)(event, LocalContext(function_name=route.function))
        payload = result.get("body") or ""
        raw = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
        response_headers = dict(result.get("headers") or {})
        for cookie in result.get("cookies") or []:
            response_headers.setdefault("Set-Cookie", cookie)
        return int(result.get("statusCode", 200)), response_headers, raw

    @staticmethod
    def _no_route(method: str, path: str, allowed: set[str]) -> tuple[int, dict, bytes]:
        if allowed:
            status, code, message = 405, "method_not_allowed", f"{method} is not allowed on {path}."
            headers = {"Allow": ", ".join(sorted(allowed))}
        else:
            status, code, message, headers = 404, "not_found", f"No route for {method} {path}.", {}
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        return status, {"Content-Type": "application/json", **headers}, body


def make_server(api: LocalApi, host: str = "127.0.0.1", port: int = 3000) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            status, headers, payload = api.invoke(self.command, self.path, dict(self.headers.items()), body)
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def prepare_database(data_dir: Path) -> Any:
    """Use DATABASE_URL, or start the embedded server; migrate either. Returns the server to stop."""
    from infra import embedded_postgres
    from infra.migrations.migrate import upgrade

    server = None
    if not os.environ.get("DATABASE_URL") and not os.environ.get("DB_SECRET_ARN"):
        server, server_url = embedded_postgres.start(data_dir, keep=True)
        os.environ["DATABASE_URL"] = embedded_postgres.create_database(server_url, "shop_marketing")
        print(f"embedded PostgreSQL in {data_dir}", flush=True)
    upgrade()
    return server


def prepare_openai() -> Any:
    """No OpenAI key: serve the project's OpenAI stand-in in this process and point the SDK at it.
    Returns the stand-in's server (None when the real API is used)."""
    if os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_API_KEY_SECRET_ARN"):
        print(f"OpenAI: {os.environ.get('OPENAI_BASE_URL') or 'the real API'}", flush=True)
        return None
    from infra.openai_standin import start_in_background

    server, base_url = start_in_background()
    os.environ["OPENAI_BASE_URL"] = base_url
    os.environ["OPENAI_API_KEY"] = "sk-local-standin"
    print(
        f"no OPENAI_API_KEY: OpenAI calls go to the project's stand-in at {base_url} "
        "(chat, files, fine-tuning jobs that run to success); set OPENAI_API_KEY to use the real API",
        flush=True,
    )
    return server


def prepare_evaluations_queue() -> None:
    """Without EVALUATION_QUEUE_URL, evaluations run on this process's own queue (infra/local_queue.py)."""
    if os.environ.get("EVALUATION_QUEUE_URL"):
        return
    from infra.local_queue import LocalQueue
    from shop_marketing.judging import evaluation_queue

    evaluation_queue.set_local_delivery(LocalQueue(ROOT / "functions" / "judges"))
    print("evaluations: judged in the background by this process", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".local" / "postgres")
    arguments = parser.parse_args(argv)

    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "shop-marketing-local")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "ShopMarketingLocal")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    standin = prepare_openai()  # before anything reads the settings (they are read once)
    server = prepare_database(arguments.data_dir)
    prepare_evaluations_queue()
    api = LocalApi(routes_from_template())
    httpd = make_server(api, arguments.host, arguments.port)
    for route in api.routes:
        print(f"  {route.method:6} {route.path}  ->  {route.function}", flush=True)
    print(f"serving on http://{arguments.host}:{arguments.port}", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
        if standin is not None:
            standin.shutdown()
        if server is not None:
            server.cleanup()


if __name__ == "__main__":
    main()
