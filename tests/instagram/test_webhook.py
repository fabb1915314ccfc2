"""Meta's webhook for the Instagram `comments` field: handshake, signatures, storing and queueing once."""

from __future__ import annotations

import hashlib
import hmac
import json

import sqlalchemy as sa

from tests.instagram.conftest import (
    APP_SECRET,
    SHOP_ACCOUNT,
    VERIFY_TOKEN,
    comment_change,
    configure,
    delivery,
    post_delivery,
)
from tests.support.lambda_invoke import call_http

SHA_OF_HAND_TEXT = hashlib.sha256(b"judged by hand").hexdigest()


def sign(raw: bytes, secret: str = APP_SECRET) -> str:
    # Computed here independently of the product's code, as Meta computes it.
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def rows(db, query: str) -> list:
    with db.connect() as connection:
        return list(connection.execute(sa.text(query)))


def count(db, table: str) -> int:
    return rows(db, f"SELECT count(*) FROM {table}")[0][0]


def handshake(handler, query: str):
    return call_http(handler, "GET", "/webhooks/instagram", query=query)


# --- the subscription handshake ------------------------------------------------------------------


def test_the_handshake_echoes_the_challenge_as_plain_text_for_the_right_token(instagram):
    result = handshake(instagram, f"hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444")

    assert result.status == 200
    assert result.body == b"1158201444"
    assert result.headers["Content-Type"].startswith("text/plain")


def test_the_handshake_is_refused_for_a_wrong_token_a_wrong_mode_or_no_token(instagram, monkeypatch):
    assert handshake(instagram, "hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1").status == 403
    assert handshake(instagram, f"hub.mode=unsubscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1").status == 403
    assert handshake(instagram, "hub.mode=subscribe&hub.challenge=1").status == 403

    configure(monkeypatch, INSTAGRAM_VERIFY_TOKEN=None)
    refused = handshake(instagram, "hub.mode=subscribe&hub.verify_token=&hub.challenge=1")
    assert refused.status == 403
    assert refused.json["error"]["code"] == "forbidden"


# --- signed deliveries ---------------------------------------------------------------------------


def test_a_signed_delivery_stores_the_comment_registers_the_post_and_queues_it_once(instagram, judge_queue, db):
    raw = delivery(
        comment_change("17858893269000001", "린넨 셔츠 구김이 덜 가서 여름 내내 입었어요. 세탁 후에도 핏 그대로!")
    )

    result = post_delivery(instagram, raw, sign(raw))

    assert result.status == 200
    assert result.json == {"received": 1, "new": 1, "queued": 1, "refused": []}
    [(post_id, media_id)] = rows(db, "SELECT id, instagram_media_id FROM instagram_posts")
    assert media_id == "17990000000000001"
    [comment] = rows(
        db,
        "SELECT instagram_comment_id, post_id, author_id, author_username, by_shop, source, queued_at "
        "FROM instagram_comments",
    )
    assert comment[:6] == ("17858893269000001", post_id, "1784001", "linen_lover", False, "webhook")
    assert comment.queued_at is not None
    # The message is exactly the judge request body, which the judge accepts as it is.
    [message] = judge_queue.drain()
    assert message == {
        "comment": "린넨 셔츠 구김이 덜 가서 여름 내내 입었어요. 세탁 후에도 핏 그대로!",
        "instagram_comment_id": "17858893269000001",
        "post_id": post_id,
    }
    from shop_marketing.judging.judge import JudgeRequest

    assert JudgeRequest.model_validate(message).post_id == post_id


def test_a_base64_encoded_body_is_verified_over_its_raw_bytes(instagram, judge_queue):
    raw = delivery(comment_change("17858893269000002", "Ｆｕｌｌ-width and emoji 😍 keep their exact bytes"))

    result = post_delivery(instagram, raw, sign(raw), base64_encoded=True)

    assert result.status == 200 and result.json["new"] == 1
    assert len(judge_queue.drain()) == 1


