"""Fetching a post's comments from the Graph API (loopback stand-in) and the schedule that does it."""

from __future__ import annotations

import sqlalchemy as sa

from tests.instagram.conftest import SHOP_ACCOUNT, comment_change, configure, delivery, invoke, post_delivery
from tests.instagram.test_webhook import count, rows, sign
from tests.support.instagram_graph_standin import InstagramGraphStandIn, StandInComment
from tests.support.lambda_invoke import call_http, result_of, sample_event

MEDIA = "17990000000000042"


def a_post(db, media_id: str = MEDIA) -> int:
    with db.begin() as connection:
        return connection.execute(
            sa.text("INSERT INTO instagram_posts (instagram_media_id) VALUES (:media) RETURNING id"),
            {"media": media_id},
        ).scalar()


def customer_comments(n: int, start: int = 0) -> list[StandInComment]:
    return [
        StandInComment(
            id=f"1786{index:011d}",
            text=f"{index}번째 후기: 원단이 좋아요",
            username=f"customer{index}",
            user_id=f"9{index:06d}",
            like_count=index % 4,
        )
        for index in range(start, start + n)
    ]


def fetch(handler, post_id: int):
    return call_http(handler, "POST", f"/instagram-posts/{post_id}/comments/fetch")


def test_a_fetch_reads_every_page_and_queues_the_new_comments(instagram, graph, judge_queue, db):
    post_id = a_post(db)
    own = StandInComment(id="17860000000000999", text="감사합니다!", username="sundae_closet", user_id=SHOP_ACCOUNT)
    graph.add_comments(MEDIA, [*customer_comments(70), own, *customer_comments(49, start=70)])

    result = fetch(instagram, post_id)

    assert result.status == 200
    assert result.json == {"fetched": 120, "new": 120, "queued": 119, "refused": []}
    # Three pages: the first without a cursor, then each page's `after` cursor, by following paging.next.
    requests = graph.comment_requests()
    assert len(requests) == 3
    assert "after" not in requests[0].query and requests[1].query["after"] and requests[2].query["after"]
    assert requests[0].query["fields"] == "id,text,username,timestamp,like_count,from"
    stored = rows(
        db,
        "SELECT author_id, author_username, like_count, commented_at, source, by_shop "
        "FROM instagram_comments WHERE instagram_comment_id = '178600000000005'",
    )
    assert stored == [("9000005", "customer5", 1, stored[0].commented_at, "fetch", False)]
    assert stored[0].commented_at.isoformat() == "2026-11-20T09:30:00+00:00"
    assert rows(db, "SELECT by_shop FROM instagram_comments WHERE instagram_comment_id = '17860000000000999'") == [
        (True,)
    ]
    messages = judge_queue.drain()
    assert len(messages) == 119
    assert {message["post_id"] for message in messages} == {post_id}


def test_fetching_again_finds_nothing_new(instagram, graph, judge_queue, db):
    post_id = a_post(db)
    graph.add_comments(MEDIA, customer_comments(60))
    assert fetch(instagram, post_id).json == {"fetched": 60, "new": 60, "queued": 60, "refused": []}

    again = fetch(instagram, post_id)

    assert again.json == {"fetched": 60, "new": 0, "queued": 0, "refused": []}
    assert count(db, "instagram_comments") == 60
    assert len(judge_queue.drain()) == 60


def test_the_same_comment_from_the_webhook_and_from_a_fetch_is_queued_for_judging_once(
    instagram, graph, judge_queue, db
):
    comment = customer_comments(1)[0]
    raw = delivery(
        comment_change(comment.id, comment.text, media_id=MEDIA, user_id=comment.user_id, username=comment.username)
    )
    assert post_delivery(instagram, raw, sign(raw)).json == {"received": 1, "new": 1, "queued": 1, "refused": []}
    graph.add_comments(MEDIA, [comment, *customer_comments(2, start=1)])
    [post_id] = [row[0] for row in rows(db, "SELECT id FROM instagram_posts")]

    fetched = fetch(instagram, post_id)

    assert fetched.json == {"fetched": 3, "new": 2, "queued": 2, "refused": []}
    messages = judge_queue.drain()
    assert sorted(message["instagram_comment_id"] for message in messages) == sorted(c.id for c in customer_comments(3))
    assert count(db, "instagram_comments") == 3


