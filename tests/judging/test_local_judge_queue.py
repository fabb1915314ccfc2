"""The local run's judge queue (infra/local_queue.py, injected by infra/local_api.py): comments that a
delivery stores are judged in this process by the judge queue's own handler, a failed record alone is
retried, and nothing is paid twice."""

from __future__ import annotations

import threading
import time

import pytest

from infra.api_gateway import ROOT
from infra.lambda_runtime import LocalContext, load_handler
from infra.local_queue import LocalQueue
from infra.openai_standin import CHAT_PATH, ScriptedOpenAI
from tests.instagram.conftest import comment_change, configure, delivery, post_delivery
from tests.instagram.test_webhook import sign
from tests.judging.conftest import rows
from tests.support.lambda_invoke import handler_of

FLAKY = "사이즈 추천대로 M 샀는데 딱 맞아요. 두께감도 좋아서 재구매 의사 100%!"
WAIT_SECONDS = 60  # a deadline against hanging, not a speed requirement


class FailsOnceFor(ScriptedOpenAI):
    """Answers like OpenAI, except the first request for one comment, which gets an unusable reply."""

    def __init__(self, comment: str):
        super().__init__(label="good")
        self.comment = comment
        self._failed = threading.Event()

    def choose_label(self, comment: str, model: str = "") -> str | None:
        if comment == self.comment and not self._failed.is_set():
            self._failed.set()
            return "maybe"
        return super().choose_label(comment, model)


@pytest.fixture
def local_judge_queue(app_module, monkeypatch):
    from shop_marketing import judge_queue

    configure(monkeypatch, JUDGE_QUEUE_URL=None, INSTAGRAM_APP_SECRET="test-app-secret")
    queue = LocalQueue(
        lambda: load_handler(ROOT / "functions" / "judge_comment", "app.queue_handler"),
        lambda: LocalContext(function_name="JudgeCommentQueueFunction"),
        name="judge",
    )
    judge_queue.deliver_without_a_queue(queue)
    yield queue
    judge_queue.deliver_without_a_queue(None)
    configure(monkeypatch)


def test_a_delivery_is_judged_on_the_local_queue_and_a_failed_record_alone_is_retried(
    local_judge_queue, fast_openai, active_model, db
):
    script = FailsOnceFor(FLAKY)
    fast_openai.on("POST", CHAT_PATH, script)
    texts = [
        "린넨 셔츠 구김이 덜 가서 여름 내내 입었어요",
        FLAKY,
        "엄마 선물로 드렸는데 너무 좋아하세요",
        "이거 언제 재입고 되나요?",
    ]
    raw = delivery(*(comment_change(f"1785889326900200{n}", text, user_id=f"1784{n}") for n, text in enumerate(texts)))

    received = post_delivery(handler_of("instagram_comments"), raw, sign(raw))

    assert received.json == {"received": 4, "new": 4, "queued": 4, "refused": []}
    deadline = time.monotonic() + WAIT_SECONDS
    while (
        rows(db, "SELECT count(*) FROM instagram_comments WHERE judgement_id IS NULL")[0][0]
        and time.monotonic() < deadline
    ):
        time.sleep(0.1)
    assert rows(db, "SELECT count(*) FROM instagram_comments WHERE judgement_id IS NOT NULL")[0][0] == 4
    # Each text paid once, the flaky one twice (its first reply was unusable); nothing in the dead letters.
    sent = [request.json()["messages"][-1]["content"] for request in fast_openai.requests_to("POST", CHAT_PATH)]
    assert sorted(sent) == sorted([*texts, FLAKY])
    assert len(rows(db, "SELECT id FROM judgements")) == 4
    assert local_judge_queue.dead_letters == []

    # Meta retries the delivery: nothing is queued, nothing paid again.
    again = post_delivery(handler_of("instagram_comments"), raw, sign(raw))
    assert again.json == {"received": 4, "new": 0, "queued": 0, "refused": []}
    assert len(fast_openai.requests_to("POST", CHAT_PATH)) == 5
