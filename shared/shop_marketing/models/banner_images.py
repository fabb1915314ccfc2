"""Banner images rendered from good comments (docs/instagram-and-banners.md "Banner images").

A rendered image is named by a key derived from what it shows (text, author, store name, size, layout
version). One store holds at most one banner per image key — unique ``(store_id, image_key)`` — so the
same request repeated finds its banners again instead of making new rows or objects (requirement 5).
The row belongs to its banner: deleting the banner deletes it (CASCADE); the comment and the post it
came from stay, and deleting them only nulls the link (SET NULL).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, CreatedAtMixin, IdMixin


class BannerImage(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "banner_images"
    __table_args__ = (UniqueConstraint("store_id", "image_key"),)

    banner_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("naver_image_banners.id", ondelete="CASCADE"), unique=True
    )
    store_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("naver_stores.id", ondelete="CASCADE"))
    image_key: Mapped[str] = mapped_column(String(200))
    comment_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("instagram_comments.id", ondelete="SET NULL"), index=True
    )
    post_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("instagram_posts.id", ondelete="SET NULL"), index=True
    )


# The tables this module's foreign keys name are registered with it (the catalog's always are).
from . import judging as _judging  # noqa: E402, F401
