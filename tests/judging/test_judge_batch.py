"""The queue's batch, judged as one: a handful of statements whatever its size, each text paid once,
texts another request is paying for answered by it, and comments recorded without risking a judgement."""

from __future__ import annotations

import json
import threading
import time

import pytest
import sqlalchemy as sa

from infra.lambda_runtime import LocalContext
from infra.openai_standin import CHAT_PATH
from tests.judging.conftest import SEED_COMMENT, another_request_paying_for, rows, use_settings
from tests.judging.test_judge_queue import batch, failed_ids

WAIT_SECONDS = 60  # an upper bound for a loaded machine, never a measure of speed


def sent_comments(openai_standin) -> list[str]:
    return [request.json()["messages"][-1]["content"] for request in openai_standin.requests_to("POST", CHAT_PATH)]


def counting_statements(engine):
    """A list that grows by one for every statement the engine sends, and the listener to remove."""
    seen: list[str] = []

    def count(conn, cursor, statement, *args):
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    return seen, lambda: sa.event.remove(engine, "before_cursor_execute", count)


def test_twins_in_a_batch_cost_one_call_and_every_record_is_answered_by_it(
    queue_handler, chat, active_model, db, openai_standin, post_id
):
    bodies = [
        json.dumps({"comment": SEED_COMMENT, "instagram_comment_id": f"twin-{n}", "post_id": post_id}) for n in range(3)
    ]
    bodies.append(json.dumps({"comment": "두 번째 후기: 재질이 좋아요", "instagram_comment_id": "other"}))

    response = queue_handler(batch(bodies), LocalContext())

    assert response == {"batchItemFailures": []}
    assert sorted(sent_comments(openai_standin)) == sorted([SEED_COMMENT, "두 번째 후기: 재질이 좋아요"])
    stored = rows(db, "SELECT c.instagram_comment_id, c.post_id, c.judgement_id FROM instagram_comments c ORDER BY 1")
    twins = [row for row in stored if row.instagram_comment_id.startswith("twin-")]
    assert len(twins) == 3 and {row.post_id for row in twins} == {post_id}
    assert len({row.judgement_id for row in twins}) == 1
    assert len(rows(db, "SELECT id FROM judgements")) == 2


def test_a_batch_costs_the_same_few_statements_whatever_its_size(queue_handler, chat, active_model, db, post_id):
    def statements_for(count: int, tag: str) -> tuple[list[str], list[str]]:
        bodies = [
            json.dumps(
                {
                    "comment": f"{tag} {n}번째 후기: 핏이 좋아요",
                    "instagram_comment_id": f"{tag}-{n}",
                    "post_id": post_id,
                }
            )
            for n in range(count)
        ]
        seen, stop = counting_statements(db)
        try:
            assert queue_handler(batch(bodies), LocalContext()) == {"batchItemFailures": []}
        finally:
            stop()
        # Paid answers are stored as they arrive: one insert for whatever arrived together, with its
        # transaction's bookkeeping. Everything else is the batch's, whatever its size.
        stores = [s for s in seen if s.startswith("INSERT INTO judgements")]
        bookkeeping = [s for s in seen if "pg_current_xact_id_if_assigned" in s]
        return [s for s in seen if s not in stores and s not in bookkeeping], stores

    queue_handler(batch([json.dumps({"comment": "warm-up"})]), LocalContext())  # the active judge is read once
    (small, small_stores), (large, large_stores) = statements_for(5, "small"), statements_for(40, "large")

    # The same statements (their VALUES lists aside), however many records
    assert [statement.split(" VALUES ")[0] for statement in small] == [
        statement.split(" VALUES ")[0] for statement in large
    ]
    assert len(large) <= 6  # posts; locks, stored judgements; posts held, comments upserted
    assert 1 <= len(small_stores) <= 5 and 1 <= len(large_stores) <= 40
    assert len(rows(db, "SELECT id FROM instagram_comments")) == 45


