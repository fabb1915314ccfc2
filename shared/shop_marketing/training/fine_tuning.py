"""Fine-tuning jobs: start one per request, follow it at OpenAI, activate the model it produces.

- Idempotent start: the normalised request (defaults filled in) is hashed into ``idempotency_key``.
  A live or successful job with that key is returned instead of creating another; an advisory lock
  on the key makes two identical requests at once create one job. A failed or cancelled job frees
  its key, so the same request can be tried again.
- Refresh (``GET``, the schedule, a webhook) reads the job and its latest events from OpenAI, then
  applies them to the row locked ``FOR UPDATE``. A reply older than what is stored (a status earlier
  in the life cycle) is ignored, so concurrent refreshes never move a job backwards.
- A job may run on another endpoint of ``JUDGE_ENDPOINTS`` (``"endpoint"``; Azure OpenAI's v1 API takes
  the same files and jobs): the training (and validation) file's kept examples are sent there first
  (once: a copy already there, by its content-derived name, is reused), and the job is followed at
  that endpoint.
- The moment a job turns ``succeeded`` its ``fine_tuned_model`` becomes a ``fine_tuned`` judge, once
  (evaluated and promoted by the rule, or active at once when there is no golden set): refreshing an
  old successful job again never re-activates its model over a newer one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

import openai
from openai import InvalidWebhookSignatureError, OpenAI
from openai.types.fine_tuning import FineTuningJob as RemoteJob
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..advisory_lock import hold_advisory_lock
from ..config import ConfigurationError, Settings
from ..errors import (
    DomainError,
    InvalidInput,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
    UpstreamError,
    validation_details,
)
from ..models import FineTuningJob, TrainingExample, TrainingFile
from ..models.fine_tuning import FINISHED_JOB_STATUSES, RETRYABLE_JOB_STATUSES
from ..observability import logger
from ..openai_failures import openai_call_budget, openai_failures_as_domain_errors
from ..safe_json import StorableStr
from ..secret_settings import secret_setting
from .jsonl import training_jsonl

if TYPE_CHECKING:  # for the annotation only: the judge tables load when a job succeeds
    from ..models.judges import Judge

# What a job that has just succeeded hands its model to: (session, fine-tuned model, job id) -> the judge
# the model became. The caller injects it (the fine-tuning function passes judging's
# adopt_fine_tuned_model), so training never depends on judging.
# A succeeded job's model handed to its caller: (session, model, job id, endpoint, endpoint client) -> judge.
ModelReady = Callable[[Session, str, str, str, OpenAI], "Judge"]

JOB_LOCK_NAMESPACE = 0x666A  # "fj": advisory-lock namespace of job starts
EVENTS_KEPT = 20
# Where each status sits in OpenAI's life cycle; a refresh never moves a job to an earlier stage.
STAGE = {"validating_files": 0, "queued": 1, "running": 2, "succeeded": 3, "failed": 3, "cancelled": 3}
IN_PROGRESS_STAGE = 2  # a status this SDK does not know yet is treated as "still running"

Auto = Literal["auto"]


class JobRequest(BaseModel):
    """``POST /fine-tuning/jobs``: supervised fine-tuning, hyperparameters ``auto`` unless given."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    training_file_id: Annotated[StorableStr, Field(min_length=1, max_length=100)]
    # Where to fine-tune: "openai" (default) or a named endpoint of JUDGE_ENDPOINTS.
    endpoint: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")] = "openai"
    model: Annotated[StorableStr, Field(min_length=1, max_length=200)] | None = None
    validation_file_id: Annotated[StorableStr, Field(min_length=1, max_length=100)] | None = None
    # Checked before OpenAI is called: a job OpenAI created must never fail to be recorded.
    suffix: Annotated[StorableStr, Field(min_length=1, max_length=64)] | None = None
    # Strict: ``true`` is not one epoch, ``"3"`` is not three.
    n_epochs: Auto | Annotated[int, Field(strict=True, ge=1, le=50)] = "auto"
    batch_size: Auto | Annotated[int, Field(strict=True, ge=1, le=256)] = "auto"
    learning_rate_multiplier: Auto | Annotated[float, Field(strict=True, gt=0, le=100)] = "auto"

    def hyperparameters(self) -> dict[str, Any]:
        return {
            "n_epochs": self.n_epochs,
            "batch_size": self.batch_size,
            "learning_rate_multiplier": self.learning_rate_multiplier,
        }


