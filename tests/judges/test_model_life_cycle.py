"""Judges that outlive their models (docs/judging.md "Model life cycle"): request shapes discovered by
probing, the provider's calendar, successors, automatic succession.

OpenAI is the project's behaving stand-in (infra/openai_standin.py) on loopback, with the gpt-6
generation's rules, the models endpoint's shutdown dates and a clock the tests move. Dates are set
relative to today, so no test depends on the day it runs."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from infra.openai_standin import SMALL_MODELS_DAYS_LEFT, ModelCard, Reply, billed_prompt_tokens
from tests.judges.conftest import (
    GOLDEN,
    add_golden_set,
    create_judge,
    evaluate,
    get,
    judging_calls,
    keep_examples,
    post,
    probe_calls,
    use_settings,
)

TODAY = datetime.now(UTC).date()
SOON = TODAY + timedelta(
    days=SMALL_MODELS_DAYS_LEFT
)  # the small models' date: within MODEL_RETIREMENT_WARNING_DAYS (60)
LATER = TODAY + timedelta(days=400)
GOOD_TEXTS = [text for text, label in GOLDEN if label == "good"]
BAD_TEXTS = [text for text, label in GOLDEN if label == "bad"]
REVIEW = "블라우스 소재가 시원해서 한여름에도 땀이 안 차요. 세탁 후에도 구김이 적어요."
PRICES = {"input": 0.10, "cached_input": 0.01, "output": 0.50}


@pytest.fixture
def examples_file(upload_handler, openai_standin) -> str:
    return keep_examples(upload_handler)


def script(openai, model: str, wrong_good: int = 0, wrong_bad: int = 0) -> None:
    """``model`` misses ``wrong_good`` good comments of the golden set and calls ``wrong_bad`` bad ones good."""
    openai.labels_by_model[model] = {
        **{text: ("bad" if n < wrong_good else "good") for n, text in enumerate(GOOD_TEXTS)},
        **{text: ("good" if n < wrong_bad else "bad") for n, text in enumerate(BAD_TEXTS)},
    }


def prompted(judges_handler, examples_file: str, name: str, model: str, **extra) -> dict:
    return create_judge(
        judges_handler, name=name, style="prompted", model=model, examples_file_id=examples_file, **extra
    )


def force_active(judges_handler, judge_id: int) -> None:
    result = post(judges_handler, f"/judges/{judge_id}/activate", {"force": True, "reason": "the judge in service"})
    assert result.status == 200, result.json


def count_judges(db) -> int:
    with db.connect() as connection:
        return connection.scalar(sa.text("SELECT count(*) FROM judges"))


# --- request shapes discovered by probing ---------------------------------------------------------


def test_a_gpt6_luna_judge_settles_on_structured_output_without_reasoning_with_logprobs_judges_and_is_evaluated(
    judges_handler, judge_handler, openai, openai_standin, examples_file, queue
):
    # Given the gpt-6 generation's rules, and a judge asked for with no shape at all
    add_golden_set(judges_handler)
    script(openai, "gpt-6-luna", wrong_good=3)
    judge = prompted(judges_handler, examples_file, "luna", "gpt-6-luna", prices=PRICES)

    # Then forced labels were refused (logit_bias), and structured output at "none" with logprobs accepted
    assert (judge["output"], judge["reasoning_effort"], judge["confidence"]) == ("structured", "none", True)
    first, second = (call.json() for call in probe_calls(openai_standin))
    assert first["logit_bias"] and first["max_completion_tokens"] == 1
    assert second["reasoning_effort"] == "none" and second["logprobs"] is True
    assert second["response_format"]["type"] == "json_schema" and "logit_bias" not in second
    probe = judge["probe"]
    assert probe["calls"] == 2
    assert [(a["output"], a["accepted"], a.get("refused")) for a in probe["attempts"]] == [
        ("label_token", False, "logit_bias"),
        ("structured", True, None),
    ]
    # the accepted probe is billed like a judgement, and counted in the answer
    assert probe["prompt_tokens"] == billed_prompt_tokens(second["messages"])
    assert probe["completion_tokens"] > 0
    expected_usd = (probe["prompt_tokens"] * 0.10 + probe["completion_tokens"] * 0.50) / 1_000_000
    assert probe["usd"] == pytest.approx(expected_usd)

    # When it judges a comment
    force_active(judges_handler, judge["id"])
    answer = post(judge_handler, "/comments/judge", {"comment": REVIEW})

    # Then with the settled shape: no reasoning tokens billed, a confidence from the label's logprob
    assert answer.status == 200, answer.json
    assert (answer.json["verdict"], answer.json["judge"], answer.json["model"]) == ("good", "luna", "gpt-6-luna")
    assert answer.json["confidence"] == pytest.approx(0.9)
    call = judging_calls(openai_standin)[-1].json()
    assert (call["reasoning_effort"], call["logprobs"], call["top_logprobs"]) == ("none", True, 2)
    assert not {"logit_bias", "temperature", "max_tokens"} & set(call)

    # And its evaluation has exact metrics: 9 tp, 0 fp, 3 fn, 12 tn
    result = evaluate(judges_handler, queue, judge["id"])
    assert result["status"] == "succeeded"
    assert result["metrics"]["confusion"] == {"tp": 9, "fp": 0, "fn": 3, "tn": 12}
    assert result["metrics"]["precision_good"] == 1.0
    assert result["metrics"]["f1_good"] == pytest.approx(2 * 1.0 * 0.75 / 1.75)
    assert all(c.json()["reasoning_effort"] == "none" for c in judging_calls(openai_standin))
    assert len(probe_calls(openai_standin)) == 2, "the judge is never probed again"


def test_a_model_that_refuses_minimal_is_never_sent_it_after_the_probe(
    judges_handler, judge_handler, openai, openai_standin, examples_file, queue
):
    # Given a model whose name reads like the gpt-5 family (first guess: minimal) but that follows
    # the gpt-6 generation's rules
    openai.models["gpt-5-luna-preview"] = ModelCard("gpt-6")
    add_golden_set(judges_handler)

    judge = prompted(judges_handler, examples_file, "preview", "gpt-5-luna-preview")

    # Then the refusal's "Supported values are: none, low, medium, high." taught it the lowest effort
    assert (judge["output"], judge["reasoning_effort"], judge["confidence"]) == ("structured", "none", True)
    refused, accepted = judge["probe"]["attempts"]
    assert (refused["reasoning_effort"], refused["refused"]) == ("minimal", "reasoning_effort")
    assert "Supported values are: none, low, medium, high" in refused["message"]
    assert accepted["reasoning_effort"] == "none"

    force_active(judges_handler, judge["id"])
    assert post(judge_handler, "/comments/judge", {"comment": REVIEW}).status == 200
    evaluate(judges_handler, queue, judge["id"])
    sent = [call.json().get("reasoning_effort") for call in judging_calls(openai_standin)]
    assert len(sent) == 1 + 24 and set(sent) == {"none"}
    assert [call.json().get("reasoning_effort") for call in probe_calls(openai_standin)] == ["minimal", "none"]


def test_a_gpt5_family_model_keeps_its_shape(judges_handler, judge_handler, openai, openai_standin, examples_file):
    judge = prompted(judges_handler, examples_file, "g5", "gpt-5-mini")

    assert (judge["output"], judge["reasoning_effort"], judge["confidence"]) == ("structured", "minimal", False)
    assert judge["probe"]["calls"] == 1
    force_active(judges_handler, judge["id"])
    answer = post(judge_handler, "/comments/judge", {"comment": REVIEW})
    assert answer.status == 200 and answer.json["confidence"] is None
    call = judging_calls(openai_standin)[-1].json()
    assert call["reasoning_effort"] == "minimal"
    assert not {"logit_bias", "logprobs", "top_logprobs", "temperature", "max_tokens"} & set(call)


def test_a_chat_model_keeps_forced_labels_in_one_probe(judges_handler, openai, openai_standin, examples_file):
    judge = prompted(judges_handler, examples_file, "mini", "gpt-4.1-mini")

    assert (judge["output"], judge["reasoning_effort"], judge["confidence"], judge["probe"]["calls"]) == (
        "label_token",
        None,
        True,
        1,
    )


def test_structured_output_asked_without_an_effort_gets_the_lowest(
    judges_handler, openai, openai_standin, examples_file
):
    judge = prompted(judges_handler, examples_file, "luna-structured", "gpt-6-luna", output="structured")

    assert (judge["output"], judge["reasoning_effort"], judge["confidence"]) == ("structured", "none", True)
    assert [a.get("refused") for a in judge["probe"]["attempts"]] == ["logprobs", None]


def test_an_explicit_shape_is_honoured(judges_handler, openai, openai_standin, examples_file):
    judge = prompted(judges_handler, examples_file, "luna-low", "gpt-6-luna", reasoning_effort="low")

    assert (judge["output"], judge["reasoning_effort"], judge["confidence"], judge["probe"]["calls"]) == (
        "structured",
        "low",
        False,
        1,
    )
    [call] = probe_calls(openai_standin)
    assert call.json()["reasoning_effort"] == "low" and "logprobs" not in call.json()


@pytest.mark.parametrize(
    ("shape", "refused"),
    [
        pytest.param({"reasoning_effort": "minimal"}, "reasoning_effort", id="effort-minimal"),
        pytest.param({"output": "label_token"}, "logit_bias", id="forced-labels"),
    ],
)
def test_an_explicit_shape_the_model_refuses_is_422_model_refused_naming_the_parameter(
    judges_handler, openai, openai_standin, examples_file, db, shape, refused
):
    result = post(
        judges_handler,
        "/judges",
        {"name": "x", "style": "prompted", "model": "gpt-6-luna", "examples_file_id": examples_file, **shape},
    )

    assert result.status == 422, result.json
    error = result.json["error"]
    assert (error["code"], error["param"]) == ("model_refused", refused)
    assert refused in error["message"]
    assert len(probe_calls(openai_standin)) == error["probe"]["calls"] == 1, "an explicit shape is not bargained over"
    assert count_judges(db) == 0


def test_probes_cost_at_most_three_calls_per_judge(judges_handler, openai, openai_standin, examples_file, db):
    # Given an endpoint that keeps refusing, each time pointing somewhere else
    refusals = iter(
        [
            ("logit_bias", "unsupported_parameter", "Unsupported parameter: 'logit_bias'."),
            ("reasoning_effort", "unsupported_value", "Supported values are: low, medium, high."),
            ("reasoning_effort", "unsupported_value", "Supported values are: medium, high."),
            ("reasoning_effort", "unsupported_value", "Supported values are: high."),
        ]
    )

    def refuse(request, match):
        param, code, message = next(refusals)
        return Reply(
            400, {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}
        )

    openai_standin.on("POST", "/chat/completions", refuse)

    result = post(
        judges_handler,
        "/judges",
        {"name": "stubborn", "style": "prompted", "model": "gpt-6-luna", "examples_file_id": examples_file},
    )

    assert result.status == 422
    assert (result.json["error"]["code"], result.json["error"]["probe"]["calls"]) == ("model_refused", 3)
    assert len(openai_standin.requests_to("POST", "/chat/completions")) == 3
    assert count_judges(db) == 0


def test_a_judge_is_probed_once_and_never_again(
    judges_handler, judge_handler, openai, openai_standin, examples_file, queue
):
    add_golden_set(judges_handler)
    judge = prompted(judges_handler, examples_file, "once", "gpt-6-luna")
    probes = len(probe_calls(openai_standin))
    assert probes == judge["probe"]["calls"] <= 3

    force_active(judges_handler, judge["id"])
    post(judge_handler, "/comments/judge", {"comment": REVIEW})
    evaluate(judges_handler, queue, judge["id"])
    assert (
        post(
            judges_handler,
            "/judges",
            {"name": "once", "style": "prompted", "model": "gpt-6-luna", "examples_file_id": examples_file},
        ).status
        == 409
    )
    post(judges_handler, "/judges/refresh-models")

    assert len(probe_calls(openai_standin)) == probes
    assert get(judges_handler, f"/judges/{judge['id']}").json["probe"] == judge["probe"]


@pytest.mark.parametrize("how", ["not-served", "shut-down"])
def test_a_model_the_provider_does_not_serve_is_422_model_unavailable(
    judges_handler, openai, openai_standin, examples_file, db, how
):
    openai.known_models_only = True
    model = "gpt-7-imaginary" if how == "not-served" else "gpt-4.1-mini"
    if how == "shut-down":
        openai.models["gpt-4.1-mini"] = ModelCard("chat", SOON)
        openai.move_clock(SOON)

    result = post(
        judges_handler, "/judges", {"name": "x", "style": "prompted", "model": model, "examples_file_id": examples_file}
    )

    assert result.status == 422
    assert result.json["error"]["code"] == "model_unavailable"
    assert model in result.json["error"]["message"]
    assert openai_standin.requests_to("POST", "/chat/completions") == [], "the calendar said so: nothing was probed"
    assert count_judges(db) == 0


# --- the calendar ---------------------------------------------------------------------------------


def test_shutdown_dates_are_shown_as_the_models_endpoint_gives_them(
    judges_handler, openai, openai_standin, examples_file
):
    openai.models["gpt-4.1-mini"] = ModelCard("chat", SOON)
    openai.models["gpt-4o-mini-2024-07-18"] = ModelCard("chat", SOON, fine_tunable=True)
    openai.models["gpt-6-luna"] = ModelCard("gpt-6")

    retiring = prompted(judges_handler, examples_file, "mini", "gpt-4.1-mini")
    current = prompted(judges_handler, examples_file, "luna", "gpt-6-luna")
    fine_tuned = create_judge(
        judges_handler, name="ft", style="fine_tuned", model="ft:gpt-4o-mini-2024-07-18:shop::judge01"
    )

    assert (retiring["model_shutdown_date"], retiring["model_status"]) == (SOON.isoformat(), "retiring")
    assert (current["model_shutdown_date"], current["model_status"]) == (None, "available")
    # A fine-tuned model's own object names no date: it shows its base model's
    assert (fine_tuned["model_shutdown_date"], fine_tuned["model_status"]) == (SOON.isoformat(), "retiring")
    looked_up = [call.path.removeprefix("/v1/models/") for call in openai_standin.requests_to("GET", "/models/.+")]
    assert looked_up[-2:] == ["ft:gpt-4o-mini-2024-07-18:shop::judge01", "gpt-4o-mini-2024-07-18"]

    # A date announced after the judges were made is read by POST /judges/refresh-models
    openai.models["gpt-6-luna"] = ModelCard("gpt-6", LATER)
    openai.models["gpt-4o-mini-2024-07-18"] = ModelCard("chat", TODAY + timedelta(days=5), fine_tunable=True)
    refreshed = post(judges_handler, "/judges/refresh-models")

    assert refreshed.status == 200
    shown = {judge["name"]: (judge["model_shutdown_date"], judge["model_status"]) for judge in refreshed.json["judges"]}
    assert shown == {
        "mini": (SOON.isoformat(), "retiring"),
        "luna": (LATER.isoformat(), "available"),
        "ft": ((TODAY + timedelta(days=5)).isoformat(), "retiring"),
    }
    assert get(judges_handler, f"/judges/{current['id']}").json["model_shutdown_date"] == LATER.isoformat()


def test_the_warning_window_is_model_retirement_warning_days(
    judges_handler, openai, openai_standin, monkeypatch, examples_file
):
    openai.models["gpt-4.1-mini"] = ModelCard("chat", SOON)
    use_settings(monkeypatch, MODEL_RETIREMENT_WARNING_DAYS="30")

    judge = prompted(judges_handler, examples_file, "mini", "gpt-4.1-mini")

    assert (judge["model_shutdown_date"], judge["model_status"]) == (SOON.isoformat(), "available")


def test_an_endpoint_that_does_not_say_gives_unknown(judges_handler, openai, openai_standin, examples_file):
    openai.says_shutdown_dates = False

    judge = prompted(judges_handler, examples_file, "azure-mini", "gpt-4.1-mini")

    assert (judge["model_shutdown_date"], judge["model_status"]) == (None, "unknown")


def test_the_daily_schedule_refreshes_the_calendar_and_reports_the_active_judges_days_left(
    judges_handler, openai, openai_standin, examples_file, capsys, monkeypatch
):
    from infra.lambda_runtime import LocalContext
    from tests.judging.test_observability import emitted
    from tests.support.lambda_invoke import sample_event

    judge = prompted(judges_handler, examples_file, "luna", "gpt-6-luna")
    force_active(judges_handler, judge["id"])
    openai.models["gpt-6-luna"] = ModelCard("gpt-6", SOON)
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    capsys.readouterr()

    summary = judges_handler(sample_event("judges_refresh_models_schedule.json"), LocalContext())

    assert summary["active_days_left"] == 39 and summary["failed"] == 0
    assert emitted(capsys)["ActiveJudgeModelDaysLeft"] == 39
    assert get(judges_handler, f"/judges/{judge['id']}").json["model_status"] == "retiring"


# --- successors -----------------------------------------------------------------------------------


def test_the_successor_route_creates_probes_and_starts_the_evaluation(
    judges_handler, openai, openai_standin, examples_file, queue
):
    # Given a prompted judge on a model that retires soon, and a golden set
    openai.models["gpt-4.1-mini"] = ModelCard("chat", SOON)
    add_golden_set(judges_handler)
    old = prompted(
        judges_handler, examples_file, "mini", "gpt-4.1-mini", instructions="Good: a real-use review.", example_count=6
    )
    script(openai, "gpt-6-luna", wrong_bad=1)

    # When its successor on gpt-6-luna is asked for, in one call
    made = post(judges_handler, f"/judges/{old['id']}/successor", {"model": "gpt-6-luna", "prices": PRICES})

    # Then a prompted judge with the same instructions and examples was created, probed, and is being evaluated
    assert made.status == 201, made.json
    judge, started = made.json["judge"], made.json["evaluation"]
    assert (judge["name"], judge["style"], judge["model"], judge["status"]) == (
        "mini → gpt-6-luna",
        "prompted",
        "gpt-6-luna",
        "candidate",
    )
    assert (judge["instructions"], judge["examples_file_id"], judge["example_count"]) == (
        "Good: a real-use review.",
        examples_file,
        6,
    )
    assert (judge["output"], judge["reasoning_effort"], judge["predecessor_id"]) == ("structured", "none", old["id"])
    assert judge["probe"]["calls"] == 2 and judge["model_status"] == "available"
    assert (started["judge_id"], started["status"], started["total"]) == (judge["id"], "queued", 24)
    successor_calls = [c.json() for c in probe_calls(openai_standin) if c.json()["model"] == "gpt-6-luna"]
    old_calls = [c.json() for c in probe_calls(openai_standin) if c.json()["model"] == "gpt-4.1-mini"]

    def shots(call):  # the labelled examples, as (comment, label)
        messages = call["messages"][1:-1]
        return [
            (q["content"], a["content"] if a["content"] in ("good", "bad") else json.loads(a["content"])["verdict"])
            for q, a in zip(messages[::2], messages[1::2], strict=True)
        ]

    assert len(shots(successor_calls[-1])) == 6 and shots(successor_calls[-1]) == shots(old_calls[0])
    assert successor_calls[-1]["messages"][0]["content"].startswith("Good: a real-use review.")

    # And the evaluation finishes with exact metrics: 12 tp, 1 fp, 0 fn, 11 tn
    queue.drain()
    result = get(judges_handler, f"/evaluations/{started['id']}").json
    assert result["status"] == "succeeded"
    assert result["metrics"]["confusion"] == {"tp": 12, "fp": 1, "fn": 0, "tn": 11}
    assert result["metrics"]["precision_good"] == pytest.approx(12 / 13)
    assert result["metrics"]["f1_good"] == pytest.approx(2 * (12 / 13) / (12 / 13 + 1))
    assert result["cost"]["usd_per_1000_comments"] > 0


def test_a_fine_tuned_judges_successor_takes_its_jobs_kept_training_file(
    judges_handler, upload_handler, jobs_handler, openai, openai_standin, queue
):
    from tests.judges.conftest import TRAINING, jsonl
    from tests.support.lambda_invoke import call_http

    uploaded = call_http(
        upload_handler, "POST", "/training-files", body=jsonl(TRAINING), headers={"content-type": "application/jsonl"}
    )
    assert uploaded.status == 201, uploaded.json
    job = post(jobs_handler, "/fine-tuning/jobs", {"training_file_id": uploaded.json["id"]}).json
    for _ in range(3):  # the stand-in's job moves one step per read, to success
        finished = get(jobs_handler, f"/fine-tuning/jobs/{job['id']}").json
    assert finished["status"] == "succeeded"
    [fine_tuned] = get(judges_handler, "/judges").json["judges"]
    assert fine_tuned["model_shutdown_date"] == SOON.isoformat()  # its base model's, from the calendar
    add_golden_set(judges_handler)

    made = post(judges_handler, f"/judges/{fine_tuned['id']}/successor", {"model": "gpt-6-luna"})

    assert made.status == 201, made.json
    assert made.json["judge"]["examples_file_id"] == uploaded.json["id"]
    assert made.json["judge"]["instructions"] is None  # a fine-tuned judge had none: the product's own


def test_a_hand_declared_judges_successor_needs_its_examples_named(
    judges_handler, openai, openai_standin, examples_file, queue, db
):
    add_golden_set(judges_handler)
    declared = create_judge(
        judges_handler, name="ft", style="fine_tuned", model="ft:gpt-4o-mini-2024-07-18:shop::judge01"
    )
    before = len(openai_standin.requests)

    unknown = post(judges_handler, f"/judges/{declared['id']}/successor", {"model": "gpt-6-luna"})
    assert unknown.status == 422
    assert "examples_file_id" in json.dumps(unknown.json["error"])
    assert len(openai_standin.requests) == before, "nothing is probed for a successor that cannot be made"

    named = post(
        judges_handler,
        f"/judges/{declared['id']}/successor",
        {"model": "gpt-6-luna", "examples_file_id": examples_file, "name": "luna"},
    )
    assert named.status == 201, named.json
    assert named.json["judge"]["name"] == "luna"


def test_a_successor_needs_a_golden_set_and_a_known_judge(
    judges_handler, openai, openai_standin, examples_file, queue, db
):
    old = prompted(judges_handler, examples_file, "mini", "gpt-4.1-mini")
    before = len(openai_standin.requests)

    no_golden = post(judges_handler, f"/judges/{old['id']}/successor", {"model": "gpt-6-luna"})
    missing = post(judges_handler, "/judges/999/successor", {"model": "gpt-6-luna"})
    invalid = post(judges_handler, f"/judges/{old['id']}/successor", {"model": "gpt-6-luna", "surprise": 1})

    assert (no_golden.status, no_golden.json["error"]["code"]) == (409, "golden_set_required")
    assert missing.status == 404
    assert invalid.status == 422
    assert len(openai_standin.requests) == before
    assert count_judges(db) == 1


# --- automatic succession -------------------------------------------------------------------------


@pytest.fixture
def retiring_service(judges_handler, openai, examples_file, queue):
    """An active judge on a model that shuts down SOON, a golden set, and evaluated candidates:
    ``best`` (F1 1.0), ``second`` (precision 1, recall 0.75), ``sloppy`` (precision below the floor),
    ``unevaluated``."""
    openai.models["gpt-4.1-mini"] = ModelCard("chat", SOON)
    add_golden_set(judges_handler)
    active = prompted(judges_handler, examples_file, "mini", "gpt-4.1-mini")
    force_active(judges_handler, active["id"])
    judges = {"active": active}
    for name, model, wrong_good, wrong_bad in (
        ("second", "model-second", 3, 0),
        ("best", "gpt-6-luna", 0, 0),
        ("sloppy", "model-sloppy", 0, 6),
    ):
        script(openai, model, wrong_good=wrong_good, wrong_bad=wrong_bad)
        judges[name] = prompted(judges_handler, examples_file, name, model)
        assert evaluate(judges_handler, queue, judges[name]["id"])["status"] == "succeeded"
    judges["unevaluated"] = prompted(judges_handler, examples_file, "unevaluated", "gpt-4o")
    return judges


def test_when_the_active_judges_model_shuts_down_the_best_passing_candidate_answers_and_is_recorded_automatic(
    judges_handler, judge_handler, openai, openai_standin, retiring_service
):
    # Given the provider's clock past the active judge's model's shutdown date
    openai.move_clock(SOON + timedelta(days=1))

    # When the next comment arrives
    answer = post(judge_handler, "/comments/judge", {"comment": REVIEW})

    # Then the best passing candidate answers it
    assert answer.status == 200, answer.json
    assert (answer.json["judge"], answer.json["model"], answer.json["verdict"]) == ("best", "gpt-6-luna", "good")
    # And its activation is recorded as automatic, with the reason and the metrics it was chosen on
    latest = get(judges_handler, "/judges/activations").json["activations"][0]
    assert (latest["judge"], latest["automatic"], latest["forced"]) == ("best", True, False)
    assert latest["previous_judge_id"] == retiring_service["active"]["id"]
    assert "shut down" in latest["reason"] and "gpt-4.1-mini" in latest["reason"]
    assert latest["metrics"]["f1_good"] == 1.0
    # And the old judge shows its model shut down
    old = get(judges_handler, f"/judges/{retiring_service['active']['id']}").json
    assert (old["status"], old["model_status"], old["model_shutdown_date"]) == (
        "retired",
        "shut_down",
        SOON.isoformat(),
    )
    # And the next comments go to the new active judge directly
    again = post(judge_handler, "/comments/judge", {"comment": "재입고 언제 되나요"})
    assert again.json["judge"] == "best"
    refused = [c for c in judging_calls(openai_standin) if c.json()["model"] == "gpt-4.1-mini"]
    assert len(refused) == 1, "the shut-down model was called once, for the comment that found it gone"


def test_the_fallback_judge_still_wins_over_automatic_succession(
    judges_handler, judge_handler, openai, monkeypatch, retiring_service
):
    use_settings(monkeypatch, JUDGE_FALLBACK="second")
    openai.move_clock(SOON + timedelta(days=1))

    answer = post(judge_handler, "/comments/judge", {"comment": REVIEW})

    assert answer.status == 200 and answer.json["judge"] == "second"
    assert not any(a["automatic"] for a in get(judges_handler, "/judges/activations").json["activations"])
    assert get(judges_handler, f"/judges/{retiring_service['active']['id']}").json["status"] == "active"


def test_a_queued_comment_finds_the_successor_too(judges_handler, judge_handler, openai, retiring_service, db):
    from infra.lambda_runtime import LocalContext, load_handler
    from tests.judging.test_judge_queue import batch
    from tests.support.lambda_invoke import ROOT

    queue_handler = load_handler(ROOT / "functions" / "judge_comment", "app.queue_handler")
    openai.move_clock(SOON + timedelta(days=1))

    assert queue_handler(batch([json.dumps({"comment": REVIEW})]), LocalContext()) == {"batchItemFailures": []}

    with db.connect() as connection:
        stored = (
            connection.execute(
                sa.text(
                    "SELECT j.name FROM judgements JOIN judges j ON j.id = judgements.judge_id WHERE text_sha256 = :sha"
                ),
                {"sha": hashlib.sha256(REVIEW.encode()).hexdigest()},
            )
            .scalars()
            .all()
        )
    assert stored == ["best"]
    assert get(judges_handler, "/judges/activations").json["activations"][0]["automatic"] is True


def test_with_no_passing_candidate_the_comment_is_503_judge_model_unavailable_and_the_alarm_reads_zero(
    judges_handler, judge_handler, openai, openai_standin, examples_file, queue, capsys, monkeypatch
):
    from tests.judging.test_observability import emitted

    openai.models["gpt-4.1-mini"] = ModelCard("chat", SOON)
    add_golden_set(judges_handler)
    active = prompted(judges_handler, examples_file, "mini", "gpt-4.1-mini")
    force_active(judges_handler, active["id"])
    script(openai, "model-sloppy", wrong_bad=6)
    sloppy = prompted(judges_handler, examples_file, "sloppy", "model-sloppy")
    evaluate(judges_handler, queue, sloppy["id"])
    openai.move_clock(SOON)
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    capsys.readouterr()

    answer = post(judge_handler, "/comments/judge", {"comment": REVIEW})

    assert answer.status == 503
    assert answer.json["error"]["code"] == "judge_model_unavailable"
    assert emitted(capsys)["ActiveJudgeModelDaysLeft"] == 0
    assert get(judges_handler, f"/judges/{active['id']}").json["model_status"] == "shut_down"
    assert [a["judge"] for a in get(judges_handler, "/judges/activations").json["activations"]] == ["mini"]


# --- fine-tuning after the cut-off ----------------------------------------------------------------


def test_after_the_fine_tuning_cut_off_a_job_is_502_naming_the_way_on(
    upload_handler, jobs_handler, openai, openai_standin, db
):
    from tests.judges.conftest import TRAINING, jsonl
    from tests.support.lambda_invoke import call_http

    uploaded = call_http(
        upload_handler, "POST", "/training-files", body=jsonl(TRAINING), headers={"content-type": "application/jsonl"}
    )
    openai.move_clock(openai.fine_tuning_cutoff + timedelta(days=1))

    result = post(jobs_handler, "/fine-tuning/jobs", {"training_file_id": uploaded.json["id"]})

    assert result.status == 502
    error = result.json["error"]
    assert error["code"] == "fine_tuning_unavailable"
    assert (
        "/successor" in error["message"] and "classifier" in error["message"] and "JUDGE_ENDPOINTS" in error["message"]
    )
    with db.connect() as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM fine_tuning_jobs")) == 0


def test_a_named_endpoint_serves_fine_tuning_with_the_kept_examples(
    upload_handler, jobs_handler, judges_handler, openai, openai_standin, monkeypatch, db
):
    from infra.openai_standin import BehavingOpenAI, OpenAIStandIn

    # Given OpenAI past its cut-off, and another endpoint (Azure OpenAI's v1 API takes the same files and jobs)
    openai.move_clock(openai.fine_tuning_cutoff + timedelta(days=1))
    azure = OpenAIStandIn().start()
    try:
        azure_behaviour = azure.behave(BehavingOpenAI(fine_tuning_cutoff=None))
        endpoints = {"azure": {"base_url": azure.base_url, "api_key_env": "AZURE_KEY"}}
        use_settings(monkeypatch, JUDGE_ENDPOINTS=json.dumps(endpoints), AZURE_KEY="azure-key")
        kept = keep_examples(upload_handler)

        # When a job is started there, on examples kept without sending them to OpenAI
        started = post(jobs_handler, "/fine-tuning/jobs", {"training_file_id": kept, "endpoint": "azure"})
        again = post(jobs_handler, "/fine-tuning/jobs", {"training_file_id": kept, "endpoint": "azure"})

        # Then the endpoint got the examples once and made one job; OpenAI got nothing
        assert started.status == 201, started.json
        assert (again.status, again.json["id"]) == (200, started.json["id"])
        assert (started.json["endpoint"], started.json["training_file"]) == ("azure", kept)
        assert (
            len(azure.requests_to("POST", "/files")) == 1 and len(azure.requests_to("POST", "/fine_tuning/jobs")) == 1
        )
        assert openai_standin.requests_to("POST", "/fine_tuning/jobs") == []
        uploaded = next(iter(azure_behaviour.file_contents.values())).decode().splitlines()
        assert len(uploaded) == 14 and json.loads(uploaded[0])["messages"][1]["role"] == "assistant"
        # And it is followed at that endpoint, to a judge that calls that endpoint
        for _ in range(3):
            finished = get(jobs_handler, f"/fine-tuning/jobs/{started.json['id']}").json
        assert finished["status"] == "succeeded"
        [judge] = get(judges_handler, "/judges").json["judges"]
        assert (judge["endpoint"], judge["model"]) == ("azure", finished["fine_tuned_model"])

        unknown = post(jobs_handler, "/fine-tuning/jobs", {"training_file_id": kept, "endpoint": "nowhere"})
        assert unknown.status == 422
    finally:
        azure.stop()


# --- the deployment: the schedule, the setting, the alarm ------------------------------------------


def test_the_stack_refreshes_the_calendar_daily_and_alarms_below_the_warning_days():
    from infra.api_gateway import load_template

    template = load_template()
    judges = template["Resources"]["JudgesFunction"]["Properties"]
    alarm = template["Resources"]["JudgeModelRetiringAlarm"]["Properties"]
    globals_ = template["Globals"]["Function"]["Environment"]["Variables"]

    [schedule] = [event["Properties"] for event in judges["Events"].values() if event["Type"] == "Schedule"]
    assert schedule["Schedule"] == "rate(1 day)"
    assert judges["Environment"]["Variables"]["MODEL_RETIREMENT_WARNING_DAYS"] == {"Ref": "ModelRetirementWarningDays"}
    assert template["Parameters"]["ModelRetirementWarningDays"]["Default"] == 60
    # The metric the refresh emits (Powertools: the service's namespace, the service dimension)
    assert (alarm["Namespace"], alarm["MetricName"]) == (
        globals_["POWERTOOLS_METRICS_NAMESPACE"],
        "ActiveJudgeModelDaysLeft",
    )
    assert alarm["Dimensions"] == [{"Name": "service", "Value": globals_["POWERTOOLS_SERVICE_NAME"]}]
    assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
        "Minimum",
        "LessThanThreshold",
        {"Ref": "ModelRetirementWarningDays"},
    )
    assert alarm["AlarmActions"] == {"If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}


def test_the_daily_schedule_hands_a_shut_down_active_judge_to_its_successor_before_any_comment(
    judges_handler, judge_handler, openai, retiring_service
):
    from infra.lambda_runtime import LocalContext
    from tests.support.lambda_invoke import sample_event

    openai.move_clock(SOON + timedelta(days=1))

    summary = judges_handler(sample_event("judges_refresh_models_schedule.json"), LocalContext())

    assert summary["succeeded_by"] == retiring_service["best"]["id"]
    latest = get(judges_handler, "/judges/activations").json["activations"][0]
    assert (latest["judge"], latest["automatic"]) == ("best", True)
    assert post(judge_handler, "/comments/judge", {"comment": REVIEW}).json["judge"] == "best"


def test_a_probe_paid_for_but_answered_with_no_label_is_502_unexpected_label_counting_what_it_cost(
    judges_handler, openai, openai_standin, examples_file, db, caplog
):
    from shop_marketing.judging.probing import PROBE_COMMENT

    # Given a model that accepts the request but answers something that is not a label
    openai.labels_by_model["gpt-4.1-mini"] = {PROBE_COMMENT: "maybe"}

    body = {"name": "x", "style": "prompted", "model": "gpt-4.1-mini", "examples_file_id": examples_file}
    result = post(judges_handler, "/judges", {**body, "prices": PRICES})

    # Then no judge is made, and the answer (and the log) counts the call that was paid for
    assert result.status == 502, result.json
    error = result.json["error"]
    assert error["code"] == "unexpected_label"
    [call] = probe_calls(openai_standin)
    assert error["probe"]["calls"] == 1
    assert error["probe"]["prompt_tokens"] == billed_prompt_tokens(call.json()["messages"])
    assert error["probe"]["completion_tokens"] == 1 and error["probe"]["usd"] > 0
    assert count_judges(db) == 0
    assert any(record.message == "probe paid for, answer unusable" for record in caplog.records)


def test_a_job_on_a_named_endpoint_takes_its_validation_file_there_too(
    upload_handler, jobs_handler, openai, openai_standin, monkeypatch
):
    from infra.openai_standin import BehavingOpenAI, OpenAIStandIn
    from tests.judges.conftest import GOLDEN

    azure = OpenAIStandIn().start()
    try:
        azure_behaviour = azure.behave(BehavingOpenAI(fine_tuning_cutoff=None))
        endpoints = {"azure": {"base_url": azure.base_url, "api_key_env": "AZURE_KEY"}}
        use_settings(monkeypatch, JUDGE_ENDPOINTS=json.dumps(endpoints), AZURE_KEY="azure-key")
        training, validation = keep_examples(upload_handler), keep_examples(upload_handler, GOLDEN[6:18])

        started = post(
            jobs_handler,
            "/fine-tuning/jobs",
            {"training_file_id": training, "validation_file_id": validation, "endpoint": "azure"},
        )

        # Then the endpoint holds a copy of each file, and its job names both copies
        assert started.status == 201, started.json
        assert started.json["validation_file"] == validation
        [job_request] = [call.json() for call in azure.requests_to("POST", "/fine_tuning/jobs")]
        copies = {file_id: content.decode().count("\n") for file_id, content in azure_behaviour.file_contents.items()}
        assert len(azure.requests_to("POST", "/files")) == 2
        assert (copies[job_request["training_file"]], copies[job_request.get("validation_file")]) == (14, 12)
        assert openai_standin.requests_to("POST", "/fine_tuning/jobs") == []
    finally:
        azure.stop()
