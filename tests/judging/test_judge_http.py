"""POST /comments/judge against a real PostgreSQL, with the real openai SDK talking HTTP to a stand-in."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from infra.openai_standin import CHAT_PATH, Reply, billed_prompt_tokens, completion_body
from tests.judging.conftest import (
    FINE_TUNED,
    SEED_COMMENT,
    another_request_paying_for,
    make_active_judge,
    rows,
    use_settings,
)
from tests.support.lambda_invoke import call_http

GOOD_ID, BAD_ID = 30744, 22023  # o200k ids of "good" and "bad", as OpenAI's tokenizer page shows them


def judge(handler, body):
    return call_http(handler, "POST", "/comments/judge", json=body)


def test_the_verdict_is_the_models_label_with_its_probability_as_confidence(handler, chat, active_model):
    # Given a model that answers "good" with probability 0.9 against 0.1 for "bad"
    chat.probabilities = {"good": 0.9, "bad": 0.1}

    # When a comment is judged
    result = judge(handler, {"comment": "배송도 빠르고 핏이 정말 예뻐요. 세탁 후에도 늘어나지 않았어요!"})

    # Then the label, its probability and the model come back, freshly paid for
    assert result.status == 200, result.json
    answer = result.json
    assert answer["verdict"] == "good"
    assert answer["confidence"] == pytest.approx(0.9)
    assert answer["model"] == FINE_TUNED
    assert answer["cached"] is False
    assert answer["completion_tokens"] == 1


def test_a_bad_verdict_reports_the_probability_of_bad(handler, chat, active_model):
    chat.label, chat.probabilities = "bad", {"good": 0.25, "bad": 0.75}

    answer = judge(handler, {"comment": "예약 구매도 품절이네요 😭😭"}).json

    assert (answer["verdict"], answer["confidence"]) == ("bad", pytest.approx(0.75))


def test_confidence_is_null_when_openai_reports_no_logprobs(handler, chat, active_model):
    chat.probabilities = None

    answer = judge(handler, {"comment": "좋아요"}).json

    assert (answer["verdict"], answer["confidence"]) == ("good", None)


def test_the_request_is_the_bare_comment_limited_to_one_token_of_the_two_labels(
    handler, chat, active_model, openai_standin
):
    judge(handler, {"comment": SEED_COMMENT})

    [request] = openai_standin.requests_to("POST", CHAT_PATH)
    body = request.json()
    assert body["model"] == FINE_TUNED
    # Exactly the training examples' shape: one user message, no instruction prompt.
    assert body["messages"] == [{"role": "user", "content": SEED_COMMENT}]
    assert body["max_completion_tokens"] == 1
    assert body["logit_bias"] == {str(GOOD_ID): 100, str(BAD_ID): 100}
    assert body["temperature"] == 0
    assert body["logprobs"] is True
    assert request.headers["authorization"] == "Bearer sk-test"


def test_the_seed_comment_costs_21_comment_tokens_and_what_openai_bills(handler, chat, active_model):
    answer = judge(handler, {"comment": SEED_COMMENT}).json

    assert answer["comment_tokens"] == 21
    assert answer["prompt_tokens"] == billed_prompt_tokens([{"role": "user", "content": SEED_COMMENT}])


@pytest.mark.parametrize("billed", [pytest.param(None, id="no-usage"), pytest.param(1000, id="another-count")])
def test_a_fine_tuned_judges_prompt_is_the_comment_tokens_plus_7_known_before_the_call(
    handler, fast_openai, active_model, billed
):
    # Given OpenAI's bill saying nothing of the prompt, or another count than the comment's frame
    def reply(request, match):
        body = request.json()
        answer = completion_body(body["model"], body["messages"], "good")
        answer["usage"] = None if billed is None else {**answer["usage"], "prompt_tokens": billed}
        return Reply(200, answer)

    fast_openai.on("POST", CHAT_PATH, reply)

    answer = judge(handler, {"comment": SEED_COMMENT}).json

    # Then the prompt is the bare comment's 21 tokens and the chat frame's 7
    assert (answer["comment_tokens"], answer["prompt_tokens"]) == (21, 21 + 7)


@pytest.mark.parametrize(
    "comment",
    [
        pytest.param(SEED_COMMENT, id="korean"),
        pytest.param("최고예요 😍🔥👍🏽 👨‍👩‍👧‍👦 다음에도 살게요 ❤️", id="emoji"),
        pytest.param("가", id="one-character"),
        pytest.param("!", id="one-symbol"),
        pytest.param(("정말 좋아요. Great fit, 世界 🌏\n" * 80)[:2200], id="long-2200-characters"),
        pytest.param("  줄바꿈\n\n그리고   공백\t탭  ", id="whitespace-and-newlines"),
        pytest.param("<|endoftext|> is just text here", id="special-token-look-alike"),
    ],
)
def test_prompt_tokens_equal_the_usage_openai_reports(handler, chat, active_model, openai_standin, comment):
    answer = judge(handler, {"comment": comment}).json

    [request] = openai_standin.requests_to("POST", CHAT_PATH)
    assert answer["prompt_tokens"] == billed_prompt_tokens(request.json()["messages"])


def test_identical_text_is_answered_from_the_database_without_a_call(handler, chat, active_model, openai_standin):
    first = judge(handler, {"comment": SEED_COMMENT}).json

    again = judge(handler, {"comment": SEED_COMMENT})

    assert again.status == 200
    assert again.json == {**first, "cached": True}
    assert len(openai_standin.requests_to("POST", CHAT_PATH)) == 1


def test_a_known_instagram_comment_is_answered_from_the_database(handler, chat, active_model, openai_standin, db):
    body = {"comment": "사이즈가 딱 맞아요", "instagram_comment_id": "17900000000000001"}
    judge(handler, body)

    again = judge(handler, body).json

    assert again["cached"] is True
    assert len(openai_standin.requests_to("POST", CHAT_PATH)) == 1
    assert len(rows(db, "SELECT * FROM instagram_comments")) == 1
    assert len(rows(db, "SELECT * FROM judgements")) == 1


def test_another_text_under_a_known_instagram_comment_id_is_409_and_nothing_changes(
    handler, chat, active_model, openai_standin, db
):
    judge(handler, {"comment": "별로예요", "instagram_comment_id": "c-1"})
    before = rows(db, "SELECT * FROM instagram_comments")

    refused = judge(handler, {"comment": "입어보니 생각보다 훨씬 좋아요", "instagram_comment_id": "c-1"})

    assert refused.status == 409
    assert refused.json["error"]["code"] == "comment_text_mismatch"
    assert rows(db, "SELECT * FROM instagram_comments") == before
    assert len(rows(db, "SELECT * FROM judgements")) == 1
    assert len(openai_standin.requests_to("POST", CHAT_PATH)) == 1
    # The same text is still answered (from the database).
    same = judge(handler, {"comment": "별로예요", "instagram_comment_id": "c-1"})
    assert (same.status, same.json["cached"]) == (200, True)


def test_a_comment_from_instagram_keeps_instagrams_text_and_its_post(
    handler, chat, active_model, openai_standin, db, post_id
):
    """Measured before: a caller with the judge scope replaced a customer's question with invented praise."""
    question = "이거 언제 재입고 되나요?"
    with db.begin() as connection:
        other_post = connection.execute(
            sa.text("INSERT INTO instagram_posts (instagram_media_id) VALUES ('media-2') RETURNING id")
        ).scalar()
        connection.execute(
            sa.text(
                "INSERT INTO instagram_comments "
                "(instagram_comment_id, post_id, text, text_sha256, author_username, source) "
                "VALUES ('17858893269000001', :post, :text, "
                "encode(sha256(convert_to(:text, 'UTF8')), 'hex'), 'curious', 'webhook')"
            ),
            {"post": post_id, "text": question},
        )

    praise = judge(
        handler,
        {"comment": "최고의 셔츠! 모두 사세요!", "instagram_comment_id": "17858893269000001", "post_id": post_id},
    )
    moved = judge(handler, {"comment": question, "instagram_comment_id": "17858893269000001", "post_id": other_post})

    assert (praise.status, praise.json["error"]["code"]) == (409, "comment_text_mismatch")
    assert (moved.status, moved.json["error"]["code"]) == (409, "comment_post_mismatch")
    assert rows(db, "SELECT text, post_id, judgement_id FROM instagram_comments") == [(question, post_id, None)]
    assert rows(db, "SELECT * FROM judgements") == []
    assert openai_standin.requests_to("POST", CHAT_PATH) == []
    # Its own text, on its own post (or naming no post), is judged.
    judged = judge(handler, {"comment": question, "instagram_comment_id": "17858893269000001"})
    assert judged.status == 200
    assert rows(db, "SELECT text, post_id, judgement_id IS NOT NULL FROM instagram_comments") == [
        (question, post_id, True)
    ]


