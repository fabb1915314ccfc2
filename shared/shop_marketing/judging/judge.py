"""The comment judge: the judge that is active (or named) answers ``good`` or ``bad`` for a comment.

- What is sent depends on the judge's style (:mod:`.recipes`); the reply must be exactly one label
  (:mod:`.chat_reply` asks and reads it).
- ``comment_tokens`` is the bare comment's count; ``prompt_tokens``, ``cached_prompt_tokens`` and
  ``completion_tokens`` are what OpenAI billed (its ``usage``). A ``fine_tuned`` judge's prompt is
  known before the call (comment tokens + 7) and a differing bill is logged.
- A text already judged by the same judge is answered from the database (``cached``), never paid
  twice. A fresh judgement is one transaction: a transaction-scoped advisory lock on (judge, text)
  is taken, the cache checked again, OpenAI called, and the answer stored. Identical comments
  arriving together therefore meet at the lock: one pays, the others find its answer.
- A model the provider no longer serves (404 ``model_not_found``) marks the judge's model
  ``shut_down`` at once. The comment is then answered by the ``JUDGE_FALLBACK`` judge when one is set,
  else by the best evaluated candidate, made active by itself (automatic succession); with neither,
  503 ``judge_model_unavailable`` (and the days-left metric reads 0: the alarm fires).

Imported only by the functions that judge: it pulls in the openai SDK and tiktoken.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from typing import Annotated, Any, cast

from openai import OpenAI
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import Boolean, Row, Select, Table, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.orm import Session

from ..advisory_lock import hold_advisory_lock, lock_key
from ..config import ConfigurationError, Settings, get_settings
from ..db import session_scope
from ..errors import DomainError, NotFound, ServiceUnavailable
from ..hashing import text_sha256
from ..models import InstagramPost
from ..models.base import StrictId
from ..models.judging import InstagramComment, Judgement
from ..models.reviews import CommentReview, good_comments_of_post
from ..observability import logger
from ..openai_failures import openai_call_budget
from ..safe_json import StorableStr
from ..tokens import chat_prompt_tokens, count_tokens
from . import model_calendar
from .chat_reply import JudgeModelUnavailable, ask_model
from .classifier import ClassifierModelUnavailable, ask_classifier
from .judges import ActiveJudgeCache
from .promotion import succeed_automatically
from .recipes import JudgeSpec

# Instagram's own limit on a comment's length.
MAX_COMMENT_CHARACTERS = 2_200
# Advisory-lock namespace of fresh judgements; the key comes from the judge and the text's hash.
JUDGEMENT_LOCK_NAMESPACE = 0x6A67  # "jg"

SessionFactory = Callable[[], AbstractContextManager[Session]]
ClientFor = Callable[[str], OpenAI]


class CommentTextMismatch(DomainError):
    """An Instagram comment keeps Instagram's text: another text under its id is refused."""

    status = 409
    code = "comment_text_mismatch"


class CommentPostMismatch(DomainError):
    """A comment stays on the post it was made on."""

    status = 409
    code = "comment_post_mismatch"


def _not_blank(comment: str) -> str:
    if not comment.strip():
        raise ValueError("the comment is empty or only whitespace")
    return comment


class JudgeRequest(BaseModel):
    """The body of ``POST /comments/judge`` and of every message on the judge queue."""

    # Unknown keys are refused (as elsewhere in the API); the comment is kept exactly as sent.
    model_config = ConfigDict(extra="forbid")

    # Storable text is checked here, before OpenAI is paid: a NUL would fail only when stored.
    comment: Annotated[StorableStr, Field(max_length=MAX_COMMENT_CHARACTERS), AfterValidator(_not_blank)]
    instagram_comment_id: Annotated[StorableStr, Field(min_length=1, max_length=100)] | None = None
    post_id: StrictId | None = None


