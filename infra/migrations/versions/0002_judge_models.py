"""The judge's models: the latest activated one is what the judge uses.

Revision ID: 0002_judge_models
Revises: 0001_catalog
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_judge_models"
down_revision = "0001_catalog"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "judge_models",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("job_id", sa.String(100), nullable=True),
        sa.Column("activated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.UniqueConstraint("model", name="uq_judge_models_model"),
    )
    op.create_index("ix_judge_models_activated_at", "judge_models", ["activated_at"])


def downgrade() -> None:
    op.drop_table("judge_models")
