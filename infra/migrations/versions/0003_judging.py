"""Instagram comments and the judge's judgements of them.

Revision ID: 0003_judging
Revises: 0002_judge_models
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_judging"
down_revision = "0002_judge_models"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "judgements",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("text_sha256", sa.String(64), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("verdict", sa.String(4), nullable=False),
        sa.Column("confidence", sa.Double, nullable=True),
        sa.Column("comment_tokens", sa.Integer, nullable=False),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_judgements"),
        # Identical text judged by the same model is one paid answer.
        sa.UniqueConstraint("text_sha256", "model", name="uq_judgements_text_sha256_model"),
        # op.f: the name is final; the "ck" naming convention would otherwise prefix it again.
        sa.CheckConstraint("verdict IN ('good', 'bad')", name=op.f("ck_judgements_verdict")),
        sa.CheckConstraint(
            "confidence IS NULL OR (confidence >= 0 AND confidence <= 1)", name=op.f("ck_judgements_confidence")
        ),
    )
    op.create_table(
        "instagram_comments",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("instagram_comment_id", sa.String(100), nullable=True),
        # SET NULL: deleting a post never deletes its comments or their paid judgements.
        sa.Column(
            "post_id",
            sa.BigInteger,
            sa.ForeignKey("instagram_posts.id", ondelete="SET NULL", name="fk_instagram_comments_post_id"),
            nullable=True,
        ),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("text_sha256", sa.String(64), nullable=False),
        sa.Column(
            "judgement_id",
            sa.BigInteger,
            sa.ForeignKey("judgements.id", ondelete="SET NULL", name="fk_instagram_comments_judgement_id"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_instagram_comments"),
        sa.UniqueConstraint("instagram_comment_id", name="uq_instagram_comments_instagram_comment_id"),
    )
    op.create_index(
        "uq_instagram_comments_post_id_text_sha256",
        "instagram_comments",
        ["post_id", "text_sha256"],
        unique=True,
        postgresql_where=sa.text("instagram_comment_id IS NULL"),
    )
    op.create_index("ix_instagram_comments_post_id", "instagram_comments", ["post_id"])
    op.create_index("ix_instagram_comments_judgement_id", "instagram_comments", ["judgement_id"])


def downgrade() -> None:
    op.drop_table("instagram_comments")
    op.drop_table("judgements")
