"""Upload training file: validate a JSONL training file and upload it to OpenAI once per content.

Two triggers, one rule set (docs/training.md "Fine-tuning the judge"):
- ``POST /training-files`` with the JSONL itself (``application/jsonl``, ``application/x-ndjson`` or
  ``text/plain``; optional ``?filename=``) or JSON ``{"s3_key"}`` naming an object in the training-data
  bucket. 201 new file, 200 the same content uploaded before, 422 with every problem.
  ``GET /training-files/rejections`` lists the bucket files that were rejected, newest first.
- The bucket's ``ObjectCreated`` event for ``*.jsonl`` keys: the same validation and upload; a
  rejected file's problems are recorded in ``training_file_rejections`` and logged.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shop_marketing.aws_clients import aws_client
from shop_marketing.config import get_settings, load_or_exit
from shop_marketing.db import session_scope
from shop_marketing.errors import InvalidInput, ServiceUnavailable, validation_details
from shop_marketing.http import create_http_app, error_response, errors, json_response, media_type, success
from shop_marketing.observability import CORRELATION_ID_PATH, logger, metrics, tracer
from shop_marketing.openai_client import get_openai_client
from shop_marketing.training import files as training_files
from shop_marketing.training.files import InvalidTrainingFile, Origin

load_or_exit(("database_url", "db_secret_arn"), ("openai_api_key", "openai_api_key_secret_arn"))
app = create_http_app()

JSONL_TYPES = frozenset({"application/jsonl", "application/x-ndjson", "application/x-jsonlines", "text/plain"})


class S3KeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    s3_key: Annotated[str, Field(min_length=1, max_length=1024)]


class TrainingFileOut(BaseModel):
    id: str
    filename: str
    bytes: int
    sha256: str
    examples: int
    tokens: int
    labels: dict[str, int]
    estimated_epochs: int
    estimated_training_tokens: int
    warnings: list[dict[str, Any]]
    source: str
    created_at: str | None


class RejectionOut(BaseModel):
    bucket: str
    key: str
    sha256: str
    bytes: int
    problems: list[dict[str, Any]]
    uploaded_by: str | None
    rejected_at: str


class RejectionsOut(BaseModel):
    rejections: list[RejectionOut]


# The body is the JSONL itself (read raw, never through a model), or JSON naming a bucket object.
TRAINING_FILE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            **{
                kind: {"schema": {"type": "string", "description": "JSONL: one chat example per line"}}
                for kind in sorted(JSONL_TYPES)
            },
            "application/json": {"schema": S3KeyRequest.model_json_schema()},
        },
    }
}


@app.route(
    "/training-files",
    "POST",
    responses=success(TrainingFileOut, 201) | success(TrainingFileOut, 200) | errors(404, 409, 502, 504),
    openapi_extensions=TRAINING_FILE_BODY,
    body_types=JSONL_TYPES | {"application/json"},
)
def upload_training_file():
    event = app.current_event
    body_type = media_type(event)
    origin = Origin("api", ref=f"request {event.request_context.request_id}", uploaded_by=_caller(event))
    filename = event.get_query_string_value("filename")
    if body_type in JSONL_TYPES:
        data = _raw_body(event)
        filename = training_files.checked_filename(filename)
    elif body_type == "application/json":
        key = _s3_key(_raw_body(event))
        data = training_files.read_training_object(aws_client("s3"), _training_bucket(), key)
        filename = (
            training_files.filename_from_key(key) if filename is None else training_files.checked_filename(filename)
        )
        origin = Origin("api", ref=f"s3://{_training_bucket()}/{key}", uploaded_by=origin.uploaded_by)
    else:
        return error_response(
            415, "unsupported_media_type", 'Send the JSONL as application/jsonl (or text/plain), or JSON {"s3_key"}.'
        )
    settings = get_settings()
    upload = _upload_flag(event.get_query_string_value("upload"))
    with session_scope() as session:
        uploaded = training_files.upload_training_file(
            session,
            data,
            filename=filename,
            origin=origin,
            client=get_openai_client() if upload else None,
            settings=settings,
            upload=upload,
        )
        view = training_files.training_file_view(uploaded.file, uploaded.warnings)
    metrics.add_metric(
        name="TrainingFileUploaded" if uploaded.created else "TrainingFileDuplicate", unit="Count", value=1
    )
    return json_response(201 if uploaded.created else 200, view)


@app.get("/training-files/rejections", responses=success(RejectionsOut))
def list_rejections(limit: Annotated[int, Query(ge=1, le=100)] = 20):
    with session_scope() as session:
        return json_response(200, {"rejections": training_files.recent_rejections(session, limit)})


def _upload_flag(value: str | None) -> bool:
    """``?upload=false`` keeps the file without sending it to OpenAI."""
    if value is None or value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise InvalidInput(
        "upload must be true or false.",
        details=[{"field": "upload", "in": "query", "type": "bool_parsing", "message": repr(value)}],
    )


def _raw_body(event: APIGatewayProxyEventV2) -> bytes:
    """The body exactly as sent: base64-decoded when API Gateway flagged it, never re-encoded."""
    body = event.body or ""
    return base64.b64decode(body, validate=True) if event.is_base64_encoded else body.encode("utf-8")


def _s3_key(body: bytes) -> str:
    try:
        return S3KeyRequest.model_validate_json(body).s3_key
    except ValidationError as error:
        details = validation_details(error.errors(include_url=False), where="body")
        raise InvalidInput('The body must be JSON {"s3_key": "..."}.', details=details) from None


def _training_bucket() -> str:
    bucket = get_settings().training_bucket
    if not bucket:
        raise ServiceUnavailable("The training-data bucket is not configured (TRAINING_BUCKET).")
    return bucket


def _caller(event: APIGatewayProxyEventV2) -> str | None:
    """Who sent the file: the authorizer's subject when the API has one, else the source address."""
    context = event.raw_event.get("requestContext", {})
    claims = (context.get("authorizer") or {}).get("jwt", {}).get("claims", {})
    return claims.get("sub") or context.get("http", {}).get("sourceIp")


