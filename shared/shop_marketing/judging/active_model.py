"""The model the judge uses, and how it changes when a fine-tuning job succeeds.

The latest activated row of ``judge_models`` wins. ``JUDGE_MODEL`` overrides it. Readers cache the
answer for ``ACTIVE_MODEL_TTL_SECONDS`` so a warm judge does not query per request, yet picks up a
newly activated model without a redeploy.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from ..models import JudgeModel


def activate_model(session: Session, model: str, *, job_id: str | None = None) -> None:
    """Make ``model`` the active judge model (idempotent: re-activating refreshes its time)."""
    statement = insert(JudgeModel).values(model=model, job_id=job_id)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[JudgeModel.model],
            set_={"activated_at": func.now(), "job_id": func.coalesce(statement.excluded.job_id, JudgeModel.job_id)},
        )
    )


def current_model(session: Session) -> str | None:
    return session.scalar(select(JudgeModel.model).order_by(JudgeModel.activated_at.desc(), JudgeModel.id.desc()).limit(1))


class ActiveModelCache:
    """Caches :func:`current_model` for ``ttl`` seconds per execution environment."""

    def __init__(self, ttl: float, clock=time.monotonic):
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._value: str | None = None
        self._expires = float("-inf")

    def get(self, session: Session) -> str | None:
        with self._lock:
            if self._clock() < self._expires:
                return self._value
        value = current_model(session)
        with self._lock:
            self._value = value
            # An absent model is not cached: the first activation is seen at once.
            self._expires = self._clock() + self._ttl if value is not None else float("-inf")
        return value

    def clear(self) -> None:
        with self._lock:
            self._expires = float("-inf")
