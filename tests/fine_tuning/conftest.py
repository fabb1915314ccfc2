"""Fixtures of the fine-tuning tests: both functions' handlers, OpenAI's Files and Jobs on the
loopback stand-in, the training-data bucket in moto, signed webhooks, and sample training files."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from moto import mock_aws

from infra.openai_standin import ScriptedFineTuning
from tests.support.lambda_invoke import handler_of
from tests.support.settings import use_settings

BUCKET = "shop-marketing-training-123456789012"
BASE_MODEL_DEFAULT = "gpt-4o-mini-2024-07-18"  # docs/training.md "Fine-tuning the judge": the default base model
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"fine-tuning-webhook-test-secret!").decode()

# The seed's two examples (seed-summary Part 2), then eight more comments from the same shop.
SEED_EXAMPLES = [
    (
        "와… 이걸 어떻게 골라요… 난 못해 … 너무 예뻐서 엄마가 다 생각나네요. 엄마꺼도 있으면 참 좋겠다아 🥰🥰",
        "good",
    ),
    ("프리오더 품절이네요😭😭", "bad"),
]
MORE_EXAMPLES = [
    ("니트 세 번 빨았는데 보풀 하나 없어요. 어깨선도 딱 맞고 색감이 사진이랑 똑같아서 매일 입어요!", "good"),
    ("좋아요", "bad"),
    ("배송 언제 와요?", "bad"),
    ("원피스 길이가 무릎 아래라 출근룩으로 딱이에요. 허리 밴딩이라 하루종일 편했어요.", "good"),
    ("별로네요", "bad"),
    ("사장님 순대국 좋아하세요?", "bad"),
    ("코트 두께감이 적당해서 늦가을부터 입기 좋아요. 주머니가 깊어서 폰도 안 빠져요.", "good"),
    ("The denim kept its shape after a month of daily wear, and the hem was already finished for my height.", "good"),
]
EXAMPLES = SEED_EXAMPLES + MORE_EXAMPLES


def example_line(comment: str, label: str) -> str:
    return json.dumps(
        {"messages": [{"role": "user", "content": comment}, {"role": "assistant", "content": label}]},
        ensure_ascii=False,
    )


def training_jsonl(examples=EXAMPLES) -> bytes:
    return "".join(example_line(comment, label) + "\n" for comment, label in examples).encode()


@pytest.fixture(autouse=True)
def fine_tuning_settings(monkeypatch):
    """What the template gives both functions, retries off; a generous timeout, so a loaded machine
    never turns a slow answer into a failure (tests of timeouts set their own)."""
    use_settings(
        monkeypatch,
        OPENAI_WEBHOOK_SECRET=WEBHOOK_SECRET,
        TRAINING_BUCKET=BUCKET,
        OPENAI_MAX_RETRIES="0",
        OPENAI_TIMEOUT_SECONDS="20",
    )
    yield
    monkeypatch.undo()
    use_settings(monkeypatch)


@pytest.fixture
def openai(openai_standin) -> ScriptedFineTuning:
    return ScriptedFineTuning(standin=openai_standin).install()


@pytest.fixture
def upload_handler(db):
    return handler_of("upload_training_file")


@pytest.fixture
def jobs_handler(db):
    return handler_of("fine_tuning_jobs")


@pytest.fixture
def bucket():
    """The training-data bucket, as the template declares it, in moto."""
    with mock_aws():
        import boto3

        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        yield s3


def signed_headers(
    body: bytes, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None, webhook_id: str = "wh_1"
) -> dict[str, str]:
    """Headers OpenAI sends with a webhook (the standard-webhooks scheme the SDK verifies)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{signature}",
    }
