"""The queue of comments to judge: partial batch failures, bounded concurrency, nothing paid twice."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from infra.lambda_runtime import LocalContext
from infra.openai_standin import CHAT_PATH, Reply
from tests.judging.conftest import SEED_COMMENT, rows, use_settings
from tests.support.lambda_invoke import sample_event


def sqs_record(body: str, message_id: str | None = None) -> dict[str, Any]:
    """One record as Lambda's SQS event source delivers it."""
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "MessageReceiptHandle",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1523232000000",
            "SenderId": "123456789012",
            "ApproximateFirstReceiveTimestamp": "1523232000001",
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),  # noqa: S324 - SQS's own checksum
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:comments-to-judge",
        "awsRegion": "us-east-1",
    }


def batch(bodies: list[str]) -> dict[str, Any]:
    return {"Records": [sqs_record(body) for body in bodies]}


def comments(count: int) -> list[str]:
    return [
        json.dumps({"comment": f"{n}번째 후기: 재질이 좋아요", "instagram_comment_id": f"c-{n}"}) for n in range(count)
    ]


def failed_ids(response: dict[str, Any]) -> list[str]:
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def test_a_poisoned_record_fails_alone_and_redelivery_pays_nothing_twice(
    queue_handler, chat, active_model, db, openai_standin
):
    # Given a batch of 10 records, one of which is not a judge request
    bodies = comments(9)
    bodies.insert(4, '{"comment": ')
    event = batch(bodies)
    poisoned = event["Records"][4]["messageId"]

    # When the batch is handled
    response = queue_handler(event, LocalContext())

    # Then 9 judgements are stored and only the poisoned record is reported back
    assert failed_ids(response) == [poisoned]
    assert len(rows(db, "SELECT * FROM judgements")) == 9
    assert len(openai_standin.requests_to("POST", CHAT_PATH)) == 9

    # When SQS delivers the whole batch again
    again = queue_handler(event, LocalContext())

    # Then the 9 are answered from the database, unpaid, and the poison fails again (on its way to the DLQ)
    assert failed_ids(again) == [poisoned]
    assert len(openai_standin.requests_to("POST", CHAT_PATH)) == 9
    assert len(rows(db, "SELECT * FROM judgements")) == 9


def test_invalid_judge_requests_are_batch_item_failures_never_dropped(
    queue_handler, chat, active_model, openai_standin
):
    bodies = [
        "not json at all",
        json.dumps({"comment": "   "}),
        json.dumps({"comment": "가" * 2201}),
        json.dumps({"text": "wrong key"}),
        json.dumps({"comment": "좋아요", "post_id": 404}),  # no such post
    ]
    event = batch(bodies)

    response = queue_handler(event, LocalContext())

    assert sorted(failed_ids(response)) == sorted(record["messageId"] for record in event["Records"])
    assert openai_standin.requests == []


def test_a_record_openai_fails_is_retried_while_its_siblings_are_kept(
    queue_handler, fast_openai, chat, active_model, db
):
    event = batch(comments(3))
    flaky = json.loads(event["Records"][1]["body"])["comment"]

    def rate_limited_for_one(request, match):
        if request.json()["messages"][0]["content"] == flaky:
            return Reply(429, {"error": {"message": "slow down", "type": "rate_limit_error"}})
        return chat(request, match)

    fast_openai.on("POST", CHAT_PATH, rate_limited_for_one)

    response = queue_handler(event, LocalContext())

    assert failed_ids(response) == [event["Records"][1]["messageId"]]
    assert len(rows(db, "SELECT * FROM judgements")) == 2


def test_records_of_a_batch_are_judged_concurrently_within_the_configured_bound(
    queue_handler, chat, active_model, monkeypatch
):
    use_settings(monkeypatch, JUDGE_CONCURRENCY="3")
    chat.delay = 0.2

    response = queue_handler(batch(comments(9)), LocalContext())

    assert response == {"batchItemFailures": []}
    assert chat.in_flight_max == 3


def test_the_sample_sqs_event_is_judged_without_failures(queue_handler, chat, active_model, db):
    response = queue_handler(sample_event("judge_comment_sqs.json"), LocalContext())

    assert response == {"batchItemFailures": []}
    stored = {row.instagram_comment_id for row in rows(db, "SELECT instagram_comment_id FROM instagram_comments")}
    assert stored == {"17900000000000001", "17900000000000002"}


def test_a_queued_comment_and_the_same_comment_over_http_share_one_judgement(
    queue_handler, handler, chat, active_model, openai_standin
):
    from tests.support.lambda_invoke import call_http

    queue_handler(batch([json.dumps({"comment": SEED_COMMENT})]), LocalContext())

    answer = call_http(handler, "POST", "/comments/judge", json={"comment": SEED_COMMENT}).json

    assert (answer["cached"], answer["comment_tokens"]) == (True, 21)
    assert len(openai_standin.requests_to("POST", CHAT_PATH)) == 1
