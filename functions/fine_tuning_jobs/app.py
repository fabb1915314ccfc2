"""Start job: fine-tuning jobs, their life cycle at OpenAI, and the model they make active.

- ``POST /fine-tuning/jobs``: 201 a new job, 200 the job an identical request already started.
- ``GET /fine-tuning/jobs/{job_id}``: the job refreshed from OpenAI, with its latest events.
- ``POST /webhooks/openai``: a ``fine_tuning.job.*`` event, accepted only with a valid signature over
  the raw body (401 otherwise, nothing changed); the job it names is refreshed.
- The EventBridge schedule: refreshes every job that has not finished.
When a refresh sees a job succeed, its fine-tuned model becomes the judge's active model.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Annotated, Any, Literal

from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from shop_marketing.config import get_settings, load_or_exit
from shop_marketing.db import session_scope
from shop_marketing.http import create_http_app, errors, json_response, success
from shop_marketing.judging.evaluation import adopt_fine_tuned_model
from shop_marketing.observability import CORRELATION_ID_PATH, logger, metrics, tracer
from shop_marketing.openai_client import get_endpoint_client, get_openai_client
from shop_marketing.schedules import is_schedule
from shop_marketing.training import fine_tuning
from shop_marketing.training.fine_tuning import JobRequest

if TYPE_CHECKING:
    from openai import OpenAI
    from sqlalchemy.orm import Session

    from shop_marketing.models.judges import Judge

# The webhook secret is checked when a webhook arrives (503 naming the variable if it is missing), so
# jobs can be started and followed locally without one.
load_or_exit(("database_url", "db_secret_arn"), ("openai_api_key", "openai_api_key_secret_arn"))
app = create_http_app()

JobId = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]


class JobOut(BaseModel):
    """A fine-tuning job as this service records it, refreshed from OpenAI."""

    id: str
    object: Literal["fine_tuning.job"]
    status: str
    model: str
    endpoint: str
    training_file: str
    validation_file: str | None
    suffix: str | None
    hyperparameters: dict[str, Any] | None
    fine_tuned_model: str | None
    trained_tokens: int | None
    error: dict[str, Any] | None
    events: list[dict[str, Any]]
    estimated_finish: str | None
    finished_at: str | None
    created_at: str | None
    refreshed_at: str | None


class WebhookOut(BaseModel):
    received: str
    handled: bool
    job: JobOut | None


# OpenAI's webhook: the raw body is what is signed, so it is read as sent, not through a model.
WEBHOOK_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": (
                        "An OpenAI webhook event (Standard Webhooks: its signature headers are checked first)"
                    ),
                    "required": ["id", "type", "data"],
                    "properties": {
                        "id": {"type": "string"},
                        "object": {"type": "string", "const": "event"},
                        "type": {"type": "string", "description": "fine_tuning.job.succeeded, ..."},
                        "created_at": {"type": "integer"},
                        "data": {"type": "object", "properties": {"id": {"type": "string"}}},
                    },
                }
            }
        },
    }
}


def model_ready(session: Session, model: str, job_id: str, endpoint: str, client: OpenAI) -> Judge:
    """A job that succeeded: its model becomes a judge (evaluated, or made active at once), its model's
    calendar read from the job's endpoint."""
    return adopt_fine_tuned_model(session, model, job_id, get_settings(), endpoint=endpoint, client=client)


@app.post("/fine-tuning/jobs", responses=success(JobOut, 201) | success(JobOut, 200) | errors(404, 502, 504))
def start_job(request: JobRequest):
    with session_scope() as session:
        job, created = fine_tuning.start_job(session, request, client_for=get_endpoint_client, settings=get_settings())
        view = fine_tuning.job_view(job)
    return json_response(201 if created else 200, view)


@app.get("/fine-tuning/jobs/<job_id>", responses=success(JobOut) | errors(502, 504))
def get_job(job_id: JobId):
    with session_scope() as session:
        job = fine_tuning.refresh_job(session, job_id, client_for=get_endpoint_client, model_ready=model_ready)
        return json_response(200, fine_tuning.job_view(job))


@app.post("/webhooks/openai", responses=success(WebhookOut) | errors(401, 502, 504), openapi_extensions=WEBHOOK_BODY)
def openai_webhook():
    event = app.current_event
    # The signature covers the bytes OpenAI sent: use them exactly, never a re-serialised body.
    raw = base64.b64decode(event.body or "") if event.is_base64_encoded else (event.body or "").encode("utf-8")
    client = get_openai_client()
    webhook = fine_tuning.verified_webhook_event(
        raw, dict(event.headers), client=client, secret=fine_tuning.webhook_secret(get_settings())
    )
    with session_scope() as session:
        job = fine_tuning.apply_webhook_event(session, webhook, client_for=get_endpoint_client, model_ready=model_ready)
        view = fine_tuning.job_view(job) if job is not None else None
    return json_response(200, {"received": webhook.id, "handled": job is not None, "job": view})


def refresh_unfinished_jobs() -> dict[str, Any]:
    summary = fine_tuning.refresh_unfinished_jobs(
        session_scope, client_for=get_endpoint_client, model_ready=model_ready
    )
    logger.info("scheduled job refresh", extra=summary)
    return summary


@logger.inject_lambda_context(correlation_id_path=CORRELATION_ID_PATH)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    if is_schedule(event):
        return refresh_unfinished_jobs()
    return app.resolve(event, context)
