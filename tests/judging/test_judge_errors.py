"""How OpenAI's failures reach the caller: the codes docs/judging.md "Judging comments" names, and nothing
stored or half-paid."""

from __future__ import annotations

import pytest

from infra.openai_standin import CHAT_PATH, Reply, ScriptedOpenAI, completion_body
from tests.judging.conftest import rows, use_settings
from tests.support.lambda_invoke import call_http


def judge(handler, comment="좋아요, 또 살게요"):
    return call_http(handler, "POST", "/comments/judge", json={"comment": comment})


def error_reply(status: int, headers: dict[str, str] | None = None):
    body = {"error": {"message": f"stand-in {status}", "type": "server_error", "code": None}}
    return lambda request, match: Reply(status, body, headers=dict(headers or {}))


def answering(content):
    def reply(request, match):
        body = request.json()
        return Reply(200, completion_body(body["model"], body["messages"], content))

    return reply


def test_a_rate_limit_is_503_with_openais_retry_after(handler, fast_openai, active_model, db):
    fast_openai.on("POST", CHAT_PATH, error_reply(429, {"retry-after": "7"}))

    result = judge(handler)

    assert result.status == 503
    assert result.headers["Retry-After"] == "7"
    assert result.json["error"]["code"] == "upstream_unavailable"
    assert rows(db, "SELECT * FROM judgements") == []


def test_a_rate_limit_without_a_hint_still_says_when_to_retry(handler, fast_openai, active_model):
    fast_openai.on("POST", CHAT_PATH, error_reply(429))

    result = judge(handler)

    assert result.status == 503
    assert int(result.headers["Retry-After"]) > 0


@pytest.mark.parametrize("status", [500, 502, 503])
def test_an_openai_outage_is_503_with_retry_after(handler, fast_openai, active_model, status):
    fast_openai.on("POST", CHAT_PATH, error_reply(status))

    result = judge(handler)

    assert result.status == 503
    assert int(result.headers["Retry-After"]) > 0


def test_the_sdk_retries_a_bounded_number_of_times_before_503(handler, fast_openai, active_model, monkeypatch):
    # retry-after-ms keeps the SDK's wait between attempts short
    use_settings(monkeypatch, OPENAI_MAX_RETRIES="2")
    fast_openai.on("POST", CHAT_PATH, error_reply(429, {"retry-after-ms": "10"}))

    result = judge(handler)

    assert result.status == 503
    assert len(fast_openai.requests_to("POST", CHAT_PATH)) == 3


def test_a_passing_rate_limit_is_absorbed_by_the_sdks_retry(handler, fast_openai, active_model, monkeypatch):
    use_settings(monkeypatch, OPENAI_MAX_RETRIES="1")
    answers = [error_reply(429, {"retry-after-ms": "10"}), ScriptedOpenAI()]
    fast_openai.on("POST", CHAT_PATH, lambda request, match: answers.pop(0)(request, match))

    result = judge(handler)

    assert (result.status, result.json["verdict"]) == (200, "good")


def test_a_slow_openai_is_504(handler, fast_openai, active_model, monkeypatch, db):
    use_settings(monkeypatch, OPENAI_TIMEOUT_SECONDS="0.3")
    fast_openai.on("POST", CHAT_PATH, ScriptedOpenAI(delay=1.0))

    result = judge(handler)

    assert result.status == 504
    assert result.json["error"]["code"] == "upstream_timeout"
    assert rows(db, "SELECT * FROM judgements") == []


def test_a_dropped_connection_is_503_with_retry_after(handler, fast_openai, active_model):
    fast_openai.on("POST", CHAT_PATH, lambda request, match: Reply(drop=True))

    result = judge(handler)

    assert result.status == 503
    assert int(result.headers["Retry-After"]) > 0


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("maybe", id="another-word"),
        pytest.param("Good", id="capitalised"),
        pytest.param(" good", id="leading-space"),
        pytest.param("good.", id="with-punctuation"),
        pytest.param("You asked me to judge this, so: bad", id="a-sentence"),
        pytest.param("", id="empty"),
        pytest.param(None, id="no-content"),
    ],
)
def test_any_reply_that_is_not_exactly_one_label_is_502_unexpected_label(
    handler, fast_openai, active_model, db, content
):
    fast_openai.on("POST", CHAT_PATH, answering(content))

    result = judge(handler)

    assert result.status == 502
    assert result.json["error"]["code"] == "unexpected_label"
    assert rows(db, "SELECT * FROM judgements") == []


def test_a_reply_without_choices_is_502_unexpected_label(handler, fast_openai, active_model):
    def no_choices(request, match):
        body = request.json()
        return Reply(200, {**completion_body(body["model"], body["messages"], "good"), "choices": []})

    fast_openai.on("POST", CHAT_PATH, no_choices)

    assert judge(handler).json["error"]["code"] == "unexpected_label"


