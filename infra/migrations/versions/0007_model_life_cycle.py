"""Model life cycle: each judge's model calendar, the request shape its probe settled, successors,
automatic activations, and fine-tuning jobs on named endpoints.

Revision ID: 0007_model_life_cycle
Revises: 0006_instagram_banners
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007_model_life_cycle"
down_revision = "0006_instagram_banners"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("judges", sa.Column("model_shutdown_date", sa.Date, nullable=True))
    op.add_column("judges", sa.Column("model_status", sa.String(20), server_default="unknown", nullable=False))
    op.add_column("judges", sa.Column("model_checked_at", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(
        op.f("ck_judges_model_status"), "judges", "model_status IN ('available', 'retiring', 'shut_down', 'unknown')"
    )
    # Whether the judge asks for logprobs (its confidence). Forced labels always did.
    op.add_column("judges", sa.Column("logprobs", sa.Boolean, server_default=sa.text("false"), nullable=False))
    op.execute("UPDATE judges SET logprobs = (output = 'label_token')")
    # What the probe at creation sent and was billed (null: made before probes, or by a finished job).
    op.add_column("judges", sa.Column("probe", JSONB, nullable=True))
    op.add_column(
        "judges",
        sa.Column(
            "predecessor_id",
            sa.BigInteger,
            sa.ForeignKey("judges.id", ondelete="SET NULL", name="fk_judges_predecessor_id"),
            nullable=True,
        ),
    )
    op.add_column(
        "judge_activations", sa.Column("automatic", sa.Boolean, server_default=sa.text("false"), nullable=False)
    )
    op.add_column("fine_tuning_jobs", sa.Column("endpoint", sa.String(64), server_default="openai", nullable=False))
    op.add_column("fine_tuning_jobs", sa.Column("endpoint_file_id", sa.String(100), nullable=True))


def downgrade() -> None:
    op.drop_column("fine_tuning_jobs", "endpoint_file_id")
    op.drop_column("fine_tuning_jobs", "endpoint")
    op.drop_column("judge_activations", "automatic")
    op.drop_column("judges", "predecessor_id")
    op.drop_column("judges", "probe")
    op.drop_column("judges", "logprobs")
    op.drop_constraint(op.f("ck_judges_model_status"), "judges", type_="check")
    op.drop_column("judges", "model_checked_at")
    op.drop_column("judges", "model_status")
    op.drop_column("judges", "model_shutdown_date")
