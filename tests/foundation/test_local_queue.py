"""The local run's evaluations queue keeps SQS's rules with the handler and context it is given: a
record the handler reports failed comes back with its receive count one higher, and after
MAX_RECEIVES it is set aside as a dead letter, never dropped."""

from __future__ import annotations

import threading
import time
from typing import Any

from infra.local_queue import MAX_RECEIVES, LocalQueue


def test_a_failed_record_comes_back_counted_and_ends_as_a_dead_letter_while_the_others_pass():
    deliveries: list[tuple[str, str, Any]] = []
    loads: list[int] = []
    lock = threading.Lock()

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        with lock:
            for record in event["Records"]:
                deliveries.append((record["body"], record["attributes"]["ApproximateReceiveCount"], context))
        failed = [record["messageId"] for record in event["Records"] if record["body"] == "poison"]
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}

    def load() -> Any:
        loads.append(1)
        return handler

    queue = LocalQueue(load, lambda: "the context")
    queue(["fine", "poison"])

    deadline = time.monotonic() + 120  # a bound for a stuck thread, not a timing assumption
    while not queue.dead_letters and time.monotonic() < deadline:
        time.sleep(0.05)

    assert queue.dead_letters == ["poison"]
    with lock:
        poison = [count for body, count, _ in deliveries if body == "poison"]
        assert poison == [str(count) for count in range(1, MAX_RECEIVES + 1)]
        assert [count for body, count, _ in deliveries if body == "fine"] == ["1"]
        assert {context for *_, context in deliveries} == {"the context"}
    assert loads == [1]  # the handler is loaded once, on the first batch
