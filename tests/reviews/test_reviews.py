"""Reviews (docs/instagram-and-banners.md "Reviews"): a post's comments with verdicts and
reviews, setting and clearing reviews, good comments and banner images following the label, the
review queue, and concurrent reviews of one comment."""

from __future__ import annotations

import sys
import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.reviews.conftest import review
from tests.support.lambda_invoke import call_http, handler_of


@pytest.fixture
def post_with_comments(shop):
    """A post with two good comments, a bad one and one not judged yet, by four authors."""
    judge = shop.judge("fine-tuned-4o-mini")
    post = shop.post()
    ids = {
        "good_a": shop.judged(
            post,
            judge,
            "린넨 셔츠 구김이 덜 가서 여름 내내 입었어요",
            "good",
            0.97,
            ig_id="17858893269000001",
            username="linen_lover",
        ),
        "good_b": shop.judged(
            post,
            judge,
            "사이즈 추천대로 M 샀는데 딱 맞아요",
            "good",
            0.91,
            ig_id="17858893269000002",
            username="minji.k",
        ),
        "bad": shop.judged(
            post, judge, "품절이라 못 샀어요 😭", "bad", 0.8, ig_id="17858893269000003", username="grumpy"
        ),
        "unjudged": shop.comment(post, "배송 언제 와요?", ig_id="17858893269000004", username="waiting"),
    }
    return {"post": post, "judge": judge, **ids}


def comments_of(reviews, post_id, query=""):
    result = call_http(reviews, "GET", f"/instagram-posts/{post_id}/comments", query=query)
    assert result.status == 200, result.body
    return result.json


def good_comment_ids(post_id) -> list[int]:
    result = call_http(handler_of("judge_comment"), "GET", f"/instagram-posts/{post_id}/good-comments")
    assert result.status == 200, result.body
    return [comment["id"] for comment in result.json["comments"]]


# --- listing ---------------------------------------------------------------------------------------


def test_a_posts_comments_show_verdict_confidence_judge_review_and_label_newest_first(reviews, post_with_comments):
    listed = comments_of(reviews, post_with_comments["post"])

    assert listed["next_cursor"] is None
    assert [c["id"] for c in listed["comments"]] == [
        post_with_comments[k] for k in ("unjudged", "bad", "good_b", "good_a")
    ]
    newest_judged = listed["comments"][1]
    assert newest_judged == {
        "id": post_with_comments["bad"],
        "instagram_comment_id": "17858893269000003",
        "text": "품절이라 못 샀어요 😭",
        "username": "grumpy",
        "verdict": "bad",
        "confidence": 0.8,
        "judge": "fine-tuned-4o-mini",
        "review": None,
        "label": "bad",
    }
    unjudged = listed["comments"][0]
    assert (unjudged["verdict"], unjudged["judge"], unjudged["confidence"], unjudged["label"]) == (
        None,
        None,
        None,
        None,
    )


def test_pages_follow_the_cursor_and_filters_narrow_the_list(reviews, post_with_comments):
    post = post_with_comments["post"]
    first = comments_of(reviews, post, "limit=3")
    second = comments_of(reviews, post, f"limit=3&cursor={first['next_cursor']}")

    assert len(first["comments"]) == 3 and first["next_cursor"]
    assert [c["id"] for c in second["comments"]] == [post_with_comments["good_a"]]
    assert second["next_cursor"] is None

    assert [c["id"] for c in comments_of(reviews, post, "verdict=good")["comments"]] == [
        post_with_comments["good_b"],
        post_with_comments["good_a"],
    ]
    assert review(reviews, post_with_comments["good_b"], "bad").status == 200
    assert [c["id"] for c in comments_of(reviews, post, "reviewed=true")["comments"]] == [post_with_comments["good_b"]]
    assert len(comments_of(reviews, post, "reviewed=false")["comments"]) == 3
    # The verdict filter is the judge's verdict, whatever the review says.
    assert len(comments_of(reviews, post, "verdict=good&reviewed=true")["comments"]) == 1


def test_unknown_posts_are_404_and_bad_queries_422(reviews, post_with_comments):
    assert call_http(reviews, "GET", "/instagram-posts/999999/comments").status == 404
    post = post_with_comments["post"]
    for query in ("verdict=great", "limit=0", "limit=101", "reviewed=perhaps", "cursor=not-a-cursor", "cursor=WzEsMl0"):
        result = call_http(reviews, "GET", f"/instagram-posts/{post}/comments", query=query)
        assert result.status == 422, query
        assert result.json["error"]["code"] in ("validation_error", "invalid_cursor"), query


# --- setting and clearing a review -----------------------------------------------------------------


