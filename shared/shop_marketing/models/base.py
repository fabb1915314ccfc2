"""Declarative base shared by every model, with constraint names the migrations rely on."""

from datetime import datetime
from typing import Annotated

from pydantic import Field
from sqlalchemy import BigInteger, DateTime, MetaData, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}

# Ids are PostgreSQL bigints; anything outside this range can never name a row.
MAX_ID = 2**63 - 1
# An id in a request body: a JSON integer only (``true``, ``"1"`` and ``1.0`` are not the id 1).
StrictId = Annotated[int, Field(strict=True, ge=1, le=MAX_ID)]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class IdMixin:
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)


class CreatedAtMixin:
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
