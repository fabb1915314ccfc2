"""Stored embeddings: a vector paid for once is kept, keyed by endpoint, embedding model and text hash,
so retraining a classifier pays only for texts never embedded there; and how many a training reused.

The application role reaches the new table by 0010's default privileges (granted as it is created).

Revision ID: 0011_embedding_cache
Revises: 0010_application_role
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_embedding_cache"
down_revision = "0010_application_role"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stored_embeddings",
        sa.Column("endpoint", sa.String(64), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("text_sha256", sa.String(64), nullable=False),
        sa.Column("dimensions", sa.Integer, nullable=False),
        sa.Column("vector", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("endpoint", "model", "text_sha256", name="pk_stored_embeddings"),
        sa.CheckConstraint(
            "dimensions > 0 AND octet_length(vector) = 4 * dimensions",
            name=op.f("ck_stored_embeddings_vector_matches_dimensions"),
        ),
    )
    op.add_column("judge_classifiers", sa.Column("reused_embeddings", sa.Integer, server_default="0", nullable=False))


def downgrade() -> None:
    op.drop_column("judge_classifiers", "reused_embeddings")
    op.drop_table("stored_embeddings")
