"""Where evaluation work goes: the evaluations queue (SQS) in AWS, or the local run's in-process
delivery, which hands the same message bodies to the same queue handler.

Messages are sent only after the transaction that created the work commits (a consumer never looks
for rows that are not there yet). A send that fails after the commit loses nothing: the items stay
``pending`` and ``POST /evaluations`` for the same judge and set sends them again.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from ..aws_clients import aws_client
from ..config import Settings
from ..errors import ServiceUnavailable
from ..observability import logger

SQS_BATCH = 10

_lock = threading.Lock()
_delivery_without_a_queue: Callable[[list[str]], None] | None = None


def deliver_without_a_queue(deliver: Callable[[list[str]], None] | None) -> None:
    """Where message bodies go when no queue URL is set, or None: a transport the caller injects (the
    local run injects its own in-process queue)."""
    global _delivery_without_a_queue
    with _lock:
        _delivery_without_a_queue = deliver


def require_queue(settings: Settings) -> None:
    if not settings.evaluation_queue_url and _delivery_without_a_queue is None:
        raise ServiceUnavailable("Evaluations are not configured (EVALUATION_QUEUE_URL).")


def send(bodies: list[dict[str, Any]], settings: Settings) -> None:
    texts = [json.dumps(body, separators=(",", ":")) for body in bodies]
    if settings.evaluation_queue_url:
        for start in range(0, len(texts), SQS_BATCH):
            entries = [{"Id": str(n), "MessageBody": text} for n, text in enumerate(texts[start : start + SQS_BATCH])]
            failed = (
                aws_client("sqs")
                .send_message_batch(QueueUrl=settings.evaluation_queue_url, Entries=entries)
                .get("Failed", [])
            )
            if failed:
                logger.warning(
                    "evaluation messages not sent; POST /evaluations again resumes them", extra={"failed": len(failed)}
                )
        return
    with _lock:
        deliver = _delivery_without_a_queue
    if deliver is None:
        raise ServiceUnavailable("Evaluations are not configured (EVALUATION_QUEUE_URL).")
    deliver(texts)


def send_after_commit(session: Session, bodies: list[dict[str, Any]], settings: Settings) -> None:
    """Send ``bodies`` once the session's transaction has committed (never if it rolls back)."""
    if not bodies:
        return

    def _send(_: Session) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            send(bodies, settings)
        except (ServiceUnavailable, BotoCoreError, ClientError):  # committed work stays pending, resumable
            logger.exception("evaluation messages not sent; POST /evaluations again resumes them")

    event.listen(session, "after_commit", _send, once=True)
