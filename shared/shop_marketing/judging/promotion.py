"""Promotion on evidence: activate a judge by the rule (or forced, with a reason), roll back, hand a
shut-down active judge's place to its best evaluated candidate, and the history of activations.

- Exactly one judge is active (a partial unique index); every change of the active judge takes a
  transaction-scoped advisory lock, so two promotions at once are serialised, and is recorded in
  ``judge_activations`` with the metrics it was made on.
- The promotion rule (docs/judging.md "Promotion on evidence"): a finished evaluation on the current
  golden set is required; the candidate's precision for ``good`` must reach ``PROMOTION_MIN_PRECISION``
  and its F1 must not be below the active judge's minus ``PROMOTION_F1_TOLERANCE``. ``force`` skips the
  rule, with a reason.
- Automatic succession (:func:`succeed_automatically`): when the active judge's model has shut down,
  the best evaluated candidate that meets the precision floor becomes active by itself, recorded as
  ``automatic`` with the reason.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Row, func, select, text
from sqlalchemy.orm import Session

from ..config import Settings
from ..errors import DomainError
from ..models import Evaluation, GoldenSet, Judge, JudgeActivation
from ..observability import logger
from .judges import get_judge, unicode_text

ACTIVATION_LOCK = (0x6A75, 1)  # "ju": advisory lock serialising changes of the active judge


class EvaluationRequired(DomainError):
    status = 409
    code = "evaluation_required"


class WorseThanActive(DomainError):
    status = 409
    code = "worse_than_active"


class NothingToRollBack(DomainError):
    status = 409
    code = "nothing_to_roll_back"


# --- promotion ------------------------------------------------------------------------------------


class ActivateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    # Strict: only JSON's true forces a promotion past the rule (``"yes"`` and ``1`` are 422).
    force: Annotated[bool, Field(strict=True)] = False
    reason: (
        Annotated[str, Field(min_length=1, max_length=2000, pattern=r"^[^\x00]+$"), AfterValidator(unicode_text)] | None
    ) = None

    @model_validator(mode="after")
    def _reason_with_force(self) -> ActivateRequest:
        if self.force and not self.reason:
            raise ValueError("force needs a reason")
        return self


def current_golden_set(session: Session) -> GoldenSet | None:
    return session.scalar(select(GoldenSet).order_by(GoldenSet.id.desc()).limit(1))


def finished_evaluation(session: Session, judge_id: int, golden_set_id: int) -> Evaluation | None:
    return session.scalar(
        select(Evaluation)
        .where(
            Evaluation.judge_id == judge_id, Evaluation.golden_set_id == golden_set_id, Evaluation.status == "succeeded"
        )
        .order_by(Evaluation.id.desc())
        .limit(1)
    )


def _figures(judge: Judge, evaluation: Evaluation | None) -> dict[str, Any]:
    metrics = (evaluation.metrics if evaluation else None) or {}
    return {
        "judge_id": judge.id,
        "name": judge.name,
        "evaluation_id": evaluation.id if evaluation else None,
        "f1_good": metrics.get("f1_good"),
        "precision_good": metrics.get("precision_good"),
        "recall_good": metrics.get("recall_good"),
        "accuracy": metrics.get("accuracy"),
        "usd_per_1000_comments": ((evaluation.cost or {}).get("usd_per_1000_comments") if evaluation else None),
    }


def promotion_verdict(session: Session, candidate: Judge, settings: Settings) -> tuple[Evaluation, DomainError | None]:
    """The candidate's evaluation on the current golden set, and the rule's objection (None: passes)."""
    golden = current_golden_set(session)
    evaluation = finished_evaluation(session, candidate.id, golden.id) if golden else None
    if golden is None or evaluation is None:
        raise EvaluationRequired(
            f"Judge {candidate.id} has no finished evaluation on the current golden set"
            + (
                f" ({golden.id}): POST /evaluations first."
                if golden
                else ": add one (POST /golden-sets), then POST /evaluations."
            ),
            golden_set_id=golden.id if golden else None,
        )
    active = session.scalar(select(Judge).where(Judge.status == "active"))
    active_evaluation = finished_evaluation(session, active.id, golden.id) if active is not None else None
    candidate_figures = _figures(candidate, evaluation)
    rule = {"f1_tolerance": settings.promotion_f1_tolerance, "min_precision": settings.promotion_min_precision}
    reasons = []
    precision = candidate_figures["precision_good"] or 0.0
    if precision < settings.promotion_min_precision:
        reasons.append(f"its precision for good ({precision:.3f}) is below {settings.promotion_min_precision:.3f}")
    if active_evaluation is not None and active is not None and active.id != candidate.id:
        active_f1 = (active_evaluation.metrics or {}).get("f1_good") or 0.0
        f1 = candidate_figures["f1_good"] or 0.0
        if f1 < active_f1 - settings.promotion_f1_tolerance:
            reasons.append(
                f"its F1 for good ({f1:.3f}) is below the active judge's ({active_f1:.3f}) "
                f"minus {settings.promotion_f1_tolerance}"
            )
    if not reasons:
        return evaluation, None
    return evaluation, WorseThanActive(
        f"Judge {candidate.id} is not promoted: {'; '.join(reasons)}.",
        candidate=candidate_figures,
        active=_figures(active, active_evaluation) if active is not None else None,
        rule=rule,
    )


def _lock_activations(session: Session) -> None:
    session.execute(text("SELECT pg_advisory_xact_lock(:a, :b)"), {"a": ACTIVATION_LOCK[0], "b": ACTIVATION_LOCK[1]})


def _make_active(
    session: Session,
    judge: Judge,
    *,
    forced: bool,
    reason: str | None,
    evaluation: Evaluation | None,
    kind: str = "activation",
    automatic: bool = False,
) -> JudgeActivation:
    previous = session.scalar(select(Judge).where(Judge.status == "active"))
    if previous is not None:
        previous.status = "retired"
        session.flush()  # the one-active index sees the old judge leave before the new one arrives
    judge.status = "active"
    activation = JudgeActivation(
        judge_id=judge.id,
        previous_judge_id=previous.id if previous is not None else None,
        kind=kind,
        forced=forced,
        automatic=automatic,
        reason=reason,
        evaluation_id=evaluation.id if evaluation is not None else None,
        metrics=evaluation.metrics if evaluation is not None else None,
    )
    session.add(activation)
    session.flush()
    logger.info(
        "judge activated",
        extra={
            "judge_id": judge.id,
            "previous": activation.previous_judge_id,
            "kind": kind,
            "forced": forced,
            "automatic": automatic,
        },
    )
    return activation


def activate_judge(session: Session, judge_id: int, request: ActivateRequest, settings: Settings) -> Judge:
    """Make the judge active by the promotion rule (or forced, with a reason)."""
    _lock_activations(session)
    judge = get_judge(session, judge_id)
    session.refresh(judge)
    if judge.status == "active":
        return judge
    evaluation: Evaluation | None
    try:
        evaluation, objection = promotion_verdict(session, judge, settings)
    except EvaluationRequired:
        if not request.force:
            raise
        evaluation, objection = None, None
    if objection is not None and not request.force:
        raise objection
    _make_active(session, judge, forced=request.force, reason=request.reason, evaluation=evaluation)
    return judge


def activate_unevaluated(session: Session, judge: Judge, reason: str) -> None:
    """A finished fine-tuning job's judge with no golden set to be measured on: active at once, marked."""
    _lock_activations(session)
    judge.unevaluated = True
    _make_active(session, judge, forced=False, reason=reason, evaluation=None)