def test_unsigned_and_forged_deliveries_are_refused_and_record_nothing(instagram, judge_queue, db):
    raw = delivery(comment_change("17858893269000003", "forged"))
    tampered = delivery(comment_change("17858893269000003", "forged, but signed for other bytes"))

    attempts = [
        post_delivery(instagram, raw, None),  # unsigned
        post_delivery(instagram, raw, sign(raw, "another-app-secret")),  # signed with the wrong secret
        post_delivery(instagram, raw, sign(tampered)),  # a real signature of another body
        post_delivery(instagram, raw, "sha1=" + hmac.new(APP_SECRET.encode(), raw, hashlib.sha1).hexdigest()),
        post_delivery(instagram, raw, "sha256=not-hex-at-all-\u00e9"),
        post_delivery(instagram, b"not json", "sha256="),
    ]

    assert [attempt.status for attempt in attempts] == [401] * len(attempts)
    assert all(attempt.json["error"]["code"] == "unauthorized" for attempt in attempts)
    assert count(db, "instagram_comments") == 0
    assert count(db, "instagram_posts") == 0
    assert judge_queue.drain() == []


def test_deliveries_are_refused_until_the_app_secret_is_configured(instagram, judge_queue, db, monkeypatch):
    configure(monkeypatch, INSTAGRAM_APP_SECRET=None)
    raw = delivery(comment_change("17858893269000004", "too early"))

    result = post_delivery(instagram, raw, sign(raw))

    assert result.status == 401
    assert "INSTAGRAM_APP_SECRET" in result.json["error"]["message"]
    assert count(db, "instagram_comments") == 0


def test_a_replayed_delivery_changes_nothing_and_queues_nothing(instagram, judge_queue, db):
    raw = delivery(comment_change("17858893269000005", "사이즈 추천대로 M 샀는데 딱 맞아요"))
    first = post_delivery(instagram, raw, sign(raw))
    before = rows(db, "SELECT * FROM instagram_comments")

    replays = [post_delivery(instagram, raw, sign(raw)) for _ in range(3)]

    assert first.json == {"received": 1, "new": 1, "queued": 1, "refused": []}
    assert [replay.status for replay in replays] == [200, 200, 200]
    assert all(replay.json == {"received": 1, "new": 0, "queued": 0, "refused": []} for replay in replays)
    assert rows(db, "SELECT * FROM instagram_comments") == before
    assert len(judge_queue.drain()) == 1


def test_the_shops_own_reply_is_kept_but_not_judged(instagram, judge_queue, db):
    raw = delivery(
        comment_change("17858893269000006", "배송도 빠르고 원단이 정말 좋아요. 다른 색도 살게요!"),
        comment_change(
            "17858893269000007",
            "감사합니다 고객님! 🙏",
            user_id=SHOP_ACCOUNT,
            username="sundae_closet",
            parent_id="17858893269000006",
        ),
    )

    result = post_delivery(instagram, raw, sign(raw))

    assert result.json == {"received": 2, "new": 2, "queued": 1, "refused": []}
    stored = rows(db, "SELECT instagram_comment_id, by_shop, parent_id, queued_at FROM instagram_comments ORDER BY id")
    assert [(row[0], row[1], row[2]) for row in stored] == [
        ("17858893269000006", False, None),
        ("17858893269000007", True, "17858893269000006"),
    ]
    assert stored[1].queued_at is None
    assert [message["instagram_comment_id"] for message in judge_queue.drain()] == ["17858893269000006"]


def test_changes_of_other_fields_are_ignored_and_incomplete_comments_reported(instagram, judge_queue, db):
    raw = delivery(
        {"field": "mentions", "value": {"media_id": "1", "comment_id": "2"}},
        {"field": "comments", "value": {"id": "17858893269000007", "text": "where?"}},
        {"field": "comments", "value": {"id": "17858893269000008", "media": {"id": "17990000000000001"}}},
    )

    result = post_delivery(instagram, raw, sign(raw))

    assert result.status == 200
    assert {k: v for k, v in result.json.items() if k != "refused"} == {"received": 2, "new": 0, "queued": 0}
    assert [(r["instagram_comment_id"], r["reason"]) for r in result.json["refused"]] == [
        ("17858893269000007", "no_media"),
        ("17858893269000008", "no_text"),
    ]
    assert count(db, "instagram_comments") == 0


