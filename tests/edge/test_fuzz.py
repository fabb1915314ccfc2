"""Schema-driven fuzzing of every route through the local run (schemathesis, pinned), from the OpenAPI
description the functions generate: no crash, no 5xx the description does not name, no status, media
type or body outside the description.

Bounded and derandomized: a fixed seed, deterministic generation, at least 100 examples per
operation. OpenAI-calling routes run against loopback stand-ins (chat, files, fine-tuning jobs).
A 503 is documented (a dependency down) but none is expected here, so every 5xx is counted as a
failure by ``not_a_server_error``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import urllib.request

import boto3
import pytest
from moto import mock_aws

from infra.api_gateway import routes_from_template
from infra.local_api import LocalApi, make_server
from infra.openai_standin import CHAT_PATH, ScriptedFineTuning, ScriptedOpenAI
from tests.support.instagram_graph_standin import InstagramGraphStandIn, StandInComment

EXAMPLES_PER_OPERATION = 100
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


@pytest.fixture
def training_bucket(monkeypatch):
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="fuzz-training")
        monkeypatch.setenv("TRAINING_BUCKET", "fuzz-training")
        yield


@pytest.fixture
def graph(monkeypatch):
    """Instagram's Graph API as a loopback stand-in that knows one media, so fetches reach it."""
    standin = InstagramGraphStandIn().start()
    standin.add_comments(
        "17841400000000001",
        [StandInComment("17858893269000001", "좋아요 잘 입고 있어요", "customer", "17841400000000009")],
    )
    monkeypatch.setenv("INSTAGRAM_GRAPH_URL", standin.base_url)
    monkeypatch.setenv("INSTAGRAM_ACCESS_TOKEN", standin.access_token)
    yield standin
    standin.stop()


@pytest.fixture
def local_run(db, openai_standin, training_bucket, graph, monkeypatch, tmp_path):
    """`make local` on the test database, OpenAI and Instagram replaced by loopback stand-ins, S3 by moto."""
    from shop_marketing.config import get_settings
    from shop_marketing.openai_client import reset_openai_client

    openai_standin.on("POST", CHAT_PATH, ScriptedOpenAI())
    ScriptedFineTuning(standin=openai_standin).install()
    for name, value in {
        "JUDGE_MODEL": "ft:gpt-4o-mini-2024-07-18:shop::fuzz",
        "OPENAI_WEBHOOK_SECRET": "whsec_" + "A" * 32,
        "OPENAI_MAX_RETRIES": "0",
        "OPENAI_TIMEOUT_SECONDS": "20",
        "INSTAGRAM_APP_SECRET": "fuzz-app-secret",
        "INSTAGRAM_VERIFY_TOKEN": "fuzz-verify-token",
        "BANNER_IMAGES_DIR": str(tmp_path / "banner-images"),
        "BANNER_IMAGES_BASE_URL": "http://127.0.0.1/banner-images",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    reset_openai_client()
    api = LocalApi(routes_from_template()).load_all()
    server = make_server(api, port=0)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    get_settings.cache_clear()
    reset_openai_client()


def test_every_route_survives_schema_driven_fuzzing(local_run, tmp_path):
    report = tmp_path / "report.json"
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{local_run}/openapi.json",
        "--checks",
        CHECKS,
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--seed",
        "20261127",
        "--generation-deterministic",
        "--workers",
        "2",
        "--request-timeout",
        "60",
        "--suppress-health-check",
        "all",
        "--no-color",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
    ]
    # Run where its cache (.schemathesis/) cannot land in the repository.
    run = subprocess.run(command, capture_output=True, text=True, timeout=1500, cwd=tmp_path)  # noqa: S603 - our own CLI

    summary = run.stdout[-6000:]
    assert run.returncode == 0, summary
    # Every operation of the template went through the fuzzing phase, and passed.
    events = [json.loads(line) for line in report.read_text().splitlines() if line.strip()]
    fuzzed = {
        event["ScenarioFinished"]["recorder"]["label"]: event["ScenarioFinished"]["status"]
        for event in events
        if event.get("ScenarioFinished", {}).get("phase") == "fuzzing"
    }
    assert set(fuzzed) == {route.route_key for route in routes_from_template()}, summary
    assert set(fuzzed.values()) == {"success"}, summary
    generated, passed = map(int, re.search(r"(\d+) generated, (\d+) passed", summary).groups())
    # An operation with no parameters and no body has one request to send, however often it is fuzzed.
    with urllib.request.urlopen(f"{local_run}/openapi.json") as answer:  # noqa: S310 - loopback
        description = json.load(answer)
    with_inputs = sum(
        1
        for methods in description["paths"].values()
        for operation in methods.values()
        if operation.get("parameters") or operation.get("requestBody")
    )
    assert generated == passed >= EXAMPLES_PER_OPERATION * with_inputs, summary