def promote_if_it_passes(session: Session, judge: Judge, evaluation: Evaluation, settings: Settings) -> str:
    """The automatic promotion of a finished job's judge: by the rule (no active judge: the precision
    floor alone). Returns what happened, in words."""
    _lock_activations(session)
    session.refresh(judge)
    if judge.status == "active":
        return "already active"
    try:
        _, objection = promotion_verdict(session, judge, settings)
    except EvaluationRequired as error:  # a newer golden set arrived meanwhile: its evidence is missing
        return f"not promoted: {error.message}"
    if objection is not None:
        return f"not promoted: {objection.message}"
    _make_active(
        session,
        judge,
        forced=False,
        reason=f"evaluation {evaluation.id} passed the promotion rule",
        evaluation=evaluation,
    )
    return "promoted"


def succeed_automatically(session: Session, gone_judge_id: int, settings: Settings) -> Judge | None:
    """The active judge's model has shut down: the best evaluated candidate takes over by itself.

    Best: a finished evaluation on the current golden set, precision for ``good`` at least
    ``PROMOTION_MIN_PRECISION``, the highest F1, then the lowest cost per 1,000 comments. Its model
    must not be known to be shut down too. The activation is recorded as automatic, with the reason.
    Returns the judge now active (another request may have made the change first), or None.
    """
    _lock_activations(session)
    active = session.scalar(select(Judge).where(Judge.status == "active").execution_options(populate_existing=True))
    if active is not None and active.id != gone_judge_id and active.model_status != "shut_down":
        return active  # already succeeded, by a twin request
    golden = current_golden_set(session)
    if golden is None:
        return None
    latest = (
        select(Evaluation.judge_id, func.max(Evaluation.id).label("evaluation_id"))
        .where(Evaluation.golden_set_id == golden.id, Evaluation.status == "succeeded")
        .group_by(Evaluation.judge_id)
        .subquery()
    )
    rows = session.execute(
        select(Judge, Evaluation)
        .join(latest, latest.c.judge_id == Judge.id)
        .join(Evaluation, Evaluation.id == latest.c.evaluation_id)
        .where(Judge.status == "candidate", Judge.model_status != "shut_down", Judge.id != gone_judge_id)
    ).all()

    def rank(row: Row[tuple[Judge, Evaluation]]) -> tuple[float, bool, float, int]:
        metrics, cost = row.Evaluation.metrics or {}, row.Evaluation.cost or {}
        usd = cost.get("usd_per_1000_comments")
        return (-(metrics.get("f1_good") or 0.0), usd is None, usd or 0.0, row.Judge.id)

    passing = [
        row
        for row in rows
        if ((row.Evaluation.metrics or {}).get("precision_good") or 0.0) >= settings.promotion_min_precision
    ]
    if not passing:
        logger.warning(
            "no candidate to succeed a shut-down judge", extra={"judge_id": gone_judge_id, "candidates": len(rows)}
        )
        return None
    best = min(passing, key=rank)
    gone = session.get(Judge, gone_judge_id)
    figures = best.Evaluation.metrics or {}
    reason = (
        f"automatic succession: the model {gone.model if gone else '?'} of judge {gone_judge_id} has shut down; judge "
        f"{best.Judge.id} had the best evaluation ({best.Evaluation.id}) on golden set {golden.id} "
        f"(F1 {figures.get('f1_good', 0):.3f}, precision {figures.get('precision_good', 0):.3f})"
    )
    _make_active(session, best.Judge, forced=False, reason=reason, evaluation=best.Evaluation, automatic=True)
    return best.Judge


