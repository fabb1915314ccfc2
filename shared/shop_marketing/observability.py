"""Powertools observability objects, one of each per execution environment.

Service name and metrics namespace come from ``POWERTOOLS_SERVICE_NAME`` and
``POWERTOOLS_METRICS_NAMESPACE`` (set in the template's Globals).

Every handler logs with a correlation id whatever triggered it (:data:`CORRELATION_ID_PATH`) and
emits the cold-start metric (``@metrics.log_metrics(capture_cold_start_metric=True)``).

The tracer patches only botocore (Secrets Manager, S3: the AWS calls worth a subsegment). Patching
every library it knows (its default) imports each of them at init and wraps every database statement:
the SQLAlchemy patch compiles each statement again on every execute, sampled or not.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

TRACED_MODULES = ("botocore",)

logger = Logger()
# Every record names the function that wrote it: inject_lambda_context adds the invocation's context to
# the records of an invocation; those written outside one (at init, a SnapStart restore) take the name
# Lambda gives the execution environment.
if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
    logger.append_keys(function_name=os.environ["AWS_LAMBDA_FUNCTION_NAME"])
tracer = Tracer(patch_modules=TRACED_MODULES)
metrics = Metrics()

# One JMESPath for every trigger: API Gateway's request id, an S3 event's request id, the first SQS
# message id, an EventBridge event's id (the first that is present).
CORRELATION_ID_PATH = (
    'requestContext.requestId || Records[0].responseElements."x-amz-request-id" || Records[0].messageId || id'
)


def judgement_cost_usd(usage: Mapping[str, Any], prices: Mapping[str, float] | None) -> float | None:
    """What a judgement cost in USD from its billed tokens and the judge's prices (USD per 1M tokens)."""
    if not prices:
        return None
    prompt = int(usage.get("prompt_tokens") or 0)
    cached = int(usage.get("cached_prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    cached_price = prices.get("cached_input", prices.get("input", 0.0))
    return (
        (prompt - cached) * prices.get("input", 0.0) + cached * cached_price + completion * prices.get("output", 0.0)
    ) / 1e6


def record_judgement(answer: Mapping[str, Any], prices: Mapping[str, float] | None = None) -> None:
    """Metrics of one judgement (the answer of ``POST /comments/judge``): verdict, cache hit or paid call,
    and for a paid call its tokens and, with the judge's prices, its cost."""
    metrics.add_metric(
        name="VerdictGood" if answer.get("verdict") == "good" else "VerdictBad", unit=MetricUnit.Count, value=1
    )
    if answer.get("cached"):
        metrics.add_metric(name="JudgeCacheHit", unit=MetricUnit.Count, value=1)
        return
    metrics.add_metric(name="JudgeCacheMiss", unit=MetricUnit.Count, value=1)
    for field, name in (
        ("prompt_tokens", "PromptTokens"),
        ("cached_prompt_tokens", "CachedPromptTokens"),
        ("completion_tokens", "CompletionTokens"),
    ):
        if answer.get(field) is not None:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=int(answer[field]))
    cost = judgement_cost_usd(answer, prices)
    if cost is not None:
        metrics.add_metric(name="JudgeCostUSD", unit=MetricUnit.NoUnit, value=cost)