@dataclass(frozen=True)
class Verdict:
    verdict: str
    comment_tokens: int
    prompt_tokens: int
    cached_prompt_tokens: int
    completion_tokens: int
    judge: str
    model: str
    cached: bool
    confidence: float | None
    # Not part of the answer: what evaluations need.
    judgement_id: int = 0
    latency_ms: int | None = None
    # Not part of the answer either: the judge's prices (USD per 1M tokens), for the cost metric.
    prices: dict[str, float] | None = None

    def as_dict(self) -> dict[str, Any]:
        answer = asdict(self)
        del answer["judgement_id"], answer["latency_ms"], answer["prices"]
        return answer


# --- storage --------------------------------------------------------------------------------------


def judgement_lock(judge_id: int, sha: str) -> str:
    """The digest whose advisory lock (namespace :data:`JUDGEMENT_LOCK_NAMESPACE`) guards one judge's
    judgement of one text: whoever holds it is the one paying for that judgement."""
    return text_sha256(f"{judge_id}:{sha}")


def _lock_post(session: Session, post_id: int) -> None:
    """Fail with 404 unless the post exists, and keep it from being deleted until commit.

    ``FOR KEY SHARE`` (``read=True``): without it SQLAlchemy renders ``FOR NO KEY UPDATE``, which
    conflicts with itself and made every comment of one post wait for the previous one's OpenAI call.
    """
    found = session.scalar(
        select(InstagramPost.id).where(InstagramPost.id == post_id).with_for_update(read=True, key_share=True)
    )
    if found is None:
        raise NotFound(f"Instagram post {post_id} does not exist.")


_KNOWN_COMMENT = select(InstagramComment.text_sha256, InstagramComment.post_id).where(
    InstagramComment.instagram_comment_id == bindparam("instagram_comment_id")
)


def _check_known_comment(session: Session, request: JudgeRequest, sha: str) -> None:
    """A comment stored under the request's ``instagram_comment_id`` keeps its text and its post: the
    request must say the same (409 otherwise, before anything is paid or stored)."""
    if request.instagram_comment_id is None:
        return
    known = session.execute(_KNOWN_COMMENT, {"instagram_comment_id": request.instagram_comment_id}).one_or_none()
    if known is None:
        return
    if known.text_sha256 != sha:
        raise CommentTextMismatch(
            f"Instagram comment {request.instagram_comment_id!r} is stored with other words: a comment keeps "
            "Instagram's text. Send its text as stored, or judge the new text without this id."
        )
    if request.post_id is not None and known.post_id is not None and known.post_id != request.post_id:
        raise CommentPostMismatch(
            f"Instagram comment {request.instagram_comment_id!r} belongs to post {known.post_id}, "
            f"not post {request.post_id}."
        )


# Judgements are read as rows (their columns), not as ORM objects: nothing here changes them.
_STORED_JUDGEMENT = select(Judgement.__table__).where(
    Judgement.__table__.c.judge_id == bindparam("judge_id"), Judgement.__table__.c.text_sha256 == bindparam("sha")
)


_INSERT_JUDGEMENT = (
    insert(cast(Table, Judgement.__table__))  # a declarative model's __table__ is its Table
    .on_conflict_do_nothing(constraint="uq_judgements_judge_id_text_sha256")
    .returning(*Judgement.__table__.c)
)


# The stored judgement, or (none stored) an attempt at its lock: the one statement of a cached answer.
_STORED_OR_LOCKED = text(
    f"SELECT {', '.join(f'judgements.{column.name}' for column in Judgement.__table__.c)},"
    " CASE WHEN judgements.id IS NULL THEN pg_try_advisory_xact_lock(:namespace, :key) END AS locked"
    " FROM (VALUES (1)) AS one (x) LEFT JOIN judgements ON judge_id = :judge_id AND text_sha256 = :sha"
).columns(*Judgement.__table__.c, locked=Boolean)


def _stored_judgement(session: Session, judge_id: int, sha: str) -> Row[*tuple[Any, ...]] | None:
    return session.execute(_STORED_JUDGEMENT, {"judge_id": judge_id, "sha": sha}).one_or_none()