def test_the_cache_is_per_model(handler, chat, active_model, openai_standin, monkeypatch):
    judge(handler, {"comment": SEED_COMMENT})
    use_settings(monkeypatch, JUDGE_MODEL="ft:gpt-4o-mini-2024-07-18:shop::other")

    answer = judge(handler, {"comment": SEED_COMMENT}).json

    assert (answer["model"], answer["cached"]) == ("ft:gpt-4o-mini-2024-07-18:shop::other", False)
    assert [r.json()["model"] for r in openai_standin.requests_to("POST", CHAT_PATH)] == [
        FINE_TUNED,
        "ft:gpt-4o-mini-2024-07-18:shop::other",
    ]


def test_judge_model_overrides_when_no_model_is_active(handler, chat, db, monkeypatch):
    use_settings(monkeypatch, JUDGE_MODEL="gpt-4o-mini-override")

    answer = judge(handler, {"comment": "좋아요"}).json

    assert answer["model"] == "gpt-4o-mini-override"


def test_without_any_judge_the_judge_answers_503_no_active_judge(handler, chat, db, openai_standin):
    result = judge(handler, {"comment": "좋아요"})

    assert result.status == 503
    assert result.json["error"]["code"] == "no_active_judge"
    assert openai_standin.requests == []


def test_a_warm_judge_reads_the_active_judge_without_a_query_per_request(handler, chat, active_model, db):
    judge(handler, {"comment": "첫 번째"})
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(db, "before_cursor_execute", record)
    try:
        judge(handler, {"comment": "두 번째"})
    finally:
        sa.event.remove(db, "before_cursor_execute", record)

    assert statements, "the judge did use the database"
    assert not [s for s in statements if "FROM judges" in s]


