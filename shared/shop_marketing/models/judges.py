"""Judges, their activations, golden sets and evaluations (docs/judging.md "Judges" and "Golden sets and
evaluations").

- A judge is an immutable recipe (style, model, endpoint, examples, output); only its ``status``
  changes. A partial unique index keeps exactly one ``active`` judge.
- Each activation (and each rollback) is a row of ``judge_activations``; rollback pops the newest
  activation that was not rolled back yet.
- A golden set's examples are kept here, never sent to OpenAI for training; an example whose text is
  in a training file is marked and left out of scoring.
- An evaluation has one item per scored example; an item is ``pending`` until judged (or until it
  errs for good), which is what lets a crashed evaluation resume where it stopped.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, CreatedAtMixin, IdMixin

JUDGE_STYLES = ("fine_tuned", "prompted", "classifier")
JUDGE_STATUSES = ("candidate", "active", "retired")
# A classifier's answer is its model's probability, not a label token.
JUDGE_OUTPUTS = ("label_token", "structured", "probability")
MODEL_STATUSES = ("available", "retiring", "shut_down", "unknown")


class Judge(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "judges"
    __table_args__ = (
        UniqueConstraint("name"),
        UniqueConstraint("source_job_id"),
        CheckConstraint("style IN ('fine_tuned', 'prompted', 'classifier')", name="style"),
        CheckConstraint("status IN ('candidate', 'active', 'retired')", name="status"),
        CheckConstraint("output IN ('label_token', 'structured', 'probability')", name="output"),
        CheckConstraint("model_status IN ('available', 'retiring', 'shut_down', 'unknown')", name="model_status"),
        CheckConstraint(
            "style <> 'prompted' OR (examples_file_id IS NOT NULL AND example_count > 0)", name="prompted_has_examples"
        ),
        Index("uq_judges_one_active", "status", unique=True, postgresql_where=text("status = 'active'")),
        Index("ix_judges_model", "model"),
    )

    name: Mapped[str] = mapped_column(String(200))
    style: Mapped[str] = mapped_column(String(20))
    model: Mapped[str] = mapped_column(String(200))
    endpoint: Mapped[str] = mapped_column(String(64), server_default="openai")
    instructions: Mapped[str | None] = mapped_column(Text)
    examples_file_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("training_files.id", ondelete="RESTRICT")
    )
    example_count: Mapped[int | None] = mapped_column(Integer)
    output: Mapped[str] = mapped_column(String(20), server_default="label_token")
    reasoning_effort: Mapped[str | None] = mapped_column(String(20))
    prices: Mapped[dict[str, float] | None] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(20), server_default="candidate")
    # Made active without an evaluation (a finished fine-tuning job with no golden set yet).
    unevaluated: Mapped[bool] = mapped_column(Boolean, server_default=false())
    source_job_id: Mapped[str | None] = mapped_column(String(100))
    # Whether the judge asks for logprobs, i.e. answers with a confidence (settled by its probe).
    logprobs: Mapped[bool] = mapped_column(Boolean, server_default=false())
    # What the probe at creation sent, what was refused and what it was billed (None: no probe).
    probe: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # The judge this one was made to succeed (POST /judges/{id}/successor).
    predecessor_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("judges.id", ondelete="SET NULL"))
    # The provider's calendar for the judge's model (docs/judging.md "Model life cycle").
    model_shutdown_date: Mapped[date | None] = mapped_column(Date)
    model_status: Mapped[str] = mapped_column(String(20), server_default="unknown")
    model_checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class JudgeClassifier(Base):
    """A ``classifier`` judge's fitted model, stored with the judge and as immutable as it: judging is
    ``sigmoid(weights · embedding + bias)``, the probability that the comment is ``good``.

    ``model`` of the judge is the embedding model. The examples it learnt from are the union of
    ``training_file_ids`` (a successor on another embedding model learns from the same)."""

    __tablename__ = "judge_classifiers"
    __table_args__ = (
        CheckConstraint("cardinality(weights) = dimensions", name="weights_match_dimensions"),
        CheckConstraint("good_examples > 0 AND bad_examples > 0", name="both_labels"),
    )

    judge_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("judges.id", ondelete="CASCADE"), primary_key=True)
    dimensions: Mapped[int] = mapped_column(Integer)
    weights: Mapped[list[float]] = mapped_column(ARRAY(Double))
    bias: Mapped[float] = mapped_column(Double)
    # The regularisation chosen by cross-validation (C: larger is weaker).
    regularisation_c: Mapped[float] = mapped_column(Double)
    folds: Mapped[int] = mapped_column(Integer)
    training_file_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    examples: Mapped[int] = mapped_column(Integer)
    good_examples: Mapped[int] = mapped_column(Integer)
    bad_examples: Mapped[int] = mapped_column(Integer)
    # Out-of-fold figures at the chosen C.
    cv_f1_good: Mapped[float] = mapped_column(Double)
    cv_precision_good: Mapped[float] = mapped_column(Double)
    cv_recall_good: Mapped[float] = mapped_column(Double)
    # What embedding the examples cost (billed by the endpoint: the texts this training sent), and how
    # long fitting took.
    embedding_tokens: Mapped[int] = mapped_column(Integer)
    # Examples whose vectors were stored already (models/embeddings.py), not sent nor paid again.
    reused_embeddings: Mapped[int] = mapped_column(Integer, server_default="0")
    training_ms: Mapped[int] = mapped_column(Integer)


class JudgeActivation(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "judge_activations"
    __table_args__ = (CheckConstraint("kind IN ('activation', 'rollback')", name="kind"),)

    judge_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("judges.id", ondelete="CASCADE"), index=True)
    previous_judge_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("judges.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(20), server_default="activation")
    forced: Mapped[bool] = mapped_column(Boolean, server_default=false())
    # Made by the product itself: the active judge's model shut down (automatic succession).
    automatic: Mapped[bool] = mapped_column(Boolean, server_default=false())
    reason: Mapped[str | None] = mapped_column(Text)
    evaluation_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("evaluations.id", ondelete="SET NULL"))
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    rolled_back_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class GoldenSet(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "golden_sets"
    __table_args__ = (UniqueConstraint("sha256"),)

    sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str | None] = mapped_column(String(255))
    examples: Mapped[int] = mapped_column(Integer)
    good_examples: Mapped[int] = mapped_column(Integer)
    bad_examples: Mapped[int] = mapped_column(Integer)
    overlap_with_training: Mapped[int] = mapped_column(Integer)
    warnings: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))


class GoldenExample(IdMixin, Base):
    __tablename__ = "golden_examples"
    __table_args__ = (
        UniqueConstraint("golden_set_id", "line"),
        CheckConstraint("label IN ('good', 'bad')", name="label"),
    )

    golden_set_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("golden_sets.id", ondelete="CASCADE"))
    line: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    text_sha256: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(4))
    overlaps_training: Mapped[bool] = mapped_column(Boolean, server_default=false())


class Evaluation(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "evaluations"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed')", name="status"),
        Index("ix_evaluations_judge_id", "judge_id"),
    )

    judge_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("judges.id", ondelete="CASCADE"))
    golden_set_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("golden_sets.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), server_default="queued")
    total: Mapped[int] = mapped_column(Integer)
    judged: Mapped[int] = mapped_column(Integer, server_default="0")
    errors: Mapped[int] = mapped_column(Integer, server_default="0")
    paid_calls: Mapped[int] = mapped_column(Integer, server_default="0")
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    cost: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    latency_ms: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    promote_when_done: Mapped[bool] = mapped_column(Boolean, server_default=false())
    outcome: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# The tables this module's foreign keys name are registered with it (the catalog's always are). An
# evaluation's items name judgements, so they live beside them (models/judging.py), not here.
from . import fine_tuning as _fine_tuning  # noqa: E402, F401
