"""The project's OpenAI stand-in behaves like OpenAI's current models, refusals included; the real
SDK talks to it over loopback HTTP."""

from __future__ import annotations

import json
import urllib.request
from datetime import date

import openai
import pytest

from infra.openai_standin import BehavingOpenAI, start_in_background

# The stand-in's clock is set, so its calendar (OpenAI's, fixed dates) reads the same every day.
STANDIN_TODAY = date(2026, 12, 6)

MESSAGES = [{"role": "user", "content": "니트 세 번 빨았는데 보풀 하나 없어요. 어깨선도 딱 맞아요."}]
SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "comment_verdict",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"verdict": {"type": "string", "enum": ["good", "bad"]}},
            "required": ["verdict"],
            "additionalProperties": False,
        },
    },
}


@pytest.fixture
def standin():
    behaviour = BehavingOpenAI(today=STANDIN_TODAY, known_models_only=True)
    server, base_url = start_in_background(behaviour)
    client = openai.OpenAI(base_url=base_url, api_key="sk-local", max_retries=0, timeout=10)
    yield behaviour, client
    client.close()
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("arguments", "param"),
    [
        ({"logit_bias": {"30744": 100}}, "logit_bias"),
        ({"logprobs": True}, "logprobs"),
        ({"max_tokens": 1}, "max_tokens"),
        ({"temperature": 0}, "temperature"),
    ],
)
@pytest.mark.parametrize("model", ["o4-mini", "gpt-5-mini", "o3"])
def test_a_reasoning_model_refuses_forced_labels_and_sampling_settings(standin, model, arguments, param):
    _, client = standin

    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model=model, messages=MESSAGES, **arguments)

    assert refused.value.status_code == 400
    assert refused.value.body["code"] == "unsupported_parameter"
    assert refused.value.body["param"] == param


def test_a_reasoning_model_answers_json_for_a_json_schema_and_bills_its_reasoning(standin):
    behaviour, client = standin

    completion = client.chat.completions.create(
        model="o4-mini", messages=MESSAGES, response_format=SCHEMA, reasoning_effort="low"
    )

    assert json.loads(completion.choices[0].message.content) == {"verdict": "good"}
    details = completion.usage.completion_tokens_details
    assert details.reasoning_tokens == behaviour.reasoning_tokens > 0
    assert completion.usage.completion_tokens > details.reasoning_tokens


def test_reasoning_effort_is_refused_by_models_that_do_not_reason_and_checked_by_those_that_do(standin):
    _, client = standin

    with pytest.raises(openai.BadRequestError) as plain:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, reasoning_effort="low")
    with pytest.raises(openai.BadRequestError) as too_low:
        client.chat.completions.create(model="o3", messages=MESSAGES, reasoning_effort="minimal")

    assert plain.value.body["code"] == "unsupported_parameter"
    assert too_low.value.body["code"] == "unsupported_value"


def test_a_model_that_takes_forced_labels_answers_one_label_token_with_logprobs(standin):
    _, client = standin

    completion = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        logit_bias={"30744": 100, "22023": 100},
        max_completion_tokens=1,
        temperature=0,
        logprobs=True,
        top_logprobs=2,
    )

    assert completion.choices[0].message.content == "good"
    assert completion.choices[0].logprobs.content[0].token == "good"
    assert completion.usage.completion_tokens == 1
    assert completion.usage.completion_tokens_details.reasoning_tokens == 0


