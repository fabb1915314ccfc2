"""Fixtures of the reviews tests: the reviews function, and comments judged by known judges."""

from __future__ import annotations

import hashlib
import sys

import pytest
import sqlalchemy as sa

from tests.support.lambda_invoke import call_http, handler_of

MODEL = "ft:gpt-4o-mini-2024-07-18:shop::judge01"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Shop:
    """Rows written as the product writes them: posts, judges, judgements, comments."""

    def __init__(self, db):
        self.db = db

    def _insert(self, query: str, **values):
        with self.db.begin() as connection:
            return connection.execute(sa.text(query + " RETURNING id"), values).scalar()

    def post(self, media_id: str = "17990000000000001") -> int:
        return self._insert("INSERT INTO instagram_posts (instagram_media_id) VALUES (:m)", m=media_id)

    def store(self, name: str = "Sundae Closet") -> int:
        return self._insert("INSERT INTO naver_stores (naver_store_id, name) VALUES (:n, :n)", n=name)

    def judge(self, name: str) -> int:
        return self._insert("INSERT INTO judges (name, style, model) VALUES (:n, 'fine_tuned', :m)", n=name, m=MODEL)

    def judgement(self, judge_id: int, text: str, verdict: str, confidence: float | None = 0.9) -> int:
        return self._insert(
            "INSERT INTO judgements (judge_id, text_sha256, model, verdict, confidence, "
            "comment_tokens, prompt_tokens, completion_tokens) "
            "VALUES (:j, :sha, :m, :v, :c, 5, 12, 1)",
            j=judge_id,
            sha=sha(text),
            m=MODEL,
            v=verdict,
            c=confidence,
        )

    def comment(
        self,
        post_id: int | None,
        text: str,
        *,
        judgement_id: int | None = None,
        ig_id: str | None = None,
        username: str | None = None,
        author_id: str | None = None,
        by_shop: bool = False,
    ) -> int:
        return self._insert(
            "INSERT INTO instagram_comments (instagram_comment_id, post_id, text, text_sha256, judgement_id, "
            "author_id, author_username, by_shop, source) "
            "VALUES (:ig, :p, :t, :sha, :j, :a, :u, :s, 'webhook')",
            ig=ig_id,
            p=post_id,
            t=text,
            sha=sha(text),
            j=judgement_id,
            a=author_id or username,
            u=username,
            s=by_shop,
        )

    def judged(
        self, post_id: int, judge_id: int, text: str, verdict: str, confidence: float | None = 0.9, **values
    ) -> int:
        return self.comment(post_id, text, judgement_id=self.judgement(judge_id, text, verdict, confidence), **values)

    def reviews(self) -> list:
        with self.db.connect() as connection:
            return list(
                connection.execute(sa.text("SELECT comment_id, label, note, reviewer FROM comment_reviews ORDER BY id"))
            )


@pytest.fixture
def shop(db) -> Shop:
    return Shop(db)


@pytest.fixture
def reviews(db):
    return handler_of("reviews")


def with_subject(subject: str) -> dict:
    """What API Gateway's JWT authorizer adds to the event: the token's claims."""
    return {"jwt": {"claims": {"sub": subject, "scope": "shop/review"}, "scopes": ["shop/review"]}}


def review(handler, comment_id: int, label, note=None, *, subject: str | None = None):
    from infra.api_gateway import api_gateway_event
    from infra.lambda_runtime import LocalContext
    from tests.support.lambda_invoke import result_of

    body = {"label": label} if note is None else {"label": label, "note": note}
    if subject is None:
        return call_http(handler, "PUT", f"/comments/{comment_id}/review", json=body)
    import json

    event = api_gateway_event(
        "PUT", f"/comments/{comment_id}/review", body=json.dumps(body), headers={"content-type": "application/json"}
    )
    event["requestContext"]["authorizer"] = with_subject(subject)
    return result_of(handler(event, LocalContext()))


def module_of(handler):
    return sys.modules[handler.__module__]
