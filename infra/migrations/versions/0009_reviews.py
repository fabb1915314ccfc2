"""Reviews: a person's label on a comment, overriding the judge's verdict; judgements found by text.

Revision ID: 0009_reviews
Revises: 0008_classifier_judges
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_reviews"
down_revision = "0008_classifier_judges"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "comment_reviews",
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column(
            "comment_id",
            sa.BigInteger,
            sa.ForeignKey("instagram_comments.id", ondelete="CASCADE", name="fk_comment_reviews_comment_id"),
            nullable=False,
        ),
        sa.Column("label", sa.String(4), nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("reviewer", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_comment_reviews"),
        # One review per comment: a second review replaces the first (concurrent ones meet here).
        sa.UniqueConstraint("comment_id", name="uq_comment_reviews_comment_id"),
        sa.CheckConstraint("label IN ('good', 'bad')", name=op.f("ck_comment_reviews_label")),
    )
    op.create_index("ix_comment_reviews_updated_at", "comment_reviews", ["updated_at"])
    # Agreement: every judge's verdict on a reviewed comment's text.
    op.create_index("ix_judgements_text_sha256", "judgements", ["text_sha256"])


def downgrade() -> None:
    op.drop_index("ix_judgements_text_sha256", table_name="judgements")
    op.drop_table("comment_reviews")