@pytest.mark.parametrize(
    ("comment", "label"),
    [
        ("니트 세 번 빨았는데 보풀 하나 없어요. 어깨선도 딱 맞아요.", "good"),
        ("언제 재입고 되나요?", "bad"),
    ],
)
@pytest.mark.parametrize("structured", [False, True])
def test_the_logprobs_agree_with_the_label_answered(standin, comment, label, structured):
    """Whatever the stand-in answers, the label's token is the most probable of its alternatives: a `bad`
    verdict is not reported with the probability of `good`."""
    import math

    _, client = standin
    arguments = {"response_format": SCHEMA} if structured else {"max_completion_tokens": 1, "temperature": 0}
    completion = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": comment}],
        logprobs=True,
        top_logprobs=2,
        **arguments,
    )

    content = completion.choices[0].message.content
    assert (json.loads(content)["verdict"] if structured else content) == label
    [token] = [token for token in completion.choices[0].logprobs.content if token.token == label]
    alternatives = {alternative.token: alternative.logprob for alternative in token.top_logprobs}
    assert set(alternatives) == {"good", "bad"}
    assert alternatives[label] == token.logprob == max(alternatives.values())
    assert math.exp(token.logprob) > 0.5
    assert math.isclose(sum(math.exp(logprob) for logprob in alternatives.values()), 1.0)


def test_a_retired_model_answers_404_model_not_found(standin):
    behaviour, client = standin
    behaviour.retired_models = {"gpt-4o-mini-2024-07-18"}

    with pytest.raises(openai.NotFoundError) as gone:
        client.chat.completions.create(model="ft:gpt-4o-mini-2024-07-18:shop::abc", messages=MESSAGES)

    assert gone.value.body["code"] == "model_not_found"


def test_a_repeated_long_prefix_is_billed_as_cached_in_128_token_steps(standin):
    _, client = standin
    prefix = [{"role": "system", "content": "좋은 댓글은 실제 사용 후기입니다. " * 200}]

    first = client.chat.completions.create(model="gpt-4o-mini", messages=[*prefix, {"role": "user", "content": "a"}])
    second = client.chat.completions.create(model="gpt-4o-mini", messages=[*prefix, {"role": "user", "content": "b"}])
    short = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "system", "content": "x"}, {"role": "user", "content": "c"}]
    )
    short_again = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "system", "content": "x"}, {"role": "user", "content": "d"}]
    )

    cached = second.usage.prompt_tokens_details.cached_tokens
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    assert cached >= 1024 and (cached - 1024) % 128 == 0 and cached < second.usage.prompt_tokens
    assert short.usage.prompt_tokens_details.cached_tokens == short_again.usage.prompt_tokens_details.cached_tokens == 0


def test_files_and_fine_tuning_jobs_run_to_success_and_can_be_refused(standin):
    behaviour, client = standin

    uploaded = client.files.create(
        file=("train.jsonl", b'{"messages": []}\n', "application/jsonl"), purpose="fine-tune"
    )
    assert [f.id for f in client.files.list().data] == [uploaded.id]
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=uploaded.id, suffix="judge")
    statuses = [job.status] + [client.fine_tuning.jobs.retrieve(job.id).status for _ in range(4)]
    done = client.fine_tuning.jobs.retrieve(job.id)
    events = client.fine_tuning.jobs.list_events(job.id).data

    assert statuses == ["validating_files", "queued", "running", "succeeded", "succeeded"]
    assert done.fine_tuned_model.startswith("ft:gpt-4o-mini-2024-07-18:standin:judge:")
    assert events[0].message == "Job succeeded"

    behaviour.fine_tuning_refused = True
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=uploaded.id)
    assert refused.value.status_code == 403


# --- the gpt-6 generation, the calendar, the clock ------------------------------------------------