def test_rate_limiting_is_503_with_retry_after_and_keeps_the_pages_read(instagram, graph, judge_queue, db):
    post_id = a_post(db)
    graph.add_comments(MEDIA, customer_comments(120))
    graph.rate_limit_after = 1  # the first page is answered, the second is refused (code 32)

    limited = fetch(instagram, post_id)

    assert limited.status == 503
    assert limited.json["error"]["code"] == "instagram_rate_limited"
    assert "code 32" in limited.json["error"]["message"]
    # Meta's X-Business-Use-Case-Usage says 7 minutes until access is regained.
    assert limited.headers["Retry-After"] == "420"
    assert count(db, "instagram_comments") == 50
    assert len(judge_queue.drain()) == 50

    graph.rate_limit_after, graph.requests[:] = None, []
    resumed = fetch(instagram, post_id)
    assert resumed.json == {"fetched": 120, "new": 70, "queued": 70, "refused": []}


def test_an_application_level_rate_limit_asks_for_a_minute(instagram, graph, db):
    post_id = a_post(db)
    graph.add_comments(MEDIA, customer_comments(3))
    graph.rate_limit_after, graph.rate_limit_code = 0, 4

    limited = fetch(instagram, post_id)

    assert (limited.status, limited.headers["Retry-After"]) == (503, "60")
    assert "code 4" in limited.json["error"]["message"]


def test_an_expired_token_is_named(instagram, graph, db, monkeypatch):
    post_id = a_post(db)
    graph.add_comments(MEDIA, customer_comments(3))
    configure(monkeypatch, INSTAGRAM_ACCESS_TOKEN="IGAAT-expired")

    expired = fetch(instagram, post_id)

    assert expired.status == 503
    assert expired.json["error"]["code"] == "instagram_token_expired"
    assert "INSTAGRAM_ACCESS_TOKEN" in expired.json["error"]["message"]
    assert "IGAAT-expired" not in expired.body.decode()
    assert count(db, "instagram_comments") == 0


def test_without_an_access_token_a_fetch_is_503_not_configured(instagram, db, monkeypatch):
    post_id = a_post(db)
    configure(monkeypatch, INSTAGRAM_ACCESS_TOKEN=None, INSTAGRAM_ACCESS_TOKEN_SECRET_ARN=None)

    result = fetch(instagram, post_id)

    assert result.status == 503
    assert result.json["error"]["code"] == "instagram_not_configured"


def test_a_media_instagram_does_not_know_is_404_and_other_graph_errors_502(instagram, graph, db, monkeypatch):
    post_id = a_post(db, "17990000000000404")  # a media id Instagram does not know

    unknown_media = fetch(instagram, post_id)
    missing = fetch(instagram, post_id + 1000)
    configure(monkeypatch, INSTAGRAM_GRAPH_URL=graph.base_url.rsplit("/", 1)[0] + "/v1.0")  # a path Graph refuses
    refused = fetch(instagram, post_id)

    assert unknown_media.status == 404
    assert unknown_media.json["error"]["code"] == "instagram_media_not_found"
    assert "code 100" in unknown_media.json["error"]["message"]
    assert missing.status == 404 and missing.json["error"]["code"] == "not_found"
    assert refused.status == 502
    assert refused.json["error"]["code"] == "instagram_graph_error"
    assert "code 2500" in refused.json["error"]["message"]


def test_a_graph_page_of_another_shape_is_502_not_a_server_error(instagram, graph, judge_queue, db, monkeypatch):
    post_id = a_post(db)
    for data in (5, True, {"id": "1786"}):
        monkeypatch.setattr(graph, "_answer", lambda target, authorization=None, data=data: (200, {"data": data}, {}))

        result = fetch(instagram, post_id)

        assert result.status == 502, (data, result.body)
        assert result.json["error"]["code"] == "instagram_graph_error"
    assert count(db, "instagram_comments") == 0


def test_a_graph_comment_with_unstorable_author_fields_is_stored_without_them(instagram, graph, judge_queue, db):
    """What the database cannot hold (a NUL, a lone surrogate, a count past its integers) is left out, and
    the comment itself is still stored and queued."""
    post_id = a_post(db)
    graph.add_comments(
        MEDIA,
        [
            StandInComment(
                id="17860000000000901", text="핏이 예뻐요", username="a\u0000b", user_id="9\ud800", like_count=2**40
            )
        ],
    )

    result = fetch(instagram, post_id)

    assert result.status == 200, result.body
    assert (result.json["new"], result.json["queued"]) == (1, 1)
    assert rows(db, "SELECT author_id, author_username, like_count FROM instagram_comments") == [(None, None, None)]


