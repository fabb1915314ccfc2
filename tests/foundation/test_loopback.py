"""The loopback servers' shared handler: each reply leaves in one send, with Nagle's algorithm off."""

from __future__ import annotations

import http.client
import socket
import threading
from http.server import ThreadingHTTPServer

import pytest

from infra.loopback import LoopbackHandler


@pytest.fixture
def server():
    written, release, seen = threading.Event(), threading.Event(), {}

    class Handler(LoopbackHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            seen["nodelay"] = self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            body = b'{"ok": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            written.set()
            release.wait(10)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True).start()
    yield httpd.server_address[1], written, release, seen
    release.set()
    httpd.shutdown()
    httpd.server_close()


def test_headers_and_body_leave_together_when_the_handler_returns(server):
    port, written, release, seen = server
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert written.wait(10)
        # The handler has written its headers and body, but nothing has been sent yet: one send follows.
        with pytest.raises(BlockingIOError):
            client.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        release.set()
        client.settimeout(10)
        response = http.client.HTTPResponse(client)
        response.begin()
        assert (response.status, response.read()) == (200, b'{"ok": true}')
    assert seen["nodelay"] != 0


def _servers():
    from infra import local_api, openai_standin
    from infra.openai_standin import OpenAIStandIn

    yield openai_standin.make_server(openai_standin.BehavingOpenAI(), port=0)
    yield local_api.make_server(local_api.LocalApi([]), port=0)
    yield OpenAIStandIn().server


def test_every_loopback_server_builds_on_the_shared_handler():
    for httpd in _servers():
        try:
            assert issubclass(httpd.RequestHandlerClass, LoopbackHandler), httpd
        finally:
            httpd.server_close()