def test_instagrams_limits_are_applied_and_what_they_refuse_is_reported(instagram, judge_queue, db):
    longest = "좋" * 2_200
    raw = delivery(
        comment_change("17858893269000020", longest),
        comment_change("17858893269000021", longest + "요"),
        comment_change("17858893269000022", "ok", media_id="../17990000000000001"),
        {
            "field": "comments",
            "value": {"id": 17858893269000023, "text": "an id sent as a number", "media": {"id": "17990000000000001"}},
        },
        {"field": "comments", "value": {"id": "", "text": "no id", "media": {"id": "17990000000000001"}}},
        {
            "field": "comments",
            "value": {"id": "1785/../8893", "text": "a path, not an id", "media": {"id": "17990000000000001"}},
        },
        {
            "field": "comments",
            "value": {"id": {"nested": 1}, "text": "an object", "media": {"id": "17990000000000001"}},
        },
    )

    result = post_delivery(instagram, raw, sign(raw))

    assert result.status == 200
    assert (result.json["received"], result.json["new"], result.json["queued"]) == (7, 1, 1)
    assert [(r["instagram_comment_id"], r["reason"]) for r in result.json["refused"]] == [
        ("17858893269000021", "too_long"),
        ("17858893269000022", "malformed_media_id"),
        ("17858893269000023", "malformed_id"),
        ("", "malformed_id"),
        ("1785/../8893", "malformed_id"),
        (None, "malformed_id"),
    ]
    assert all(r["message"] for r in result.json["refused"])
    # Only the comment within the limits is stored, exactly as sent.
    assert rows(db, "SELECT instagram_comment_id, length(text) FROM instagram_comments") == [
        ("17858893269000020", 2_200)
    ]
    assert [m["instagram_comment_id"] for m in judge_queue.drain()] == ["17858893269000020"]


def test_a_comment_the_database_cannot_hold_is_refused_alone_and_the_rest_of_the_delivery_stored(
    instagram, judge_queue, db
):
    """A NUL or a lone surrogate in one comment's text refuses that comment (reported), not the delivery;
    in an author's name it leaves the name out."""
    body = {
        "object": "instagram",
        "entry": [
            {
                "id": SHOP_ACCOUNT,
                "time": 1764230400,
                "changes": [
                    comment_change("17858893269000031", "좋아요\u0000"),
                    comment_change("17858893269000032", "깨진 이모지 \ud83d"),
                    comment_change("17858893269000033", "색이 예뻐요", username="odd\u0000name", user_id="17\ud800"),
                ],
            }
        ],
    }
    raw = json.dumps(body).encode("ascii")

    result = post_delivery(instagram, raw, sign(raw))

    assert result.status == 200, result.body
    assert (result.json["received"], result.json["new"], result.json["queued"]) == (3, 1, 1)
    assert [(r["instagram_comment_id"], r["reason"]) for r in result.json["refused"]] == [
        ("17858893269000031", "unstorable_text"),
        ("17858893269000032", "unstorable_text"),
    ]
    assert rows(db, "SELECT instagram_comment_id, text, author_id, author_username FROM instagram_comments") == [
        ("17858893269000033", "색이 예뻐요", None, None)
    ]
    assert [m["instagram_comment_id"] for m in judge_queue.drain()] == ["17858893269000033"]


def test_a_signed_body_that_is_not_a_delivery_is_422_and_records_nothing(instagram, db):
    for raw in (b"not json", b'{"object": "instagram"}', b"[1, 2]"):
        assert post_delivery(instagram, raw, sign(raw)).status == 422
    assert count(db, "instagram_comments") == 0


def test_a_signed_delivery_of_an_unexpected_shape_is_answered_and_records_nothing(instagram, db):
    """Entries and changes that are not what Meta sends (a number, a string, an object where a list
    belongs) are no comments: never a server error."""
    for raw in (
        b'{"entry": [{"id": "1", "changes": 5}]}',
        b'{"entry": [{"id": "1", "changes": true}]}',
        b'{"entry": [{"id": "1", "changes": {"field": "comments"}}]}',
        b'{"entry": [{"id": "1", "changes": "comments"}]}',
        b'{"entry": [7, "x", null]}',
    ):
        result = post_delivery(instagram, raw, sign(raw))
        assert result.status == 200, (raw, result.body)
        assert result.json == {"received": 0, "new": 0, "queued": 0, "refused": []}, raw
    assert count(db, "instagram_comments") == 0