def _stored_or_locked(session: Session, judge_id: int, sha: str) -> tuple[Row[*tuple[Any, ...]] | None, bool]:
    """The stored judgement; else None, and whether this transaction now holds the text's lock."""
    row = session.execute(
        _STORED_OR_LOCKED,
        {
            "judge_id": judge_id,
            "sha": sha,
            "namespace": JUDGEMENT_LOCK_NAMESPACE,
            "key": lock_key(judgement_lock(judge_id, sha)),
        },
    ).one()
    return (row, False) if row.id is not None else (None, bool(row.locked))


def _store_judgement(session: Session, judge_id: int, sha: str, values: dict[str, Any]) -> Row[*tuple[Any, ...]]:
    """Insert the judgement, or return the twin stored first (a twin outside the lock's reach)."""
    stored = session.execute(_INSERT_JUDGEMENT, {"judge_id": judge_id, "text_sha256": sha, **values}).one_or_none()
    if stored is None:
        stored = _stored_judgement(session, judge_id, sha)
    if stored is None:  # the twin the insert met went with its judge, deleted meanwhile
        raise NotFound(f"Judge {judge_id} does not exist.")
    return stored


# What is remembered of a judged comment (see :func:`comment_row`).
COMMENT_COLUMNS = ("instagram_comment_id", "post_id", "text", "text_sha256", "judgement_id")


def comment_upsert(rows: list[dict[str, Any]] | Select[*tuple[Any, ...]], *, named: bool) -> Insert:
    """Remember comments (when they can be named again) and point each at its latest judgement.

    ``rows``: dicts of :data:`COMMENT_COLUMNS`, or a SELECT of those columns. ``named``: the rows carry
    an ``instagram_comment_id`` (the comment's identity), else a ``post_id`` (a comment is then known
    by its post and text). One statement may not touch a row twice, so the rows must be distinct by
    that identity.
    """
    statement = insert(
        cast(Table, InstagramComment.__table__)
    )  # Core: a SELECT of rows is not the ORM's to bulk-insert
    statement = statement.values(rows) if isinstance(rows, list) else statement.from_select(COMMENT_COLUMNS, rows)
    if named:
        # A comment keeps its text and its post: only the same text is pointed at the new judgement,
        # and a post is learnt once (another is never taken). Requests over HTTP are refused before
        # this (``_check_known_comment``); here it holds for the queue and for racing twins too.
        return statement.on_conflict_do_update(
            index_elements=[InstagramComment.instagram_comment_id],
            set_={
                "judgement_id": statement.excluded.judgement_id,
                "post_id": func.coalesce(InstagramComment.post_id, statement.excluded.post_id),
                "updated_at": func.now(),
            },
            where=InstagramComment.text_sha256 == statement.excluded.text_sha256,
        )
    return statement.on_conflict_do_update(
        index_elements=[InstagramComment.post_id, InstagramComment.text_sha256],
        index_where=InstagramComment.instagram_comment_id.is_(None),
        set_={"judgement_id": statement.excluded.judgement_id, "updated_at": func.now()},
    )


def comment_row(request: JudgeRequest, sha: str, judgement_id: int) -> dict[str, Any] | None:
    """The comment to remember for a judged request, or None when it cannot be named again."""
    if request.instagram_comment_id is None and request.post_id is None:
        return None
    return {
        "instagram_comment_id": request.instagram_comment_id,
        "post_id": request.post_id,
        "text": request.comment,
        "text_sha256": sha,
        "judgement_id": judgement_id,
    }


def _record_comment(session: Session, request: JudgeRequest, sha: str, judgement_id: int) -> None:
    row = comment_row(request, sha, judgement_id)
    if row is not None:
        session.execute(comment_upsert([row], named=request.instagram_comment_id is not None))


def verdict_of(judgement: Row[*tuple[Any, ...]], spec: JudgeSpec, *, cached: bool) -> Verdict:
    return Verdict(
        verdict=judgement.verdict,
        comment_tokens=judgement.comment_tokens,
        prompt_tokens=judgement.prompt_tokens,
        cached_prompt_tokens=judgement.cached_prompt_tokens,
        completion_tokens=judgement.completion_tokens,
        judge=spec.name,
        model=judgement.model,
        cached=cached,
        confidence=judgement.confidence,
        judgement_id=judgement.id,
        latency_ms=judgement.latency_ms,
        prices=spec.prices,
    )


