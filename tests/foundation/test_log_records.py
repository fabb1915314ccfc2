"""Every log record names the function that wrote it (``function_name``): an HTTP request, a queue's
batch, a schedule, and a record written outside any invocation (at init), as Lambda runs each."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest

from infra.api_gateway import ROOT, api_gateway_event
from infra.lambda_runtime import LocalContext, load_handler


@pytest.fixture
def lines():
    """The JSON lines the functions' logger writes while the test runs."""
    from shop_marketing.observability import logger

    written = io.StringIO()
    previous = logger.registered_handler.setStream(written)
    yield lambda: [json.loads(line) for line in written.getvalue().splitlines() if line.startswith('{"level"')]
    logger.registered_handler.setStream(previous)


def sqs_record(body: str) -> dict:
    return {
        "messageId": "m-1",
        "receiptHandle": "r-1",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:queue",
        "awsRegion": "us-east-1",
    }


def test_an_http_request_s_records_name_its_function(db, lines):
    handler = load_handler(ROOT / "functions" / "link_banner")
    event = api_gateway_event(
        "POST", "/stores", body=b"name=x", headers={"content-type": "application/x-www-form-urlencoded"}
    )

    handler(event, LocalContext(function_name="LinkBannerFunction"))

    logged = [line for line in lines() if line["message"] == "request body refused"]
    assert [line["function_name"] for line in logged] == ["LinkBannerFunction"]


@pytest.mark.parametrize(
    ("folder", "entry", "function"),
    [
        ("judge_comment", "app.queue_handler", "JudgeCommentQueueFunction"),
        ("judges", "app.evaluation_queue_handler", "JudgesEvaluationQueueFunction"),
    ],
)
def test_a_queue_batch_s_records_name_its_function(db, lines, folder, entry, function):
    handler = load_handler(ROOT / "functions" / folder, entry)

    handler({"Records": [sqs_record("{}")]}, LocalContext(function_name=function))

    logged = lines()
    assert logged, "the failed record was not logged"
    assert {line.get("function_name") for line in logged} == {function}


def test_a_schedule_s_records_name_its_function(db, openai_standin, lines):
    handler = load_handler(ROOT / "functions" / "judges")
    schedule = {"source": "aws.events", "detail-type": "Scheduled Event", "id": "e-1", "detail": {}}

    handler(schedule, LocalContext(function_name="JudgesFunction"))

    logged = [line for line in lines() if line["message"] == "model calendar refreshed"]
    assert [line["function_name"] for line in logged] == ["JudgesFunction"]


def test_a_record_written_at_init_names_the_function_lambda_runs():
    """Outside an invocation there is no context: the name comes from Lambda's environment."""
    script = "from shop_marketing.observability import logger; logger.info('initialised')"
    environment = {**os.environ, "AWS_LAMBDA_FUNCTION_NAME": "shop-JudgesFunction-abc", "POWERTOOLS_LOG_LEVEL": "INFO"}

    run = subprocess.run(  # noqa: S603 - this interpreter
        [sys.executable, "-c", script], capture_output=True, text=True, env=environment, timeout=60, check=True
    )

    line = json.loads(run.stdout.strip().splitlines()[-1])
    assert (line["message"], line["function_name"]) == ("initialised", "shop-JudgesFunction-abc")
