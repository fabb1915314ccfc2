"""Training files: validate, upload to OpenAI once per content, and record; or reject with reasons.

The same content is never uploaded twice: the normalised bytes are hashed, an existing file with that
hash is answered from the database, and a transaction-scoped advisory lock on the hash makes a
concurrent upload of the same content wait for the first and then find its row instead of uploading
again (or answer 409 ``in_progress``, retryable, if the first takes longer than an OpenAI call may).
Invalid content never reaches OpenAI: the caller gets every problem (HTTP 422), or, for a file from
the training-data bucket, the problems are recorded in ``training_file_rejections``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Literal

from openai import OpenAI
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from ..advisory_lock import hold_advisory_lock
from ..config import Settings
from ..errors import InvalidInput, NotFound, UpstreamError
from ..hashing import text_sha256
from ..models import TrainingExample, TrainingFile, TrainingFileRejection
from ..observability import logger
from ..openai_failures import openai_call_budget, openai_failures_as_domain_errors
from .validation import TrainingReport, auto_epochs, validate_training_file

# API Gateway caps bodies at ~6 MB; a bucket object is read whole into memory, so it is bounded too.
MAX_TRAINING_FILE_BYTES = 50 * 1024 * 1024
# Advisory-lock namespace (first key) of training-file uploads; the second key comes from the hash.
UPLOAD_LOCK_NAMESPACE = 0x7466  # "tf"
FILENAME = re.compile(r"[\w.\- ]{1,249}\.jsonl")
DEFAULT_FILENAME = "training.jsonl"
LOCAL_ID_PREFIX = "local-"
LOCAL_ID_HASH_CHARACTERS = 16


class InvalidTrainingFile(InvalidInput):
    code = "invalid_training_file"


class TrainingObjectNotFound(NotFound):
    code = "training_object_not_found"


@dataclass(frozen=True)
class Origin:
    """Where a training file came from and who sent it (recorded with the file)."""

    source: Literal["api", "s3"]
    ref: str | None = None
    uploaded_by: str | None = None


@dataclass(frozen=True)
class Uploaded:
    file: TrainingFile
    created: bool  # False: the same content was uploaded before; this is that file
    warnings: list[dict[str, Any]]


def checked_filename(filename: str | None) -> str:
    """The name OpenAI gets: ``*.jsonl`` (the only kind fine-tuning takes), no path, no control chars."""
    name = filename if filename is not None else DEFAULT_FILENAME
    if not FILENAME.fullmatch(name):
        raise InvalidInput(
            "filename must be 1-255 letters, digits, spaces, '.', '-' or '_' ending in .jsonl",
            details=[{"field": "filename", "in": "query", "code": "invalid_filename", "message": repr(name)}],
        )
    return name


def filename_from_key(key: str) -> str:
    """A name OpenAI accepts for a bucket object: its base name with unusual characters replaced."""
    base = key.rsplit("/", 1)[-1].removesuffix(".jsonl")
    cleaned = re.sub(r"[^\w.\- ]", "_", base)[:249] or "training"
    return f"{cleaned}.jsonl"


def validated(data: bytes, settings: Settings) -> TrainingReport:
    """The validation report; raises :class:`InvalidTrainingFile` listing every problem."""
    if len(data) > MAX_TRAINING_FILE_BYTES:
        raise InvalidTrainingFile(
            "The training file is too large.",
            details=[{"line": None, "code": "file_too_large", "message": f"Over {MAX_TRAINING_FILE_BYTES} bytes."}],
        )
    report = validate_training_file(data, token_limit=settings.training_token_limit)
    if not report.valid:
        raise InvalidTrainingFile(
            f"The training file has {len(report.problems)} problem(s); nothing was sent to OpenAI.",
            details=[problem.as_dict() for problem in report.problems],
        )
    return report


def local_file_id(sha256: str) -> str:
    """The id of a file kept without uploading it (``?upload=false``)."""
    return f"{LOCAL_ID_PREFIX}{sha256[:LOCAL_ID_HASH_CHARACTERS]}"


def upload_training_file(
    session: Session,
    data: bytes,
    *,
    filename: str,
    origin: Origin,
    client: OpenAI | None,
    settings: Settings,
    upload: bool = True,
) -> Uploaded:
    """Validate ``data``, keep its examples, and upload it with purpose ``fine-tune`` unless that
    content is known (or ``upload`` is False: then it is only kept, with a ``local-`` id)."""
    report = validated(data, settings)
    warnings = [warning.as_dict() for warning in report.warnings]
    sha256 = hashlib.sha256(report.normalized).hexdigest()
    existing = _file_with_hash(session, sha256)
    if existing is None or (upload and not existing.uploaded):
        hold_advisory_lock(
            session, UPLOAD_LOCK_NAMESPACE, sha256, wait_seconds=openai_call_budget(settings), what="upload"
        )
        existing = _file_with_hash(session, sha256)  # uploaded while we waited
    if existing is not None and (existing.uploaded or not upload):
        return Uploaded(existing, created=False, warnings=warnings)
    file_id = local_file_id(sha256)
    if upload:
        assert client is not None
        remote = _reconciled_upload(session, client, filename, report.normalized, settings)
        file_id = remote.id
    if existing is not None:
        # Kept earlier, uploaded now: the same examples, now at OpenAI too.
        existing.openai_file_id = file_id
        existing.uploaded = True
        session.flush()
        return Uploaded(existing, created=True, warnings=warnings)
    row = TrainingFile(
        openai_file_id=file_id,
        uploaded=upload,
        sha256=sha256,
        filename=filename,
        bytes=len(report.normalized),
        examples=report.examples,
        tokens=report.tokens,
        good_examples=report.labels["good"],
        bad_examples=report.labels["bad"],
        estimated_training_tokens=report.estimated_training_tokens,
        warnings=warnings,
        source=origin.source,
        source_ref=origin.ref,
        uploaded_by=origin.uploaded_by,
    )
    session.add(row)
    session.flush()
    _keep_examples(session, row.id, report.labelled)
    return Uploaded(row, created=True, warnings=warnings)


def _reconciled_upload(session: Session, client: OpenAI, filename: str, data: bytes, settings: Settings) -> Any:
    """Upload ``data`` to OpenAI exactly once, whatever the network does.

    Before every attempt OpenAI's recent fine-tune files are listed; one with this name and size
    that no row here records is the upload whose reply was lost (the content's advisory lock is
    held, so no other upload of it is under way), and it is adopted instead of uploading again.
    The SDK's blind retries are off for the upload; this loop retries after looking. A timeout is
    not retried here: the caller's retry looks first.
    """
    attempts = settings.openai_max_retries + 1
    once = client.with_options(max_retries=0)
    for attempt in range(1, attempts + 1):
        existing = _unrecorded_remote_file(session, client, filename, len(data))
        if existing is not None:
            logger.info("training file adopted", extra={"file_id": existing.id, "attempt": attempt})
            return existing
        try:
            with openai_failures_as_domain_errors("upload training file"):
                return once.files.create(file=(filename, data, "application/jsonl"), purpose="fine-tune")
        except UpstreamError:
            if attempt == attempts:
                raise
            logger.info("training file upload unanswered; reconciling", extra={"attempt": attempt})
    raise AssertionError("unreachable")


def _unrecorded_remote_file(session: Session, client: OpenAI, filename: str, size: int) -> Any:
    with openai_failures_as_domain_errors("list files"):
        page = client.files.list(purpose="fine-tune", order="desc", limit=100)
    candidates = [remote for remote in page.data if remote.filename == filename and remote.bytes == size]
    if not candidates:
        return None
    recorded = set(
        session.scalars(
            select(TrainingFile.openai_file_id).where(TrainingFile.openai_file_id.in_([c.id for c in candidates]))
        )
    )
    return next((remote for remote in candidates if remote.id not in recorded), None)


def _keep_examples(session: Session, file_id: int, labelled: list[tuple[int, str, str]]) -> None:
    """Every example stays readable (a prompted judge draws its examples from them)."""
    if not labelled:
        return
    session.execute(
        insert(TrainingExample),
        [
            {
                "training_file_id": file_id,
                "line": line,
                "text": text,
                "text_sha256": text_sha256(text),
                "label": label,
            }
            for line, text, label in labelled
        ],
    )


def _file_with_hash(session: Session, sha256: str) -> TrainingFile | None:
    return session.scalar(select(TrainingFile).where(TrainingFile.sha256 == sha256))


def read_training_object(s3: Any, bucket: str, key: str) -> bytes:
    """The object's bytes; too large → 422, absent → 404."""
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except s3.exceptions.ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            raise TrainingObjectNotFound(f"No object {key!r} in the training-data bucket.") from None
        raise
    if head["ContentLength"] > MAX_TRAINING_FILE_BYTES:
        raise InvalidTrainingFile(
            "The training file is too large.",
            details=[{"line": None, "code": "file_too_large", "message": f"Over {MAX_TRAINING_FILE_BYTES} bytes."}],
        )
    body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def record_rejection(
    session: Session, *, bucket: str, key: str, data: bytes, problems: list[dict[str, Any]], uploaded_by: str | None
) -> None:
    """Keep a rejected bucket file's problems for an operator (the same object twice is one row)."""
    session.execute(
        insert(TrainingFileRejection)
        .values(
            s3_bucket=bucket,
            s3_key=key,
            sha256=hashlib.sha256(data).hexdigest(),
            bytes=len(data),
            problems=problems,
            uploaded_by=uploaded_by,
        )
        .on_conflict_do_nothing()
    )


def recent_rejections(session: Session, limit: int) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(TrainingFileRejection)
        .order_by(TrainingFileRejection.created_at.desc(), TrainingFileRejection.id.desc())
        .limit(limit)
    )
    return [
        {
            "bucket": row.s3_bucket,
            "key": row.s3_key,
            "sha256": row.sha256,
            "bytes": row.bytes,
            "problems": row.problems,
            "uploaded_by": row.uploaded_by,
            "rejected_at": row.created_at.isoformat(),
        }
        for row in rows
    ]


def training_file_view(row: TrainingFile, warnings: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "id": row.openai_file_id,
        "filename": row.filename,
        "bytes": row.bytes,
        "sha256": row.sha256,
        "examples": row.examples,
        "tokens": row.tokens,
        "labels": {"good": row.good_examples, "bad": row.bad_examples},
        "estimated_epochs": auto_epochs(row.examples),
        "estimated_training_tokens": row.estimated_training_tokens,
        "warnings": row.warnings if warnings is None else warnings,
        "uploaded": row.uploaded,
        "source": row.source,
        "created_at": row.created_at.isoformat() if row.created_at else None,
    }