def test_a_comment_the_queue_did_not_take_is_stored_and_queued_by_metas_retry(instagram, judge_queue, db, monkeypatch):
    raw = delivery(comment_change("17858893269000009", "재구매 의사 100%입니다. 두께감이 딱 좋아요"))
    configure(monkeypatch, JUDGE_QUEUE_URL=judge_queue.url.replace("comments-to-judge", "no-such-queue"))

    outage = post_delivery(instagram, raw, sign(raw))

    assert outage.status == 503
    assert outage.json["error"]["code"] == "judge_queue_unavailable"
    assert "Retry-After" in outage.headers
    assert rows(db, "SELECT queued_at FROM instagram_comments") == [(None,)]

    configure(monkeypatch, JUDGE_QUEUE_URL=judge_queue.url)
    retried = post_delivery(instagram, raw, sign(raw))

    assert retried.json == {"received": 1, "new": 0, "queued": 1, "refused": []}
    assert [message["instagram_comment_id"] for message in judge_queue.drain()] == ["17858893269000009"]


def test_a_comment_already_judged_by_hand_learns_its_author_and_is_not_queued_again(instagram, judge_queue, db):
    with db.begin() as connection:
        post_id = connection.execute(
            sa.text("INSERT INTO instagram_posts (instagram_media_id) VALUES ('17990000000000001') RETURNING id")
        ).scalar()
        judge = connection.execute(
            sa.text("INSERT INTO judges (name, style, model) VALUES ('by-hand', 'fine_tuned', 'ft:model') RETURNING id")
        ).scalar()
        judgement = connection.execute(
            sa.text(
                "INSERT INTO judgements (judge_id, text_sha256, model, verdict, confidence, "
                "comment_tokens, prompt_tokens, completion_tokens) "
                "VALUES (:judge, :sha, 'ft:model', 'good', 0.9, 5, 12, 1) RETURNING id"
            ),
            {"judge": judge, "sha": SHA_OF_HAND_TEXT},
        ).scalar()
        connection.execute(
            sa.text(
                "INSERT INTO instagram_comments (instagram_comment_id, post_id, text, text_sha256, judgement_id) "
                "VALUES ('17858893269000010', :post, 'judged by hand', :sha, :judgement)"
            ),
            {"post": post_id, "judgement": judgement, "sha": SHA_OF_HAND_TEXT},
        )
    raw = delivery(comment_change("17858893269000010", "judged by hand"))

    result = post_delivery(instagram, raw, sign(raw))

    assert result.json == {"received": 1, "new": 0, "queued": 0, "refused": []}
    assert rows(db, "SELECT author_username, judgement_id FROM instagram_comments") == [("linen_lover", judgement)]
    assert judge_queue.drain() == []


def test_instagrams_text_replaces_other_words_judged_by_hand_under_its_id_and_is_judged_again(
    instagram, judge_queue, db
):
    with db.begin() as connection:
        post_id = connection.execute(
            sa.text("INSERT INTO instagram_posts (instagram_media_id) VALUES ('17990000000000001') RETURNING id")
        ).scalar()
        judge = connection.execute(
            sa.text("INSERT INTO judges (name, style, model) VALUES ('by-hand', 'fine_tuned', 'ft:model') RETURNING id")
        ).scalar()
        judgement = connection.execute(
            sa.text(
                "INSERT INTO judgements (judge_id, text_sha256, model, verdict, confidence, "
                "comment_tokens, prompt_tokens, completion_tokens) "
                "VALUES (:judge, :sha, 'ft:model', 'good', 0.9, 5, 12, 1) RETURNING id"
            ),
            {"judge": judge, "sha": SHA_OF_HAND_TEXT},
        ).scalar()
        connection.execute(
            sa.text(
                "INSERT INTO instagram_comments (instagram_comment_id, post_id, text, text_sha256, judgement_id) "
                "VALUES ('17858893269000012', :post, 'judged by hand', :sha, :judgement)"
            ),
            {"post": post_id, "judgement": judgement, "sha": SHA_OF_HAND_TEXT},
        )
    real = "배송 언제 오나요? 일주일째 기다려요"
    raw = delivery(comment_change("17858893269000012", real))

    result = post_delivery(instagram, raw, sign(raw))

    assert (result.json["new"], result.json["queued"]) == (0, 1)
    assert rows(db, "SELECT text, text_sha256, judgement_id, source FROM instagram_comments") == [
        (real, hashlib.sha256(real.encode()).hexdigest(), None, "webhook")
    ]
    assert [m["comment"] for m in judge_queue.drain()] == [real]
