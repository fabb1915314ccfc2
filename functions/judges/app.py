"""Judges: create and list them, promote one on evidence, roll back, succeed; their models' calendar;
golden sets and evaluations.

Two entry points, declared as two functions in template.yaml:
- ``lambda_handler``: the HTTP routes (``/judges``, ``/golden-sets``, ``/evaluations``), and the daily
  schedule that refreshes every judge's model calendar (and reports the active judge's days left).
- ``evaluation_queue_handler``: the evaluations queue; one message per example of an evaluation,
  judged in a bounded thread pool, every failed record reported back alone (partial batch failure).
"""

from __future__ import annotations

import base64
import os
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ValidationError

from shop_marketing.config import get_settings, load_or_exit
from shop_marketing.db import session_scope
from shop_marketing.errors import InvalidInput, validation_details
from shop_marketing.http import Id, create_http_app, error_response, errors, json_response, media_type, success
from shop_marketing.judging import creation, evaluation, golden_sets, judges, model_calendar, promotion
from shop_marketing.judging.answers import (
    ActivationsOut,
    EvaluationOut,
    EvaluationsOut,
    GoldenSetOut,
    JudgeOut,
    JudgesOut,
    SuccessionOut,
)
from shop_marketing.models import MAX_ID
from shop_marketing.observability import CORRELATION_ID_PATH, logger, metrics, tracer
from shop_marketing.openai_client import get_endpoint_client
from shop_marketing.schedules import is_schedule
from shop_marketing.training.files import checked_filename

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

if os.environ.get("_HANDLER") == "app.evaluation_queue_handler":
    # The evaluations queue's function (Lambda names its handler in _HANDLER): its batch processor
    # loads at init, so its SnapStart snapshot holds it. The HTTP function never loads it.
    import shop_marketing.batches  # noqa: F401
else:
    # The HTTP function trains classifier judges (numpy, the numeric layer's): the style registers
    # itself with judge creation, loaded at init so the SnapStart snapshot holds it. The evaluations
    # queue judges with classifiers and never loads it.
    from shop_marketing.judging import classifier_training  # noqa: F401

load_or_exit(("database_url", "db_secret_arn"), ("openai_api_key", "openai_api_key_secret_arn"))
app = create_http_app()
# Judges never change: their recipes (few-shot examples included) are loaded once per environment.
specs = judges.ActiveJudgeCache()

JSONL_TYPES = frozenset({"application/jsonl", "application/x-ndjson", "application/x-jsonlines", "text/plain"})
JudgeFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]


def _body_as[T: BaseModel](model: type[T], *, empty_allowed: bool = False) -> T:
    """The JSON body validated as ``model`` (422 with one detail per problem)."""
    event = app.current_event
    raw = event.decoded_body if event.is_base64_encoded else event.body
    if not raw and empty_allowed:
        return model()
    try:
        return model.model_validate_json(raw or "")
    except ValidationError as error:
        details = validation_details(error.errors(include_url=False), where="body")
        for detail in details:  # a validator's own sentence, without pydantic's prefix
            detail["message"] = detail["message"].removeprefix("Value error, ")
        code = "invalid_json" if any(d["type"] == "json_invalid" for d in details) else "validation_error"
        raise _Invalid(code, details) from None


class _Invalid(InvalidInput):
    def __init__(self, code: str, details: list[dict[str, Any]]):
        super().__init__(
            "The request body is not valid JSON." if code == "invalid_json" else "The request is not valid.",
            details=details,
        )
        self.code = code


# --- judges ---------------------------------------------------------------------------------------


# The bodies the routes read themselves (not through a parameter): a JSONL upload, an optional JSON body.
GOLDEN_SET_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            kind: {"schema": {"type": "string", "description": 'JSONL: one {"text", "label"} example per line'}}
            for kind in sorted(JSONL_TYPES)
        },
    }
}
ACTIVATE_BODY = {
    "requestBody": {
        "required": False,
        "content": {"application/json": {"schema": promotion.ActivateRequest.model_json_schema()}},
    }
}


@app.post("/judges", responses=success(JudgeOut, 201) | errors(409, 502, 503, 504))
def create_judge(request: judges.NewJudge):
    with session_scope() as session:
        judge = creation.create_judge(session, request, get_settings(), client_for=get_endpoint_client)
        return json_response(201, judges.judge_view(session, judge))


@app.post("/judges/refresh-models", responses=success(JudgesOut) | errors(502, 504))
def refresh_models():
    with session_scope() as session:
        model_calendar.refresh_judges(session, get_endpoint_client, get_settings())
        model_calendar.report_active_days_left(session)
        return json_response(200, {"judges": judges.list_judges(session)})


@app.post("/judges/<judge_id>/successor", responses=success(SuccessionOut, 201) | errors(409, 502, 504))
def create_successor(judge_id: Id, request: creation.SuccessorRequest):
    with session_scope() as session:
        judge, started = creation.create_successor(
            session, judge_id, request, get_settings(), client_for=get_endpoint_client
        )
        view = {"judge": judges.judge_view(session, judge), "evaluation": evaluation.evaluation_view(started)}
    return json_response(201, view)


@app.get("/judges", responses=success(JudgesOut))
def list_judges():
    with session_scope() as session:
        return json_response(200, {"judges": judges.list_judges(session)})


