"""Judge comment: the active judge over HTTP and over the queue of comments to judge.

Two entry points, declared as two functions in template.yaml so each gets the timeout it needs:
- ``lambda_handler``: ``POST /comments/judge`` and ``GET /instagram-posts/{post_id}/good-comments``
  (API Gateway HTTP API; must answer well inside its 29 s).
- ``queue_handler``: SQS batches; each message body is a judge request. The batch is judged as one
  (a handful of statements for the whole batch, each distinct text paid once, at most
  ``JUDGE_CONCURRENCY`` OpenAI calls at once) and every failed record is reported back as a batch
  item failure, so only it is retried and it ends in the dead-letter queue if it keeps failing.
  A record judged before its sibling failed is answered from the database on redelivery, unpaid.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated, Any, Literal

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ValidationError

from shop_marketing.config import get_settings, load_or_exit
from shop_marketing.db import session_scope
from shop_marketing.errors import InvalidMessage
from shop_marketing.http import Id, create_http_app, errors, json_response, success
from shop_marketing.judging import judge
from shop_marketing.judging.judges import ActiveJudgeCache
from shop_marketing.observability import CORRELATION_ID_PATH, logger, metrics, record_judgement, tracer
from shop_marketing.openai_client import get_endpoint_client

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from shop_marketing.judging import batch

if os.environ.get("_HANDLER") == "app.queue_handler":
    # The queue function (Lambda names its handler in _HANDLER): its own modules load at init, so its
    # SnapStart snapshot holds them. The HTTP function never loads them.
    import aws_lambda_powertools.utilities.batch  # noqa: F401

    import shop_marketing.judging.batch  # noqa: F401

load_or_exit(("database_url", "db_secret_arn"), ("openai_api_key", "openai_api_key_secret_arn"))
app = create_http_app()
# One per execution environment: a warm judge reads the active judge without a query per request.
judges = ActiveJudgeCache()

Limit = Annotated[int, Query(ge=1, le=100)]


def _judge(request: judge.JudgeRequest) -> judge.Verdict:
    # Settings are read per call (cached): JUDGE_MODEL and the OpenAI clients follow the environment.
    verdict = judge.judge_comment(request, client_for=get_endpoint_client, judges=judges, settings=get_settings())
    # Verdicts, cache hits, billed tokens and (with the judge's prices) cost, for the on-call view.
    record_judgement(verdict.as_dict(), verdict.prices)
    return verdict


class VerdictOut(BaseModel):
    """A judgement: the verdict, what it cost in tokens, the judge and model that gave it."""

    verdict: Literal["good", "bad"]
    comment_tokens: int
    prompt_tokens: int
    cached_prompt_tokens: int
    completion_tokens: int
    judge: str
    model: str
    cached: bool
    confidence: float | None


class GoodCommentOut(BaseModel):
    """A comment labelled good: by a reviewer (``reviewed``), else by its latest verdict. A comment a
    reviewer marked good before any judge saw it has no judgement (``judge_id`` and the rest null)."""

    id: int
    instagram_comment_id: str | None
    comment: str
    confidence: float | None
    judge_id: int | None
    model: str | None
    judged_at: str | None
    reviewed: bool


class GoodCommentsOut(BaseModel):
    post_id: int
    comments: list[GoodCommentOut]


@app.post("/comments/judge", responses=success(VerdictOut) | errors(404, 409, 502, 504))
def judge_comment(request: judge.JudgeRequest):
    return json_response(200, _judge(request).as_dict())


@app.get("/instagram-posts/<post_id>/good-comments", responses=success(GoodCommentsOut))
def good_comments(post_id: Id, limit: Limit = 10):
    with session_scope() as session:
        comments = judge.good_comments(session, post_id, limit)
    return json_response(200, {"post_id": post_id, "comments": comments})


@logger.inject_lambda_context(correlation_id_path=CORRELATION_ID_PATH)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)


def judge_batch(event: dict) -> dict[str, batch.Outcome]:
    """Every record's outcome, by message id: its verdict, or the error that fails it alone.

    An invalid body is its record's failure (a poison message ends in the DLQ); the error that is
    logged names the problems, never the comment (pydantic's would quote it).
    """
    # The queue's own modules load with its first batch: the HTTP function never needs them.
    from shop_marketing.judging import batch

    requests: dict[str, judge.JudgeRequest] = {}
    outcomes: dict[str, batch.Outcome] = {}
    for record in event.get("Records") or ():
        try:
            requests[record["messageId"]] = judge.JudgeRequest.model_validate_json(record["body"])
        except ValidationError as error:
            outcomes[record["messageId"]] = InvalidMessage.from_validation_error(error, "judge request")
    try:
        outcomes.update(
            batch.judge_requests(requests, client_for=get_endpoint_client, judges=judges, settings=get_settings())
        )
    except Exception as error:  # no active judge, no database: every record waits for a retry
        outcomes.update(dict.fromkeys(requests, error))
    return outcomes


@logger.inject_lambda_context(correlation_id_path=CORRELATION_ID_PATH)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def queue_handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    # The batch is judged as one (see shop_marketing.judging.batch); Powertools reports each record's
    # outcome, so SQS retries exactly the records that failed.
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    outcomes = judge_batch(event)

    def report(record: SQSRecord) -> dict[str, Any]:
        outcome = outcomes[record.message_id]
        if isinstance(outcome, Exception):
            raise outcome
        record_judgement(outcome.as_dict(), outcome.prices)
        logger.info(
            "judged", extra={"message_id": record.message_id, "verdict": outcome.verdict, "cached": outcome.cached}
        )
        return outcome.as_dict()

    # Powertools' own Logger: it takes it (same methods), though its annotation names logging.Logger.
    processor = BatchProcessor(
        EventType.SQS,
        raise_on_entire_batch_failure=False,
        logger=logger,  # type: ignore[arg-type]
    )
    return process_partial_response(event=event, record_handler=report, processor=processor, context=context)
