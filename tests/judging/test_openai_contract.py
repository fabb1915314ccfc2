"""The judge's request against OpenAI's own API description: its schema, and the team's Prism mock.

The mock accepts even invalid chat requests (it passes a body with no messages), so the request body
is also validated here against ``CreateChatCompletionRequest`` with jsonschema. The description is read
from the team folder at test time, never copied into the repository.
"""

from __future__ import annotations

from functools import cache

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.judging.chat_standin import CHAT_PATH
from tests.judging.conftest import SEED_COMMENT, use_settings
from tests.support.lambda_invoke import ROOT, call_http

OPENAPI = ROOT.parent / "shared" / "openai" / "openapi.yaml"
SPEC_URI = "urn:openai:openapi"


@cache
def chat_request_validator() -> jsonschema.Draft202012Validator:
    if not OPENAPI.exists():
        pytest.fail(f"OpenAI's API description is missing from the team folder: {OPENAPI}")
    spec = yaml.load(OPENAPI.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    # The whole description is one resource, so its "#/components/schemas/..." references resolve.
    registry = Registry().with_resource(SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT202012))
    schema = {"$ref": f"{SPEC_URI}#/components/schemas/CreateChatCompletionRequest"}
    return jsonschema.Draft202012Validator(schema, registry=registry)


def problems(body: dict) -> list[str]:
    return [error.message for error in chat_request_validator().iter_errors(body)]


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


def test_the_openai_mock_accepts_the_judges_request_and_its_non_label_answer_is_502(
    handler, active_model, openai_mock, monkeypatch
):
    # Given the SDK pointed at the mock generated from OpenAI's API description (examples as answers)
    use_settings(monkeypatch, OPENAI_BASE_URL=openai_mock.base_url, OPENAI_MAX_RETRIES="0", OPENAI_TIMEOUT_SECONDS="10")
    seen = len(openai_mock.log_lines())

    # When a comment is judged
    result = call_http(handler, "POST", "/comments/judge", json={"comment": SEED_COMMENT})

    # Then the mock validated the request and found nothing wrong
    log = "\n".join(openai_mock.log_lines()[seen:])
    assert "post /chat/completions" in log
    assert "The request passed the validation rules" in log
    assert "violation" not in log.lower()
    # And its example answer ("string"), not being a label, is not taken for a verdict
    assert result.status == 502
    assert result.json["error"]["code"] == "unexpected_label"

