"""Serves the HTTP API locally, the way API Gateway would call the functions.

``make local`` runs ``python -m infra.local_api``: it reads every ``HttpApi`` event of every function in
``template.yaml`` (the one route table), turns each HTTP request into an API Gateway HTTP API (payload
2.0) event and invokes that function's handler in this process. With ``DATABASE_URL`` unset it starts
an embedded PostgreSQL and migrates it first. Neither Docker nor AWS is needed.

A request no route matches is answered as API Gateway's ``$default`` route answers it in AWS: by that
route's function (functions/unrouted: 404, or 405 with ``Allow``), invoked here the same way.

``GET /openapi.json`` is the API's description, merged from what each function's resolver generates
from its code, and ``GET /docs`` shows it (Swagger UI, served from the Powertools package, offline).
Every handler is imported before the server accepts a request, and the listen backlog takes a burst.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import signal
import sys
import threading
from datetime import date
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from infra.api_gateway import ROOT, Route, api_gateway_event, default_route_from_template, routes_from_template
from infra.lambda_runtime import LocalContext, load_handler
from infra.local_auth import LocalAuth, authorizer_context
from infra.loopback import LoopbackHandler

# Banner images rendered locally live under BANNER_IMAGES_DIR and are served here, like CloudFront in AWS.
BANNER_IMAGES_PATH = "/banner-images/"
BANNER_IMAGE_NAME = re.compile(r"^[0-9a-f]{64}\.png$")
# The review console (console/) is served at /console/ against this API, with no sign-in; its font is
# the one the banner images are drawn with. In AWS the same files come from the console's CloudFront.
CONSOLE_PATH = "/console/"
CONSOLE_DIR = ROOT / "console"
CONSOLE_FONTS = ROOT / "shared" / "shop_marketing" / "banners" / "fonts"
CONSOLE_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".ttf": "font/ttf",
    ".json": "application/json",
    ".svg": "image/svg+xml",
}
# An OAuth server the console may sign people in with locally (LOCAL_AUTH=enforce): its hosted page's
# base URL and a public client's id; it must issue tokens this run accepts (LOCAL_AUTH_SECRET).
CONSOLE_SIGN_IN_SETTINGS = ("CONSOLE_SIGN_IN_URL", "CONSOLE_CLIENT_ID")
CONSOLE_FILE = re.compile(r"^(?:fonts/)?[A-Za-z0-9_-]+\.[a-z]+$")
API_TITLE = "Shop marketing API"
# Connections a burst may open before the server accepts them (the socketserver default is 5).
LISTEN_BACKLOG = 128


def merged_openapi(apps: list[Any], title: str = API_TITLE) -> dict[str, Any]:
    """One OpenAPI description from each function's resolver (paths and component schemas)."""
    merged: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": "1.0.0",
            "description": (
                'Every error answer is {"error": {"code", "message", "details"?, "details_truncated"?}}; '
                "see the contract for each code. A method a path does not list is answered 405 "
                "(method_not_allowed) with an Allow header naming those it does."
            ),
        },
        "paths": {},
        "components": {"schemas": {}},
    }
    for app in apps:
        part = json.loads(app.get_openapi_json_schema(title=title))
        for path, operations in part.get("paths", {}).items():
            merged["paths"].setdefault(path, {}).update(operations)
        merged["components"]["schemas"].update(part.get("components", {}).get("schemas", {}))
        merged["components"].setdefault("securitySchemes", {}).update(
            part.get("components", {}).get("securitySchemes", {})
        )
    merged["paths"] = dict(sorted(merged["paths"].items()))
    merged["components"]["schemas"] = dict(sorted(merged["components"]["schemas"].items()))
    return merged


def docs_page(spec: dict[str, Any]) -> str:
    """Swagger UI for ``spec``, its script and style inlined from the Powertools package."""
    from aws_lambda_powertools.event_handler.openapi.swagger_ui import html

    folder = Path(html.__file__).parent
    return html.generate_swagger_html(
        json.dumps(spec),
        (folder / "swagger-ui-bundle.min.js").read_text(),
        (folder / "swagger-ui.min.css").read_text(),
        "",
        None,
    )


