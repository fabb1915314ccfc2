"""Which model the judge uses: the latest activated fine-tuned model (product.md "The active model")."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, func
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, IdMixin


class JudgeModel(IdMixin, Base):
    __tablename__ = "judge_models"

    model: Mapped[str] = mapped_column(String(200), unique=True)
    # The fine-tuning job that produced it, when known.
    job_id: Mapped[str | None] = mapped_column(String(100))
    activated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)