# --- the service ----------------------------------------------------------------------------------


def ask_classifier_judge(spec: JudgeSpec, texts: list[str], client: OpenAI) -> dict[str, dict[str, Any]]:
    """A ``classifier`` judge's judgements of ``texts``: one embeddings call for them all."""
    try:
        return ask_classifier(spec, texts, client)
    except ClassifierModelUnavailable:
        raise JudgeModelUnavailable(
            f"The judge's embedding model {spec.model!r} is not available at the provider (retired?): "
            "activate another judge, or set JUDGE_FALLBACK."
        ) from None


def ask_judge(spec: JudgeSpec, comment: str, client: OpenAI) -> dict[str, Any]:
    """Ask the judge's model; the values of the judgement to store."""
    if spec.style == "classifier":
        return ask_classifier_judge(spec, [comment], client)[comment]
    chat = spec.chat_request(comment)
    comment_tokens = count_tokens(comment)
    started = time.perf_counter()
    reply = ask_model(client, chat, structured=spec.output == "structured")
    latency_ms = round((time.perf_counter() - started) * 1000)
    prompt_tokens = reply.billed_prompt_tokens
    if spec.style == "fine_tuned":
        # Known before the call; OpenAI's bill is expected to agree.
        computed = chat_prompt_tokens(chat["messages"])
        if prompt_tokens is not None and prompt_tokens != computed:
            logger.warning(
                "prompt token count differs from OpenAI's",
                extra={"computed": computed, "billed": prompt_tokens, "model": spec.model},
            )
        prompt_tokens = computed
    elif prompt_tokens is None:
        prompt_tokens = chat_prompt_tokens(chat["messages"])
    return {
        "model": spec.model,
        "verdict": reply.verdict,
        "confidence": reply.confidence,
        "comment_tokens": comment_tokens,
        "prompt_tokens": prompt_tokens,
        "cached_prompt_tokens": min(reply.cached_prompt_tokens, prompt_tokens),
        "completion_tokens": reply.completion_tokens,
        "latency_ms": latency_ms,
    }


def stored_verdict(session: Session, spec: JudgeSpec, comment: str) -> Verdict | None:
    """The judge's answer for this text when it judged it before (no call, no lock)."""
    stored = _stored_judgement(session, spec.id, text_sha256(comment))
    return verdict_of(stored, spec, cached=True) if stored is not None else None


def judge_with(
    spec: JudgeSpec,
    comment: str,
    *,
    client_for: ClientFor,
    settings: Settings,
    sessions: SessionFactory = session_scope,
    request: JudgeRequest | None = None,
    then: Callable[[Session, Verdict], None] | None = None,
) -> Verdict:
    """Judge ``comment`` with one judge: from the database when it judged this text before, else by
    its model, in one transaction that holds the (judge, text) lock while the model answers.
    ``then`` runs in that same transaction with the verdict (an evaluation records its item there)."""
    try:
        return _judge_with(
            spec, comment, client_for=client_for, settings=settings, sessions=sessions, request=request, then=then
        )
    except JudgeModelUnavailable:
        with sessions() as session:
            model_calendar.mark_shut_down(session, spec.id)
        raise


