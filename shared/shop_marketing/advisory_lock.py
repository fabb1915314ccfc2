"""Transaction-scoped PostgreSQL advisory locks that serialise work on one content hash or request.

The holder keeps the lock while it waits for OpenAI, which can take longer than the database's
statement timeout (and pg8000's socket timeout), so the lock is polled with ``pg_try_advisory_xact_lock``
instead of one blocking statement. A waiter that runs out of time gets a retryable 409.
"""

from __future__ import annotations

import time

from sqlalchemy import text
from sqlalchemy.orm import Session

from .errors import DomainError

POLL_SECONDS = 0.1


class Busy(DomainError):
    """The same work is in progress in another request; retrying shortly will find its result."""

    status = 409
    code = "in_progress"

    def __init__(self, message: str, *, retry_after: int = 2):
        super().__init__(message, retry_after=retry_after)


def lock_key(hex_digest: str) -> int:
    """A signed 32-bit key from a hex digest (a collision only makes unrelated work wait)."""
    return int.from_bytes(bytes.fromhex(hex_digest[:8]), "big", signed=True)


def hold_advisory_lock(session: Session, namespace: int, hex_digest: str, *, wait_seconds: float, what: str) -> None:
    """Take the lock for the rest of this transaction, waiting up to ``wait_seconds`` for its holder."""
    statement = text("SELECT pg_try_advisory_xact_lock(:namespace, :key)")
    parameters = {"namespace": namespace, "key": lock_key(hex_digest)}
    deadline = time.monotonic() + wait_seconds
    while not session.scalar(statement, parameters):
        if time.monotonic() >= deadline:
            raise Busy(f"The same {what} is in progress in another request; retry shortly.")
        time.sleep(POLL_SECONDS)
