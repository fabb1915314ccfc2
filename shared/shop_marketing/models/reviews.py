"""Reviews: a person's label on a comment, which overrides the judge's verdict (docs/instagram-and-banners.md
"Reviews").

- One review per comment (unique ``comment_id``): setting it again replaces it, so concurrent
  reviews of one comment leave one row, the last.
- A comment's ``label`` is its review's label where there is one, else its latest judgement's
  verdict: :func:`comment_label` is that rule, used by every list that follows labels (good comments,
  banner images, the reviews routes).
- Deleting a comment deletes its review (ON DELETE CASCADE).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ColumnElement,
    DateTime,
    ForeignKey,
    Index,
    Select,
    String,
    Text,
    UniqueConstraint,
    case,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, CreatedAtMixin, IdMixin
from .judging import InstagramComment, Judgement

LABELS = ("good", "bad")


class CommentReview(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "comment_reviews"
    __table_args__ = (
        UniqueConstraint("comment_id"),
        CheckConstraint("label IN ('good', 'bad')", name="label"),
        # The export reads reviews changed since a moment.
        Index("ix_comment_reviews_updated_at", "updated_at"),
    )

    comment_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("instagram_comments.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(4))
    note: Mapped[str | None] = mapped_column(Text)
    # The token's subject (``local`` on the local run).
    reviewer: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


# Agreement reads every judge's verdict on a reviewed comment's text (declared here, with its use).
Index("ix_judgements_text_sha256", Judgement.text_sha256)


def comment_label() -> ColumnElement[str]:
    """The label of a comment joined with its latest judgement and its review: the review's, else the verdict."""
    return func.coalesce(CommentReview.label, Judgement.verdict)


def good_comments_of_post[*Row](query: Select[*Row], post_id: int) -> Select[*Row]:
    """``query`` (over ``instagram_comments``) narrowed to the post's comments labelled ``good``, best
    first: those a reviewer marked good, then by the judge's confidence that the comment is good."""
    good_confidence = case((Judgement.verdict == "good", Judgement.confidence), else_=1 - Judgement.confidence)
    return (
        query.outerjoin(Judgement, Judgement.id == InstagramComment.judgement_id)
        .outerjoin(CommentReview, CommentReview.comment_id == InstagramComment.id)
        .where(InstagramComment.post_id == post_id, comment_label() == "good")
        .order_by(CommentReview.id.is_(None), good_confidence.desc().nulls_last(), InstagramComment.id)
    )


__all__ = ["CommentReview", "InstagramComment", "Judgement", "LABELS", "comment_label", "good_comments_of_post"]
