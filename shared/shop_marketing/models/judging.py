"""Instagram comments and the judge's verdicts on them (docs/judging.md "Judging comments").

- A judgement is a paid OpenAI answer about one text by one judge, keyed by ``(judge_id, text_sha256)``:
  the same text judged by the same judge is found again and never paid for twice.
- A comment is stored when it can be named again: by its ``instagram_comment_id``, or by its post and
  text. It points at its latest judgement, which is what the good-comments list ranks.
- Deleting a post nulls ``post_id`` only (ON DELETE SET NULL): paid judgements are never lost.
- An evaluation's items (evaluations are in :mod:`.judges`) are here, beside the judgements they point
  at: so this module imports :mod:`.judges` and never the other way round.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, CreatedAtMixin, IdMixin

VERDICTS = ("good", "bad")
# Defined out here: inside InstagramComment, ``text`` is the comment's column.
_FALSE = text("false")


class Judgement(IdMixin, Base):
    __tablename__ = "judgements"
    __table_args__ = (
        # Identical text judged by the same judge is one paid answer (a judge, not a model: a prompted and
        # a fine_tuned judge on one model never share verdicts).
        UniqueConstraint("judge_id", "text_sha256"),
        CheckConstraint("verdict IN ('good', 'bad')", name="verdict"),
        CheckConstraint("confidence IS NULL OR (confidence >= 0 AND confidence <= 1)", name="confidence"),
    )

    # sha256 of the exact UTF-8 text sent to the model (hex), so the key stays small for long comments.
    judge_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("judges.id", ondelete="CASCADE"))
    text_sha256: Mapped[str] = mapped_column(String(64))
    # The model the judge called.
    model: Mapped[str] = mapped_column(String(200))
    verdict: Mapped[str] = mapped_column(String(4))
    confidence: Mapped[float | None] = mapped_column(Double)
    comment_tokens: Mapped[int] = mapped_column(Integer)
    prompt_tokens: Mapped[int] = mapped_column(Integer)
    completion_tokens: Mapped[int] = mapped_column(Integer)
    cached_prompt_tokens: Mapped[int] = mapped_column(Integer, server_default="0")
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class InstagramComment(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "instagram_comments"
    __table_args__ = (
        UniqueConstraint("instagram_comment_id"),
        # A comment that arrives without an Instagram id is still one row per (post, text).
        Index(
            "uq_instagram_comments_post_id_text_sha256",
            "post_id",
            "text_sha256",
            unique=True,
            postgresql_where=text("instagram_comment_id IS NULL"),
        ),
        # The good-comments list: one post's comments, through their latest judgement.
        Index("ix_instagram_comments_post_id", "post_id"),
    )

    instagram_comment_id: Mapped[str | None] = mapped_column(String(100))
    post_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("instagram_posts.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    text_sha256: Mapped[str] = mapped_column(String(64))
    judgement_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("judgements.id", ondelete="SET NULL"), index=True
    )
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    # From Instagram (webhook or Graph API fetch): who wrote it, what it answers, and when.
    author_id: Mapped[str | None] = mapped_column(String(100))
    author_username: Mapped[str | None] = mapped_column(String(100))
    parent_id: Mapped[str | None] = mapped_column(String(100))
    commented_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    like_count: Mapped[int | None] = mapped_column(Integer)
    # Written by the shop's own account (INSTAGRAM_ACCOUNT_ID): kept, never judged.
    by_shop: Mapped[bool] = mapped_column(Boolean, server_default=_FALSE)
    # "webhook" or "fetch" for comments that came from Instagram by themselves.
    source: Mapped[str | None] = mapped_column(String(10))
    # When it was put on the judge queue; NULL until SQS accepted it, so a lost send is retried.
    queued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class EvaluationItem(Base):
    __tablename__ = "evaluation_items"
    __table_args__ = (CheckConstraint("status IN ('pending', 'judged', 'error')", name="status"),)

    evaluation_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("evaluations.id", ondelete="CASCADE"), primary_key=True
    )
    golden_example_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("golden_examples.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(10), server_default="pending")
    verdict: Mapped[str | None] = mapped_column(String(4))
    judgement_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("judgements.id", ondelete="SET NULL"))
    paid: Mapped[bool] = mapped_column(Boolean, server_default=false())
    error_code: Mapped[str | None] = mapped_column(String(64))


# The tables this module's foreign keys name are registered with it (the catalog's always are).
from . import judges as _judges  # noqa: E402, F401
