"""A batch of queued comments judged with the database work done once for the batch, not per record.

Judged one by one, every record paid a transaction of its own (7 to 9 statements, one database
connection held across its OpenAI call). A batch pays a handful of statements on two connections:

1. The posts the records name, in one statement: a record naming a post that does not exist fails
   alone, before OpenAI is paid for it.
2. Every distinct text is locked for this transaction, in one statement (``pg_try_advisory_xact_lock``
   on the same (judge, text) key a single judgement takes, so requests over HTTP, evaluations and
   other invocations meet these at the lock), and then the judgements already stored are read, in one
   statement. Stored texts are answered unpaid.
3. The texts left that this transaction locked are sent to OpenAI, each once however many records
   carry it, at most ``JUDGE_CONCURRENCY`` at once. Answers are stored as they arrive (whatever
   arrived meanwhile in one statement and a transaction of its own), so a paid answer is recorded
   at once, even if the invocation then runs out of time; a store that fails is tried again with the
   next answers and once more at the end, so a passing fault costs no second payment; the locks are
   released when every answer is stored. A text whose lock another request or invocation holds is
   judged after that, the way a single request is (:func:`.judge.judge_with`): it waits at the
   lock, then finds the holder's answer (or pays, if the holder failed). Nothing waits while holding
   a lock another waits for, so two batches with texts in common cannot deadlock.
4. The comments that can be named again are recorded in one more transaction: their posts held
   ``FOR KEY SHARE`` and one upsert. It is separate so that a failure there costs no paid judgement.

Every record's outcome is its verdict or the error that fails it alone: an unusable reply, a refused
call, a missing post. SQS then retries exactly those records, and whatever was stored before is
answered from the database, unpaid. A judge whose model is gone hands its texts to ``JUDGE_FALLBACK``.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Any

from openai import OpenAI
from sqlalchemy import String, Table, bindparam, cast, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY, BIGINT, insert
from sqlalchemy.sql.selectable import TableValuedAlias

from ..advisory_lock import lock_key
from ..config import ConfigurationError, Settings
from ..db import session_scope
from ..errors import NotFound, ServiceUnavailable
from ..hashing import text_sha256
from ..models import InstagramPost
from ..models.judging import InstagramComment, Judgement
from ..observability import logger
from . import model_calendar
from .chat_reply import JudgeModelUnavailable
from .judge import (
    COMMENT_COLUMNS,
    JUDGEMENT_LOCK_NAMESPACE,
    MAX_SUCCESSIONS,
    ClientFor,
    JudgeRequest,
    SessionFactory,
    Verdict,
    ask_classifier_judge,
    ask_judge,
    comment_row,
    comment_upsert,
    judge_with,
    judgement_lock,
    replacement_for,
    verdict_of,
)
from .judges import ActiveJudgeCache
from .recipes import JudgeSpec

# An outcome per record: its verdict, or the exception that fails it.
Outcome = Verdict | Exception

# A declarative model's __table__ is its Table (SQLAlchemy types it as any FromClause).
_JUDGEMENTS = typing.cast(Table, Judgement.__table__)
_ANSWER_COLUMNS = (
    "text_sha256",
    "model",
    "verdict",
    "confidence",
    "comment_tokens",
    "prompt_tokens",
    "cached_prompt_tokens",
    "completion_tokens",
    "latency_ms",
)


def _unnested(table: Table, names: tuple[str, ...]) -> TableValuedAlias:
    """Rows of ``table``'s columns ``names``, from one array parameter per column (named after it):
    a statement whose text, compiled once, is the same for any number of rows."""
    arrays = (cast(bindparam(name), ARRAY(table.c[name].type)) for name in names)
    return func.unnest(*arrays).table_valued(*names).render_derived()


_TRY_LOCKS = text(
    "SELECT t.key, pg_try_advisory_xact_lock(:namespace, t.key) AS locked "
    "FROM unnest(CAST(:keys AS integer[])) AS t(key)"
)
_STORED = select(_JUDGEMENTS).where(
    _JUDGEMENTS.c.judge_id == bindparam("judge_id"),
    _JUDGEMENTS.c.text_sha256 == bindparam("shas", type_=ARRAY(String)).any_(),
)
_POSTS = select(InstagramPost.id).where(InstagramPost.id == bindparam("ids", type_=ARRAY(BIGINT)).any_())
_STORE = (
    insert(_JUDGEMENTS)
    .from_select(
        ("judge_id", *_ANSWER_COLUMNS),
        select(bindparam("judge_id", type_=BIGINT), *_unnested(_JUDGEMENTS, _ANSWER_COLUMNS).c),
    )
    .on_conflict_do_nothing(constraint="uq_judgements_judge_id_text_sha256")
    .returning(*_JUDGEMENTS.c)
)
_COMMENTS = typing.cast(Table, InstagramComment.__table__)
_RECORD_NAMED = comment_upsert(select(*_unnested(_COMMENTS, COMMENT_COLUMNS).c), named=True)
_RECORD_UNNAMED = comment_upsert(select(*_unnested(_COMMENTS, COMMENT_COLUMNS).c), named=False)


def judge_requests(
    requests: dict[str, JudgeRequest],
    *,
    client_for: ClientFor,
    judges: ActiveJudgeCache,
    settings: Settings,
    sessions: SessionFactory = session_scope,
) -> dict[str, Outcome]:
    """Judge every request (keyed by its message id) with the active judge; an outcome for each key."""
    outcomes: dict[str, Outcome] = {}
    with sessions() as session:
        spec = judges.active(session, settings)
        named_posts = {request.post_id for request in requests.values() if request.post_id is not None}
        posts = set(session.scalars(_POSTS, {"ids": sorted(named_posts)})) if named_posts else set()
    waiting: dict[str, JudgeRequest] = {}
    for key, request in requests.items():
        if request.post_id is not None and request.post_id not in posts:
            outcomes[key] = NotFound(f"Instagram post {request.post_id} does not exist.")
        else:
            waiting[key] = request

    texts = list(dict.fromkeys(request.comment for request in waiting.values()))  # each once, in the batch's order
    by_text = _judge_texts(spec, texts, client_for, settings, sessions)
    unavailable = {comment for comment, outcome in by_text.items() if isinstance(outcome, JudgeModelUnavailable)}
    for _ in range(MAX_SUCCESSIONS):
        if not unavailable:
            break
        with sessions() as session:
            model_calendar.mark_shut_down(session, spec.id)
        replacement = replacement_for(spec, judges=judges, settings=settings, sessions=sessions)
        if replacement is None:
            break
        spec = replacement
        by_text.update(_judge_texts(spec, unavailable, client_for, settings, sessions))
        unavailable = {comment for comment in unavailable if isinstance(by_text[comment], JudgeModelUnavailable)}

    answered: set[str] = set()
    for key, request in waiting.items():
        outcome = by_text[request.comment]
        if isinstance(outcome, Verdict):
            # The first record of a text carries the judgement as it was made; its twins were answered by it.
            if request.comment in answered and not outcome.cached:
                outcome = dataclasses.replace(outcome, cached=True)
            answered.add(request.comment)
        outcomes[key] = outcome
    outcomes.update(_record_comments(waiting, outcomes, sessions))
    return outcomes


def _judge_texts(
    spec: JudgeSpec, texts: Iterable[str], client_for: ClientFor, settings: Settings, sessions: SessionFactory
) -> dict[str, Outcome]:
    """One judge's verdict (or failure) for each distinct text: stored, paid while this transaction
    holds its lock, or judged after the request or invocation that holds its lock."""
    shas = {comment: text_sha256(comment) for comment in texts}
    if not shas:
        return {}
    keys = {comment: lock_key(judgement_lock(spec.id, sha)) for comment, sha in shas.items()}
    outcomes: dict[str, Outcome] = {}
    held_elsewhere: list[str] = []
    try:
        # The lock transaction: it only holds the locks (and reads), so it stays open, idle, while the
        # texts are paid for; their answers are stored by transactions of their own as they arrive.
        with sessions() as session:
            arguments = {"namespace": JUDGEMENT_LOCK_NAMESPACE, "keys": sorted(set(keys.values()))}
            locked = {row.key for row in session.execute(_TRY_LOCKS, arguments) if row.locked}
            stored = {
                row.text_sha256: row
                for row in session.execute(_STORED, {"judge_id": spec.id, "shas": sorted(set(shas.values()))})
            }
            to_pay = []
            for comment, sha in shas.items():
                if sha in stored:
                    outcomes[comment] = verdict_of(stored[sha], spec, cached=True)
                elif keys[comment] in locked:
                    to_pay.append(comment)
                else:
                    held_elsewhere.append(comment)
            if to_pay:
                outcomes.update(_pay(spec, to_pay, shas, client_for, settings, sessions))
    except Exception as error:  # a verdict already made stands; every other text of the batch fails
        logger.exception("judging a batch failed", extra={"judge": spec.name, "texts": len(shas)})
        return {comment: outcomes[comment] if isinstance(outcomes.get(comment), Verdict) else error for comment in shas}
    for answers in _as_answered(
        held_elsewhere,
        settings,
        lambda comment: judge_with(spec, comment, client_for=client_for, settings=settings, sessions=sessions),
    ):
        outcomes.update(answers)
    return outcomes


def _pay(
    spec: JudgeSpec,
    texts: list[str],
    shas: dict[str, str],
    client_for: ClientFor,
    settings: Settings,
    sessions: SessionFactory,
) -> dict[str, Outcome]:
    """Ask the judge's model about each text (bounded concurrency); store the answers as they arrive,
    whatever has arrived meanwhile in one statement, so an answer paid for is recorded right away."""
    try:
        client = client_for(spec.endpoint)
    except ConfigurationError as error:
        return {comment: ServiceUnavailable(str(error)) for comment in texts}
    outcomes: dict[str, Outcome] = {}
    # Paid for, not stored yet: a store that fails (a dropped connection, a failover) is tried again
    # with the next answers, and once more at the end, before the records fail and a retry pays again.
    unstored: dict[str, dict[str, Any]] = {}

    def store() -> None:
        try:
            outcomes.update(_store(spec, unstored, shas, sessions))
            unstored.clear()
        except Exception as error:
            logger.exception("storing paid judgements failed", extra={"judge": spec.name, "texts": len(unstored)})
            outcomes.update(dict.fromkeys(unstored, error))

    for answers in _answers(spec, texts, client, settings):
        outcomes.update({comment: answer for comment, answer in answers.items() if isinstance(answer, Exception)})
        unstored.update({comment: answer for comment, answer in answers.items() if isinstance(answer, dict)})
        if unstored:
            store()
    if unstored:
        store()
    return outcomes


def _answers(spec: JudgeSpec, texts: list[str], client: OpenAI, settings: Settings) -> Iterator[dict[str, Any]]:
    """The judge's answers for ``texts`` as they arrive: a ``classifier`` embeds them all in one call
    (a failure is every text's); another judge asks its model about each text."""
    if spec.style == "classifier":
        try:
            yield ask_classifier_judge(spec, texts, client)
        except Exception as error:
            yield dict.fromkeys(texts, error)
        return
    yield from _as_answered(texts, settings, lambda comment: ask_judge(spec, comment, client))


def _store(
    spec: JudgeSpec, paid: dict[str, dict[str, Any]], shas: dict[str, str], sessions: SessionFactory
) -> dict[str, Outcome]:
    answers = [{"text_sha256": shas[comment], **answer} for comment, answer in paid.items()]
    with sessions() as session:
        inserted = {
            row.text_sha256: row
            for row in session.execute(_STORE, {"judge_id": spec.id, **_columns(answers, _ANSWER_COLUMNS)})
        }
        if len(inserted) < len(answers):  # a twin stored outside the lock's reach: it answers
            missing = sorted({shas[comment] for comment in paid} - set(inserted))
            inserted.update(
                {row.text_sha256: row for row in session.execute(_STORED, {"judge_id": spec.id, "shas": missing})}
            )
    return {comment: verdict_of(inserted[shas[comment]], spec, cached=False) for comment in paid}


def _as_answered(texts: list[str], settings: Settings, work: Callable[[str], Any]) -> Iterator[dict[str, Any]]:
    """``work`` for each text, at most ``JUDGE_CONCURRENCY`` at once, yielding the outcomes (a text's
    exception is its outcome) of whatever finished since the last yield."""

    def attempt(comment: str) -> Any:
        try:
            return work(comment)
        except Exception as error:
            return error

    if not texts:
        return
    workers = max(1, min(settings.judge_concurrency, len(texts)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="judge") as pool:
        pending = {pool.submit(attempt, comment): comment for comment in texts}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            yield {pending.pop(future): future.result() for future in done}


def _record_comments(
    requests: dict[str, JudgeRequest], outcomes: dict[str, Outcome], sessions: SessionFactory
) -> dict[str, Outcome]:
    """Remember the judged comments that can be named again, in one transaction: the outcomes that change
    (a post deleted meanwhile is a 404; a failed transaction fails every record it carried)."""
    rows: dict[str, dict[str, Any]] = {}
    for key, request in requests.items():
        outcome = outcomes[key]
        if isinstance(outcome, Verdict):
            row = comment_row(request, text_sha256(request.comment), outcome.judgement_id)
            if row is not None:
                rows[key] = row
    if not rows:
        return {}
    changed: dict[str, Outcome] = {}
    try:
        with sessions() as session:
            named_posts = sorted({row["post_id"] for row in rows.values() if row["post_id"] is not None})
            held = (
                set(session.scalars(_POSTS.with_for_update(read=True, key_share=True), {"ids": named_posts}))
                if named_posts
                else set()
            )
            for key, row in list(rows.items()):
                if row["post_id"] is not None and row["post_id"] not in held:
                    changed[key] = NotFound(f"Instagram post {row['post_id']} does not exist.")
                    del rows[key]
            # One statement may touch a comment once: the batch's last word on each comment stands.
            named = {
                row["instagram_comment_id"]: row for row in rows.values() if row["instagram_comment_id"] is not None
            }
            unnamed = {
                (row["post_id"], row["text_sha256"]): row
                for row in rows.values()
                if row["instagram_comment_id"] is None
            }
            if named:
                session.execute(_RECORD_NAMED, _columns(named.values(), COMMENT_COLUMNS))
            if unnamed:
                session.execute(_RECORD_UNNAMED, _columns(unnamed.values(), COMMENT_COLUMNS))
    except Exception as error:
        logger.exception("recording a batch's comments failed", extra={"comments": len(rows)})
        return {**{key: error for key in rows}, **changed}
    return changed


def _columns(rows: Iterable[dict[str, Any]], names: tuple[str, ...]) -> dict[str, list[Any]]:
    """The parameters of an :func:`_unnested` statement: one list per column."""
    rows = list(rows)
    return {name: [row[name] for row in rows] for name in names}
