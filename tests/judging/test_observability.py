"""The on-call view from the code's side: correlation ids on every trigger, the cold-start metric, and
the judge's metrics (verdicts, cache hits, billed tokens, cost) in CloudWatch's embedded metric format."""

from __future__ import annotations

import json

import jmespath
import pytest

from shop_marketing.observability import CORRELATION_ID_PATH, judgement_cost_usd
from tests.judging.conftest import SEED_COMMENT
from tests.support.lambda_invoke import call_http, sample_event


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("link_banner_create_store.json", ("requestContext", "requestId")),
        ("judge_comment_sqs.json", ("Records", 0, "messageId")),
        ("training_bucket_object_created.json", ("Records", 0, "responseElements", "x-amz-request-id")),
        ("refresh_jobs_schedule.json", ("id",)),
    ],
)
def test_every_trigger_has_a_correlation_id(sample, expected):
    event = sample_event(sample)
    value = event
    for key in expected:
        value = value[key]

    assert value
    assert jmespath.search(CORRELATION_ID_PATH, event) == value


def emitted(capsys) -> dict[str, object]:
    """Metric values from the EMF lines printed so far (name -> value or list of values)."""
    values: dict[str, object] = {}
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            document = json.loads(line)
            for metric in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                value = document[metric["Name"]]
                values[metric["Name"]] = value[0] if isinstance(value, list) and len(value) == 1 else value
    return values


def test_a_judgement_emits_its_verdict_tokens_and_then_a_cache_hit(handler, chat, active_model, capsys, monkeypatch):
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    chat.label, chat.probabilities = "bad", {"good": 0.2, "bad": 0.8}
    capsys.readouterr()

    first = call_http(handler, "POST", "/comments/judge", json={"comment": SEED_COMMENT})
    paid = emitted(capsys)
    again = call_http(handler, "POST", "/comments/judge", json={"comment": SEED_COMMENT})
    cached = emitted(capsys)

    assert first.status == again.status == 200
    assert paid["VerdictBad"] == 1 and paid["JudgeCacheMiss"] == 1
    assert paid["PromptTokens"] == first.json["prompt_tokens"] and paid["CompletionTokens"] == 1
    assert "JudgeCacheHit" not in paid
    assert cached["VerdictBad"] == 1 and cached["JudgeCacheHit"] == 1
    assert "PromptTokens" not in cached  # nothing was billed


def test_a_paid_judgement_of_a_judge_with_prices_emits_its_cost(handler, chat, db, capsys, monkeypatch):
    from tests.judging.conftest import FINE_TUNED, make_active_judge

    prices = {"input": 0.30, "cached_input": 0.15, "output": 1.20}
    make_active_judge(FINE_TUNED, name="priced", prices=prices)
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    capsys.readouterr()

    answer = call_http(handler, "POST", "/comments/judge", json={"comment": SEED_COMMENT}).json
    paid = emitted(capsys)

    assert answer["judge"] == "priced" and "prices" not in answer
    assert paid["JudgeCostUSD"] == pytest.approx(judgement_cost_usd(answer, prices))
    assert paid["JudgeCostUSD"] > 0


def test_the_first_invocation_of_an_environment_emits_the_cold_start_metric(
    handler, chat, active_model, capsys, monkeypatch
):
    from aws_lambda_powertools.metrics.provider import cold_start

    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.setattr(cold_start, "is_cold_start", True)
    capsys.readouterr()

    call_http(handler, "GET", "/instagram-posts/1/good-comments")

    assert emitted(capsys).get("ColdStart") == 1


def test_cost_follows_the_judges_prices_per_million_tokens():
    usage = {"prompt_tokens": 1_000, "cached_prompt_tokens": 400, "completion_tokens": 10}

    cost = judgement_cost_usd(usage, {"input": 0.30, "cached_input": 0.15, "output": 1.20})

    assert cost == pytest.approx((600 * 0.30 + 400 * 0.15 + 10 * 1.20) / 1e6)
    assert judgement_cost_usd(usage, None) is None