def test_a_newly_activated_judge_is_used_once_the_cache_expires(handler, app_module, chat, active_model, db):
    judge(handler, {"comment": "첫 번째"})
    make_active_judge("ft:gpt-4o-mini-2024-07-18:shop::judge02")
    app_module.judges.clear()  # what the TTL does by itself after ACTIVE_MODEL_TTL_SECONDS

    answer = judge(handler, {"comment": "두 번째"}).json
    assert answer["model"] == "ft:gpt-4o-mini-2024-07-18:shop::judge02"
    assert answer["judge"] == "ft:gpt-4o-mini-2024-07-18:shop::judge02"


def test_judging_follows_an_activation_once_active_model_ttl_seconds_have_passed(
    app_module, handler, chat, active_model, monkeypatch
):
    from shop_marketing.judging.judges import ActiveJudgeCache

    # Given a warm judge whose clock the test moves, and the active judge re-read every 30 s
    use_settings(monkeypatch, ACTIVE_MODEL_TTL_SECONDS="30")
    now = [1000.0]
    monkeypatch.setattr(app_module, "judges", ActiveJudgeCache(clock=lambda: now[0]))
    assert judge(handler, {"comment": "첫 번째"}).json["model"] == FINE_TUNED

    # When another judge is activated
    make_active_judge("ft:gpt-4o-mini-2024-07-18:shop::judge02")

    # Then the warm judge answers with the one it knows until the TTL has passed, and then with the new one
    now[0] += 29
    assert judge(handler, {"comment": "두 번째"}).json["model"] == FINE_TUNED
    now[0] += 2
    assert judge(handler, {"comment": "세 번째"}).json["model"] == "ft:gpt-4o-mini-2024-07-18:shop::judge02"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"comment": ""}, id="empty"),
        pytest.param({"comment": " \n\t\u3000 "}, id="whitespace-only"),
        pytest.param({"comment": "가" * 2201}, id="longer-than-instagram-allows"),
        pytest.param({}, id="missing"),
        pytest.param({"comment": 42}, id="not-a-string"),
        pytest.param({"comment": "좋아요", "post_id": 0}, id="post-id-out-of-range"),
        pytest.param({"comment": "좋아요", "surprise": True}, id="unknown-field"),
    ],
)
def test_invalid_bodies_are_422_and_cost_nothing(handler, chat, active_model, openai_standin, body):
    result = judge(handler, body)

    assert result.status == 422
    assert result.json["error"]["code"] == "validation_error"
    assert openai_standin.requests == []


