"""The queue of comments to judge (SQS): each message body is a ``POST /comments/judge`` body.

Producers (the Instagram webhook, comment fetches) hand it requests; the judge's queue function
consumes them. One SQS client per execution environment. ``SendMessageBatch`` takes at most ten
entries, so larger lists go in chunks; an entry SQS refuses is reported back, never dropped silently.

Without a queue URL, the message bodies go to a transport injected with :func:`deliver_without_a_queue`
(the local run injects its in-process queue, which hands them to the same handler AWS would invoke).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .aws_clients import aws_client
from .errors import ServiceUnavailable

_lock = threading.Lock()
_delivery_without_a_queue: Callable[[list[str]], None] | None = None
SQS_BATCH_LIMIT = 10


class JudgeQueueUnavailable(ServiceUnavailable):
    code = "judge_queue_unavailable"


@dataclass(frozen=True)
class JudgeMessage:
    """One comment to judge: the judge request body (docs/judging.md "Judging comments")."""

    comment: str
    instagram_comment_id: str
    post_id: int

    def body(self) -> str:
        return json.dumps(
            {"comment": self.comment, "instagram_comment_id": self.instagram_comment_id, "post_id": self.post_id},
            ensure_ascii=False,
        )


def deliver_without_a_queue(deliver: Callable[[list[str]], None] | None) -> None:
    """Where message bodies go when no queue URL is set, or None: a transport the caller injects."""
    global _delivery_without_a_queue
    with _lock:
        _delivery_without_a_queue = deliver


def judge_queue_available(queue_url: str | None) -> bool:
    """Whether comments can be queued: a queue URL, or the local run's delivery."""
    return queue_url is not None or _delivery_without_a_queue is not None


def send_to_judge(queue_url: str | None, messages: Sequence[JudgeMessage]) -> set[str]:
    """Queue the messages; returns the ``instagram_comment_id`` of those SQS (or the local delivery) accepted."""
    if queue_url is None:
        with _lock:
            deliver = _delivery_without_a_queue
        if deliver is None:
            return set()
        deliver([message.body() for message in messages])
        return {message.instagram_comment_id for message in messages}

    from botocore.exceptions import BotoCoreError, ClientError

    accepted: set[str] = set()
    for start in range(0, len(messages), SQS_BATCH_LIMIT):
        chunk = messages[start : start + SQS_BATCH_LIMIT]
        entries = [{"Id": str(index), "MessageBody": message.body()} for index, message in enumerate(chunk)]
        try:
            reply = aws_client("sqs").send_message_batch(QueueUrl=queue_url, Entries=entries)
        except (BotoCoreError, ClientError) as error:
            raise JudgeQueueUnavailable(
                f"The queue of comments to judge is unavailable: {error}", retry_after=30
            ) from None
        accepted.update(chunk[int(entry["Id"])].instagram_comment_id for entry in reply.get("Successful", []))
    return accepted
