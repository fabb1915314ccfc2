"""What the judges function answers, as the OpenAPI description publishes it: judges, their
activations, golden sets and evaluations. The routes answer the services' views
(:func:`.judges.judge_view`, :func:`.evaluation.evaluation_view`, :func:`.golden_sets.golden_set_view`);
these models describe them (the fuzzing in tests/edge checks every answer against them)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class EvaluationSummaryOut(BaseModel):
    """A judge's latest evaluation, in brief."""

    id: int
    golden_set_id: int
    status: str = Field(description="queued, running, succeeded, failed")
    metrics: dict[str, Any] | None
    cost: dict[str, Any] | None
    latency_ms: dict[str, Any] | None
    finished_at: str | None


class JudgeOut(BaseModel):
    """A judge. A classifier judge adds ``embedding_model``, ``examples_file_ids`` and ``training``."""

    model_config = ConfigDict(extra="allow")

    id: int
    name: str
    style: str = Field(description="prompted, fine_tuned, classifier")
    model: str
    endpoint: str
    instructions: str | None
    examples_file_id: str | None
    example_count: int | None
    output: str
    reasoning_effort: str | None
    confidence: bool = Field(description="whether its answers carry a confidence")
    prices: dict[str, float] | None = Field(description="USD per 1M tokens")
    status: str = Field(description="candidate, active, retired")
    model_shutdown_date: str | None
    model_status: str
    model_checked_at: str | None
    probe: dict[str, Any] | None
    predecessor_id: int | None
    unevaluated: bool
    source_job_id: str | None
    created_at: str | None
    latest_evaluation: EvaluationSummaryOut | None = Field(default=None)
    embedding_model: str | None = Field(default=None, description="classifier judges")
    examples_file_ids: list[str] | None = Field(default=None, description="classifier judges")
    training: dict[str, Any] | None = Field(default=None, description="classifier judges: what it learnt from")


class JudgesOut(BaseModel):
    judges: list[JudgeOut]


class ActivationOut(BaseModel):
    """One activation or rollback of the active judge."""

    id: int
    judge_id: int
    judge: str
    previous_judge_id: int | None
    kind: str = Field(description="activation, rollback")
    forced: bool
    automatic: bool
    reason: str | None
    evaluation_id: int | None
    metrics: dict[str, Any] | None
    activated_at: str
    rolled_back_at: str | None


class ActivationsOut(BaseModel):
    activations: list[ActivationOut]


class GoldenSetOut(BaseModel):
    id: int
    filename: str | None
    examples: int
    labels: dict[str, int]
    overlap_with_training: int
    scored_examples: int
    current: bool
    warnings: list[dict[str, Any]]
    created_at: str | None


class EvaluationOut(BaseModel):
    id: int
    judge_id: int
    golden_set_id: int
    status: str
    total: int
    judged: int
    errors: int
    paid_calls: int
    metrics: dict[str, Any] | None
    cost: dict[str, Any] | None
    latency_ms: dict[str, Any] | None
    outcome: str | None
    created_at: str | None
    finished_at: str | None


class EvaluationsOut(BaseModel):
    evaluations: list[EvaluationOut]


class SuccessionOut(BaseModel):
    """A successor judge and the evaluation started for it."""

    judge: JudgeOut
    evaluation: EvaluationOut
