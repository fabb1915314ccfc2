"""Prompted judges: any chat model, reasoning models included; fixed prefix for the prompt cache;
balanced, deterministic examples; the judgement cache is per judge; other endpoints."""

from __future__ import annotations

import json

import pytest

from infra.openai_standin import billed_prompt_tokens
from tests.judges.conftest import GOOD, create_judge, judging_calls, keep_examples, post, use_settings

COMMENTS = [
    "블라우스 소재가 시원해서 한여름에도 땀이 안 차요. 세탁 후에도 구김이 적어요.",
    "재입고 언제 되나요",
    "청바지 밑단 길이가 딱 맞아서 수선 없이 입었어요. 물 빠짐도 전혀 없었어요.",
]


def chat_calls(openai_standin) -> list[dict]:
    return [call.json() for call in judging_calls(openai_standin)]


def activate(judges_handler, judge_id: int) -> None:
    result = post(judges_handler, f"/judges/{judge_id}/activate", {"force": True, "reason": "test"})
    assert result.status == 200, result.json


@pytest.fixture
def examples_file(upload_handler, openai_standin) -> str:
    file_id = keep_examples(upload_handler)
    assert file_id.startswith("local-")
    return file_id


def test_a_prompted_judges_requests_share_one_identical_prefix_with_balanced_examples(
    judges_handler, judge_handler, openai, openai_standin, examples_file
):
    judge = create_judge(
        judges_handler,
        name="prompted-mini",
        style="prompted",
        model="gpt-4o-mini",
        examples_file_id=examples_file,
        example_count=6,
    )
    assert (judge["output"], judge["status"], judge["examples_file_id"]) == ("label_token", "candidate", examples_file)
    activate(judges_handler, judge["id"])

    answers = [post(judge_handler, "/comments/judge", {"comment": comment}).json for comment in COMMENTS]

    calls = chat_calls(openai_standin)
    assert [call["messages"][-1] for call in calls] == [{"role": "user", "content": c} for c in COMMENTS]
    prefixes = {
        json.dumps({**call, "messages": call["messages"][:-1]}, sort_keys=True, ensure_ascii=False) for call in calls
    }
    assert len(prefixes) == 1, "everything before the comment is the same bytes on every call"
    prefix = calls[0]["messages"][:-1]
    assert prefix[0]["role"] == "system"
    assert "real-use review" in prefix[0]["content"] and "실제로" in prefix[0]["content"]
    shots = [message["content"] for message in prefix[1:] if message["role"] == "assistant"]
    assert sorted(shots) == ["bad", "bad", "bad", "good", "good", "good"]
    assert calls[0]["logit_bias"] and calls[0]["max_completion_tokens"] == 1
    assert [a["verdict"] for a in answers] == ["good", "bad", "good"]
    assert all(a["judge"] == "prompted-mini" and a["model"] == "gpt-4o-mini" for a in answers)
    assert answers[0]["prompt_tokens"] == billed_prompt_tokens(calls[0]["messages"])


def test_the_examples_are_chosen_the_same_way_every_time(
    judges_handler, judge_handler, openai, openai_standin, examples_file
):
    for name in ("one", "two"):
        judge = create_judge(
            judges_handler, name=name, style="prompted", model="gpt-4o-mini", examples_file_id=examples_file
        )
        activate(judges_handler, judge["id"])
        post(judge_handler, "/comments/judge", {"comment": COMMENTS[0]})

    first, second = chat_calls(openai_standin)
    assert first["messages"] == second["messages"]
    labels = [m["content"] for m in first["messages"] if m["role"] == "assistant"]
    assert labels.count("good") == labels.count("bad") == 5


def test_a_long_prefix_is_served_from_the_providers_cache_and_reported(
    judges_handler, judge_handler, openai, openai_standin, examples_file
):
    instructions = "Judge the comment. " + "A good comment is a sincere real-use review. " * 150
    judge = create_judge(
        judges_handler,
        name="long",
        style="prompted",
        model="gpt-4o-mini",
        examples_file_id=examples_file,
        instructions=instructions,
    )
    activate(judges_handler, judge["id"])

    first = post(judge_handler, "/comments/judge", {"comment": COMMENTS[0]}).json
    second = post(judge_handler, "/comments/judge", {"comment": COMMENTS[2]}).json

    prefix_tokens = billed_prompt_tokens(chat_calls(openai_standin)[0]["messages"][:-1]) - 3
    assert prefix_tokens > 1024
    # The probe at creation sent the prefix first (billed uncached): every judgement finds it cached
    assert judge["probe"]["cached_prompt_tokens"] == 0 and judge["probe"]["prompt_tokens"] > prefix_tokens
    cached = 1024 + (prefix_tokens - 1024) // 128 * 128
    assert first["cached_prompt_tokens"] == second["cached_prompt_tokens"] == cached
    assert second["prompt_tokens"] == billed_prompt_tokens(chat_calls(openai_standin)[1]["messages"])


