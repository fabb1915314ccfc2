"""The judge's request against OpenAI's own API description, and the stand-in's answers too.

The request body is validated with jsonschema against ``CreateChatCompletionRequest``; the chat
stand-in's answer against ``CreateChatCompletionResponse``, so the tests' OpenAI behaves like the
documented one. The schemas come from the extract kept in ``tests/support/openai_api`` (MIT).
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from infra.openai_standin import CHAT_PATH
from tests.judging.conftest import SEED_COMMENT
from tests.support.lambda_invoke import call_http
from tests.support.openai_api import problems as schema_problems


def problems(body: dict) -> list[str]:
    return schema_problems("CreateChatCompletionRequest", body)


def test_the_judges_request_is_valid_for_openais_chat_completions(handler, chat, active_model, openai_standin):
    call_http(handler, "POST", "/comments/judge", json={"comment": SEED_COMMENT})

    [request] = openai_standin.requests_to("POST", CHAT_PATH)
    assert problems(request.json()) == []


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param({"messages": []}, id="no-messages"),
        pytest.param({"max_completion_tokens": "one"}, id="token-limit-not-an-integer"),
        pytest.param({"top_logprobs": 21}, id="too-many-top-logprobs"),
        pytest.param({"messages": [{"role": "judge", "content": "x"}]}, id="unknown-role"),
    ],
)
def test_the_schema_check_rejects_what_openai_would(broken):
    # Shows the validation above can fail: a valid request, broken in one place.
    valid = {
        "model": "ft:gpt-4o-mini-2024-07-18:shop::judge01",
        "messages": [{"role": "user", "content": SEED_COMMENT}],
        "max_completion_tokens": 1,
    }
    assert problems(valid) == []
    assert problems({**valid, **broken}) != []


def test_the_chat_stand_ins_answer_is_a_valid_chat_completion(handler, chat, active_model, openai_standin):
    # The stand-in answers in OpenAI's place: its reply must be what OpenAI documents.
    call_http(handler, "POST", "/comments/judge", json={"comment": SEED_COMMENT})
    [request] = openai_standin.requests_to("POST", CHAT_PATH)
    replay = urllib.request.Request(
        f"{openai_standin.base_url}/chat/completions",
        data=request.body,
        method="POST",
        headers={"content-type": "application/json", "authorization": "Bearer sk-test"},
    )
    with urllib.request.urlopen(replay, timeout=30) as reply:  # noqa: S310 - loopback
        answer = json.loads(reply.read())

    assert schema_problems("CreateChatCompletionResponse", answer) == []
