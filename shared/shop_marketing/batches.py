"""SQS batches whose records wait on the network: Powertools' batch processor with a bounded thread pool.

Evaluating is network-bound (OpenAI, PostgreSQL), so threads overlap the waits; the bound keeps a
batch within OpenAI's rate limit and the database pool. (The judge queue judges a batch as one:
:mod:`.judging.batch`.) Every failure is reported per record,
even when all failed: SQS retries exactly those, and a record that keeps failing ends in the queue's
dead-letter queue.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

from .observability import logger


class ConcurrentBatchProcessor(BatchProcessor):
    def __init__(self, max_workers: int, thread_name_prefix: str = "record"):
        # Powertools' own Logger: it takes it (same methods), though its annotation names logging.Logger.
        super().__init__(
            EventType.SQS,
            raise_on_entire_batch_failure=False,
            logger=logger,  # type: ignore[arg-type]
        )
        self.max_workers = max_workers
        self.thread_name_prefix = thread_name_prefix

    def process(self) -> list[tuple[Any, ...]]:
        workers = max(1, min(self.max_workers, len(self.records)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=self.thread_name_prefix) as pool:
            return list(pool.map(self._process_record, self.records))