def test_a_text_another_transaction_is_paying_for_is_answered_by_it_and_not_paid_again(
    queue_handler, chat, active_model, db, openai_standin
):
    answers: dict = {}
    bodies = [
        json.dumps({"comment": SEED_COMMENT, "instagram_comment_id": "held"}),
        json.dumps({"comment": "세 번째 후기: 좋아요"}),
    ]
    worker = threading.Thread(target=lambda: answers.update(response=queue_handler(batch(bodies), LocalContext())))
    try:
        with another_request_paying_for(db, active_model, SEED_COMMENT, verdict="bad"):
            worker.start()
            deadline = time.monotonic() + WAIT_SECONDS
            while "세 번째 후기: 좋아요" not in sent_comments(openai_standin) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert "response" not in answers  # the held text is still waiting for its holder
    finally:
        worker.join(WAIT_SECONDS)

    assert answers["response"] == {"batchItemFailures": []}
    assert sent_comments(openai_standin) == ["세 번째 후기: 좋아요"]
    held = rows(
        db,
        "SELECT j.verdict FROM instagram_comments c JOIN judgements j ON j.id = c.judgement_id "
        "WHERE c.instagram_comment_id = 'held'",
    )
    assert [row.verdict for row in held] == ["bad"]  # the holder's answer, not a second one