# --- the training-data bucket -------------------------------------------------------------------


def handle_bucket_event(event: dict[str, Any]) -> dict[str, Any]:
    """Validate and upload every ``*.jsonl`` object of an S3 ObjectCreated event.

    An OpenAI or database failure raises, so Lambda retries the event; records already handled are
    then found by their content hash and not uploaded again.
    """
    results = []
    for record in event["Records"]:
        bucket = record["s3"]["bucket"]["name"]
        key = unquote_plus(record["s3"]["object"]["key"])  # S3 URL-encodes keys in events
        if not key.endswith(".jsonl"):
            results.append({"key": key, "status": "ignored"})
            continue
        uploader = record.get("userIdentity", {}).get("principalId")
        results.append(_ingest_object(bucket, key, uploader))
    return {"results": results}


def _ingest_object(bucket: str, key: str, uploader: str | None) -> dict[str, Any]:
    data = b""
    with session_scope() as session:
        try:
            data = training_files.read_training_object(aws_client("s3"), bucket, key)
            uploaded = training_files.upload_training_file(
                session,
                data,
                filename=training_files.filename_from_key(key),
                origin=Origin("s3", ref=f"s3://{bucket}/{key}", uploaded_by=uploader),
                client=get_openai_client(),
                settings=get_settings(),
            )
        except InvalidTrainingFile as error:
            problems = error.details or []
            training_files.record_rejection(
                session, bucket=bucket, key=key, data=data, problems=problems, uploaded_by=uploader
            )
            logger.warning(
                "training file rejected",
                extra={"bucket": bucket, "key": key, "problem_count": len(problems), "problems": problems[:20]},
            )
            metrics.add_metric(name="TrainingFileRejected", unit="Count", value=1)
            return {"key": key, "status": "rejected", "problems": len(problems)}
        except training_files.TrainingObjectNotFound:
            logger.info("training object gone before it was read", extra={"bucket": bucket, "key": key})
            return {"key": key, "status": "gone"}
    status = "uploaded" if uploaded.created else "duplicate"
    logger.info("training file from bucket", extra={"bucket": bucket, "key": key, "status": status})
    return {"key": key, "status": status, "file_id": uploaded.file.openai_file_id}


def _is_bucket_event(event: dict[str, Any]) -> bool:
    records = event.get("Records") or []
    return bool(records) and all(record.get("eventSource") == "aws:s3" for record in records)


@logger.inject_lambda_context(correlation_id_path=CORRELATION_ID_PATH)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    if _is_bucket_event(event):
        return handle_bucket_event(event)
    return app.resolve(event, context)
