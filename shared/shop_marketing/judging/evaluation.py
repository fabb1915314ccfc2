"""Evaluations: a judge measured on a golden set, in the background, resumable, never paying twice.

- Starting one writes an item per scored example (``pending``: an example in no training file, one
  uploaded before the golden set or since) and queues one message per item after the commit (no
  example left to score: it fails at once, saying why). An unfinished evaluation of the same judge
  and set is resumed instead: its pending items are queued again (none pending: it is finished now).
- The queue consumer judges an item through the judge's own path (:func:`.judge.judge_with`), so a
  text this judge already judged is answered from the database, unpaid, and twins meet at the lock.
  A failure worth retrying (outage, rate limit, timeout) fails the record so the queue redelivers it;
  after ``EVALUATION_MAX_ATTEMPTS`` deliveries, or at once for an answer that cannot improve (an
  unexpected label, a refused request, a retired model), the item counts in ``errors`` — not as a
  wrong answer.
- When no item is pending the evaluation is finished under a row lock (once): metrics for ``good``
  as the positive class, the confusion matrix, cost per 1,000 comments from the judgements' billed
  tokens and the judge's prices, latency percentiles. An evaluation a finished fine-tuning job
  started then promotes its judge by the rule.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Annotated, Any, cast

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from ..config import Settings
from ..errors import DomainError, NotFound
from ..models import (
    MAX_ID,
    Evaluation,
    EvaluationItem,
    GoldenExample,
    GoldenSet,
    Judge,
    Judgement,
    TrainingExample,
)
from ..observability import logger
from . import evaluation_queue, model_calendar
from .chat_reply import JudgeModelUnavailable
from .judge import ClientFor, Verdict, judge_with, stored_verdict
from .judges import ActiveJudgeCache, fine_tuned_judge_for_model, get_judge
from .promotion import activate_unevaluated, current_golden_set, promote_if_it_passes

SessionFactory = Callable[[], AbstractContextManager[Session]]
# Statuses of a failure that may pass: the record is delivered again.
RETRYABLE_STATUSES = frozenset({409, 503, 504})


class EvaluationNotFound(NotFound):
    code = "evaluation_not_found"


class GoldenSetNotFound(NotFound):
    code = "golden_set_not_found"


class GoldenSetRequired(DomainError):
    status = 409
    code = "golden_set_required"


class NewEvaluation(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    judge_id: Annotated[int, Field(ge=1, le=MAX_ID)]
    golden_set_id: Annotated[int, Field(ge=1, le=MAX_ID)] | None = None


class EvaluationMessage(BaseModel):
    """One message on the evaluations queue: one example of one evaluation."""

    model_config = ConfigDict(extra="forbid")

    evaluation_id: Annotated[int, Field(ge=1, le=MAX_ID)]
    golden_example_id: Annotated[int, Field(ge=1, le=MAX_ID)]


# --- starting -------------------------------------------------------------------------------------


def _messages(evaluation_id: int, example_ids: list[int]) -> list[dict[str, int]]:
    return [{"evaluation_id": evaluation_id, "golden_example_id": example_id} for example_id in example_ids]


def start_evaluation(
    session: Session, judge_id: int, golden_set_id: int | None, settings: Settings, *, promote_when_done: bool = False
) -> tuple[Evaluation, bool]:
    """The evaluation of the judge on the set (default: the current one); ``True`` when made now."""
    get_judge(session, judge_id)
    if golden_set_id is None:
        golden = current_golden_set(session)
        if golden is None:
            raise GoldenSetRequired("There is no golden set yet: POST /golden-sets first.")
    else:
        golden = session.get(GoldenSet, golden_set_id)
        if golden is None:
            raise GoldenSetNotFound(f"Golden set {golden_set_id} does not exist.")
    evaluation_queue.require_queue(settings)
    unfinished = session.scalar(
        select(Evaluation)
        .where(
            Evaluation.judge_id == judge_id,
            Evaluation.golden_set_id == golden.id,
            Evaluation.status.in_(("queued", "running")),
        )
        .order_by(Evaluation.id.desc())
        .limit(1)
        .with_for_update()
    )
    if unfinished is not None:
        pending = list(
            session.scalars(
                select(EvaluationItem.golden_example_id).where(
                    EvaluationItem.evaluation_id == unfinished.id, EvaluationItem.status == "pending"
                )
            )
        )
        if not pending:  # every example recorded, but the finishing step never ran: finish it now
            finish_if_done(session, unfinished.id, settings)
            return unfinished, False
        evaluation_queue.send_after_commit(session, _messages(unfinished.id, pending), settings)
        logger.info("evaluation resumed", extra={"evaluation_id": unfinished.id, "pending": len(pending)})
        return unfinished, False
    # Left out of scoring: examples in training data, whether uploaded before the golden set or since.
    in_training = select(TrainingExample.id).where(TrainingExample.text_sha256 == GoldenExample.text_sha256).exists()
    example_ids = list(
        session.scalars(
            select(GoldenExample.id)
            .where(
                GoldenExample.golden_set_id == golden.id,
                GoldenExample.overlaps_training.is_(False),
                ~in_training,
            )
            .order_by(GoldenExample.line)
        )
    )
    evaluation = Evaluation(
        judge_id=judge_id,
        golden_set_id=golden.id,
        status="queued",
        total=len(example_ids),
        promote_when_done=promote_when_done,
    )
    session.add(evaluation)
    session.flush()
    if not example_ids:  # nothing will ever be judged: finished at once rather than queued for good
        evaluation.status, evaluation.finished_at = "failed", datetime.now(UTC)
        evaluation.outcome = (
            f"nothing to score: every example of golden set {golden.id} is in a training file (left out of scoring)"
        )
        logger.info("evaluation has nothing to score", extra={"evaluation_id": evaluation.id})
        return evaluation, True
    session.add_all(
        EvaluationItem(evaluation_id=evaluation.id, golden_example_id=example_id) for example_id in example_ids
    )
    session.flush()
    evaluation_queue.send_after_commit(session, _messages(evaluation.id, example_ids), settings)
    logger.info(
        "evaluation queued", extra={"evaluation_id": evaluation.id, "judge_id": judge_id, "total": len(example_ids)}
    )
    return evaluation, True


def adopt_fine_tuned_model(
    session: Session, model: str, job_id: str, settings: Settings, *, endpoint: str = "openai", client: Any = None
) -> Judge:
    """What a finished fine-tuning job does (docs/training.md "Fine-tuning the judge"): its model becomes a
    ``fine_tuned`` judge, once; with a current golden set it is evaluated and promoted by the rule, else made
    active at once.
    With the endpoint's ``client``, the new judge's model calendar is read at once too."""
    judge = fine_tuned_judge_for_model(session, model, job_id=job_id, endpoint=endpoint)
    if judge.source_job_id is None:
        judge.source_job_id = job_id
    if client is not None:
        try:
            model_calendar.apply(judge, model_calendar.look_up(client, model), settings)
        except DomainError as error:  # the provider down: the daily refresh reads it later
            logger.warning(
                "finished job's model calendar not read", extra={"judge_id": judge.id, "error": error.message}
            )
    golden = current_golden_set(session)
    if golden is None:
        activate_unevaluated(session, judge, f"fine-tuning job {job_id} succeeded; no golden set to evaluate it on")
        return judge
    try:
        start_evaluation(session, judge.id, golden.id, settings, promote_when_done=True)
    except DomainError as error:  # no queue configured: the judge stays a candidate until evaluated
        logger.warning("finished job's judge not evaluated", extra={"judge_id": judge.id, "error": error.message})
    return judge


# --- judging one item (the queue consumer) --------------------------------------------------------


def evaluate_item(
    message: EvaluationMessage,
    *,
    receive_count: int,
    settings: Settings,
    client_for: ClientFor,
    specs: ActiveJudgeCache,
    sessions: SessionFactory,
) -> str:
    """Judge one example of an evaluation; what happened, in a word. Raises to have it redelivered.

    A text the judge judged before is recorded in the same transaction that finds it (the common
    case of a second evaluation): one transaction, four statements, no call.
    """
    with sessions() as session:
        row = session.execute(
            select(
                EvaluationItem.status,
                GoldenExample.text,
                Evaluation.judge_id,
                Evaluation.status.label("evaluation_status"),
            )
            .join(GoldenExample, GoldenExample.id == EvaluationItem.golden_example_id)
            .join(Evaluation, Evaluation.id == EvaluationItem.evaluation_id)
            .where(
                EvaluationItem.evaluation_id == message.evaluation_id,
                EvaluationItem.golden_example_id == message.golden_example_id,
            )
        ).one_or_none()
        if row is None:
            return "gone"  # the evaluation (or its judge or set) was deleted
        if row.status != "pending":
            return "done"  # delivered again after it was recorded
        spec = specs.by_id(session, row.judge_id)
        if row.evaluation_status == "queued":
            session.execute(
                update(Evaluation)
                .where(Evaluation.id == message.evaluation_id, Evaluation.status == "queued")
                .values(status="running")
            )
        known = stored_verdict(session, spec, row.text)
        if known is not None:
            _record(
                session, message, status="judged", verdict=known.verdict, judgement_id=known.judgement_id, paid=False
            )
            return "cached"

    def record_verdict(session: Session, verdict: Verdict) -> None:
        # In the judgement's own transaction: the paid answer and its item are committed together.
        _record(
            session,
            message,
            status="judged",
            verdict=verdict.verdict,
            judgement_id=verdict.judgement_id,
            paid=not verdict.cached,
        )

    try:
        verdict = judge_with(
            spec, row.text, client_for=client_for, settings=settings, sessions=sessions, then=record_verdict
        )
    except DomainError as error:
        retryable = error.status in RETRYABLE_STATUSES and not isinstance(error, JudgeModelUnavailable)
        if retryable and receive_count < settings.evaluation_max_attempts:
            raise
        with sessions() as session:
            _record(session, message, status="error", error_code=error.code)
        return "error"
    return "cached" if verdict.cached else "judged"


def _record(session: Session, message: EvaluationMessage, *, status: str, **values: Any) -> None:
    """Mark the item done and count it, once (a redelivered record finds it done and changes nothing)."""
    result = session.execute(
        update(EvaluationItem)
        .where(
            EvaluationItem.evaluation_id == message.evaluation_id,
            EvaluationItem.golden_example_id == message.golden_example_id,
            EvaluationItem.status == "pending",
        )
        .values(status=status, **values)
    )
    changed = cast(CursorResult[Any], result).rowcount  # an UPDATE's result is a CursorResult
    if changed:
        counters = {"errors": Evaluation.errors + 1} if status == "error" else {"judged": Evaluation.judged + 1}
        if values.get("paid"):
            counters["paid_calls"] = Evaluation.paid_calls + 1
        session.execute(update(Evaluation).where(Evaluation.id == message.evaluation_id).values(**counters))


# --- finishing ------------------------------------------------------------------------------------


def finish_if_done(session: Session, evaluation_id: int, settings: Settings) -> bool:
    """Compute the figures once no item is pending (once: under the evaluation's row lock)."""
    evaluation = session.scalar(
        select(Evaluation)
        .where(Evaluation.id == evaluation_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if evaluation is None or evaluation.status not in ("queued", "running"):
        return False
    pending = session.scalar(
        select(func.count()).where(EvaluationItem.evaluation_id == evaluation_id, EvaluationItem.status == "pending")
    )
    if pending:
        return False
    judge = session.get(Judge, evaluation.judge_id)
    rows = session.execute(
        select(
            EvaluationItem.verdict,
            GoldenExample.label,
            Judgement.prompt_tokens,
            Judgement.cached_prompt_tokens,
            Judgement.completion_tokens,
            Judgement.latency_ms,
        )
        .join(GoldenExample, GoldenExample.id == EvaluationItem.golden_example_id)
        .outerjoin(Judgement, Judgement.id == EvaluationItem.judgement_id)
        .where(EvaluationItem.evaluation_id == evaluation_id, EvaluationItem.status == "judged")
    ).all()
    evaluation.metrics = metrics([(row.label, row.verdict) for row in rows]) if rows else None
    evaluation.cost = cost(rows, judge.prices if judge else None)
    evaluation.latency_ms = latency([row.latency_ms for row in rows if row.latency_ms is not None])
    evaluation.status = "succeeded" if rows else "failed"
    evaluation.finished_at = datetime.now(UTC)
    if evaluation.status == "succeeded" and evaluation.promote_when_done and judge is not None:
        session.flush()
        evaluation.outcome = promote_if_it_passes(session, judge, evaluation, settings)
    logger.info(
        "evaluation finished",
        extra={"evaluation_id": evaluation_id, "status": evaluation.status, "outcome": evaluation.outcome},
    )
    return True


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def metrics(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Accuracy, precision/recall/F1 for ``good`` (the positive class) and the confusion matrix,
    from (right answer, verdict) pairs."""
    tp = sum(1 for label, verdict in pairs if label == "good" and verdict == "good")
    fp = sum(1 for label, verdict in pairs if label == "bad" and verdict == "good")
    fn = sum(1 for label, verdict in pairs if label == "good" and verdict == "bad")
    tn = sum(1 for label, verdict in pairs if label == "bad" and verdict == "bad")
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    return {
        "accuracy": _ratio(tp + tn, len(pairs)),
        "precision_good": precision,
        "recall_good": recall,
        "f1_good": _ratio(2 * precision * recall, precision + recall) if precision + recall else 0.0,
        "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
    }


def cost(rows: Sequence[Any], prices: dict[str, float] | None) -> dict[str, Any]:
    """What judging these comments costs: the billed tokens of their judgements (whether this run
    paid for them or found them in the database) and, with prices, USD per 1,000 comments."""
    prompt = sum(row.prompt_tokens or 0 for row in rows)
    cached = sum(row.cached_prompt_tokens or 0 for row in rows)
    completion = sum(row.completion_tokens or 0 for row in rows)
    usd = None
    if prices and rows:
        total = (
            (prompt - cached) * prices["input"]
            + cached * prices.get("cached_input", prices["input"])
            + completion * prices["output"]
        ) / 1_000_000
        usd = round(total / len(rows) * 1000, 6)
    return {
        "prompt_tokens": prompt,
        "cached_prompt_tokens": cached,
        "completion_tokens": completion,
        "usd_per_1000_comments": usd,
    }


def latency(values: list[int]) -> dict[str, int | None]:
    """Nearest-rank percentiles of the model calls' latency."""
    if not values:
        return {"p50": None, "p95": None}
    ordered = sorted(values)

    def rank(q: float) -> int:
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    return {"p50": rank(0.50), "p95": rank(0.95)}


# --- views ----------------------------------------------------------------------------------------


def get_evaluation(session: Session, evaluation_id: int) -> Evaluation:
    evaluation = session.get(Evaluation, evaluation_id)
    if evaluation is None:
        raise EvaluationNotFound(f"Evaluation {evaluation_id} does not exist.")
    return evaluation


def evaluation_view(evaluation: Evaluation) -> dict[str, Any]:
    return {
        "id": evaluation.id,
        "judge_id": evaluation.judge_id,
        "golden_set_id": evaluation.golden_set_id,
        "status": evaluation.status,
        "total": evaluation.total,
        "judged": evaluation.judged,
        "errors": evaluation.errors,
        "paid_calls": evaluation.paid_calls,
        "metrics": evaluation.metrics,
        "cost": evaluation.cost,
        "latency_ms": evaluation.latency_ms,
        "outcome": evaluation.outcome,
        "created_at": evaluation.created_at.isoformat() if evaluation.created_at else None,
        "finished_at": evaluation.finished_at.isoformat() if evaluation.finished_at else None,
    }


def list_evaluations(session: Session, judge_id: int | None, limit: int = 100) -> list[dict[str, Any]]:
    query = select(Evaluation).order_by(Evaluation.id.desc()).limit(limit)
    if judge_id is not None:
        query = query.where(Evaluation.judge_id == judge_id)
    return [evaluation_view(evaluation) for evaluation in session.scalars(query)]
