"""Every log record names the function that wrote it (``function_name``): an HTTP request, a queue's
batch, a schedule, and a record written outside any invocation (at init), as Lambda runs each."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading

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


def test_functions_running_at_once_on_the_local_run_each_name_their_own_records(lines):
    """The local run's functions share one process and run in threads: a record written while another
    function's invocation has started since still names its own function, request and correlation id."""
    from infra.lambda_runtime import with_invocation_log_keys
    from shop_marketing.observability import CORRELATION_ID_PATH, logger

    started, resume = threading.Event(), threading.Event()

    @logger.inject_lambda_context(correlation_id_path=CORRELATION_ID_PATH)
    def slow(event, context):
        started.set()
        assert resume.wait(timeout=60)
        logger.info("slow function writes")

    @logger.inject_lambda_context(correlation_id_path=CORRELATION_ID_PATH)
    def quick(event, context):
        logger.info("quick function writes")

    slow_context = LocalContext(function_name="SlowFunction")
    quick_context = LocalContext(function_name="QuickFunction")
    thread = threading.Thread(
        target=with_invocation_log_keys(slow), args=({"id": "event-of-slow"}, slow_context), daemon=True
    )
    thread.start()
    assert started.wait(timeout=60)
    with_invocation_log_keys(quick)({"id": "event-of-quick"}, quick_context)  # starts while slow runs
    resume.set()
    thread.join(timeout=60)
    assert not thread.is_alive()

    by_message = {line["message"]: line for line in lines()}
    slow_line, quick_line = by_message["slow function writes"], by_message["quick function writes"]
    assert (slow_line["function_name"], slow_line["function_request_id"], slow_line["correlation_id"]) == (
        "SlowFunction",
        slow_context.aws_request_id,
        "event-of-slow",
    )
    assert (quick_line["function_name"], quick_line["correlation_id"]) == ("QuickFunction", "event-of-quick")
    assert slow_line["cold_start"] is True and quick_line["cold_start"] is True  # each function's first