def test_a_review_sets_the_label_names_the_tokens_subject_and_clearing_it_restores_the_verdict(
    reviews, shop, post_with_comments
):
    comment = post_with_comments["good_a"]

    reviewed = review(reviews, comment, "bad", "a competitor's logo in the photo", subject="c0ffee-reviewer-sub")

    assert reviewed.status == 200, reviewed.body
    assert (reviewed.json["verdict"], reviewed.json["label"], reviewed.json["post_id"]) == (
        "good",
        "bad",
        post_with_comments["post"],
    )
    assert reviewed.json["review"]["label"] == "bad"
    assert reviewed.json["review"]["note"] == "a competitor's logo in the photo"
    assert reviewed.json["review"]["reviewer"] == "c0ffee-reviewer-sub"
    assert reviewed.json["review"]["at"]
    listed = {c["id"]: c for c in comments_of(reviews, post_with_comments["post"])["comments"]}
    assert listed[comment]["label"] == "bad" and listed[comment]["review"]["reviewer"] == "c0ffee-reviewer-sub"

    # Without a token (the local run's default) the reviewer is "local"; a second review replaces the first.
    again = review(reviews, comment, "good")
    assert again.json["review"] == {**again.json["review"], "label": "good", "note": None, "reviewer": "local"}
    assert [(row.comment_id, row.label, row.reviewer) for row in shop.reviews()] == [(comment, "good", "local")]

    cleared = call_http(reviews, "DELETE", f"/comments/{comment}/review")
    assert (cleared.status, cleared.body) == (204, b"")
    listed = {c["id"]: c for c in comments_of(reviews, post_with_comments["post"])["comments"]}
    assert (listed[comment]["review"], listed[comment]["label"]) == (None, "good")
    assert shop.reviews() == []
    # Clearing what is not there is no error.
    assert call_http(reviews, "DELETE", f"/comments/{comment}/review").status == 204


def test_other_labels_are_422_and_unknown_comments_404_with_nothing_stored(reviews, shop, post_with_comments):
    comment = post_with_comments["bad"]
    for body in (
        {"label": "meh"},
        {"label": "Good"},
        {"label": None},
        {},
        {"label": "good", "extra": 1},
        {"label": True},
        {"label": "good", "note": "x" * 2001},
    ):
        result = call_http(reviews, "PUT", f"/comments/{comment}/review", json=body)
        assert result.status == 422, body
        assert result.json["error"]["code"] == "validation_error"
    assert review(reviews, 987654, "good").status == 404
    assert call_http(reviews, "DELETE", "/comments/987654/review").status == 404
    assert call_http(reviews, "PUT", "/comments/0/review", json={"label": "good"}).status == 422
    assert shop.reviews() == []


# --- good comments and banner images follow the label -----------------------------------------------


def test_good_comments_follow_the_label(reviews, post_with_comments):
    post = post_with_comments["post"]
    good_a, good_b, bad = post_with_comments["good_a"], post_with_comments["good_b"], post_with_comments["bad"]
    assert good_comment_ids(post) == [good_a, good_b]

    assert review(reviews, good_a, "bad").status == 200
    assert good_comment_ids(post) == [good_b]

    assert review(reviews, bad, "good").status == 200
    assert good_comment_ids(post) == [bad, good_b]  # a person's "good" ranks first
    assert review(reviews, post_with_comments["unjudged"], "good").status == 200
    listed = call_http(handler_of("judge_comment"), "GET", f"/instagram-posts/{post}/good-comments").json["comments"]
    unjudged = next(c for c in listed if c["id"] == post_with_comments["unjudged"])
    assert (unjudged["judge_id"], unjudged["model"], unjudged["reviewed"]) == (None, None, True)

    assert call_http(reviews, "DELETE", f"/comments/{good_a}/review").status == 204
    assert call_http(reviews, "DELETE", f"/comments/{bad}/review").status == 204
    assert call_http(reviews, "DELETE", f"/comments/{post_with_comments['unjudged']}/review").status == 204
    assert good_comment_ids(post) == [good_a, good_b]


@pytest.fixture
def banner_images(tmp_path, monkeypatch):
    from shop_marketing.config import get_settings

    handler = handler_of("banner_images")
    module = sys.modules[handler.__module__]
    monkeypatch.setenv("BANNER_IMAGES_DIR", str(tmp_path / "banner-images"))
    get_settings.cache_clear()
    module.images.cache_clear()
    yield handler
    monkeypatch.undo()
    get_settings.cache_clear()
    module.images.cache_clear()


