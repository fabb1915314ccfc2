"""Reviews — people have the last word (docs/instagram-and-banners.md "Reviews").

A reviewer sees what the judge decided and sets a label of their own; a comment's ``label`` is its
review's label where there is one, else its latest verdict, and every list that picks good comments
(good comments, banner images) follows ``label``. Reviews also measure the judges against people
(agreement) and become labelled data in the training format (export).

Nothing here calls a model: this module needs only the database.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, Select, and_, delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from ..errors import InvalidInput, NotFound
from ..models import InstagramPost, Judge
from ..models.reviews import CommentReview, InstagramComment, Judgement, comment_label
from ..safe_json import StorableStr
from ..training.jsonl import training_jsonl

Label = Literal["good", "bad"]
MAX_NOTE_CHARACTERS = 2_000
MAX_REVIEWER_CHARACTERS = 200
# The reviewer of a request that carries no token (the local run serves without one by default).
LOCAL_REVIEWER = "local"


class InvalidCursor(InvalidInput):
    code = "invalid_cursor"


class ReviewRequest(BaseModel):
    """The body of ``PUT /comments/{comment_id}/review``."""

    model_config = ConfigDict(extra="forbid")

    label: Label
    note: Annotated[StorableStr, Field(max_length=MAX_NOTE_CHARACTERS)] | None = None


@dataclass(frozen=True)
class Page:
    comments: list[dict[str, Any]]
    next_cursor: str | None


# --- reading comments with their verdicts and reviews ---------------------------------------------

_REVIEWED = CommentReview.id.is_not(None)


def _comments() -> Select[Any]:
    return (
        select(
            InstagramComment.id,
            InstagramComment.instagram_comment_id,
            InstagramComment.text,
            InstagramComment.author_username,
            InstagramComment.post_id,
            Judgement.verdict,
            Judgement.confidence,
            Judge.name.label("judge"),
            CommentReview.label.label("review_label"),
            CommentReview.note.label("review_note"),
            CommentReview.reviewer.label("reviewer"),
            CommentReview.updated_at.label("reviewed_at"),
            comment_label().label("label"),
        )
        .select_from(InstagramComment)
        .outerjoin(Judgement, Judgement.id == InstagramComment.judgement_id)
        .outerjoin(Judge, Judge.id == Judgement.judge_id)
        .outerjoin(CommentReview, CommentReview.comment_id == InstagramComment.id)
    )


def _view(row: Any, *, with_post: bool = False) -> dict[str, Any]:
    review = None
    if row.review_label is not None:
        review = {
            "label": row.review_label,
            "note": row.review_note,
            "reviewer": row.reviewer,
            "at": row.reviewed_at.isoformat(),
        }
    view = {
        "id": row.id,
        "instagram_comment_id": row.instagram_comment_id,
        "text": row.text,
        "username": row.author_username,
        "verdict": row.verdict,
        "confidence": row.confidence,
        "judge": row.judge,
        "review": review,
        "label": row.label,
    }
    if with_post:
        view["post_id"] = row.post_id
    return view


def _filtered(query: Select[Any], verdict: Label | None, reviewed: bool | None) -> Select[Any]:
    if verdict is not None:
        query = query.where(Judgement.verdict == verdict)
    if reviewed is not None:
        query = query.where(_REVIEWED if reviewed else ~_REVIEWED)
    return query


def _encode_cursor(*parts: int) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, size: int) -> list[int]:
    try:
        parts = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        parts = None
    if not (
        isinstance(parts, list)
        and len(parts) == size
        and all(type(part) is int and 0 <= part < 2**63 for part in parts)
    ):
        raise InvalidCursor("The cursor is not one this list gave; start again without it.")
    return parts


def post_comments(
    session: Session,
    post_id: int,
    *,
    verdict: Label | None = None,
    reviewed: bool | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """A post's comments, newest first, with their verdicts and reviews."""
    if session.get(InstagramPost, post_id) is None:
        raise NotFound(f"Instagram post {post_id} does not exist.")
    query = _filtered(_comments().where(InstagramComment.post_id == post_id), verdict, reviewed)
    if cursor is not None:
        (before,) = _decode_cursor(cursor, 1)
        query = query.where(InstagramComment.id < before)
    rows = session.execute(query.order_by(InstagramComment.id.desc()).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return Page([_view(row) for row in rows], _encode_cursor(rows[-1].id) if more else None)


def review_queue(
    session: Session,
    *,
    verdict: Label | None = None,
    reviewed: bool | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """The newest comments across posts, unreviewed first: what a reviewer looks at next.

    The shop's own comments (never judged) and comments of no post are not in it.
    """
    query = _filtered(
        _comments().where(InstagramComment.post_id.is_not(None), ~InstagramComment.by_shop), verdict, reviewed
    )
    if cursor is not None:
        after_reviewed, before = _decode_cursor(cursor, 2)
        if after_reviewed:
            query = query.where(_REVIEWED, InstagramComment.id < before)
        else:
            query = query.where(or_(_REVIEWED, and_(~_REVIEWED, InstagramComment.id < before)))
    rows = session.execute(query.order_by(_REVIEWED, InstagramComment.id.desc()).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _encode_cursor(int(rows[-1].review_label is not None), rows[-1].id) if more else None
    return Page([_view(row, with_post=True) for row in rows], next_cursor)


def comment_view(session: Session, comment_id: int) -> dict[str, Any]:
    row = session.execute(_comments().where(InstagramComment.id == comment_id)).one_or_none()
    if row is None:
        raise NotFound(f"Comment {comment_id} does not exist.")
    return _view(row, with_post=True)


# --- setting and clearing reviews -----------------------------------------------------------------


def _hold_comment(session: Session, comment_id: int) -> None:
    """404 unless the comment exists; it cannot be deleted until this transaction ends."""
    found = session.scalar(
        select(InstagramComment.id).where(InstagramComment.id == comment_id).with_for_update(read=True, key_share=True)
    )
    if found is None:
        raise NotFound(f"Comment {comment_id} does not exist.")


def reviewer_of(subject: str | None) -> str:
    """Who reviews: the token's subject, or ``local`` where there is no token (the local run)."""
    subject = (subject or "").strip()
    return subject[:MAX_REVIEWER_CHARACTERS] if subject else LOCAL_REVIEWER


def set_review(session: Session, comment_id: int, request: ReviewRequest, reviewer: str) -> dict[str, Any]:
    """Set (or replace) the comment's review; the comment as it now reads."""
    _hold_comment(session, comment_id)
    values = {"label": request.label, "note": request.note, "reviewer": reviewer}
    statement = insert(CommentReview).values(comment_id=comment_id, **values)
    # One row per comment: concurrent reviews meet at the unique key and the last one stands.
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[CommentReview.comment_id], set_={**values, "updated_at": func.clock_timestamp()}
        )
    )
    return comment_view(session, comment_id)


def clear_review(session: Session, comment_id: int) -> None:
    """Remove the comment's review (none is no error): the judge's verdict counts again."""
    _hold_comment(session, comment_id)
    session.execute(delete(CommentReview).where(CommentReview.comment_id == comment_id))


# --- agreement and export -------------------------------------------------------------------------


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _agreement(judge_id: int, name: str, tp: int, fp: int, fn: int, tn: int) -> dict[str, Any]:
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = (
        None
        if precision is None or recall is None
        else (2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    )
    return {
        "judge_id": judge_id,
        "name": name,
        "reviewed": tp + fp + fn + tn,
        "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
        "precision_good": precision,
        "recall_good": recall,
        "f1_good": f1,
    }


def agreement(session: Session, judge_id: int | None = None) -> list[dict[str, Any]]:
    """Each judge's verdicts against the reviewers' labels, over the reviewed comments whose text it
    judged (``good`` is the positive class). A judge asked for by id is listed even with none."""
    if judge_id is not None and session.get(Judge, judge_id) is None:
        raise NotFound(f"Judge {judge_id} does not exist.")

    def count(verdict: str, label: str) -> ColumnElement[int]:
        return func.count().filter(and_(Judgement.verdict == verdict, CommentReview.label == label))

    query = (
        select(
            Judge.id, Judge.name, count("good", "good"), count("good", "bad"), count("bad", "good"), count("bad", "bad")
        )
        .select_from(CommentReview)
        .join(InstagramComment, InstagramComment.id == CommentReview.comment_id)
        .join(Judgement, Judgement.text_sha256 == InstagramComment.text_sha256)
        .join(Judge, Judge.id == Judgement.judge_id)
        .group_by(Judge.id, Judge.name)
        .order_by(Judge.id)
    )
    if judge_id is not None:
        query = query.where(Judge.id == judge_id)
    judges = [_agreement(*row) for row in session.execute(query)]
    if judge_id is not None and not judges:
        judges = [_agreement(judge_id, session.get_one(Judge, judge_id).name, 0, 0, 0, 0)]
    return judges


def export_reviews(session: Session, since: datetime | None = None) -> bytes:
    """Reviewed comments as JSONL in the training format (a user message, the reviewer's label as the
    assistant's answer), oldest review first. A text reviewed more than once appears once, with its
    newest review's label: a golden set or training file must not hold one text with two labels."""
    query = (
        select(InstagramComment.text, CommentReview.label)
        .join(InstagramComment, InstagramComment.id == CommentReview.comment_id)
        .order_by(CommentReview.updated_at, CommentReview.id)
    )
    if since is not None:
        try:
            moment = (since if since.tzinfo else since.replace(tzinfo=UTC)).astimezone(UTC)
        except OverflowError:
            # Past either end of the calendar once in UTC: after every review, or before all of them.
            if since.year > 1:
                return b""
        else:
            query = query.where(CommentReview.updated_at >= moment)
    labels: dict[str, str] = {}
    for text, label in session.execute(query):
        if text.strip():
            labels.pop(text, None)
            labels[text] = label
    return training_jsonl(labels.items())
