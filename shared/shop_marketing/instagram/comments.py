"""Comments that come in from Instagram: stored once by their id, queued for judging once.

Both roads — Meta's webhook and a fetch from the Graph API — end here:

1. ``store_comments`` registers the post by its media id when it is new and inserts each comment by
   its ``instagram_comment_id`` (``ON CONFLICT``): a comment seen again adds only what was unknown
   (its author, say) and is never a second row. The shop's own comments are marked ``by_shop``.
2. ``queue_unjudged`` puts every comment that is stored, not the shop's, not judged and not yet queued
   on the judge queue, holding the rows locked (``FOR UPDATE SKIP LOCKED``) while SQS takes them and
   marking them ``queued_at`` in the same transaction. Concurrent deliveries of one comment therefore
   queue it once; a send that fails leaves it unmarked, to be queued by the next delivery or fetch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, func, literal_column, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from ..errors import NotFound
from ..hashing import text_sha256
from ..judge_queue import JudgeMessage, judge_queue_available, send_to_judge
from ..models import InstagramPost
from ..models.judging import InstagramComment
from ..observability import logger
from .limits import MAX_COMMENT_CHARACTERS

SessionFactory = Callable[[], AbstractContextManager[Session]]
# Columns of the author and the parent are this long; Meta's ids are far shorter.
MAX_ID_LENGTH = 100


@dataclass(frozen=True)
class IncomingComment:
    instagram_comment_id: str
    text: str
    media_id: str
    author_id: str | None = None
    author_username: str | None = None
    parent_id: str | None = None
    commented_at: datetime | None = None
    like_count: int | None = None
    source: str = "webhook"


@dataclass(frozen=True)
class Stored:
    received: int
    new: int


def _short(value: str | None) -> str | None:
    return value[:MAX_ID_LENGTH] if value else None


def register_post(session: Session, media_id: str) -> int:
    """The post with this media id, inserted when it is new (concurrent twins meet at ON CONFLICT)."""
    session.execute(
        insert(InstagramPost)
        .values(instagram_media_id=media_id)
        .on_conflict_do_nothing(index_elements=[InstagramPost.instagram_media_id])
    )
    return session.scalars(select(InstagramPost.id).where(InstagramPost.instagram_media_id == media_id)).one()


def store_comments(session: Session, comments: Iterable[IncomingComment], shop_accounts: set[str]) -> Stored:
    """Insert each comment once by its Instagram id; returns how many were received and how many were new."""
    posts: dict[str, int] = {}
    received = new = 0
    for comment in comments:
        received += 1
        if comment.media_id not in posts:
            posts[comment.media_id] = register_post(session, comment.media_id)
        statement = insert(InstagramComment).values(
            instagram_comment_id=comment.instagram_comment_id,
            post_id=posts[comment.media_id],
            text=comment.text,
            text_sha256=text_sha256(comment.text),
            author_id=_short(comment.author_id),
            author_username=_short(comment.author_username),
            parent_id=_short(comment.parent_id),
            commented_at=comment.commented_at,
            like_count=comment.like_count,
            by_shop=comment.author_id is not None and comment.author_id in shop_accounts,
            source=comment.source,
        )
        excluded = statement.excluded
        known = InstagramComment
        # Posted to /comments/judge by hand under this id with other words: Instagram's text wins, and
        # the comment is judged again on it (the hand-made judgement no longer describes it).
        hand_text_differs = known.source.is_(None) & (known.text_sha256 != excluded.text_sha256)
        # Seen before: fill in only what was unknown; a comment stored without an author (posted to
        # /comments/judge by hand, say) learns it. A replay with nothing new changes nothing at all.
        statement = statement.on_conflict_do_update(
            index_elements=[InstagramComment.instagram_comment_id],
            set_={
                "text": case((hand_text_differs, excluded.text), else_=known.text),
                "text_sha256": case((hand_text_differs, excluded.text_sha256), else_=known.text_sha256),
                "judgement_id": case((hand_text_differs, None), else_=known.judgement_id),
                "queued_at": case((hand_text_differs, None), else_=known.queued_at),
                "author_id": func.coalesce(known.author_id, excluded.author_id),
                "author_username": func.coalesce(known.author_username, excluded.author_username),
                "parent_id": func.coalesce(known.parent_id, excluded.parent_id),
                "commented_at": func.coalesce(known.commented_at, excluded.commented_at),
                "post_id": func.coalesce(known.post_id, excluded.post_id),
                "by_shop": known.by_shop.op("OR")(excluded.by_shop),
                "source": func.coalesce(known.source, excluded.source),
            },
            where=or_(
                (known.author_id.is_(None) & excluded.author_id.is_not(None)),
                (known.author_username.is_(None) & excluded.author_username.is_not(None)),
                (known.parent_id.is_(None) & excluded.parent_id.is_not(None)),
                (known.commented_at.is_(None) & excluded.commented_at.is_not(None)),
                (known.post_id.is_(None) & excluded.post_id.is_not(None)),
                (known.source.is_(None) & excluded.source.is_not(None)),
                (~known.by_shop & excluded.by_shop),
                hand_text_differs,
            ),
        )
        # xmax = 0 only on a row this statement inserted (PostgreSQL), not on one it updated.
        inserted = session.scalar(statement.returning(literal_column("xmax = 0")))
        new += bool(inserted)
    return Stored(received=received, new=new)


def _judgeable(text: str) -> bool:
    return bool(text.strip()) and len(text) <= MAX_COMMENT_CHARACTERS


def queue_unjudged(
    sessions: SessionFactory,
    queue_url: str | None,
    *,
    comment_ids: Sequence[str] | None = None,
    post_id: int | None = None,
) -> int:
    """Queue the named comments (or the post's) that are not the shop's, not judged and not queued yet.

    Returns how many SQS accepted. Without a queue URL the local run's own queue takes them; with
    neither, nothing is queued and the comments stay unqueued, to be queued once a queue is there.
    """
    if not judge_queue_available(queue_url):
        logger.info("no judge queue configured: comments stored, not queued")
        return 0
    with sessions() as session:
        query = select(
            InstagramComment.id, InstagramComment.instagram_comment_id, InstagramComment.text, InstagramComment.post_id
        ).where(
            InstagramComment.queued_at.is_(None),
            InstagramComment.judgement_id.is_(None),
            ~InstagramComment.by_shop,
            InstagramComment.instagram_comment_id.is_not(None),
            InstagramComment.post_id.is_not(None),
        )
        if comment_ids is not None:
            query = query.where(InstagramComment.instagram_comment_id.in_(list(comment_ids)))
        if post_id is not None:
            query = query.where(InstagramComment.post_id == post_id)
        rows = session.execute(query.order_by(InstagramComment.id).with_for_update(skip_locked=True)).all()
        messages = [
            JudgeMessage(comment=row.text, instagram_comment_id=row.instagram_comment_id, post_id=row.post_id)
            for row in rows
            if _judgeable(row.text)
        ]
        if not messages:
            return 0
        accepted = send_to_judge(queue_url, messages)
        if accepted:
            session.execute(
                update(InstagramComment)
                .where(InstagramComment.instagram_comment_id.in_(sorted(accepted)))
                .values(queued_at=func.now())
            )
        if len(accepted) < len(messages):
            logger.warning("judge queue refused some comments", extra={"refused": len(messages) - len(accepted)})
    return len(accepted)


def parse_timestamp(value: str | None) -> datetime | None:
    """Graph API timestamps look like ``2024-10-10T08:15:00+0000``."""
    if not value:
        return None
    for parse in (datetime.fromisoformat, lambda raw: datetime.strptime(raw, "%Y-%m-%dT%H:%M:%S%z")):
        try:
            return parse(value)
        except ValueError:
            continue
    return None


def post_media_id(session: Session, post_id: int) -> str:
    media_id = session.scalar(select(InstagramPost.instagram_media_id).where(InstagramPost.id == post_id))
    if media_id is None:
        raise NotFound(f"Instagram post {post_id} does not exist.")
    return media_id


def recent_post_ids(session: Session, *, days: int, limit: int) -> list[int]:
    """Posts registered, or commented on, within the last ``days`` days: newest first."""
    since = datetime.now(UTC) - timedelta(days=days)
    commented = select(InstagramComment.post_id).where(
        InstagramComment.created_at >= since, InstagramComment.post_id.is_not(None)
    )
    rows = session.scalars(
        select(InstagramPost.id)
        .where(or_(InstagramPost.created_at >= since, InstagramPost.id.in_(commented)))
        .order_by(InstagramPost.created_at.desc(), InstagramPost.id.desc())
        .limit(limit)
    )
    return list(rows)