def rollback(session: Session) -> Judge:
    """Make the judge that was active before the latest activation active again."""
    _lock_activations(session)
    latest = session.scalar(
        select(JudgeActivation)
        .where(JudgeActivation.kind == "activation", JudgeActivation.rolled_back_at.is_(None))
        .order_by(JudgeActivation.id.desc())
        .limit(1)
    )
    previous = session.get(Judge, latest.previous_judge_id) if latest is not None and latest.previous_judge_id else None
    if latest is None or previous is None:
        raise NothingToRollBack("There is no earlier judge to roll back to.")
    latest.rolled_back_at = datetime.now(UTC)
    _make_active(
        session, previous, forced=False, reason=f"rollback of activation {latest.id}", evaluation=None, kind="rollback"
    )
    return previous


def activations(session: Session, limit: int = 100) -> list[dict[str, Any]]:
    rows = session.execute(
        select(JudgeActivation, Judge.name)
        .join(Judge, Judge.id == JudgeActivation.judge_id)
        .order_by(JudgeActivation.id.desc())
        .limit(limit)
    ).all()
    return [
        {
            "id": activation.id,
            "judge_id": activation.judge_id,
            "judge": name,
            "previous_judge_id": activation.previous_judge_id,
            "kind": activation.kind,
            "forced": activation.forced,
            "automatic": activation.automatic,
            "reason": activation.reason,
            "evaluation_id": activation.evaluation_id,
            "metrics": activation.metrics,
            "activated_at": activation.created_at.isoformat(),
            "rolled_back_at": activation.rolled_back_at.isoformat() if activation.rolled_back_at else None,
        }
        for activation, name in rows
    ]
