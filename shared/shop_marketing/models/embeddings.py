"""Stored embeddings: vectors an embeddings endpoint was paid for, kept so no text is paid for twice
(docs/judging.md "Classifier judges").

- One row per (endpoint, embedding model, text): ``endpoint`` is the endpoint's name as a judge
  stores it (``openai``, or a ``JUDGE_ENDPOINTS`` name), ``text_sha256`` the text's
  :func:`..hashing.text_sha256`; the text itself is not kept here (the training files hold it).
- ``vector`` is the vector as the endpoint answered it: float32, little-endian, ``dimensions`` of
  them (a check keeps the two in step). Rows are only ever added (``ON CONFLICT DO NOTHING``).
- No foreign key: a vector outlives the judges and training files that first paid for it.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Integer, LargeBinary, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, CreatedAtMixin


class StoredEmbedding(CreatedAtMixin, Base):
    __tablename__ = "stored_embeddings"
    __table_args__ = (
        PrimaryKeyConstraint("endpoint", "model", "text_sha256"),
        CheckConstraint("dimensions > 0 AND octet_length(vector) = 4 * dimensions", name="vector_matches_dimensions"),
    )

    endpoint: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(200))
    text_sha256: Mapped[str] = mapped_column(String(64))
    dimensions: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
