"""Naver stores, products, image banners, Instagram posts and banner-post links.

Revision ID: 0001_catalog
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_catalog"
down_revision = None
branch_labels = None
depends_on = None


def _created_at() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "naver_stores",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("naver_store_id", sa.String(100), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        _created_at(),
        sa.UniqueConstraint("naver_store_id", name="uq_naver_stores_naver_store_id"),
    )
    op.create_table(
        "naver_products",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column(
            "store_id",
            sa.BigInteger,
            sa.ForeignKey("naver_stores.id", ondelete="CASCADE", name="fk_naver_products_store_id"),
            nullable=False,
        ),
        sa.Column("naver_product_no", sa.String(100), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        _created_at(),
        sa.UniqueConstraint("store_id", "naver_product_no", name="uq_naver_products_store_id_naver_product_no"),
        sa.UniqueConstraint("store_id", "id", name="uq_naver_products_store_id_id"),
    )
    op.create_table(
        "naver_image_banners",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column(
            "store_id",
            sa.BigInteger,
            sa.ForeignKey("naver_stores.id", ondelete="CASCADE", name="fk_naver_image_banners_store_id"),
            nullable=False,
        ),
        sa.Column("product_id", sa.BigInteger, nullable=True),
        sa.Column("image_url", sa.Text, nullable=False),
        sa.Column("title", sa.String(300), nullable=True),
        _created_at(),
    )
    op.create_index("ix_naver_image_banners_store_id", "naver_image_banners", ["store_id"])
    op.create_index("ix_naver_image_banners_product_id", "naver_image_banners", ["product_id"])
    # A banner may only point at a product of its own store; deleting the product nulls product_id
    # alone (the column list needs PostgreSQL 15+), so the banner stays with its store.
    op.execute(
        "ALTER TABLE naver_image_banners ADD CONSTRAINT fk_naver_image_banners_store_product "
        "FOREIGN KEY (store_id, product_id) REFERENCES naver_products (store_id, id) "
        "ON DELETE SET NULL (product_id)"
    )
    op.create_table(
        "instagram_posts",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("instagram_media_id", sa.String(100), nullable=False),
        sa.Column("permalink", sa.Text, nullable=True),
        sa.Column("caption", sa.Text, nullable=True),
        _created_at(),
        sa.UniqueConstraint("instagram_media_id", name="uq_instagram_posts_instagram_media_id"),
    )
    op.create_table(
        "banner_instagram_posts",
        sa.Column(
            "banner_id",
            sa.BigInteger,
            sa.ForeignKey("naver_image_banners.id", ondelete="CASCADE", name="fk_banner_instagram_posts_banner_id"),
            primary_key=True,
        ),
        sa.Column(
            "post_id",
            sa.BigInteger,
            sa.ForeignKey("instagram_posts.id", ondelete="CASCADE", name="fk_banner_instagram_posts_post_id"),
            primary_key=True,
        ),
        sa.PrimaryKeyConstraint("banner_id", "post_id", name="pk_banner_instagram_posts"),
    )
    op.create_index("ix_banner_instagram_posts_post_id", "banner_instagram_posts", ["post_id"])


def downgrade() -> None:
    op.drop_table("banner_instagram_posts")
    op.drop_table("instagram_posts")
    op.drop_table("naver_image_banners")
    op.drop_table("naver_products")
    op.drop_table("naver_stores")