def test_a_body_that_is_not_json_is_422(handler, chat, active_model):
    result = call_http(handler, "POST", "/comments/judge", body="{not json")

    assert (result.status, result.json["error"]["code"]) == (422, "invalid_json")


def test_a_comment_of_exactly_2200_characters_is_judged(handler, chat, active_model):
    assert judge(handler, {"comment": "좋아요 " * 550}).status == 200


def test_a_base64_encoded_body_is_judged_like_a_plain_one(handler, chat, active_model):
    result = call_http(handler, "POST", "/comments/judge", json={"comment": SEED_COMMENT}, base64_encoded=True)

    assert (result.status, result.json["comment_tokens"]) == (200, 21)


def test_an_unknown_post_is_404_before_anything_is_paid(handler, chat, active_model, openai_standin):
    result = judge(handler, {"comment": "좋아요", "post_id": 999})

    assert result.status == 404
    assert openai_standin.requests == []


def test_two_identical_requests_at_once_store_one_judgement_and_one_comment(
    handler, chat, active_model, db, post_id, openai_standin
):
    # Given a slow model, so both requests miss the cache at first
    chat.delay = 0.3
    body = {"comment": "두 번 동시에 와도 괜찮아요", "instagram_comment_id": "c-twin", "post_id": post_id}
    results = []
    start = threading.Barrier(2)

    def send():
        start.wait()
        results.append(judge(handler, body))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [r.status for r in results] == [200, 200]
    # Exactly one paid call between them: the other is answered from the database
    assert len(openai_standin.requests_to("POST", CHAT_PATH)) == 1
    assert sorted(r.json["cached"] for r in results) == [False, True]
    assert len(rows(db, "SELECT * FROM judgements")) == 1
    assert len(rows(db, "SELECT * FROM instagram_comments")) == 1


def test_the_standin_bills_a_chat_request_as_openai_does():
    # The stand-in's own arithmetic, checked by hand: "user" and "hi" are one token each.
    assert billed_prompt_tokens([{"role": "user", "content": "hi"}]) == 3 + 1 + 1 + 3


def statements_of(db, request) -> list[str]:
    sent: list[str] = []

    def record(conn, cursor, statement, *args):
        sent.append(statement)

    sa.event.listen(db, "before_cursor_execute", record)
    try:
        assert request().status == 200
    finally:
        sa.event.remove(db, "before_cursor_execute", record)
    return sent


def test_a_cached_judgement_is_one_statement_and_a_fresh_one_four(handler, chat, active_model, db):
    judge(handler, {"comment": "첫 번째"})  # the active judge is read once

    fresh = statements_of(db, lambda: judge(handler, {"comment": "처음 보는 후기"}))
    cached = statements_of(db, lambda: judge(handler, {"comment": "처음 보는 후기"}))

    # Stored or locked in one statement; once locked, read again, insert, and the transaction's id
    assert len(fresh) == 4 and "pg_try_advisory_xact_lock" in fresh[0] and fresh[2].startswith("INSERT INTO judgements")
    assert len(cached) == 1 and cached[0] == fresh[0]


def test_a_text_whose_lock_another_request_holds_is_answered_by_it_unpaid(
    handler, chat, active_model, db, openai_standin
):
    comment = "먼저 온 요청이 계산 중인 후기"
    tried = threading.Event()

    def on_try(conn, cursor, statement, *args):
        if "pg_try_advisory_xact_lock" in statement:
            tried.set()

    sa.event.listen(db, "after_cursor_execute", on_try)
    answers = []
    worker = threading.Thread(target=lambda: answers.append(judge(handler, {"comment": comment})))
    try:
        with another_request_paying_for(db, active_model, comment, verdict="bad"):
            worker.start()
            assert tried.wait(60)  # the request found nothing stored and the lock taken
    finally:
        worker.join(60)
        sa.event.remove(db, "after_cursor_execute", on_try)

    assert (answers[0].status, answers[0].json["verdict"], answers[0].json["cached"]) == (200, "bad", True)
    assert openai_standin.requests_to("POST", CHAT_PATH) == []
