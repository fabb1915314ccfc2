"""The Naver/Instagram catalog of seed Part 1.

1. A store has many banners.            2. A banner relates to at most one product.
3. A banner relates to many posts.      4. Products and banners are children of the store.
5. No duplicates: unique store ids, product numbers per store, media ids, links.
6. Deleting a banner never deletes its product or its posts.

The database enforces all of it; the ORM mirrors it with ``passive_deletes=True`` so it never loads
children just to delete or unlink them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, CreatedAtMixin, IdMixin

# The ORM writes only product_id through this link; store_id belongs to the store relationship.
_BANNER_PRODUCT = "NaverProduct.id == foreign(NaverImageBanner.product_id)"

banner_instagram_posts = Table(
    "banner_instagram_posts",
    Base.metadata,
    # Deleting either side removes only the link rows, inside the database (requirement 3, 6).
    Column("banner_id", BigInteger, ForeignKey("naver_image_banners.id", ondelete="CASCADE"), primary_key=True),
    Column("post_id", BigInteger, ForeignKey("instagram_posts.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class NaverStore(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "naver_stores"

    naver_store_id: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))

    # The database deletes a store's products and banners (ON DELETE CASCADE, requirement 4).
    products: Mapped[list[NaverProduct]] = relationship(
        back_populates="store", cascade="all, delete-orphan", passive_deletes=True
    )
    banners: Mapped[list[NaverImageBanner]] = relationship(
        back_populates="store", cascade="all, delete-orphan", passive_deletes=True
    )


class NaverProduct(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "naver_products"
    __table_args__ = (
        UniqueConstraint("store_id", "naver_product_no"),
        # Target of the banner's (store_id, product_id) key: a banner can only point at its store's products.
        UniqueConstraint("store_id", "id"),
    )

    store_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("naver_stores.id", ondelete="CASCADE"))
    naver_product_no: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(300))

    store: Mapped[NaverStore] = relationship(back_populates="products")
    # Deleting a product only cuts the banners' link to it (requirement 2); the database does that.
    banners: Mapped[list[NaverImageBanner]] = relationship(
        back_populates="product", primaryjoin=_BANNER_PRODUCT, passive_deletes=True
    )


class NaverImageBanner(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "naver_image_banners"
    __table_args__ = (
        # In the database this is ON DELETE SET NULL (product_id) (PostgreSQL 15+): deleting the product
        # nulls only product_id, never store_id. SQLAlchemy cannot spell the column list, so the
        # migration creates the constraint and the model only names it.
        ForeignKeyConstraint(
            ["store_id", "product_id"],
            ["naver_products.store_id", "naver_products.id"],
            name="fk_naver_image_banners_store_product",
        ),
    )

    store_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("naver_stores.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    image_url: Mapped[str] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(String(300))

    store: Mapped[NaverStore] = relationship(back_populates="banners")
    # uselist=False documents "one product per banner"; passive_deletes keeps deletes in the database.
    product: Mapped[NaverProduct | None] = relationship(
        back_populates="banners", primaryjoin=_BANNER_PRODUCT, uselist=False, passive_deletes=True
    )
    instagram_posts: Mapped[list[InstagramPost]] = relationship(
        secondary=banner_instagram_posts,
        back_populates="banners",
        passive_deletes=True,
        order_by="InstagramPost.id",
    )


class InstagramPost(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "instagram_posts"

    instagram_media_id: Mapped[str] = mapped_column(String(100), unique=True)
    permalink: Mapped[str | None] = mapped_column(Text)
    caption: Mapped[str | None] = mapped_column(Text)

    banners: Mapped[list[NaverImageBanner]] = relationship(
        secondary=banner_instagram_posts, back_populates="instagram_posts", passive_deletes=True
    )
