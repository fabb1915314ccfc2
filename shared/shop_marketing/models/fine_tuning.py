"""Training files uploaded to OpenAI, training files a bucket event rejected, and fine-tuning jobs.

- A training file's content (its normalised bytes) is unique by sha256: OpenAI never gets it twice.
- A job's ``idempotency_key`` is the hash of its normalised request: the same request gives one job.
  Only a live or successful job holds its key (partial unique index), so a request whose job failed or
  was cancelled can be started again.
- Jobs point at the training files they use; a file that trained a job cannot be deleted from under it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, CreatedAtMixin, IdMixin

# OpenAI's job statuses that never change again.
FINISHED_JOB_STATUSES = ("succeeded", "failed", "cancelled")
# Statuses after which the same request may start a new job.
RETRYABLE_JOB_STATUSES = ("failed", "cancelled")


class TrainingFile(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "training_files"

    openai_file_id: Mapped[str] = mapped_column(String(100), unique=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    filename: Mapped[str] = mapped_column(String(255))
    bytes: Mapped[int] = mapped_column(BigInteger)
    examples: Mapped[int] = mapped_column(Integer)
    tokens: Mapped[int] = mapped_column(BigInteger)
    good_examples: Mapped[int] = mapped_column(Integer)
    bad_examples: Mapped[int] = mapped_column(Integer)
    estimated_training_tokens: Mapped[int] = mapped_column(BigInteger)
    warnings: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    # Where it came from: "api" or "s3", the request or object it came in, and who sent it.
    source: Mapped[str] = mapped_column(String(10))
    source_ref: Mapped[str | None] = mapped_column(Text)
    uploaded_by: Mapped[str | None] = mapped_column(String(255))
    # False: kept (?upload=false) without sending it to OpenAI; its id is then ``local-<hash prefix>``.
    uploaded: Mapped[bool] = mapped_column(Boolean, server_default=true())


class TrainingExample(IdMixin, Base):
    """One labelled example of a training file, readable by the product (a prompted judge's shots)."""

    __tablename__ = "training_examples"
    __table_args__ = (
        UniqueConstraint("training_file_id", "line"),
        CheckConstraint("label IN ('good', 'bad')", name="label"),
        Index("ix_training_examples_text_sha256", "text_sha256"),
    )

    training_file_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("training_files.id", ondelete="CASCADE"))
    line: Mapped[int] = mapped_column(Integer)
    # The comment: the example's last user message.
    text: Mapped[str] = mapped_column(Text)
    text_sha256: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(4))


class TrainingFileRejection(IdMixin, CreatedAtMixin, Base):
    """A training file from the bucket that failed validation; an operator reads why here."""

    __tablename__ = "training_file_rejections"
    # The same object delivered twice by S3 (at-least-once) is one rejection.
    __table_args__ = (UniqueConstraint("s3_bucket", "s3_key", "sha256"),)

    s3_bucket: Mapped[str] = mapped_column(String(255))
    s3_key: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    bytes: Mapped[int] = mapped_column(BigInteger)
    problems: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    uploaded_by: Mapped[str | None] = mapped_column(String(255))


class FineTuningJob(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "fine_tuning_jobs"
    __table_args__ = (
        Index(
            "uq_fine_tuning_jobs_idempotency_key",
            "idempotency_key",
            unique=True,
            postgresql_where=text("status NOT IN ('failed', 'cancelled')"),
        ),
        # The schedule looks for unfinished jobs.
        Index("ix_fine_tuning_jobs_status", "status"),
    )

    openai_job_id: Mapped[str] = mapped_column(String(100), unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(64))
    training_file_id: Mapped[str] = mapped_column(
        String(100), ForeignKey("training_files.openai_file_id", ondelete="RESTRICT"), index=True
    )
    validation_file_id: Mapped[str | None] = mapped_column(
        String(100), ForeignKey("training_files.openai_file_id", ondelete="RESTRICT"), index=True
    )
    model: Mapped[str] = mapped_column(String(200))
    # Where the job runs: ``openai``, or a named endpoint of JUDGE_ENDPOINTS (its own copy of the file).
    endpoint: Mapped[str] = mapped_column(String(64), server_default="openai")
    endpoint_file_id: Mapped[str | None] = mapped_column(String(100))
    suffix: Mapped[str | None] = mapped_column(String(64))
    # As requested ("auto" or a value per hyperparameter), then as OpenAI resolved them.
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(32))
    fine_tuned_model: Mapped[str | None] = mapped_column(String(200))
    trained_tokens: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # The latest events OpenAI reported for the job, newest first.
    events: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    estimated_finish: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    refreshed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