def test_gpt6_luna_reasons_unless_told_none_and_refuses_minimal_and_forced_labels(standin):
    _, client = standin

    with pytest.raises(openai.BadRequestError) as minimal:
        client.chat.completions.create(model="gpt-6-luna", messages=MESSAGES, reasoning_effort="minimal")
    with pytest.raises(openai.BadRequestError) as forced:
        client.chat.completions.create(
            model="gpt-6-luna", messages=MESSAGES, logit_bias={"30744": 100}, max_completion_tokens=1
        )
    with pytest.raises(openai.BadRequestError) as logprobs_while_reasoning:
        client.chat.completions.create(model="gpt-6-luna", messages=MESSAGES, logprobs=True, reasoning_effort="low")
    with pytest.raises(openai.BadRequestError) as temperature_by_default:
        client.chat.completions.create(model="gpt-6-luna", messages=MESSAGES, temperature=0)
    reasoning = client.chat.completions.create(model="gpt-6-luna", messages=MESSAGES, response_format=SCHEMA)
    plain = client.chat.completions.create(
        model="gpt-6-luna",
        messages=MESSAGES,
        response_format=SCHEMA,
        reasoning_effort="none",
        logprobs=True,
        top_logprobs=2,
        temperature=0,
    )

    assert (minimal.value.body["code"], minimal.value.body["param"]) == ("unsupported_value", "reasoning_effort")
    assert "Supported values are: none, low, medium, high." in minimal.value.body["message"]
    assert forced.value.body["param"] == "logit_bias"
    assert logprobs_while_reasoning.value.body["param"] == "logprobs"
    assert temperature_by_default.value.body["param"] == "temperature"
    assert reasoning.usage.completion_tokens_details.reasoning_tokens > 0
    assert plain.usage.completion_tokens_details.reasoning_tokens == 0
    label_token = [token for token in plain.choices[0].logprobs.content if token.token in ("good", "bad")]
    assert [token.token for token in label_token] == ["good"] and len(label_token[0].top_logprobs) == 2


def test_the_gpt5_family_keeps_its_efforts(standin):
    _, client = standin

    with pytest.raises(openai.BadRequestError) as none:
        client.chat.completions.create(model="gpt-5-mini", messages=MESSAGES, reasoning_effort="none")
    answered = client.chat.completions.create(
        model="gpt-5-mini", messages=MESSAGES, response_format=SCHEMA, reasoning_effort="minimal"
    )

    assert "Supported values are: minimal, low, medium, high." in none.value.body["message"]
    assert json.loads(answered.choices[0].message.content) == {"verdict": "good"}


def test_the_models_endpoint_gives_openais_calendar_and_a_fine_tuned_model_shares_its_bases(standin):
    _, client = standin

    assert client.models.retrieve("gpt-4.1-mini").shutdown_date == "2027-01-14"
    assert client.models.retrieve("gpt-5-mini").shutdown_date == "2026-12-11"
    assert client.models.retrieve("gpt-6-luna").shutdown_date is None
    assert client.models.retrieve("ft:gpt-4o-mini-2024-07-18:shop::judge01").shutdown_date is None  # its base's applies
    assert "gpt-6-luna" in [model.id for model in client.models.list().data]
    with pytest.raises(openai.NotFoundError) as unknown:
        client.models.retrieve("gpt-7-imaginary")
    assert unknown.value.body["code"] == "model_not_found"


def test_a_moved_clock_shuts_models_down_and_closes_fine_tuning(standin):
    behaviour, client = standin
    uploaded = client.files.create(
        file=("train.jsonl", b'{"messages": []}\n', "application/jsonl"), purpose="fine-tune"
    )
    base_url = str(client.base_url).rstrip("/")

    request = urllib.request.Request(base_url + "/standin/clock", data=b'{"today": "2027-01-14"}', method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        moved = json.loads(response.read())

    assert moved == {"today": "2027-01-14"}
    for gone in ("gpt-4.1-mini", "ft:gpt-4o-mini-2024-07-18:shop::judge01", "gpt-5-mini"):
        with pytest.raises(openai.NotFoundError) as refused:
            client.chat.completions.create(model=gone, messages=MESSAGES)
        assert refused.value.body["code"] == "model_not_found"
        with pytest.raises(openai.NotFoundError):
            client.models.retrieve(gone)
    assert client.chat.completions.create(model="gpt-6-luna", messages=MESSAGES).choices[0].message.content == "good"
    with pytest.raises(openai.PermissionDeniedError):
        client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=uploaded.id)
    behaviour.move_clock(STANDIN_TODAY)
    with pytest.raises(openai.BadRequestError) as not_tunable:
        client.fine_tuning.jobs.create(model="gpt-6-luna", training_file=uploaded.id)
    assert not_tunable.value.body["param"] == "model"