class FineTuningUnavailable(DomainError):
    """The provider no longer creates fine-tuning jobs for this organization (or at all)."""

    status = 502
    code = "fine_tuning_unavailable"


class TrainingFileNotFound(NotFound):
    code = "training_file_not_found"


class JobNotFound(NotFound):
    code = "job_not_found"


ClientFor = Callable[[str], OpenAI]


def idempotency_key(request: JobRequest, model: str) -> str:
    """Hash of the request as it will be sent: equal requests (after defaults) share a key."""
    # The default endpoint is left out, so the keys of requests made before endpoints stay the same.
    normalised = {**request.model_dump(exclude={"endpoint"} if request.endpoint == "openai" else None), "model": model}
    return hashlib.sha256(json.dumps(normalised, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def start_job(
    session: Session, request: JobRequest, *, client_for: ClientFor, settings: Settings
) -> tuple[FineTuningJob, bool]:
    """The job for this request, created at its endpoint unless it exists; ``True`` when created now."""
    if request.endpoint not in settings.endpoint_names():
        raise InvalidInput(
            f"Unknown endpoint {request.endpoint!r}; known: {', '.join(settings.endpoint_names())}.",
            details=[{"field": "endpoint", "in": "body", "type": "invalid", "message": "unknown endpoint"}],
        )
    model = request.model or settings.base_model
    key = idempotency_key(request, model)
    existing = _live_job(session, key)
    if existing is not None:
        return existing, False
    _require_known_files(session, request)
    hold_advisory_lock(session, JOB_LOCK_NAMESPACE, key, wait_seconds=openai_call_budget(settings), what="job start")
    existing = _live_job(session, key)  # created while we waited for the lock
    if existing is not None:
        return existing, False
    try:
        client = client_for(request.endpoint)
    except ConfigurationError as error:
        raise ServiceUnavailable(str(error)) from None
    arguments = _create_arguments(request, model, key)
    endpoint_file_id = None
    if request.endpoint != "openai":
        endpoint_file_id = _copy_to_endpoint(session, client, request.training_file_id, settings)
        arguments["training_file"] = endpoint_file_id
        if request.validation_file_id is not None:  # the endpoint gets its own copy of the validation file too
            arguments["validation_file"] = _copy_to_endpoint(session, client, request.validation_file_id, settings)
    remote = _reconciled_create(client, arguments, key, settings)
    job = FineTuningJob(
        openai_job_id=remote.id,
        idempotency_key=key,
        training_file_id=request.training_file_id,
        validation_file_id=request.validation_file_id,
        endpoint=request.endpoint,
        endpoint_file_id=endpoint_file_id,
        model=model,
        suffix=request.suffix,
        hyperparameters=request.hyperparameters(),
        status=remote.status,
        events=[],
        refreshed_at=datetime.now(UTC),
    )
    _copy_remote(job, remote)
    session.add(job)
    session.flush()
    logger.info("fine-tuning job started", extra={"job_id": job.openai_job_id, "training_file": job.training_file_id})
    return job, True


def _reconciled_create(client: OpenAI, arguments: dict[str, Any], key: str, settings: Settings) -> RemoteJob:
    """Create the job at OpenAI exactly once, whatever the network does.

    A job carries its request's key in ``metadata``. Before every attempt OpenAI's jobs with that
    key are listed, and a live one is adopted instead of creating another: so neither a retry after
    a lost reply (OpenAI created the job, the answer never came) nor the caller's next try pays for
    a second job. The SDK's own retries are off for the create, since it retries blindly; this
    loop retries instead, after looking. A timeout is not retried here (OpenAI may still be
    creating the job): the caller's retry looks first.
    """
    attempts = settings.openai_max_retries + 1
    once = client.with_options(max_retries=0)
    for attempt in range(1, attempts + 1):
        existing = _remote_job_with_key(client, key)
        if existing is not None:
            logger.info("fine-tuning job adopted", extra={"job_id": existing.id, "attempt": attempt})
            return existing
        try:
            with openai_failures_as_domain_errors("create fine-tuning job"):
                try:
                    return once.fine_tuning.jobs.create(**arguments)
                except openai.PermissionDeniedError as error:
                    raise FineTuningUnavailable(
                        "The provider refused to create a fine-tuning job "
                        f"({error.message}). Judges do not need fine-tuning: create a successor of your judge on a "
                        "current model (POST /judges/{judge_id}/successor: a prompted judge with the same labelled "
                        "examples, evaluated at once), a prompted judge from examples kept with "
                        'POST /training-files?upload=false (POST /judges with "style": "prompted"), a classifier judge '
                        '("style": "classifier"), or fine-tune on another endpoint ("endpoint" from JUDGE_ENDPOINTS). '
                        "No job was recorded."
                    ) from None
        except UpstreamError:
            # Unreachable, reset or 5xx: OpenAI may have done the work. Look before trying again.
            if attempt == attempts:
                raise
            logger.info("job creation unanswered; reconciling", extra={"attempt": attempt})
    raise AssertionError("unreachable")


def _remote_job_with_key(client: OpenAI, key: str) -> RemoteJob | None:
    """OpenAI's live (or successful) job created for the request with this key, if any."""
    with openai_failures_as_domain_errors("list fine-tuning jobs"):
        page = client.fine_tuning.jobs.list(metadata={"idempotency_key": key}, limit=20)
    for remote in page.data:
        if (remote.metadata or {}).get("idempotency_key") == key and remote.status not in RETRYABLE_JOB_STATUSES:
            return remote
    return None


def _create_arguments(request: JobRequest, model: str, key: str) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "model": model,
        "training_file": request.training_file_id,
        "method": {"type": "supervised", "supervised": {"hyperparameters": request.hyperparameters()}},
        # Matches an OpenAI job to its request: in the dashboard, and when a lost reply is reconciled.
        "metadata": {"idempotency_key": key},
    }
    if request.validation_file_id is not None:
        arguments["validation_file"] = request.validation_file_id
    if request.suffix is not None:
        arguments["suffix"] = request.suffix
    return arguments


def _live_job(session: Session, key: str) -> FineTuningJob | None:
    return session.scalar(
        select(FineTuningJob).where(
            FineTuningJob.idempotency_key == key, FineTuningJob.status.not_in(RETRYABLE_JOB_STATUSES)
        )
    )


def _copy_to_endpoint(session: Session, client: OpenAI, training_file_id: str, settings: Settings) -> str:
    """The endpoint's copy of a training file (its kept examples as training JSONL), uploaded once:
    a copy already there under the same content-derived name is reused."""
    file = session.scalars(select(TrainingFile).where(TrainingFile.openai_file_id == training_file_id)).one()
    examples = session.execute(
        select(TrainingExample.text, TrainingExample.label)
        .where(TrainingExample.training_file_id == file.id)
        .order_by(TrainingExample.line)
    ).all()
    data = training_jsonl((text, label) for text, label in examples)
    filename = f"training-{hashlib.sha256(data).hexdigest()[:32]}.jsonl"
    with openai_failures_as_domain_errors("list files at the endpoint"):
        page = client.files.list(purpose="fine-tune", limit=100)
    for remote in page.data:
        if remote.filename == filename and remote.bytes == len(data):
            return remote.id
    with openai_failures_as_domain_errors("upload the training file to the endpoint"):
        return client.files.create(file=(filename, data, "application/jsonl"), purpose="fine-tune").id


def _require_known_files(session: Session, request: JobRequest) -> None:
    """Only files this service validated and uploaded can train the judge (on another endpoint,
    a kept file too: its examples are sent there)."""
    wanted = {request.training_file_id, request.validation_file_id} - {None}
    known: dict[str, bool] = dict(
        session.execute(
            select(TrainingFile.openai_file_id, TrainingFile.uploaded).where(TrainingFile.openai_file_id.in_(wanted))
        ).all()
    )
    for field_name, file_id in (
        ("training_file_id", request.training_file_id),
        ("validation_file_id", request.validation_file_id),
    ):
        if file_id is not None and known.get(file_id) is False and request.endpoint == "openai":
            raise InvalidInput(
                f"Training file {file_id!r} was kept without uploading it (upload=false); upload it to fine-tune.",
                field=field_name,
            )
        if file_id is not None and file_id not in known:
            raise TrainingFileNotFound(
                f"No training file {file_id!r} was uploaded through this service.", field=field_name
            )


def refresh_job(
    session: Session, openai_job_id: str, *, client_for: ClientFor, model_ready: ModelReady
) -> FineTuningJob:
    """Read the job and its latest events from its endpoint and apply them (see the module notes); a job
    seen succeeding for the first time hands its model to ``model_ready``."""
    endpoint = session.scalar(select(FineTuningJob.endpoint).where(FineTuningJob.openai_job_id == openai_job_id))
    if endpoint is None:
        raise JobNotFound(f"No fine-tuning job {openai_job_id!r}.")
    try:
        client = client_for(endpoint)
    except ConfigurationError as error:
        raise ServiceUnavailable(str(error)) from None
    with openai_failures_as_domain_errors("read fine-tuning job"):
        remote = client.fine_tuning.jobs.retrieve(openai_job_id)
        events = client.fine_tuning.jobs.list_events(openai_job_id, limit=EVENTS_KEPT).data
    job = session.scalars(
        select(FineTuningJob)
        .where(FineTuningJob.openai_job_id == openai_job_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if STAGE.get(remote.status, IN_PROGRESS_STAGE) < STAGE.get(job.status, IN_PROGRESS_STAGE):
        logger.info(
            "stale job reply ignored", extra={"job_id": openai_job_id, "stored": job.status, "reply": remote.status}
        )
        return job
    became_successful = remote.status == "succeeded" and job.status != "succeeded"
    job.status = remote.status
    _copy_remote(job, remote)
    job.events = [_event_view(event) for event in events]
    job.refreshed_at = datetime.now(UTC)
    session.flush()
    if became_successful and job.fine_tuned_model:
        judge = model_ready(session, job.fine_tuned_model, job.openai_job_id, job.endpoint, client)
        logger.info(
            "fine-tuned model became a judge",
            extra={"job_id": openai_job_id, "judge_id": judge.id, "status": judge.status},
        )
    return job


def _copy_remote(job: FineTuningJob, remote: RemoteJob) -> None:
    job.fine_tuned_model = remote.fine_tuned_model
    job.trained_tokens = remote.trained_tokens
    job.error = remote.error.model_dump() if remote.error is not None and remote.error.code else None
    if remote.hyperparameters is not None:
        # OpenAI resolves "auto" to the values it chose; keep what it reports once it does.
        resolved = remote.hyperparameters.model_dump(exclude_none=True)
        job.hyperparameters = {**(job.hyperparameters or {}), **resolved}
    job.finished_at = _timestamp(remote.finished_at)
    job.estimated_finish = _timestamp(remote.estimated_finish)


def _timestamp(seconds: int | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds else None


def _event_view(event: Any) -> dict[str, Any]:
    return {
        "id": event.id,
        "created_at": _iso(_timestamp(event.created_at)),
        "level": event.level,
        "type": event.type,
        "message": event.message,
        "data": event.data,
    }


def unfinished_job_ids(session: Session) -> list[str]:
    return list(
        session.scalars(
            select(FineTuningJob.openai_job_id)
            .where(FineTuningJob.status.not_in(FINISHED_JOB_STATUSES))
            .order_by(FineTuningJob.refreshed_at)
        )
    )


def refresh_unfinished_jobs(
    sessions: Callable[[], AbstractContextManager[Session]], *, client_for: ClientFor, model_ready: ModelReady
) -> dict[str, Any]:
    """The schedule: refresh every unfinished job, each in its own transaction, so one job OpenAI
    cannot answer for does not hold back the others (it is tried again on the next run)."""
    with sessions() as session:
        job_ids = unfinished_job_ids(session)
    refreshed: dict[str, str] = {}
    failed: list[str] = []
    for job_id in job_ids:
        try:
            with sessions() as session:
                refreshed[job_id] = refresh_job(session, job_id, client_for=client_for, model_ready=model_ready).status
        except DomainError as error:  # OpenAI down or refusing: an expected failure, retried next run
            logger.warning("job refresh failed", extra={"job_id": job_id, "code": error.code, "error": error.message})
            failed.append(job_id)
    return {"refreshed": refreshed, "failed": failed}


# --- webhooks -------------------------------------------------------------------------------------


class _WebhookData(BaseModel):
    id: str


class WebhookEvent(BaseModel):
    id: str
    type: str
    data: _WebhookData | None = None


def webhook_secret(settings: Settings) -> str:
    """The signing secret: ``OPENAI_WEBHOOK_SECRET`` locally, Secrets Manager (cached) in AWS."""
    secret = secret_setting(settings, "openai_webhook_secret", "openai_webhook_secret_arn")
    if secret:
        return secret
    if settings.openai_webhook_secret_arn:
        # The stack creates the secret before OpenAI can issue one (it needs the API's URL): until the
        # operator puts the whsec_ value in, every delivery is refused like a forged one.
        raise Unauthorized("The webhook signing secret is not set yet: put OpenAI's whsec_ value in its secret.")
    raise ServiceUnavailable("Webhooks are not configured (OPENAI_WEBHOOK_SECRET or OPENAI_WEBHOOK_SECRET_ARN).")


def verified_webhook_event(raw_body: bytes, headers: dict[str, str], *, client: OpenAI, secret: str) -> WebhookEvent:
    """The event, if OpenAI signed exactly these bytes recently (standard-webhooks, 5 min window)."""
    try:
        client.webhooks.verify_signature(raw_body, headers, secret=secret)
    except (InvalidWebhookSignatureError, ValueError):  # ValueError: a webhook-* header is missing
        raise Unauthorized("The webhook signature is missing, invalid or too old.") from None
    try:
        return WebhookEvent.model_validate_json(raw_body)
    except ValidationError as error:
        raise InvalidInput(
            "The webhook body is not an OpenAI event.",
            details=validation_details(error.errors(include_url=False), where="body"),
        ) from None


def apply_webhook_event(
    session: Session, event: WebhookEvent, *, client_for: ClientFor, model_ready: ModelReady
) -> FineTuningJob | None:
    """Refresh the job a ``fine_tuning.job.*`` event names; other events and unknown jobs are ignored.

    The event only names the job, so OpenAI's current view of it is read back (which also makes a
    replayed or out-of-order delivery harmless).
    """
    if not event.type.startswith("fine_tuning.job.") or event.data is None:
        logger.info("webhook event ignored", extra={"event_id": event.id, "type": event.type})
        return None
    if session.scalar(select(FineTuningJob.id).where(FineTuningJob.openai_job_id == event.data.id)) is None:
        logger.warning("webhook for an unknown job", extra={"event_id": event.id, "job_id": event.data.id})
        return None
    return refresh_job(session, event.data.id, client_for=client_for, model_ready=model_ready)


def job_view(job: FineTuningJob) -> dict[str, Any]:
    return {
        "id": job.openai_job_id,
        "object": "fine_tuning.job",
        "status": job.status,
        "model": job.model,
        "endpoint": job.endpoint,
        "training_file": job.training_file_id,
        "validation_file": job.validation_file_id,
        "suffix": job.suffix,
        "hyperparameters": job.hyperparameters,
        "fine_tuned_model": job.fine_tuned_model,
        "trained_tokens": job.trained_tokens,
        "error": job.error,
        "events": job.events or [],
        "estimated_finish": _iso(job.estimated_finish),
        "finished_at": _iso(job.finished_at),
        "created_at": _iso(job.created_at),
        "refreshed_at": _iso(job.refreshed_at),
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
