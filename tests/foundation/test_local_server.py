"""The local server's own mechanics: a 32-way burst, every method answered in the API's error shape,
and a body that is not UTF-8 refused exactly as the same body base64-encoded is."""

from __future__ import annotations

import http.client
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from infra.api_gateway import routes_from_template
from infra.local_api import LocalApi, make_server


@pytest.fixture
def local(db):
    server = make_server(LocalApi(routes_from_template()).load_all(), port=0)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def send(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_the_listen_backlog_takes_a_32_way_burst(db):
    # The standard library's default backlog is 5: a burst past it waits for SYN retransmissions.
    server = make_server(LocalApi(routes_from_template()), port=0)
    try:
        assert server.request_queue_size >= 32
    finally:
        server.server_close()


def test_a_burst_of_32_requests_at_once_is_served_whole(local):
    status, _, body = send(
        local,
        "POST",
        "/stores",
        json.dumps({"name": "S", "naver_store_id": "burst"}).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 201
    store_id = json.loads(body)["id"]
    barrier = threading.Barrier(32)

    def one(_):
        barrier.wait()
        return send(local, "GET", f"/stores/{store_id}")[0]

    with ThreadPoolExecutor(max_workers=32) as pool:
        statuses = list(pool.map(one, range(32)))

    assert statuses == [200] * 32


@pytest.mark.parametrize("method", ["OPTIONS", "TRACE", "PATCH", "QUERY", "BREW"])
def test_any_method_gets_a_json_error(local, method):
    status, headers, body = send(local, method, "/stores")

    assert status == 405
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "method_not_allowed"
    assert headers["Allow"] == "GET, POST"


def test_head_gets_the_error_status_and_headers_without_a_body(local):
    status, headers, body = send(local, "HEAD", "/stores/1")

    assert status == 405
    assert headers["Content-Type"] == "application/json"
    assert body == b""


def test_an_unknown_path_is_a_json_404(local):
    status, headers, body = send(local, "OPTIONS", "/nowhere")

    assert status == 404
    assert json.loads(body)["error"]["code"] == "not_found"


def test_a_body_that_is_not_utf8_is_refused_as_the_same_body_base64_encoded(local):
    from tests.support.lambda_invoke import call_http, handler_of

    raw = b'{"name": "\xff\xfe", "naver_store_id": "x"}'
    over_http = send(local, "POST", "/stores", raw, {"Content-Type": "application/json"})
    direct = call_http(handler_of("link_banner"), "POST", "/stores", body=raw, base64_encoded=True)

    assert over_http[0] == direct.status == 422
    assert json.loads(over_http[2]) == direct.json
