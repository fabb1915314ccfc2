"""Training files, rejected bucket uploads and fine-tuning jobs.

Revision ID: 0004_fine_tuning
Revises: 0003_judging
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004_fine_tuning"
down_revision = "0003_judging"
branch_labels = None
depends_on = None


def _created_at() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "training_files",
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("openai_file_id", sa.String(100), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("examples", sa.Integer, nullable=False),
        sa.Column("tokens", sa.BigInteger, nullable=False),
        sa.Column("good_examples", sa.Integer, nullable=False),
        sa.Column("bad_examples", sa.Integer, nullable=False),
        sa.Column("estimated_training_tokens", sa.BigInteger, nullable=False),
        sa.Column("warnings", JSONB, server_default=sa.text("'[]'::jsonb"), nullable=False),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("source_ref", sa.Text, nullable=True),
        sa.Column("uploaded_by", sa.String(255), nullable=True),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_training_files"),
        sa.UniqueConstraint("openai_file_id", name="uq_training_files_openai_file_id"),
        sa.UniqueConstraint("sha256", name="uq_training_files_sha256"),
    )
    op.create_table(
        "training_file_rejections",
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("s3_bucket", sa.String(255), nullable=False),
        sa.Column("s3_key", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("problems", JSONB, nullable=False),
        sa.Column("uploaded_by", sa.String(255), nullable=True),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_training_file_rejections"),
        sa.UniqueConstraint(
            "s3_bucket", "s3_key", "sha256", name="uq_training_file_rejections_s3_bucket_s3_key_sha256"
        ),
    )
    op.create_table(
        "fine_tuning_jobs",
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("openai_job_id", sa.String(100), nullable=False),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column(
            "training_file_id",
            sa.String(100),
            sa.ForeignKey(
                "training_files.openai_file_id", ondelete="RESTRICT", name="fk_fine_tuning_jobs_training_file_id"
            ),
            nullable=False,
        ),
        sa.Column(
            "validation_file_id",
            sa.String(100),
            sa.ForeignKey(
                "training_files.openai_file_id", ondelete="RESTRICT", name="fk_fine_tuning_jobs_validation_file_id"
            ),
            nullable=True,
        ),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("suffix", sa.String(64), nullable=True),
        sa.Column("hyperparameters", JSONB, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("fine_tuned_model", sa.String(200), nullable=True),
        sa.Column("trained_tokens", sa.BigInteger, nullable=True),
        sa.Column("error", JSONB, nullable=True),
        sa.Column("events", JSONB, server_default=sa.text("'[]'::jsonb"), nullable=False),
        sa.Column("estimated_finish", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_fine_tuning_jobs"),
        sa.UniqueConstraint("openai_job_id", name="uq_fine_tuning_jobs_openai_job_id"),
    )
    # One live (or successful) job per request; a failed or cancelled one frees its request again.
    op.create_index(
        "uq_fine_tuning_jobs_idempotency_key",
        "fine_tuning_jobs",
        ["idempotency_key"],
        unique=True,
        postgresql_where=sa.text("status NOT IN ('failed', 'cancelled')"),
    )
    op.create_index("ix_fine_tuning_jobs_status", "fine_tuning_jobs", ["status"])
    op.create_index("ix_fine_tuning_jobs_training_file_id", "fine_tuning_jobs", ["training_file_id"])
    op.create_index("ix_fine_tuning_jobs_validation_file_id", "fine_tuning_jobs", ["validation_file_id"])


def downgrade() -> None:
    op.drop_table("fine_tuning_jobs")
    op.drop_table("training_file_rejections")
    op.drop_table("training_files")