def test_banner_images_follow_the_label(reviews, shop, post_with_comments, banner_images):
    post, store = post_with_comments["post"], shop.store()
    # The judge's best comment is a competitor's logo: a reviewer marks it bad; the "bad" one is fine.
    assert review(reviews, post_with_comments["good_a"], "bad").status == 200
    assert review(reviews, post_with_comments["bad"], "good").status == 200

    made = call_http(
        banner_images, "POST", f"/instagram-posts/{post}/banner-images", json={"store_id": store, "count": 2}
    )

    assert made.status == 201, made.body
    assert [banner["title"].split(" — ")[0] for banner in made.json["banners"]] == ["@grumpy", "@minji.k"]
    refused = call_http(
        banner_images, "POST", f"/instagram-posts/{post}/banner-images", json={"store_id": store, "count": 3}
    )
    assert refused.status == 409
    assert refused.json["error"]["code"] == "not_enough_good_comments"


# --- the review queue -------------------------------------------------------------------------------


def test_the_review_queue_lists_the_newest_comments_across_posts_unreviewed_first(reviews, shop, post_with_comments):
    other_post = shop.post("17990000000000002")
    judge = post_with_comments["judge"]
    newest = shop.judged(
        other_post, judge, "색감이 사진이랑 똑같아요", "good", 0.88, ig_id="17858893269000010", username="daily.look"
    )
    shop.comment(other_post, "감사합니다 고객님!", ig_id="17858893269000011", username="sundae_closet", by_shop=True)
    shop.comment(None, "a comment judged by hand, of no post")
    assert review(reviews, post_with_comments["good_b"], "good").status == 200

    pages, cursor = [], None
    while True:
        result = call_http(
            reviews, "GET", "/comments/review-queue", query="limit=2" + (f"&cursor={cursor}" if cursor else "")
        )
        assert result.status == 200, result.body
        pages.append(result.json["comments"])
        cursor = result.json["next_cursor"]
        if cursor is None:
            break

    queue = [comment for page in pages for comment in page]
    assert [c["id"] for c in queue] == [
        newest,
        post_with_comments["unjudged"],
        post_with_comments["bad"],
        post_with_comments["good_a"],
        post_with_comments["good_b"],
    ]
    assert [len(page) for page in pages] == [2, 2, 1]
    assert (
        queue[0]["post_id"] == other_post
        and queue[0]["verdict"] == "good"
        and queue[0]["judge"] == "fine-tuned-4o-mini"
    )
    assert queue[-1]["review"]["label"] == "good"
    assert set(queue[0]) == {
        "id",
        "instagram_comment_id",
        "text",
        "username",
        "verdict",
        "confidence",
        "judge",
        "review",
        "label",
        "post_id",
    }
    only_unreviewed = call_http(reviews, "GET", "/comments/review-queue", query="reviewed=false&verdict=good").json[
        "comments"
    ]
    assert [c["id"] for c in only_unreviewed] == [newest, post_with_comments["good_a"]]


def test_a_comment_reviewed_between_pages_is_not_shown_twice_nor_skipped(reviews, post_with_comments):
    first = call_http(reviews, "GET", "/comments/review-queue", query="limit=2").json
    assert review(reviews, first["comments"][0]["id"], "bad").status == 200

    rest = call_http(reviews, "GET", "/comments/review-queue", query=f"cursor={first['next_cursor']}").json

    seen = [c["id"] for c in first["comments"]] + [c["id"] for c in rest["comments"]]
    # The one reviewed meanwhile comes again among the reviewed, at the end; nothing unreviewed is skipped.
    assert sorted(set(seen)) == sorted(post_with_comments[k] for k in ("good_a", "good_b", "bad", "unjudged"))
    assert seen[-1] == first["comments"][0]["id"]


# --- concurrent reviews -----------------------------------------------------------------------------


def test_concurrent_reviews_of_one_comment_leave_one_review_the_last(db, shop, post_with_comments):
    from shop_marketing.judging import reviews as service

    comment = post_with_comments["bad"]
    first, second = Session(db), Session(db)
    second_pid = second.execute(sa.text("SELECT pg_backend_pid()")).scalar()
    try:
        service.set_review(first, comment, service.ReviewRequest(label="good"), "first-reviewer")
        outcome: dict = {}

        def later() -> None:
            try:
                service.set_review(
                    second, comment, service.ReviewRequest(label="bad", note="second look"), "second-reviewer"
                )
                second.commit()
                outcome["done"] = True
            except Exception as error:  # noqa: BLE001 - reported below
                outcome["error"] = error

        thread = threading.Thread(target=later, daemon=True)
        thread.start()
        # The second waits at the first's uncommitted row (PostgreSQL says so), then the first commits.
        with db.connect() as observer:
            while (
                thread.is_alive()
                and not observer.execute(sa.text("SELECT pg_blocking_pids(:pid)"), {"pid": second_pid}).scalar()
            ):
                thread.join(0.05)
        first.commit()
        thread.join(60)
        assert outcome == {"done": True}
    finally:
        for session in (first, second):
            session.rollback()
            session.close()

    assert [(row.label, row.note, row.reviewer) for row in shop.reviews()] == [
        ("bad", "second look", "second-reviewer")
    ]