def test_a_reasoning_model_gets_structured_output_and_no_sampling_settings(
    judges_handler, judge_handler, openai, openai_standin, examples_file
):
    judge = create_judge(
        judges_handler, name="o4", style="prompted", model="o4-mini", examples_file_id=examples_file, example_count=4
    )
    assert (judge["output"], judge["reasoning_effort"]) == ("structured", "low")
    activate(judges_handler, judge["id"])

    answer = post(judge_handler, "/comments/judge", {"comment": COMMENTS[0]})

    assert answer.status == 200, answer.json
    [call] = chat_calls(openai_standin)
    assert call["response_format"]["type"] == "json_schema"
    schema = call["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["verdict"]["enum"] == ["good", "bad"]
    assert call["reasoning_effort"] == "low"
    assert not {"logit_bias", "logprobs", "top_logprobs", "temperature", "max_tokens", "max_completion_tokens"} & set(
        call
    )
    assert json.loads(call["messages"][2]["content"]) in ({"verdict": "good"}, {"verdict": "bad"})
    assert answer.json["verdict"] == "good"
    # OpenAI bills the reasoning among the completion tokens
    assert answer.json["completion_tokens"] == 64 + _tokens('{"verdict": "good"}')
    assert answer.json["confidence"] is None


def test_a_configured_reasoning_effort_is_sent_with_a_schema_whose_only_field_is_the_label(
    judges_handler, judge_handler, openai, openai_standin, examples_file
):
    judge = create_judge(
        judges_handler,
        name="o4-high",
        style="prompted",
        model="o4-mini",
        examples_file_id=examples_file,
        output="structured",
        reasoning_effort="high",
    )
    activate(judges_handler, judge["id"])

    answer = post(judge_handler, "/comments/judge", {"comment": COMMENTS[0]})

    assert answer.status == 200, answer.json
    [call] = chat_calls(openai_standin)
    assert call["reasoning_effort"] == "high"
    schema = call["response_format"]["json_schema"]["schema"]
    assert (set(schema["properties"]), schema["required"], schema["additionalProperties"]) == (
        {"verdict"},
        ["verdict"],
        False,
    )
    assert schema["properties"]["verdict"]["enum"] == ["good", "bad"]


def _tokens(text: str) -> int:
    from infra.openai_standin import o200k_tokens

    return o200k_tokens(text)


def test_gpt5_gets_its_lowest_reasoning_effort(judges_handler, openai, examples_file):
    judge = create_judge(
        judges_handler, name="g5", style="prompted", model="gpt-5-mini", examples_file_id=examples_file
    )

    assert (judge["output"], judge["reasoning_effort"]) == ("structured", "minimal")


def test_a_prompted_and_a_fine_tuned_judge_on_one_model_never_share_verdicts(
    judges_handler, judge_handler, openai, openai_standin, examples_file
):
    prompted = create_judge(
        judges_handler, name="p", style="prompted", model="gpt-4o-mini", examples_file_id=examples_file
    )
    plain = create_judge(judges_handler, name="f", style="fine_tuned", model="gpt-4o-mini")
    activate(judges_handler, prompted["id"])
    post(judge_handler, "/comments/judge", {"comment": COMMENTS[0]})
    activate(judges_handler, plain["id"])

    answer = post(judge_handler, "/comments/judge", {"comment": COMMENTS[0]}).json

    assert (answer["judge"], answer["cached"]) == ("f", False)
    assert len(chat_calls(openai_standin)) == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"style": "prompted", "model": "gpt-4o-mini"}, "examples_file_id", id="prompted-without-examples"),
        pytest.param({"style": "fine_tuned", "model": "m", "endpoint": "nowhere"}, "endpoint", id="unknown-endpoint"),
        pytest.param(
            {"style": "fine_tuned", "model": "m", "instructions": "be nice"},
            "instructions",
            id="fine-tuned-with-instructions",
        ),
        pytest.param(
            {"style": "prompted", "model": "o3", "examples_file_id": "X", "output": "label_token"},
            "logit_bias",
            id="reasoning-label-token",
        ),
        pytest.param(
            {"style": "prompted", "model": "gpt-4o-mini", "examples_file_id": "file-none"},
            "examples_file_id",
            id="unknown-file",
        ),
        pytest.param(
            {"style": "prompted", "model": "gpt-4o-mini", "examples_file_id": "X", "example_count": 40},
            "example_count",
            id="too-many-examples",
        ),
        pytest.param({"style": "judgy", "model": "m"}, "style", id="unknown-style"),
        pytest.param(
            {"style": "fine_tuned", "model": "m", "prices": {"input": -1, "output": 1}}, "prices", id="negative-price"
        ),
    ],
)
def test_invalid_judges_are_422(judges_handler, openai, examples_file, body, field):
    if body.get("examples_file_id") == "X":
        body = {**body, "examples_file_id": examples_file}
    result = post(judges_handler, "/judges", {"name": "bad", **body})

    assert result.status == 422, result.json
    assert field in json.dumps(result.json["error"])


