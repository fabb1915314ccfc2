"""Fixtures of the judging tests: the judge's handlers, a scripted OpenAI stand-in, an active judge."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from infra.lambda_runtime import load_handler
from infra.openai_standin import CHAT_PATH, ScriptedOpenAI
from tests.support.lambda_invoke import ROOT, handler_of
from tests.support.settings import use_settings

FINE_TUNED = "ft:gpt-4o-mini-2024-07-18:shop::judge01"
SEED_COMMENT = "너무 맘에드는 옷입니다! 근데 사장님 순대국 좋아하세요?"


@pytest.fixture(autouse=True)
def settings_from_this_tests_environment():
    """Every test starts from its own environment, whatever an earlier test pointed the client at."""
    from shop_marketing.config import get_settings
    from shop_marketing.openai_client import reset_openai_client

    get_settings.cache_clear()
    reset_openai_client()


@pytest.fixture
def app_module(db):
    """The judge's app module, imported as Lambda imports it, with a cold active-model cache."""
    handler = handler_of("judge_comment")
    module = importlib.import_module(handler.__module__)
    module.judges.clear()
    yield module
    module.judges.clear()


@pytest.fixture
def handler(app_module):
    return app_module.lambda_handler


@pytest.fixture
def queue_handler(app_module):
    return load_handler(ROOT / "functions" / "judge_comment", "app.queue_handler")


@pytest.fixture
def fast_openai(openai_standin, monkeypatch):
    """The stand-in, with the SDK's retries off. The timeout is generous: a loaded machine must not
    turn a slow answer into a failure (tests of timeouts set their own, far below their delays)."""
    use_settings(monkeypatch, OPENAI_MAX_RETRIES="0", OPENAI_TIMEOUT_SECONDS="20")
    return openai_standin


@pytest.fixture
def chat(fast_openai) -> ScriptedOpenAI:
    script = ScriptedOpenAI()
    fast_openai.on("POST", CHAT_PATH, script)
    return script


def make_active_judge(model: str, name: str | None = None, **values) -> int:
    """A judge made active the way a finished fine-tuning job without a golden set makes it."""
    from shop_marketing.db import session_scope
    from shop_marketing.judging import promotion
    from shop_marketing.models import Judge

    with session_scope() as session:
        judge = Judge(name=name or model, style=values.pop("style", "fine_tuned"), model=model, **values)
        session.add(judge)
        session.flush()
        promotion.activate_unevaluated(session, judge, "test")
        return judge.id


@pytest.fixture
def active_model(db) -> str:
    make_active_judge(FINE_TUNED, source_job_id="ftjob-judge01")
    return FINE_TUNED


@pytest.fixture
def post_id(db) -> int:
    with db.begin() as connection:
        return connection.execute(
            sa.text("INSERT INTO instagram_posts (instagram_media_id) VALUES ('media-1') RETURNING id")
        ).scalar_one()


def rows(db, sql: str) -> list[sa.Row]:
    with db.connect() as connection:
        return list(connection.execute(sa.text(sql)))


@contextmanager
def another_request_paying_for(db, model: str, comment: str, verdict: str = "bad") -> Iterator[None]:
    """Another request holds the active judge's (judge, text) lock while its OpenAI call runs, and has
    stored its answer; both become visible when the block ends (its commit)."""
    from shop_marketing.advisory_lock import lock_key
    from shop_marketing.hashing import text_sha256
    from shop_marketing.judging.judge import JUDGEMENT_LOCK_NAMESPACE, judgement_lock

    judge_id = rows(db, "SELECT id FROM judges WHERE status = 'active'")[0].id
    sha = text_sha256(comment)
    with db.connect() as holder:
        transaction = holder.begin()
        holder.execute(
            sa.text("SELECT pg_advisory_xact_lock(:n, :k)"),
            {"n": JUDGEMENT_LOCK_NAMESPACE, "k": lock_key(judgement_lock(judge_id, sha))},
        )
        holder.execute(
            sa.text(
                "INSERT INTO judgements (judge_id, text_sha256, model, verdict, "
                "comment_tokens, prompt_tokens, completion_tokens) "
                "VALUES (:judge, :sha, :model, :verdict, 9, 16, 1)"
            ),
            {"judge": judge_id, "sha": sha, "model": model, "verdict": verdict},
        )
        try:
            yield
        finally:
            transaction.commit()
