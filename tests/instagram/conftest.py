"""Fixtures of the Instagram tests: the function's handler, a moto judge queue, a Graph API stand-in."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from infra.lambda_runtime import LocalContext
from tests.support.instagram_graph_standin import InstagramGraphStandIn
from tests.support.lambda_invoke import HttpResult, call_http, handler_of, result_of

APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
SHOP_ACCOUNT = "17841400000000000"


def configure(monkeypatch, **values: str | None) -> None:
    from shop_marketing.config import get_settings

    for name, value in values.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    get_settings.cache_clear()


class JudgeQueue:
    def __init__(self, url: str):
        self.url = url
        self.sqs = boto3.client("sqs")

    def drain(self) -> list[dict]:
        """Every message on the queue (bodies), removed from it."""
        bodies = []
        while True:
            reply = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = reply.get("Messages", [])
            if not messages:
                return bodies
            for message in messages:
                bodies.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def judge_queue(monkeypatch):
    from shop_marketing.aws_clients import forget_aws_clients

    with mock_aws():
        forget_aws_clients()
        url = boto3.client("sqs").create_queue(QueueName="comments-to-judge")["QueueUrl"]
        configure(monkeypatch, JUDGE_QUEUE_URL=url)
        yield JudgeQueue(url)
    forget_aws_clients()


@pytest.fixture
def graph(monkeypatch):
    standin = InstagramGraphStandIn().start()
    configure(
        monkeypatch,
        INSTAGRAM_GRAPH_URL=standin.base_url,
        INSTAGRAM_ACCESS_TOKEN=standin.access_token,
        INSTAGRAM_TIMEOUT_SECONDS="5",
    )
    yield standin
    standin.stop()


@pytest.fixture
def instagram(db, monkeypatch, judge_queue):
    """The Instagram function, configured with a signing secret, a verify token and the shop's account."""
    configure(
        monkeypatch,
        INSTAGRAM_APP_SECRET=APP_SECRET,
        INSTAGRAM_VERIFY_TOKEN=VERIFY_TOKEN,
        INSTAGRAM_ACCOUNT_ID=SHOP_ACCOUNT,
    )
    yield handler_of("instagram_comments")
    configure(monkeypatch)


def comment_change(
    comment_id: str,
    text: str,
    *,
    media_id="17990000000000001",
    user_id="1784001",
    username="linen_lover",
    parent_id=None,
):
    value = {
        "from": {"id": user_id, "username": username},
        "media": {"id": media_id, "media_product_type": "FEED"},
        "id": comment_id,
        "text": text,
    }
    if parent_id:
        value["parent_id"] = parent_id
    return {"field": "comments", "value": value}


def delivery(*changes: dict, account: str = SHOP_ACCOUNT) -> bytes:
    """A Webhooks for Instagram delivery, as Meta sends it."""
    body = {"object": "instagram", "entry": [{"id": account, "time": 1764230400, "changes": list(changes)}]}
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def post_delivery(handler, raw: bytes, signature: str | None, *, base64_encoded: bool | None = None) -> HttpResult:
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers["x-hub-signature-256"] = signature
    return call_http(handler, "POST", "/webhooks/instagram", body=raw, headers=headers, base64_encoded=base64_encoded)


def invoke(handler, event: dict):
    return handler(event, LocalContext())


__all__ = ["HttpResult", "result_of"]
