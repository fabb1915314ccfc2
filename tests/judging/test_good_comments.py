"""GET /instagram-posts/{post_id}/good-comments, the comments' storage, and the sample HTTP events."""

from __future__ import annotations

import pytest

from infra.lambda_runtime import LocalContext
from tests.judging.conftest import SEED_COMMENT, rows
from tests.support.lambda_invoke import call_http, result_of, sample_event


def judge(handler, comment, post_id, comment_id=None):
    body = {"comment": comment, "post_id": post_id}
    if comment_id:
        body["instagram_comment_id"] = comment_id
    result = call_http(handler, "POST", "/comments/judge", json=body)
    assert result.status == 200, result.json
    return result.json


def good_comments(handler, post_id, query="limit=10"):
    return call_http(handler, "GET", f"/instagram-posts/{post_id}/good-comments", query=query)


@pytest.fixture
def judged_post(handler, chat, active_model, post_id):
    """A post with three good comments (confidence 0.6, 0.95, 0.8) and one bad one."""
    chat.labels_by_comment = {"순대국 좋아하세요?": "bad"}
    for n, (text, p_good) in enumerate(
        [
            ("핏이 예뻐요, 두 번 샀어요", 0.6),
            ("원단이 좋고 세탁해도 그대로예요", 0.95),
            ("순대국 좋아하세요?", 0.3),
            ("배송 빠르고 사이즈 정확해요", 0.8),
        ]
    ):
        chat.probabilities = {"good": p_good, "bad": 1 - p_good}
        judge(handler, text, post_id, f"c-{n}")
    return post_id


def test_good_comments_are_the_posts_good_ones_most_confident_first(handler, judged_post):
    result = good_comments(handler, judged_post)

    assert result.status == 200
    assert result.json["post_id"] == judged_post
    listed = result.json["comments"]
    assert [c["comment"] for c in listed] == [
        "원단이 좋고 세탁해도 그대로예요",
        "배송 빠르고 사이즈 정확해요",
        "핏이 예뻐요, 두 번 샀어요",
    ]
    assert [c["confidence"] for c in listed] == [pytest.approx(0.95), pytest.approx(0.8), pytest.approx(0.6)]
    assert listed[0]["instagram_comment_id"] == "c-1"


def test_limit_picks_the_best_few(handler, judged_post):
    listed = good_comments(handler, judged_post, "limit=2").json["comments"]

    assert [c["confidence"] for c in listed] == [pytest.approx(0.95), pytest.approx(0.8)]


def test_limit_defaults_to_ten(handler, chat, active_model, post_id):
    for n in range(12):
        judge(handler, f"{n}번째 정성스러운 후기입니다", post_id, f"c-{n}")

    assert len(good_comments(handler, post_id, "").json["comments"]) == 10


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=ten"])
def test_a_limit_outside_1_to_100_is_422(handler, post_id, query):
    assert good_comments(handler, post_id, query).status == 422


def test_good_comments_of_an_unknown_post_is_404(handler, db):
    result = good_comments(handler, 12345)

    assert (result.status, result.json["error"]["code"]) == (404, "not_found")


def test_a_comment_without_an_instagram_id_is_stored_once_per_post(handler, chat, active_model, post_id, db):
    judge(handler, "아이디 없는 후기예요", post_id)
    judge(handler, "아이디 없는 후기예요", post_id)

    assert len(rows(db, "SELECT * FROM instagram_comments")) == 1
    assert len(good_comments(handler, post_id).json["comments"]) == 1


def test_a_comment_without_id_or_post_leaves_only_its_judgement(handler, chat, active_model, db):
    call_http(handler, "POST", "/comments/judge", json={"comment": "그냥 텍스트"})

    assert rows(db, "SELECT * FROM instagram_comments") == []
    assert len(rows(db, "SELECT * FROM judgements")) == 1


def test_deleting_a_post_keeps_its_comments_and_their_paid_judgements(handler, judged_post, db):
    with db.begin() as connection:
        connection.exec_driver_sql("DELETE FROM instagram_posts WHERE id = %s", (judged_post,))

    assert len(rows(db, "SELECT * FROM judgements")) == 4
    assert [r.post_id for r in rows(db, "SELECT post_id FROM instagram_comments")] == [None] * 4


def test_the_sample_judge_event_is_answered_like_the_seed(handler, chat, active_model):
    result = result_of(handler(sample_event("judge_comment_http.json"), LocalContext()))

    assert result.status == 200
    assert result.json["comment_tokens"] == 21


def test_the_sample_good_comments_event_lists_post_1(handler, chat, active_model, post_id):
    assert post_id == 1  # the sample event names post 1; identities restart with every test
    judge(handler, SEED_COMMENT, post_id, "17900000000000001")

    result = result_of(handler(sample_event("judge_comment_good_comments.json"), LocalContext()))

    assert result.status == 200
    assert [c["instagram_comment_id"] for c in result.json["comments"]] == ["17900000000000001"]