def _judge_with(
    spec: JudgeSpec,
    comment: str,
    *,
    client_for: ClientFor,
    settings: Settings,
    sessions: SessionFactory,
    request: JudgeRequest | None,
    then: Callable[[Session, Verdict], None] | None,
) -> Verdict:
    sha = text_sha256(comment)
    with sessions() as session:
        if request is not None and request.post_id is not None:
            _lock_post(session, request.post_id)
        if request is not None:
            _check_known_comment(session, request, sha)
        stored, locked = _stored_or_locked(session, spec.id, sha)
        if stored is None:
            if not locked:  # a twin is paying for this text: wait for it
                hold_advisory_lock(
                    session,
                    JUDGEMENT_LOCK_NAMESPACE,
                    judgement_lock(spec.id, sha),
                    wait_seconds=openai_call_budget(settings),
                    what="comment",
                )
            # Read again once the lock is ours: a twin may have committed after the first read's snapshot.
            stored = _stored_judgement(session, spec.id, sha)
        if stored is not None:
            judgement, cached = stored, True
        else:
            try:
                client = client_for(spec.endpoint)
            except ConfigurationError as error:
                raise ServiceUnavailable(str(error)) from None
            judgement, cached = _store_judgement(session, spec.id, sha, ask_judge(spec, comment, client)), False
        if request is not None:
            _record_comment(session, request, sha, judgement.id)
        verdict = verdict_of(judgement, spec, cached=cached)
        if then is not None:
            then(session, verdict)
        return verdict


# How many judges may take over, one after another, for one comment (each found shut down in turn).
MAX_SUCCESSIONS = 3


def judge_comment(
    request: JudgeRequest,
    *,
    client_for: ClientFor,
    judges: ActiveJudgeCache,
    settings: Settings | None = None,
    sessions: SessionFactory = session_scope,
) -> Verdict:
    """Judge one comment with the active judge (or ``JUDGE_MODEL``'s); when that judge's model is
    gone, with the fallback judge or the active judge's automatic successor (:func:`replacement_for`)."""
    settings = settings or get_settings()
    with sessions() as session:
        spec = judges.active(session, settings)
    for _ in range(MAX_SUCCESSIONS):
        try:
            return judge_with(
                spec, request.comment, client_for=client_for, settings=settings, sessions=sessions, request=request
            )
        except JudgeModelUnavailable:
            replacement = replacement_for(spec, judges=judges, settings=settings, sessions=sessions)
            if replacement is None:
                raise
            spec = replacement
    return judge_with(
        spec, request.comment, client_for=client_for, settings=settings, sessions=sessions, request=request
    )


def replacement_for(
    spec: JudgeSpec, *, judges: ActiveJudgeCache, settings: Settings, sessions: SessionFactory
) -> JudgeSpec | None:
    """Who answers instead of ``spec``, whose model the provider no longer serves: the fallback judge
    (``JUDGE_FALLBACK`` still wins), else the best evaluated candidate, made active by itself. None:
    nobody (503; the days-left metric reads 0 so the alarm fires)."""
    with sessions() as session:
        fallback = judges.fallback(session, settings)
    if fallback is not None and fallback.id != spec.id:
        logger.warning(
            "judge model unavailable; the fallback judge answers", extra={"judge": spec.name, "fallback": fallback.name}
        )
        return fallback
    if settings.judge_model:  # an override, not the active judge: nothing to succeed
        return None
    with sessions() as session:
        successor = succeed_automatically(session, spec.id, settings)
        if successor is None:
            model_calendar.report_days_left(0)
            return None
        replacement = judges.by_id(session, successor.id)
    judges.forget_active()
    logger.warning(
        "judge model unavailable; a successor took over", extra={"judge": spec.name, "successor": replacement.name}
    )
    return replacement


def good_comments(session: Session, post_id: int, limit: int) -> list[dict[str, Any]]:
    """The post's comments labelled ``good`` (a reviewer's label, else the latest verdict): those a
    reviewer marked good first, then the most confident. ``reviewed`` says whether a person labelled it."""
    if session.get(InstagramPost, post_id) is None:
        raise NotFound(f"Instagram post {post_id} does not exist.")
    rows = session.execute(
        good_comments_of_post(select(InstagramComment, Judgement, CommentReview.id.is_not(None)), post_id).limit(limit)
    )
    return [
        {
            "id": comment.id,
            "instagram_comment_id": comment.instagram_comment_id,
            "comment": comment.text,
            "confidence": judgement.confidence if judgement is not None else None,
            "judge_id": judgement.judge_id if judgement is not None else None,
            "model": judgement.model if judgement is not None else None,
            "judged_at": judgement.created_at.isoformat() if judgement is not None else None,
            "reviewed": reviewed,
        }
        for comment, judgement, reviewed in rows
    ]
