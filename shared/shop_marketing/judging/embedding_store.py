"""Stored embeddings: what an embeddings endpoint was paid for is kept, so no text is paid for twice
(docs/judging.md "Classifier judges"; the table: :mod:`..models.embeddings`).

- Training a classifier (:mod:`.classifier_training`) reads the vectors already stored for its
  examples on the judge's endpoint and embedding model (:func:`stored_vectors`, in the request's own
  transaction), and sends only the other texts to the endpoint.
- Each paid call's vectors are stored as the call returns (:func:`keeper`), **in a short transaction
  of their own** on another connection, committed at once: the request's transaction may still fail
  (its judge is then not stored) and the vectors stay. ``INSERT ... ON CONFLICT DO NOTHING``: two
  trainings that paid for the same text at once both succeed, and the first vector stays. (The other
  connection is the pool's: with the functions' pool of one, an overflow connection, closed after.)
- A store that fails is logged and the training goes on with the vectors it holds: the judge still
  records what it paid, and only the next training pays again.
- Vectors are stored as the endpoint answered them, float32 little-endian: read back, they are the
  same bits (a retraining on the same examples fits exactly the same weights).
- Judging comments (:mod:`.classifier`) does not read nor write them: a judge's verdicts are cached
  per text already, and an evaluation must measure what judging really costs.

Loaded only where a classifier is trained (the judges function's HTTP routes).
"""

from __future__ import annotations

import array
import sys
from collections.abc import Sequence

from sqlalchemy import ARRAY, Engine, String, any_, bindparam, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ..hashing import text_sha256
from ..models import StoredEmbedding
from ..observability import logger
from .embeddings import Keep, from_bytes


def to_bytes(vector: array.array[float]) -> bytes:
    """The vector as float32 little-endian bytes."""
    if sys.byteorder == "big":
        vector = array.array("f", vector)
        vector.byteswap()
    return vector.tobytes()


def stored_vectors(session: Session, endpoint: str, model: str, texts: Sequence[str]) -> dict[str, array.array[float]]:
    """The stored vectors of ``texts`` on ``endpoint`` and ``model``, by text (absent: never embedded there)."""
    by_hash = {text_sha256(text): text for text in texts}
    if not by_hash:
        return {}
    hashes = bindparam("hashes", list(by_hash), type_=ARRAY(String(64)))
    rows = session.execute(
        select(StoredEmbedding.text_sha256, StoredEmbedding.vector).where(
            StoredEmbedding.endpoint == endpoint,
            StoredEmbedding.model == model,
            StoredEmbedding.text_sha256 == any_(hashes),
        )
    )
    return {by_hash[row.text_sha256]: from_bytes(row.vector) for row in rows}


def _engine(session: Session) -> Engine:
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def keeper(session: Session, endpoint: str, model: str) -> Keep:
    """What stores each paid call's vectors at once, beside (not in) ``session``'s transaction."""
    engine = _engine(session)

    def keep(texts: Sequence[str], vectors: Sequence[array.array[float]]) -> int:
        rows = [
            {
                "endpoint": endpoint,
                "model": model,
                "text_sha256": text_sha256(text),
                "dimensions": len(vector),
                "vector": to_bytes(vector),
            }
            for text, vector in zip(texts, vectors, strict=True)
        ]
        try:
            with engine.begin() as connection:
                connection.execute(insert(StoredEmbedding).on_conflict_do_nothing(), rows)
        except SQLAlchemyError as error:
            logger.warning(
                "paid embeddings not stored",
                extra={"endpoint": endpoint, "model": model, "texts": len(rows), "error": type(error).__name__},
            )
            return 0
        return len(rows)

    return keep