@pytest.mark.parametrize("status", [400, 401, 404])
def test_openai_refusing_the_request_is_502(handler, fast_openai, active_model, status):
    # e.g. a JUDGE_MODEL that does not exist (404) or a revoked key (401): not the caller's fault
    fast_openai.on("POST", CHAT_PATH, error_reply(status))

    result = judge(handler)

    assert result.status == 502
    assert result.json["error"]["code"] == "bad_upstream_reply"


def test_after_a_failure_the_same_comment_is_judged_once_openai_is_back(handler, fast_openai, active_model):
    fast_openai.on("POST", CHAT_PATH, error_reply(503))
    assert judge(handler).status == 503

    fast_openai.on("POST", CHAT_PATH, ScriptedOpenAI(label="bad", probabilities={"good": 0.4, "bad": 0.6}))
    answer = judge(handler).json

    assert (answer["verdict"], answer["cached"]) == ("bad", False)


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(Reply(200, body=b"<html>proxy error</html>", headers={"Content-Type": "text/html"}), id="html"),
        pytest.param(Reply(200, body=b'{"choices": [', headers={"Content-Type": "application/json"}), id="broken-json"),
        pytest.param(Reply(200, json=["not", "a", "completion"]), id="json-list"),
    ],
)
def test_an_unreadable_reply_is_502_not_a_crash(handler, fast_openai, active_model, reply):
    fast_openai.on(
        "POST", CHAT_PATH, lambda request, match: Reply(reply.status, reply.json, reply.body, dict(reply.headers))
    )

    result = judge(handler)

    assert result.status == 502
    assert result.json["error"]["code"] == "bad_upstream_reply"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"choices": [{"index": 0, "message": None}]}, id="no-message"),
        pytest.param({"choices": "good"}, id="choices-not-a-list"),
        pytest.param({"object": "chat.completion"}, id="no-choices-at-all"),
    ],
)
def test_a_completion_without_a_readable_label_is_502_unexpected_label(handler, fast_openai, active_model, body):
    fast_openai.on("POST", CHAT_PATH, lambda request, match: Reply(200, body))

    result = judge(handler)

    assert (result.status, result.json["error"]["code"]) == (502, "unexpected_label")


def test_a_retry_after_longer_than_the_retry_budget_is_passed_back_not_slept(
    handler, openai_standin, monkeypatch, active_model
):
    # Given retries allowed, and OpenAI asking for a pause far longer than a 29 s API Gateway request
    use_settings(monkeypatch, OPENAI_MAX_RETRIES="2", OPENAI_MAX_RETRY_WAIT_SECONDS="2")
    openai_standin.on("POST", CHAT_PATH, error_reply(429, {"retry-after": "45"}))

    result = judge(handler)

    # Then the caller hears when to come back, and the function did not wait for it
    assert result.status == 503
    assert result.headers["Retry-After"] == "45"
    assert len(openai_standin.requests_to("POST", CHAT_PATH)) == 1


def test_a_short_retry_after_within_the_budget_is_retried(handler, openai_standin, monkeypatch, active_model):
    use_settings(monkeypatch, OPENAI_MAX_RETRIES="1", OPENAI_MAX_RETRY_WAIT_SECONDS="2")
    replies = iter([error_reply(429, {"retry-after-ms": "50"}), answering("good")])
    openai_standin.on("POST", CHAT_PATH, lambda request, match: next(replies)(request, match))

    result = judge(handler)

    assert result.status == 200
    assert result.json["verdict"] == "good"
    assert len(openai_standin.requests_to("POST", CHAT_PATH)) == 2


@pytest.mark.parametrize(
    ("choice", "confidence"),
    [
        pytest.param({"logprobs": {"content": "good"}}, None, id="logprobs-content-not-a-list"),
        pytest.param(
            {"logprobs": {"content": [{"token": "good", "logprob": "high"}]}}, None, id="logprob-not-a-number"
        ),
        pytest.param(
            {"logprobs": {"content": [{"token": "good", "logprob": 0.0, "top_logprobs": ["good", 7]}]}},
            1.0,
            id="alternatives-not-objects",
        ),
    ],
)
def test_unreadable_logprobs_and_usage_leave_what_they_would_tell_unknown(
    handler, fast_openai, active_model, choice, confidence
):
    def odd(request, match):
        body = request.json()
        reply = completion_body(body["model"], body["messages"], "good")
        reply["choices"][0].update(choice)
        return Reply(200, {**reply, "usage": "plenty"})

    fast_openai.on("POST", CHAT_PATH, odd)

    result = judge(handler)

    assert result.status == 200
    assert (result.json["verdict"], result.json["confidence"], result.json["completion_tokens"]) == (
        "good",
        confidence,
        1,
    )
