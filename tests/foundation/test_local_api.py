"""`make local`: the template's routes served on loopback as API Gateway would call the handlers."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from infra.api_gateway import ROOT, routes_from_template
from infra.local_api import LocalApi, make_server
from tests.support.lambda_invoke import call_http, handler_of
from tests.support.network import free_port


def request(base, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.fixture
def local_server(db):
    server = make_server(LocalApi(routes_from_template()), port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_every_catalog_route_of_the_template_is_served_by_the_function(db):
    handler = handler_of("link_banner")
    routes = [route for route in routes_from_template() if route.function == "LinkBannerFunction"]

    assert len(routes) == 16
    for route in routes:
        path = route.path.replace("{store_id}", "1").replace("{banner_id}", "1").replace("{product_id}", "1")
        path = path.replace("{post_id}", "1")
        result = call_http(handler, route.method, path, json={} if route.method in {"POST", "PUT"} else None)
        # An unmatched route is 405, or 404 "No route ..."; a served one validates or looks the id up.
        unmatched = result.status == 405 or (
            result.status == 404 and result.json["error"]["message"].startswith("No route")
        )
        assert not unmatched, route.route_key


def test_local_server_runs_the_seed_scenario_over_http(local_server):
    status, store = request(local_server, "POST", "/stores", {"name": "Sundae Closet", "naver_store_id": "sc"})
    assert status == 201
    _, banner = request(
        local_server, "POST", f"/stores/{store['id']}/banners", {"image_url": "https://x.example/b.png"}
    )
    _, post = request(local_server, "POST", "/instagram-posts", {"instagram_media_id": "ig-1"})

    status, view = request(local_server, "PUT", f"/banners/{banner['id']}/instagram-posts/{post['id']}")

    assert status == 200
    assert view["instagram_posts"][0]["id"] == post["id"]
    assert request(local_server, "DELETE", f"/banners/{banner['id']}")[0] == 204
    assert request(local_server, "GET", f"/banners/{banner['id']}")[0] == 404


def test_local_server_answers_unknown_routes_404_and_wrong_methods_405(local_server):
    assert request(local_server, "GET", "/nothing-here") == (
        404,
        {"error": {"code": "not_found", "message": "No route for GET /nothing-here."}},
    )
    status, body = request(local_server, "PATCH", "/stores/1")
    assert status == 405
    assert body["error"]["code"] == "method_not_allowed"


def test_make_local_starts_an_embedded_database_and_serves_on_its_own(tmp_path):
    """The README's command on a machine with no DATABASE_URL: its own PostgreSQL, migrated, serving."""
    port = free_port()
    # As a fresh shell has it: none of the settings this test session gave itself (tests/conftest.py)
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "LOCAL_AUTH", "OPENAI_API_KEY") and not key.startswith("POWERTOOLS_")
    }
    environment["JUDGE_MODEL"] = "gpt-4.1-mini"  # judged by the local run's OpenAI stand-in
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.local_api", "--port", str(port), "--data-dir", str(tmp_path / "pg")],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                status, store = request(base, "POST", "/stores", {"name": "Local", "naver_store_id": "local-1"})
                break
            except (ConnectionError, urllib.error.URLError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(process.stdout.read()) from None
                time.sleep(0.3)
        assert status == 201
        assert store["naver_store_id"] == "local-1"
        assert request(base, "GET", f"/stores/{store['id']}")[0] == 200
        status, judged = request(base, "POST", "/comments/judge", {"comment": "두 번 빨았는데 핏 그대로예요."})
        assert status == 200 and judged["verdict"] in ("good", "bad"), judged
        form = urllib.request.Request(
            f"{base}/stores",
            data=b"name=x",
            method="POST",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused_form:
            urllib.request.urlopen(form, timeout=30)  # noqa: S310 - loopback
        assert refused_form.value.code == 415
        # Stopped as a process manager stops it, it stops its PostgreSQL too
        process.terminate()
        assert process.wait(timeout=60) == 0
        assert not (tmp_path / "pg" / "postmaster.pid").exists()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
    output = process.stdout.read()
    # It says that every route is open (no JWT locally unless LOCAL_AUTH=enforce)
    assert "authentication: OFF" in output
    # Its functions emit their metrics under the local run's own namespace (set before any function loads)
    # Its functions' records carry the local run's service name, set before any function loaded
    refused = [json.loads(line) for line in output.splitlines() if '"message":"request body refused"' in line]
    assert [(line["service"], line["function_name"]) for line in refused] == [
        ("shop-marketing-local", "LinkBannerFunction")
    ]
    # and that, as in AWS, the routes reach the database as the application role, not the master
    assert "database: the routes sign in as shop_marketing_app (rows only, as in AWS)" in output
