"""A stand-in for the OpenAI API: a real HTTP server on loopback that the tests script.

The real openai SDK talks to it over HTTP (``OPENAI_BASE_URL``), so its retries, timeouts and parsing
are what the tests exercise. A test registers a responder per ``(method, path)``; every request is
recorded (method, path, headers, raw body) for assertions. A responder returns a :class:`Reply`,
which can also delay, or drop the connection without answering.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

from infra.loopback import LoopbackHandler


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False


Responder = Callable[[Recorded, re.Match], Reply]


class OpenAIStandIn:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._routes: list[tuple[str, re.Pattern, Responder]] = []
        # What answers a request no route scripts: the project's behaving stand-in, when given.
        self.behaviour: Any = None
        self._lock = threading.Lock()
        standin = self

        class Handler(LoopbackHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path, _, query = self.path.partition("?")
                recorded = Recorded(self.command, path, query, {k.lower(): v for k, v in self.headers.items()}, body)
                reply = standin._dispatch(recorded)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                payload = json.dumps(reply.json).encode() if reply.json is not None else reply.body
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.headers.pop("Content-Type", "application/json"))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = do_PUT = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # A short poll interval: stop() waits for it, once per test.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def on(self, method: str, path_pattern: str, responder: Responder) -> None:
        """Answer ``method`` requests whose path fully matches the regex ``path_pattern``
        (without the ``/v1`` prefix). Later registrations win over earlier ones."""
        with self._lock:
            self._routes.insert(0, (method.upper(), re.compile(path_pattern), responder))

    def behave(self, behaviour: Any) -> Any:
        """Answer every request no route scripts with ``behaviour`` (``infra.openai_standin.BehavingOpenAI``)."""
        self.behaviour = behaviour
        return behaviour

    def requests_to(self, method: str, path_pattern: str) -> list[Recorded]:
        pattern = re.compile(path_pattern)
        return [
            r for r in self.requests if r.method == method.upper() and pattern.fullmatch(r.path.removeprefix("/v1"))
        ]

    def _dispatch(self, recorded: Recorded) -> Reply:
        with self._lock:
            self.requests.append(recorded)
            routes = list(self._routes)
        path = recorded.path.removeprefix("/v1")
        for method, pattern, responder in routes:
            match = pattern.fullmatch(path)
            if method == recorded.method and match:
                return responder(recorded, match)
        if self.behaviour is not None:
            answer = self.behaviour.handle(recorded.method, recorded.path, recorded.headers, recorded.body)
            return Reply(answer.status, answer.json)
        return Reply(
            404,
            {"error": {"message": f"no stand-in route for {recorded.method} {path}", "type": "invalid_request_error"}},
        )

    def start(self) -> OpenAIStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
