"""The provider's calendar: when each judge's model shuts down (docs/judging.md "Model life cycle").

The product knows the calendar from the provider, never from a list in its code: OpenAI's
``GET /v1/models/{id}`` carries ``shutdown_date`` (YYYY-MM-DD, or null when none is announced). A
fine-tuned model is read from its own object, else from its base model's (it shares its base's date).

- ``model_status``: ``available``; ``retiring`` (the date is within ``MODEL_RETIREMENT_WARNING_DAYS``);
  ``shut_down`` (the date has come, or the provider answers ``model_not_found``); ``unknown`` (the
  endpoint does not say: no ``shutdown_date`` in its model object, or no models route at all).
- Refreshed when a judge is created, by the daily schedule, by ``POST /judges/refresh-models``, and at
  once when a judgement answers ``model_not_found`` (:func:`mark_shut_down`).
- The active judge's days left are the metric ``ActiveJudgeModelDaysLeft``; template.yaml's alarm fires
  below ``MODEL_RETIREMENT_WARNING_DAYS``, and at 0 when the active judge's model is gone with no successor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

import openai
from openai import OpenAI
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..config import ConfigurationError, Settings
from ..errors import DomainError
from ..models import Judge
from ..observability import logger, metrics
from ..openai_failures import openai_failures_as_domain_errors
from .recipes import base_model

ClientFor = Callable[[str], OpenAI]
DAYS_LEFT_METRIC = "ActiveJudgeModelDaysLeft"


@dataclass(frozen=True)
class ModelCalendar:
    """What the provider says of one model."""

    shutdown_date: date | None
    # False: the endpoint does not say (no ``shutdown_date`` member, or no models route).
    said: bool
    # True: the provider answers ``model_not_found`` (it no longer serves the model).
    not_found: bool = False


def today_utc() -> date:
    return datetime.now(UTC).date()


def _read(client: OpenAI, model: str) -> ModelCalendar | None:
    """The model's object, or None when the model has no date of its own to give (null)."""
    with openai_failures_as_domain_errors("reading the model's calendar"):
        try:
            # The raw object: an absent ``shutdown_date`` (the endpoint does not say) is not a null one.
            found = client.get(f"/models/{quote(model, safe=':')}", cast_to=object)
        except openai.NotFoundError as error:
            body = error.body if isinstance(error.body, dict) else {}
            inner = body.get("error") if isinstance(body.get("error"), dict) else body
            if isinstance(inner, dict) and inner.get("code") == "model_not_found":
                return ModelCalendar(None, True, not_found=True)
            return ModelCalendar(None, False)  # no models route: the endpoint does not say
    if not isinstance(found, dict) or "shutdown_date" not in found:
        return ModelCalendar(None, False)
    value = found["shutdown_date"]
    if value is None:
        return None
    try:
        return ModelCalendar(date.fromisoformat(str(value)[:10]), True)
    except ValueError:
        return ModelCalendar(None, False)


def look_up(client: OpenAI, model: str) -> ModelCalendar:
    """The model's calendar; a fine-tuned model's own, else its base's."""
    own = _read(client, model)
    if own is not None and (own.not_found or own.shutdown_date is not None):
        return own
    base = base_model(model)
    if base == model:
        return own if own is not None else ModelCalendar(None, True)
    from_base = _read(client, base)
    if from_base is None:
        return ModelCalendar(None, True)
    if from_base.not_found or from_base.said:
        return from_base
    return own if own is not None else ModelCalendar(None, True)


def status_of(calendar: ModelCalendar, today: date, warning_days: int) -> str:
    if calendar.not_found:
        return "shut_down"
    if not calendar.said:
        return "unknown"
    if calendar.shutdown_date is None:
        return "available"
    if today >= calendar.shutdown_date:
        return "shut_down"
    return "retiring" if (calendar.shutdown_date - today).days <= warning_days else "available"


def apply(judge: Judge, calendar: ModelCalendar, settings: Settings, today: date | None = None) -> None:
    """Record the calendar on the judge. A model gone with no date keeps the date it had."""
    if calendar.shutdown_date is not None or calendar.said and not calendar.not_found:
        judge.model_shutdown_date = calendar.shutdown_date
    judge.model_status = status_of(calendar, today or today_utc(), settings.model_retirement_warning_days)
    judge.model_checked_at = datetime.now(UTC)


def days_left(judge: Judge, today: date | None = None) -> int | None:
    """Days until the judge's model shuts down (0: it has); None when no date is known."""
    if judge.model_status == "shut_down":
        return 0
    if judge.model_shutdown_date is None:
        return None
    return max(0, int((judge.model_shutdown_date - (today or today_utc())).days))


def report_active_days_left(session: Session, today: date | None = None) -> int | None:
    """The metric of the active judge's days left (nothing when no date is known)."""
    active = session.scalar(select(Judge).where(Judge.status == "active"))
    left = days_left(active, today) if active is not None else None
    if left is not None:
        report_days_left(left)
    return left


def report_days_left(left: int) -> None:
    metrics.add_metric(name=DAYS_LEFT_METRIC, unit="Count", value=left)


def refresh_judges(
    session: Session,
    client_for: ClientFor,
    settings: Settings,
    *,
    judges: list[Judge] | None = None,
    today: date | None = None,
) -> dict[str, Any]:
    """Read every judge's model calendar from its endpoint (one lookup per endpoint and model)."""
    judges = judges if judges is not None else list(session.scalars(select(Judge).order_by(Judge.id).with_for_update()))
    calendars: dict[tuple[str, str], ModelCalendar | DomainError] = {}
    failed = 0
    for judge in judges:
        key = (judge.endpoint, judge.model)
        if key not in calendars:
            try:
                calendars[key] = look_up(client_for(judge.endpoint), judge.model)
            except ConfigurationError as error:  # an endpoint no longer configured
                calendars[key] = DomainError(str(error))
            except DomainError as error:  # the provider down: keep what is known, try again next time
                calendars[key] = error
        found = calendars[key]
        if isinstance(found, DomainError):
            failed += 1
            logger.warning("model calendar not read", extra={"judge_id": judge.id, "error": found.message})
            continue
        apply(judge, found, settings, today)
    session.flush()
    return {"judges": len(judges), "lookups": len(calendars), "failed": failed}


def succeed_if_shut_down(session: Session, settings: Settings) -> int | None:
    """The active judge's model has shut down (the calendar says so): its automatic successor takes
    over now, not at the next comment. Not when ``JUDGE_FALLBACK`` answers for it (it still wins).
    Returns the new active judge's id, if one took over."""
    from .promotion import succeed_automatically

    active = session.scalar(select(Judge).where(Judge.status == "active"))
    if active is None or active.model_status != "shut_down" or settings.judge_fallback:
        return None
    successor = succeed_automatically(session, active.id, settings)
    return successor.id if successor is not None and successor.id != active.id else None


def mark_shut_down(session: Session, judge_id: int) -> None:
    """A call answered ``model_not_found``: the judge's model is shut down, from now on."""
    judge = session.get(Judge, judge_id, with_for_update=True)
    if judge is not None and judge.model_status != "shut_down":
        judge.model_status = "shut_down"
        judge.model_checked_at = datetime.now(UTC)
        logger.warning("judge model shut down", extra={"judge_id": judge_id, "model": judge.model})