@app.get("/judges/activations", responses=success(ActivationsOut))
def list_activations():
    with session_scope() as session:
        return json_response(200, {"activations": promotion.activations(session)})


@app.post("/judges/rollback", responses=success(JudgeOut) | errors(409))
def rollback():
    with session_scope() as session:
        judge = promotion.rollback(session)
        view = judges.judge_view(session, judge)
    specs.clear()
    return json_response(200, view)


@app.get("/judges/<judge_id>", responses=success(JudgeOut))
def get_judge(judge_id: Id):
    with session_scope() as session:
        return json_response(200, judges.judge_view(session, judges.get_judge(session, judge_id)))


@app.post("/judges/<judge_id>/activate", responses=success(JudgeOut) | errors(409), openapi_extensions=ACTIVATE_BODY)
def activate(judge_id: Id):
    request = _body_as(promotion.ActivateRequest, empty_allowed=True)
    with session_scope() as session:
        judge = promotion.activate_judge(session, judge_id, request, get_settings())
        view = judges.judge_view(session, judge)
    return json_response(200, view)


# --- golden sets and evaluations ------------------------------------------------------------------


# The body is JSONL: a JSON route's media type would be refused (415) before the route reads it.
@app.route(
    "/golden-sets",
    "POST",
    responses=success(GoldenSetOut, 201) | success(GoldenSetOut, 200, "The same golden set, uploaded before"),
    openapi_extensions=GOLDEN_SET_BODY,
    body_types=JSONL_TYPES,
)
def create_golden_set():
    event = app.current_event
    if media_type(event) not in JSONL_TYPES:
        return error_response(
            415, "unsupported_media_type", "Send the golden set as application/jsonl (or text/plain)."
        )
    body = event.body or ""
    data = base64.b64decode(body, validate=True) if event.is_base64_encoded else body.encode("utf-8")
    filename = event.get_query_string_value("filename")
    with session_scope() as session:
        golden, created = golden_sets.create_golden_set(
            session,
            data,
            filename=checked_filename(filename) if filename is not None else None,
            settings=get_settings(),
        )
        view = golden_sets.golden_set_view(session, golden)
    return json_response(201 if created else 200, view)


@app.post("/evaluations", responses=success(EvaluationOut, 202) | errors(404, 409))
def start_evaluation(request: evaluation.NewEvaluation):
    with session_scope() as session:
        started, _ = evaluation.start_evaluation(session, request.judge_id, request.golden_set_id, get_settings())
        view = evaluation.evaluation_view(started)
    return json_response(202, view)


@app.get("/evaluations/<evaluation_id>", responses=success(EvaluationOut))
def get_evaluation(evaluation_id: Id):
    with session_scope() as session:
        return json_response(200, evaluation.evaluation_view(evaluation.get_evaluation(session, evaluation_id)))


@app.get("/evaluations", responses=success(EvaluationsOut) | errors(404))
def list_evaluations(judge_id: JudgeFilter = None):
    with session_scope() as session:
        return json_response(200, {"evaluations": evaluation.list_evaluations(session, judge_id)})


@logger.inject_lambda_context(correlation_id_path=CORRELATION_ID_PATH)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    if is_schedule(event):
        return refresh_model_calendar()
    return app.resolve(event, context)


def refresh_model_calendar() -> dict[str, Any]:
    """The daily schedule: every judge's model calendar from its provider; an active judge whose model
    has shut down succeeded automatically (unless JUDGE_FALLBACK answers for it); its days left."""
    settings = get_settings()
    with session_scope() as session:
        summary = model_calendar.refresh_judges(session, get_endpoint_client, settings)
    with session_scope() as session:
        summary["succeeded_by"] = model_calendar.succeed_if_shut_down(session, settings)
        summary["active_days_left"] = model_calendar.report_active_days_left(session)
    if summary["succeeded_by"] is not None:
        specs.forget_active()
    logger.info("model calendar refreshed", extra=summary)
    return summary


# --- the evaluations queue ------------------------------------------------------------------------


def evaluate_record(record: SQSRecord) -> str:
    message = evaluation.EvaluationMessage.model_validate_json(record.body)
    receive_count = int(record.attributes.approximate_receive_count or 1)
    return evaluation.evaluate_item(
        message,
        receive_count=receive_count,
        settings=get_settings(),
        client_for=get_endpoint_client,
        specs=specs,
        sessions=session_scope,
    )


@logger.inject_lambda_context(correlation_id_path=CORRELATION_ID_PATH)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def evaluation_queue_handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    from aws_lambda_powertools.utilities.batch import process_partial_response

    from shop_marketing.batches import ConcurrentBatchProcessor

    settings = get_settings()
    processor = ConcurrentBatchProcessor(settings.evaluation_concurrency, "evaluate")
    response = process_partial_response(
        event=event, record_handler=evaluate_record, processor=processor, context=context
    )
    # One finishing check per evaluation the batch touched, not one per record.
    touched = set()
    for record in event.get("Records", []):
        try:
            touched.add(evaluation.EvaluationMessage.model_validate_json(record["body"]).evaluation_id)
        except ValidationError:
            continue
    for evaluation_id in sorted(touched):
        with session_scope() as session:
            evaluation.finish_if_done(session, evaluation_id, settings)
    return response