def test_a_duplicate_name_is_409_naming_the_existing_judge(judges_handler, openai, openai_standin):
    first = create_judge(judges_handler, name="same", style="fine_tuned", model="gpt-4o-mini")
    calls = len(openai_standin.requests)

    again = post(judges_handler, "/judges", {"name": "same", "style": "fine_tuned", "model": "gpt-4.1-mini"})

    assert again.status == 409
    assert (again.json["error"]["code"], again.json["error"]["existing_id"]) == ("duplicate", first["id"])
    assert len(openai_standin.requests) == calls, "a name taken is refused before the model is probed"


def test_judges_are_listed_and_read_back(judges_handler, openai, examples_file):
    one = create_judge(
        judges_handler, name="one", style="fine_tuned", model="gpt-4o-mini", prices={"input": 0.3, "output": 1.2}
    )
    create_judge(judges_handler, name="two", style="prompted", model="gpt-4o-mini", examples_file_id=examples_file)

    listed = post(judges_handler, "/judges", None)  # POST without a body is invalid
    assert listed.status == 422
    from tests.judges.conftest import get

    judges = get(judges_handler, "/judges").json["judges"]
    assert [(j["name"], j["status"], j["latest_evaluation"]) for j in judges] == [
        ("one", "candidate", None),
        ("two", "candidate", None),
    ]
    assert get(judges_handler, f"/judges/{one['id']}").json["prices"] == {
        "input": 0.3,
        "cached_input": 0.3,
        "output": 1.2,
    }
    assert get(judges_handler, "/judges/999").status == 404
    assert get(judges_handler, "/judges/abc").status == 422


def test_a_judge_on_another_endpoint_calls_that_endpoint_with_its_key(
    judges_handler, judge_handler, monkeypatch, openai
):
    from infra.openai_standin import OpenAIStandIn, ScriptedOpenAI

    other = OpenAIStandIn().start()
    try:
        # A self-hosted server: it serves its own model, and its models route says nothing of shutdowns.
        other.behave(ScriptedOpenAI(label="bad", says_shutdown_dates=False))
        endpoints = {"selfhosted": {"base_url": other.base_url, "api_key_env": "SELFHOSTED_KEY"}}
        use_settings(monkeypatch, JUDGE_ENDPOINTS=json.dumps(endpoints), SELFHOSTED_KEY="sk-selfhosted")
        judge = create_judge(
            judges_handler, name="local-llm", style="fine_tuned", model="llama-judge", endpoint="selfhosted"
        )
        activate(judges_handler, judge["id"])

        answer = post(judge_handler, "/comments/judge", {"comment": GOOD[0]}).json

        assert (answer["verdict"], answer["judge"]) == ("bad", "local-llm")
        probe, call = other.requests_to("POST", "/chat/completions")
        assert call.headers["authorization"] == probe.headers["authorization"] == "Bearer sk-selfhosted"
        assert (judge["model_status"], judge["model_shutdown_date"]) == ("unknown", None)
    finally:
        other.stop()


def test_an_endpoints_key_comes_from_its_secrets_manager_secret(judges_handler, judge_handler, monkeypatch, openai):
    import boto3
    from moto import mock_aws

    from infra.openai_standin import OpenAIStandIn, ScriptedOpenAI

    other = OpenAIStandIn().start()
    try:
        other.behave(ScriptedOpenAI(label="bad", says_shutdown_dates=False))
        with mock_aws():
            # Given an endpoint whose key is only in Secrets Manager (as in AWS)
            arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
                Name="shop-marketing/azure-key", SecretString="sk-azure-from-secrets-manager"
            )["ARN"]
            endpoints = {"azure": {"base_url": other.base_url, "api_key_secret_arn": arn}}
            use_settings(monkeypatch, JUDGE_ENDPOINTS=json.dumps(endpoints))

            # When a judge on it is made, activated and asked
            judge = create_judge(
                judges_handler, name="azure-judge", style="fine_tuned", model="gpt-4o-mini", endpoint="azure"
            )
            activate(judges_handler, judge["id"])
            answer = post(judge_handler, "/comments/judge", {"comment": GOOD[0]}).json

        # Then that endpoint answered, called with the secret's key
        assert (answer["verdict"], answer["judge"]) == ("bad", "azure-judge")
        calls = other.requests_to("POST", "/chat/completions")
        assert calls and {call.headers["authorization"] for call in calls} == {"Bearer sk-azure-from-secrets-manager"}
    finally:
        other.stop()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("not json", "JUDGE_ENDPOINTS"),
        ('{"x": {"base_url": "ftp://nowhere", "api_key_env": "K"}}', "JUDGE_ENDPOINTS.x.base_url"),
        ('{"x": {"base_url": "https://a.example/v1"}}', "exactly one of"),
        ('{"openai": {"base_url": "https://a.example/v1", "api_key_env": "K"}}', "default endpoint"),
    ],
)
def test_a_wrong_judge_endpoints_setting_is_one_line_naming_it(monkeypatch, value, expected):
    from shop_marketing.config import ConfigurationError, get_settings

    monkeypatch.setenv("JUDGE_ENDPOINTS", value)
    get_settings.cache_clear()
    with pytest.raises(ConfigurationError) as raised:
        get_settings()
    assert expected in str(raised.value) and "\n" not in str(raised.value)
    monkeypatch.delenv("JUDGE_ENDPOINTS")
    get_settings.cache_clear()
