"""What template.yaml declares for the judge, the local API serving it, and its queue under moto."""

from __future__ import annotations

import json
import threading
import urllib.request
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra import openai_standin
from infra.api_gateway import load_template, routes_from_template
from infra.lambda_runtime import LocalContext
from infra.local_api import LocalApi, make_server
from tests.judging.conftest import SEED_COMMENT, rows, use_settings

ROUTES = {("POST", "/comments/judge"), ("GET", "/instagram-posts/{post_id}/good-comments")}


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    return load_template()["Resources"]


def test_the_template_routes_the_judge_endpoints_to_the_judge_function():
    routes = {(route.method, route.path): route for route in routes_from_template()}

    assert {routes[key].function for key in ROUTES} == {"JudgeCommentFunction"}
    assert all(routes[key].code_dir.name == "judge_comment" for key in ROUTES)


def test_the_queue_outlives_six_function_timeouts_and_hands_poison_to_a_dlq(resources):
    queue = resources["CommentsToJudgeQueue"]["Properties"]
    function = resources["JudgeCommentQueueFunction"]["Properties"]
    event = function["Events"]["CommentsToJudge"]["Properties"]

    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]
    assert 3 <= queue["RedrivePolicy"]["maxReceiveCount"] <= 5
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"GetAtt": "CommentsToJudgeDeadLetterQueue.Arn"}
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert function["Handler"] == "app.queue_handler"


def test_the_http_judge_answers_inside_api_gateways_29_seconds(resources):
    function = resources["JudgeCommentFunction"]["Properties"]
    variables = function["Environment"]["Variables"]
    attempts = int(variables["OPENAI_MAX_RETRIES"]) + 1

    assert attempts * float(variables["OPENAI_TIMEOUT_SECONDS"]) < function["Timeout"] < 29


def lambda_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The event Lambda's SQS event source makes of received messages."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for message in messages
        ]
    }


def test_a_poison_message_reaches_the_dead_letter_queue_and_the_rest_are_judged_once(
    resources, queue_handler, chat, active_model, openai_standin, db
):
    with mock_aws():
        # Given the queue and its DLQ as the template declares them
        sqs = boto3.client("sqs", region_name="us-east-1")
        dlq_url = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        declared = resources["CommentsToJudgeQueue"]["Properties"]
        redrive = {**declared["RedrivePolicy"], "deadLetterTargetArn": dlq_arn}
        queue_url = sqs.create_queue(
            QueueName="comments-to-judge",
            Attributes={"VisibilityTimeout": str(declared["VisibilityTimeout"]), "RedrivePolicy": json.dumps(redrive)},
        )["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        for n in range(3):
            sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"comment": f"{n}번째 후기, 정말 좋아요"}))
        sqs.send_message(QueueUrl=queue_url, MessageBody='{"comment": ')

        # When Lambda polls: each batch handled, succeeded messages deleted, failed ones visible again
        for _ in range(declared["RedrivePolicy"]["maxReceiveCount"] + 1):
            received = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0, AttributeNames=["All"]
            ).get("Messages", [])
            if not received:
                break
            failed = {
                f["itemIdentifier"]
                for f in queue_handler(lambda_event(received, queue_arn), LocalContext())["batchItemFailures"]
            }
            for message in received:
                if message["MessageId"] not in failed:
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

        # Then the poison message waits in the DLQ, and the three comments were each paid for once
        dead = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10).get("Messages", [])
        assert [message["Body"] for message in dead] == ['{"comment": ']
        assert sqs.receive_message(QueueUrl=queue_url).get("Messages", []) == []
    assert len(openai_standin.requests) == 3
    assert len(rows(db, "SELECT * FROM judgements")) == 3


@pytest.fixture
def standin_server():
    """infra/openai_standin.py, the stand-in docs/walkthrough.md "Locally, with no OpenAI key" describes, on a
    free port."""
    behaviour = openai_standin.BehavingOpenAI(label="bad", probabilities={"good": 0.2, "bad": 0.8})
    server, base_url = openai_standin.start_in_background(behaviour)
    yield base_url
    server.shutdown()
    server.server_close()


@pytest.fixture
def local_api(db):
    """The local API of `make local`, serving every route of template.yaml on a free port."""
    server = make_server(LocalApi(routes_from_template()), port=0)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def post_json(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        return response.status, json.loads(response.read())


def test_the_local_api_judges_a_comment_with_the_openai_stand_in(local_api, standin_server, monkeypatch):
    # Given `make local` with OPENAI_BASE_URL pointed at `python -m infra.openai_standin --label bad`
    use_settings(monkeypatch, OPENAI_BASE_URL=standin_server, JUDGE_MODEL="ft:gpt-4o-mini-2024-07-18:local::demo")

    # When a comment is judged over real HTTP, as the curl of docs/judging.md "Judging comments" does
    status, answer = post_json(f"{local_api}/comments/judge", {"comment": SEED_COMMENT})

    # Then the seed's verdict and token counts come back
    assert status == 200
    assert answer == {
        "verdict": "bad",
        "comment_tokens": 21,
        "prompt_tokens": 21 + 3 + 1 + 3,  # comment, message framing, "user", reply priming
        "cached_prompt_tokens": 0,
        "completion_tokens": 1,
        "judge": "ft:gpt-4o-mini-2024-07-18:local::demo",
        "model": "ft:gpt-4o-mini-2024-07-18:local::demo",
        "cached": False,
        "confidence": pytest.approx(0.8),
    }