class LocalApi:
    """Matches requests against the template's routes and invokes the right handler; a request no route
    matches goes to the ``$default`` route's function (``unrouted``: the template's unless given)."""

    def __init__(self, routes: list[Route], auth: LocalAuth | None = None, unrouted: Route | None = None):
        self.routes = routes
        self.auth = auth  # None: every route open (the default local run)
        self.unrouted = unrouted or default_route_from_template()
        self._handlers: dict[str, Any] = {}
        # One invocation at a time per function, as in one Lambda execution environment: the
        # Powertools resolver keeps the current event on itself, so it is not for threads.
        self._locks: dict[str, threading.Lock] = {
            route.function: threading.Lock() for route in [*routes, self.unrouted]
        }
        self._load_lock = threading.Lock()
        self._openapi: dict[str, Any] | None = None
        self.unavailable: dict[str, str] = {}
        self.console_auth: dict[str, str] | None = None  # where the console signs people in, if anywhere

    def load_all(self) -> LocalApi:
        """Import every function before serving, so no request races an import. A function that
        cannot start (a missing setting) is reported once here; its routes then answer 503."""
        for route in [*self.routes, self.unrouted]:
            if route.function in self._handlers or route.function in self.unavailable:
                continue
            try:
                self.handler_for(route)
            except SystemExit:
                self.unavailable[route.function] = f"{route.function} could not start: see the line above."
                print(self.unavailable[route.function], file=sys.stderr, flush=True)
        return self

    def handler_for(self, route: Route):
        with self._load_lock:
            if route.function not in self._handlers:
                self._handlers[route.function] = load_handler(route.code_dir, route.handler)
            return self._handlers[route.function]

    def openapi(self) -> dict[str, Any]:
        if self._openapi is None:
            apps = []
            for route in self.routes:
                if route.function in self.unavailable:
                    continue
                module = sys.modules[self.handler_for(route).__module__]
                if getattr(module, "app", None) is not None and module.app not in apps:
                    apps.append(module.app)
            self._openapi = merged_openapi(apps)
        return self._openapi

    def invoke(self, method: str, target: str, headers: dict[str, str], body: bytes | None) -> tuple[int, dict, bytes]:
        parts = urlsplit(target)
        path = parts.path or "/"
        if method.upper() == "GET" and path.startswith(BANNER_IMAGES_PATH):
            return self._banner_image(path.removeprefix(BANNER_IMAGES_PATH), headers)
        if method.upper() in ("GET", "HEAD") and (path == CONSOLE_PATH.rstrip("/") or path.startswith(CONSOLE_PATH)):
            if path == CONSOLE_PATH.rstrip("/"):  # relative links resolve from the folder, so add the slash
                return 308, {"Location": CONSOLE_PATH, "Content-Type": "application/json"}, b"{}"
            return self._console(path.removeprefix(CONSOLE_PATH), self.console_auth)
        if method.upper() == "GET" and path == "/openapi.json":
            return 200, {"Content-Type": "application/json"}, json.dumps(self.openapi()).encode()
        if method.upper() == "GET" and path == "/docs":
            return 200, {"Content-Type": "text/html; charset=utf-8"}, docs_page(self.openapi()).encode()
        matching = [(route, match) for route in self.routes if (match := route.pattern.match(path))]
        chosen = next(((route, match) for route, match in matching if route.method == method.upper()), None)
        if chosen is None:
            return self.unrouted_answer(method, path, headers, parts.query, body)
        route, match = chosen
        claims = None
        if self.auth is not None:
            refused, claims = self.auth.check(route.scopes, headers)
            if refused is not None:
                return refused
        event = api_gateway_event(
            method,
            path,
            body=body if body else None,
            headers=headers,
            query=parts.query,
            route_key=route.route_key,
            path_parameters=match.groupdict() or None,
        )
        if claims is not None:
            event["requestContext"]["authorizer"] = authorizer_context(claims)
        return self._call(route, event)

    def unrouted_answer(
        self, method: str, path: str, headers: dict[str, str], query: str = "", body: bytes | None = None
    ) -> tuple[int, dict, bytes]:
        """What the ``$default`` route's function answers a request no route matches (404 or 405)."""
        event = api_gateway_event(
            method, path, body=body or None, headers=headers, query=query, route_key=self.unrouted.path
        )
        return self._call(self.unrouted, event)

    def _call(self, route: Route, event: dict[str, Any]) -> tuple[int, dict, bytes]:
        if route.function in self.unavailable:
            return _error(503, "function_unavailable", self.unavailable[route.function])
        handler = self.handler_for(route)
        with self._locks[route.function]:
            result = handler(event, LocalContext(function_name=route.function))
        payload = result.get("body") or ""
        raw = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
        response_headers = dict(result.get("headers") or {})
        for cookie in result.get("cookies") or []:
            response_headers.setdefault("Set-Cookie", cookie)
        return int(result.get("statusCode", 200)), response_headers, raw

    @staticmethod
    def _console(name: str, auth: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
        """The console's static files; ``config.json`` tells it the API is this origin, and how to sign
        in (``None``: no sign-in, the default local run)."""
        name = name or "index.html"
        headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
        if name == "config.json":
            config = {"api_url": "", "auth": auth}
            return 200, {**headers, "Content-Type": CONSOLE_TYPES[".json"]}, json.dumps(config).encode()
        if CONSOLE_FILE.match(name):
            folder, _, file_name = name.rpartition("/")
            found = (CONSOLE_FONTS if folder == "fonts" else CONSOLE_DIR) / file_name
            kind = CONSOLE_TYPES.get(found.suffix)
            if kind and found.is_file():
                return 200, {**headers, "Content-Type": kind}, found.read_bytes()
        return _error(404, "not_found", f"The console has no file {name!r}.")

    def _banner_image(self, name: str, headers: dict[str, str]) -> tuple[int, dict, bytes]:
        directory = os.environ.get("BANNER_IMAGES_DIR")
        image = Path(directory) / name if directory and BANNER_IMAGE_NAME.match(name) else None
        if image is None or not image.is_file():
            return self.unrouted_answer("GET", BANNER_IMAGES_PATH + name, headers)
        return (
            200,
            {"Content-Type": "image/png", "Cache-Control": "public, max-age=31536000, immutable"},
            image.read_bytes(),
        )


def sign_in_scopes() -> str:
    """What the console asks the sign-in page for: the product's scopes (a person gets their groups')."""
    from shop_marketing.access import SCOPES

    return " ".join(["openid", "email", *SCOPES])


def console_sign_in(auth: LocalAuth | None) -> dict[str, str] | None:
    """The console's sign-in settings from CONSOLE_SIGN_IN_URL and CONSOLE_CLIENT_ID (both or neither)."""
    sign_in_url, client_id = (os.environ.get(name, "").strip() for name in CONSOLE_SIGN_IN_SETTINGS)
    if not sign_in_url and not client_id:
        return None
    if not sign_in_url or not client_id or auth is None:
        raise SystemExit(
            "configuration: CONSOLE_SIGN_IN_URL and CONSOLE_CLIENT_ID go together, with LOCAL_AUTH=enforce"
        )
    return {"domain": sign_in_url.rstrip("/"), "client_id": client_id, "scopes": sign_in_scopes()}


def make_server(api: LocalApi, host: str = "127.0.0.1", port: int = 3000) -> ThreadingHTTPServer:
    class Handler(LoopbackHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            # The request line only: never bodies.
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

        def _serve(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0:
                status, headers, payload = _error(400, "bad_request", "Content-Length is not a number.")
            else:
                body = self.rfile.read(length) if length else None
                status, headers, payload = api.invoke(self.command, self.path, dict(self.headers.items()), body)
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        # Every method (OPTIONS, HEAD, TRACE, QUERY, anything) gets an answer in the API's error shape
        # (405 with Allow, or 404), never the standard library's HTML "501 Unsupported method".
        def __getattr__(self, name: str) -> Any:
            if name.startswith("do_"):
                return self._serve
            raise AttributeError(name)

    class Server(ThreadingHTTPServer):
        request_queue_size = LISTEN_BACKLOG
        daemon_threads = True

    return Server((host, port), Handler)


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return status, {"Content-Type": "application/json", **(headers or {})}, body


LOCAL_APPLICATION_ROLE = "shop_marketing_app"


def prepare_database(data_dir: Path) -> Any:
    """Use DATABASE_URL, or start the embedded server; migrate either. Returns the server to stop.

    On the embedded server the functions then sign in as the application role, as in AWS: the master
    migrates, the routes only read and write rows.
    """
    import secrets

    import sqlalchemy as sa

    from infra import embedded_postgres
    from infra.migrations.migrate import upgrade

    server = None
    if not os.environ.get("DATABASE_URL") and not os.environ.get("DB_SECRET_ARN"):
        server, server_url = embedded_postgres.start(data_dir, keep=True)
        master_url = embedded_postgres.create_database(server_url, "shop_marketing")
        os.environ["DATABASE_URL"] = master_url
        print(f"embedded PostgreSQL in {data_dir}", flush=True)
    upgrade()
    if server is not None:
        from shop_marketing.config import get_settings
        from shop_marketing.database_roles import ensure_application_login

        password = secrets.token_urlsafe(24)
        master = sa.create_engine(master_url)
        with master.begin() as connection:
            ensure_application_login(connection, LOCAL_APPLICATION_ROLE, password)
        master.dispose()
        url = sa.make_url(master_url).set(username=LOCAL_APPLICATION_ROLE, password=password)
        os.environ["DATABASE_URL"] = url.render_as_string(hide_password=False)
        get_settings.cache_clear()
        print(f"database: the routes sign in as {LOCAL_APPLICATION_ROLE} (rows only, as in AWS)", flush=True)
    return server


def prepare_openai(calendar_as_of: date | None = None) -> Any:
    """No OpenAI key: serve the project's OpenAI stand-in in this process and point the SDK at it.
    ``calendar_as_of`` lays its calendar out as it lay on that day, relative to today (see
    ``infra.openai_standin.calendar_from``). Returns the stand-in's server (None when the real API is used)."""
    if os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_API_KEY_SECRET_ARN"):
        print(f"OpenAI: {os.environ.get('OPENAI_BASE_URL') or 'the real API'}", flush=True)
        return None
    from infra.openai_standin import local_behaviour, start_in_background

    # Only the models OpenAI's catalog lists are served, each until its shutdown date.
    behaviour = local_behaviour(calendar_as_of)
    server, base_url = start_in_background(behaviour)
    os.environ["OPENAI_BASE_URL"] = base_url
    os.environ["OPENAI_API_KEY"] = "sk-local-standin"
    print(
        f"no OPENAI_API_KEY: OpenAI calls go to the project's stand-in at {base_url} "
        "(chat, embeddings, models with their shutdown dates, files, fine-tuning jobs that run to success); "
        "set OPENAI_API_KEY to use the real API",
        flush=True,
    )
    print(f'the stand-in\'s clock: {base_url}/standin/clock (POST {{"today": "YYYY-MM-DD"}} moves it)', flush=True)
    if calendar_as_of is not None and behaviour.fine_tuning_cutoff is not None:
        dates = sorted({card.shutdown_date for card in behaviour.models.values() if card.shutdown_date})
        print(
            f"the stand-in's calendar as it lay on {calendar_as_of.isoformat()}, moved to today: shutdown dates "
            f"{', '.join(day.isoformat() for day in dates)}; no fine-tuning job after "
            f"{behaviour.fine_tuning_cutoff.isoformat()}",
            flush=True,
        )
    return server


def prepare_evaluations_queue() -> None:
    """Without EVALUATION_QUEUE_URL, evaluations run on this process's own queue (infra/local_queue.py)."""
    if os.environ.get("EVALUATION_QUEUE_URL"):
        return
    from infra.local_queue import LocalQueue
    from shop_marketing.judging import evaluation_queue

    judges = ROOT / "functions" / "judges"
    evaluation_queue.deliver_without_a_queue(
        LocalQueue(
            lambda: load_handler(judges, "app.evaluation_queue_handler"),
            lambda: LocalContext(function_name="JudgesEvaluationQueueFunction"),
        )
    )
    print("evaluations: judged in the background by this process", flush=True)


def prepare_judge_queue() -> None:
    """Without JUDGE_QUEUE_URL, comments that arrive by webhook or fetch are judged on this process's own
    queue, by the judge's queue handler, as the judge queue judges them in AWS (infra/local_queue.py)."""
    if os.environ.get("JUDGE_QUEUE_URL"):
        return
    from infra.local_queue import LocalQueue
    from shop_marketing import judge_queue

    judge_queue.deliver_without_a_queue(
        LocalQueue(
            lambda: load_handler(ROOT / "functions" / "judge_comment", "app.queue_handler"),
            lambda: LocalContext(function_name="JudgeCommentQueueFunction"),
            name="judge",
        )
    )
    print("comments to judge: judged in the background by this process", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".local" / "postgres")
    parser.add_argument(
        "--calendar-as-of",
        type=date.fromisoformat,
        default=None,
        help="the OpenAI stand-in's calendar as it lay on this day (YYYY-MM-DD), relative to today: every shutdown "
        "date and the fine-tuning cut-off moved by (today - that day); default: $OPENAI_STANDIN_CALENDAR_AS_OF, "
        "else OpenAI's own dates",
    )
    arguments = parser.parse_args(argv)

    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "shop-marketing-local")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "ShopMarketingLocal")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    # One process serves every function here: an activation (the judges function) takes effect on the
    # judge's next request, instead of after the active-judge cache's TTL as in AWS.
    os.environ.setdefault("ACTIVE_MODEL_TTL_SECONDS", "0")
    auth = LocalAuth.from_environment()
    os.environ.setdefault("BANNER_IMAGES_DIR", str(ROOT / ".local" / "banner-images"))
    os.environ.setdefault("BANNER_IMAGES_BASE_URL", f"http://{arguments.host}:{arguments.port}/banner-images")
    from infra.openai_standin import calendar_as_of_from_environment

    standin = prepare_openai(
        arguments.calendar_as_of or calendar_as_of_from_environment()
    )  # before anything reads the settings (they are read once)
    server = prepare_database(arguments.data_dir)
    prepare_evaluations_queue()
    prepare_judge_queue()
    api = LocalApi(routes_from_template(), auth).load_all()
    api.console_auth = console_sign_in(auth)
    api.openapi()
    httpd = make_server(api, arguments.host, arguments.port)
    for route in api.routes:
        access = "public" if route.scopes is None else " ".join(route.scopes) or "any token"
        print(f"  {route.method:6} {route.path}  ->  {route.function}  [{access}]", flush=True)
    print(f"  {'ANY':6} {api.unrouted.path}  ->  {api.unrouted.function}  [public: 404, or 405 with Allow]", flush=True)
    if auth is None:
        print(
            "authentication: OFF - every route is open "
            "(LOCAL_AUTH=enforce and LOCAL_AUTH_SECRET apply the template's JWT scopes)",
            flush=True,
        )
    else:
        print(
            f"authentication: ENFORCED - Bearer JWTs (HS256, iss {auth.issuer}) with the route's scope; "
            "python -m infra.local_auth SCOPE... prints one",
            flush=True,
        )
    signing_in = f" (people sign in at {api.console_auth['domain']})" if api.console_auth else " (no sign-in)"
    print(f"review console: http://{arguments.host}:{arguments.port}{CONSOLE_PATH}{signing_in}", flush=True)
    print(f"serving on http://{arguments.host}:{arguments.port} (description: /openapi.json, docs: /docs)", flush=True)
    # Ctrl-C, or SIGTERM (a process manager; a shell's background job ignores SIGINT): either way the
    # stand-in and the embedded PostgreSQL are stopped below.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
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
