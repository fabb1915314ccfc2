"""The local run's queues: the message bodies a function sends (comments to judge, evaluation examples)
go to the same queue handler AWS would invoke, in batches of up to 10, on a thread of the local run.

It keeps SQS's rules that matter here: a record the handler reports failed comes back later with
its receive count one higher, and after ``MAX_RECEIVES`` it is set aside (the dead-letter queue)
and printed, never silently dropped.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

BATCH = 10
MAX_RECEIVES = 5
RETRY_DELAY_SECONDS = 1.0


# The queue handler (event, context) -> response, as Lambda calls it.
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class LocalQueue:
    """``load_handler`` imports the queue function's handler (on the first batch, as Lambda's init would);
    ``context`` makes the context object of each invocation. The local run passes both."""

    def __init__(self, load_handler: Callable[[], Handler], context: Callable[[], Any], *, name: str = "evaluations"):
        self._load_handler = load_handler
        self._context = context
        self.name = name
        self._handler: Handler | None = None
        self._waiting: queue.Queue[tuple[str, int]] = queue.Queue()
        self.dead_letters: list[str] = []
        threading.Thread(target=self._run, name=f"local-{name.replace(' ', '-')}-queue", daemon=True).start()

    def __call__(self, bodies: list[str]) -> None:
        for body in bodies:
            self._waiting.put((body, 1))

    def _run(self) -> None:
        while True:
            batch = [self._waiting.get()]
            while len(batch) < BATCH:
                try:
                    batch.append(self._waiting.get_nowait())
                except queue.Empty:
                    break
            self._deliver(batch)

    def _deliver(self, batch: list[tuple[str, int]]) -> None:
        if self._handler is None:
            self._handler = self._load_handler()
        records = [_record(body, count, self.name) for body, count in batch]
        try:
            response = self._handler({"Records": records}, self._context())
            failed = {failure["itemIdentifier"] for failure in response.get("batchItemFailures", [])}
        except Exception as error:  # noqa: BLE001 - as Lambda: a crashed invocation fails the whole batch
            print(f"{self.name} queue: batch failed ({type(error).__name__}: {error}); retrying", flush=True)
            failed = {record["messageId"] for record in records}
        retry = [
            (body, count) for record, (body, count) in zip(records, batch, strict=True) if record["messageId"] in failed
        ]
        if retry:
            threading.Timer(RETRY_DELAY_SECONDS, self._redeliver, args=(retry,)).start()

    def _redeliver(self, retry: list[tuple[str, int]]) -> None:
        for body, count in retry:
            if count >= MAX_RECEIVES:
                self.dead_letters.append(body)
                print(f"{self.name} queue: dead letter after {count} receives: {body}", flush=True)
            else:
                self._waiting.put((body, count + 1))


def _record(body: str, receive_count: int, queue_name: str = "evaluations") -> dict[str, Any]:
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": "local",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": str(int(time.time() * 1000)),
            "SenderId": "local",
            "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000)),
        },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:local-{queue_name.replace(' ', '-')}",
        "awsRegion": "us-east-1",
    }