def test_a_media_id_that_is_no_graph_id_is_404_without_asking_instagram(instagram, graph, db):
    post_id = a_post(db, "../me/accounts")

    result = fetch(instagram, post_id)

    assert result.status == 404 and result.json["error"]["code"] == "instagram_media_not_found"
    assert graph.comment_requests() == []


def test_the_schedule_fetches_the_recent_posts(instagram, graph, judge_queue, db):
    first, second = a_post(db), a_post(db, "17990000000000043")
    graph.add_comments(MEDIA, customer_comments(3))
    graph.add_comments("17990000000000043", customer_comments(2, start=10))

    summary = invoke(instagram, sample_event("instagram_fetch_schedule.json"))

    assert summary == {
        "posts": 2,
        "fetched": 5,
        "new": 5,
        "queued": 5,
        "refused": 0,
        "failed": 0,
        "rate_limited": False,
    }
    assert len(judge_queue.drain()) == 5
    assert {first, second} == {row[0] for row in rows(db, "SELECT DISTINCT post_id FROM instagram_comments")}


def test_the_sample_fetch_event_runs_through_the_handler(instagram, graph, judge_queue, db):
    a_post(db)
    graph.add_comments(MEDIA, customer_comments(2))

    result = result_of(invoke(instagram, sample_event("instagram_fetch_comments_http.json")))

    assert (result.status, result.json) == (200, {"fetched": 2, "new": 2, "queued": 2, "refused": []})


def test_a_fetch_applies_instagrams_limits_and_reports_what_it_refuses(instagram, graph, judge_queue, db):
    post_id = a_post(db)
    longest = "핏" * 2_200
    graph.add_comments(
        MEDIA,
        [
            StandInComment(id="17860000000000100", text=longest, username="ok", user_id="9000100"),
            StandInComment(id="17860000000000101", text=longest + "!", username="too_long", user_id="9000101"),
            StandInComment(id=17860000000000102, text="an id as a number", username="number", user_id="9000102"),  # type: ignore[arg-type]
            StandInComment(id="1786/../102", text="a path", username="path", user_id="9000103"),
            StandInComment(id="17860000000000104", text=None, username="no_text", user_id="9000104"),  # type: ignore[arg-type]
        ],
    )

    result = fetch(instagram, post_id)

    assert result.status == 200
    assert {k: v for k, v in result.json.items() if k != "refused"} == {"fetched": 5, "new": 1, "queued": 1}
    assert [(r["instagram_comment_id"], r["reason"]) for r in result.json["refused"]] == [
        ("17860000000000101", "too_long"),
        ("17860000000000102", "malformed_id"),
        ("1786/../102", "malformed_id"),
        ("17860000000000104", "no_text"),
    ]
    assert rows(db, "SELECT instagram_comment_id, length(text) FROM instagram_comments") == [
        ("17860000000000100", 2_200)
    ]
    assert [m["instagram_comment_id"] for m in judge_queue.drain()] == ["17860000000000100"]


def test_the_token_travels_in_the_authorization_header_never_in_a_url(instagram, graph, judge_queue, db):
    post_id = a_post(db)
    graph.add_comments(MEDIA, customer_comments(120))  # three pages; Meta writes the token into each paging.next

    result = fetch(instagram, post_id)

    assert result.json == {"fetched": 120, "new": 120, "queued": 120, "refused": []}
    requests = graph.comment_requests()
    assert len(requests) == 3
    assert all(request.authorization == f"Bearer {graph.access_token}" for request in requests)
    assert all("access_token" not in request.query and graph.access_token not in request.target for request in requests)


def test_a_paging_next_to_another_host_is_not_followed(instagram, graph, judge_queue, db):
    elsewhere = InstagramGraphStandIn(access_token=graph.access_token).start()
    try:
        elsewhere.add_comments(MEDIA, customer_comments(120))
        graph.add_comments(MEDIA, customer_comments(120))
        # The first page's next names another host than INSTAGRAM_GRAPH_URL's (another server, another name).
        graph.next_base_url = elsewhere.base_url.replace("127.0.0.1", "localhost")
        post_id = a_post(db)

        result = fetch(instagram, post_id)
    finally:
        elsewhere.stop()

    assert result.status == 200
    assert result.json == {"fetched": 50, "new": 50, "queued": 50, "refused": []}  # the first page only
    assert len(graph.comment_requests()) == 1
    assert elsewhere.comment_requests() == []
