"""Instagram comments in (authors, replies, the shop's own, queued for judging) and banner images.

Revision ID: 0006_instagram_banners
Revises: 0004_fine_tuning
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_instagram_banners"
down_revision = "0005_judges"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("instagram_comments", sa.Column("author_id", sa.String(100), nullable=True))
    op.add_column("instagram_comments", sa.Column("author_username", sa.String(100), nullable=True))
    op.add_column("instagram_comments", sa.Column("parent_id", sa.String(100), nullable=True))
    op.add_column("instagram_comments", sa.Column("commented_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("instagram_comments", sa.Column("like_count", sa.Integer, nullable=True))
    op.add_column(
        "instagram_comments", sa.Column("by_shop", sa.Boolean, server_default=sa.text("false"), nullable=False)
    )
    op.add_column("instagram_comments", sa.Column("source", sa.String(10), nullable=True))
    op.add_column("instagram_comments", sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "banner_images",
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column(
            "banner_id",
            sa.BigInteger,
            sa.ForeignKey("naver_image_banners.id", ondelete="CASCADE", name="fk_banner_images_banner_id"),
            nullable=False,
        ),
        sa.Column(
            "store_id",
            sa.BigInteger,
            sa.ForeignKey("naver_stores.id", ondelete="CASCADE", name="fk_banner_images_store_id"),
            nullable=False,
        ),
        sa.Column("image_key", sa.String(200), nullable=False),
        sa.Column(
            "comment_id",
            sa.BigInteger,
            sa.ForeignKey("instagram_comments.id", ondelete="SET NULL", name="fk_banner_images_comment_id"),
            nullable=True,
        ),
        sa.Column(
            "post_id",
            sa.BigInteger,
            sa.ForeignKey("instagram_posts.id", ondelete="SET NULL", name="fk_banner_images_post_id"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_banner_images"),
        sa.UniqueConstraint("banner_id", name="uq_banner_images_banner_id"),
        # One banner per rendered image in a store: the same request again finds it (requirement 5).
        sa.UniqueConstraint("store_id", "image_key", name="uq_banner_images_store_id_image_key"),
    )
    op.create_index("ix_banner_images_comment_id", "banner_images", ["comment_id"])
    op.create_index("ix_banner_images_post_id", "banner_images", ["post_id"])


def downgrade() -> None:
    op.drop_table("banner_images")
    for column in (
        "queued_at",
        "source",
        "by_shop",
        "like_count",
        "commented_at",
        "parent_id",
        "author_username",
        "author_id",
    ):
        op.drop_column("instagram_comments", column)