def test_two_batches_with_texts_in_common_pay_each_text_once(queue_handler, chat, active_model, db, openai_standin):
    chat.delay = 0.05
    texts = [f"{n}번째 후기: 배송이 빨라요" for n in range(9)]
    first, second = texts[:6], texts[3:]
    answers: list = []
    workers = [
        threading.Thread(
            target=lambda part=part: answers.append(
                queue_handler(batch([json.dumps({"comment": t}) for t in part]), LocalContext())
            )
        )
        for part in (first, second)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(WAIT_SECONDS)

    assert answers == [{"batchItemFailures": []}] * 2
    assert sorted(sent_comments(openai_standin)) == sorted(texts)
    assert len(rows(db, "SELECT id FROM judgements")) == 9


def test_a_failure_recording_comments_keeps_the_judgements_and_the_retry_pays_nothing(
    queue_handler, chat, active_model, db, openai_standin, master_engine
):
    # The database refuses one comment, so the transaction recording the batch's comments fails
    # (the trigger that refuses it is the master's to install: the application role makes no functions).
    with master_engine.begin() as connection:
        connection.execute(
            sa.text(
                "CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN IF NEW.instagram_comment_id = 'boom' THEN "
                "RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$"
            )
        )
        connection.execute(
            sa.text(
                "CREATE TRIGGER refuse_boom BEFORE INSERT ON instagram_comments "
                "FOR EACH ROW EXECUTE FUNCTION refuse_boom()"
            )
        )
    bodies = [
        json.dumps({"comment": "첫 후기: 좋아요"}),
        json.dumps({"comment": "둘째 후기: 좋아요", "instagram_comment_id": "fine"}),
        json.dumps({"comment": "셋째 후기: 좋아요", "instagram_comment_id": "boom"}),
    ]
    event = batch(bodies)
    try:
        response = queue_handler(event, LocalContext())
        assert sorted(failed_ids(response)) == sorted(record["messageId"] for record in event["Records"][1:])
        assert len(rows(db, "SELECT id FROM judgements")) == 3
        assert rows(db, "SELECT id FROM instagram_comments") == []
    finally:
        with master_engine.begin() as connection:
            connection.execute(sa.text("DROP TRIGGER refuse_boom ON instagram_comments"))
            connection.execute(sa.text("DROP FUNCTION refuse_boom()"))

    again = queue_handler({"Records": event["Records"][1:]}, LocalContext())

    assert again == {"batchItemFailures": []}
    assert len(sent_comments(openai_standin)) == 3
    assert sorted(
        row.instagram_comment_id for row in rows(db, "SELECT instagram_comment_id FROM instagram_comments")
    ) == ["boom", "fine"]


def test_a_paid_answer_is_stored_as_it_arrives_not_when_the_whole_batch_is_done(
    queue_handler, fast_openai, chat, active_model, db
):
    slow = "느린 후기: 아직 답이 없어요"
    release = threading.Event()

    def slow_for_one(request, match):
        if request.json()["messages"][-1]["content"] == slow:
            release.wait(WAIT_SECONDS)
        return chat(request, match)

    fast_openai.on("POST", CHAT_PATH, slow_for_one)
    answers: dict = {}
    bodies = [
        json.dumps({"comment": slow}),
        json.dumps({"comment": "빠른 후기 1: 좋아요"}),
        json.dumps({"comment": "빠른 후기 2: 좋아요"}),
    ]
    worker = threading.Thread(target=lambda: answers.update(response=queue_handler(batch(bodies), LocalContext())))
    worker.start()
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while len(rows(db, "SELECT id FROM judgements")) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        # The two answered texts are stored (committed) while the batch still waits for the third
        assert len(rows(db, "SELECT id FROM judgements")) == 2
        assert "response" not in answers
    finally:
        release.set()
        worker.join(WAIT_SECONDS)

    assert answers["response"] == {"batchItemFailures": []}
    assert len(rows(db, "SELECT id FROM judgements")) == 3


@pytest.mark.parametrize("refused", [0, 2], ids=["the first answer's store", "the last answer's store"])
def test_a_paid_answer_whose_store_fails_is_stored_later_and_never_paid_again(
    queue_handler, chat, active_model, db, openai_standin, monkeypatch, refused, master_engine
):
    from shop_marketing.hashing import text_sha256

    # Answers arrive one at a time, and the database refuses the first insert of one of them (a
    # sequence counts the refusals: it is not rolled back with the refused statement)
    use_settings(monkeypatch, JUDGE_CONCURRENCY="1")
    comments = [f"{n}번째 후기: 색이 예뻐요" for n in range(3)]
    with master_engine.begin() as connection:
        connection.execute(sa.text("CREATE SEQUENCE judgement_refusals"))
        connection.execute(
            sa.text(f"""
            CREATE FUNCTION refuse_one_store() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.text_sha256 = '{text_sha256(comments[refused])}' THEN
                    IF nextval('judgement_refusals') = 1 THEN RAISE EXCEPTION 'the database went away'; END IF;
                END IF;
                RETURN NEW;
            END $$""")
        )
        connection.execute(
            sa.text(
                "CREATE TRIGGER refuse_one_store BEFORE INSERT ON judgements "
                "FOR EACH ROW EXECUTE FUNCTION refuse_one_store()"
            )
        )
    bodies = [json.dumps({"comment": comment}) for comment in comments]
    try:
        first = queue_handler(batch(bodies), LocalContext())
        again = queue_handler(batch(bodies), LocalContext())
        refusals = rows(db, "SELECT last_value FROM judgement_refusals")[0].last_value
    finally:
        with master_engine.begin() as connection:
            connection.execute(sa.text("DROP TRIGGER refuse_one_store ON judgements"))
            connection.execute(sa.text("DROP FUNCTION refuse_one_store()"))
            connection.execute(sa.text("DROP SEQUENCE judgement_refusals"))

    # Then every record is answered, each text was paid once, and the next batch pays nothing
    assert refusals == 2  # refused once, stored the second time
    assert first == again == {"batchItemFailures": []}
    assert sorted(sent_comments(openai_standin)) == sorted(comments)
    assert len(rows(db, "SELECT id FROM judgements")) == 3


def test_a_queued_comment_keeps_its_stored_text_and_post(queue_handler, chat, active_model, db, post_id):
    with db.begin() as connection:
        other_post = connection.execute(
            sa.text("INSERT INTO instagram_posts (instagram_media_id) VALUES ('media-9') RETURNING id")
        ).scalar()
        connection.execute(
            sa.text(
                "INSERT INTO instagram_comments (instagram_comment_id, post_id, text, text_sha256, source) "
                "VALUES ('kept', :post, '원래 댓글이에요 잘 입고 있어요', "
                "encode(sha256(convert_to('원래 댓글이에요 잘 입고 있어요', 'UTF8')), 'hex'), 'webhook')"
            ),
            {"post": post_id},
        )
    bodies = [
        json.dumps(
            {"comment": "다른 말로 바꾼 칭찬입니다 최고예요", "instagram_comment_id": "kept", "post_id": post_id}
        ),
        json.dumps(
            {"comment": "원래 댓글이에요 잘 입고 있어요", "instagram_comment_id": "kept", "post_id": other_post}
        ),
    ]

    for body in bodies:
        assert queue_handler(batch([body]), LocalContext()) == {"batchItemFailures": []}

    # Only the judgement of its own text is its verdict; it stays on its post.
    [(text, post, verdict_text)] = rows(
        db,
        "SELECT c.text, c.post_id, j.text_sha256 = c.text_sha256 FROM instagram_comments c "
        "JOIN judgements j ON j.id = c.judgement_id",
    )
    assert (text, post, verdict_text) == ("원래 댓글이에요 잘 입고 있어요", post_id, True)
