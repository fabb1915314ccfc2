"""OpenAI's Files and fine-tuning Jobs endpoints, scripted on the loopback stand-in.

Answers carry the shapes of OpenAI's API reference (FileObject, FineTuningJob, a list of
FineTuningJobEvent). A job starts ``validating_files``, as OpenAI's do; the test moves it on with
:meth:`FilesAndJobs.advance`, the way OpenAI's workers would. Every request stays recorded on the
stand-in, so tests assert on exactly what the service sent.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qs

from infra.openai_standin import OpenAIStandIn, Recorded, Reply


@dataclass
class MultipartField:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


def multipart_fields(request: Recorded) -> dict[str, MultipartField]:
    """The fields of a ``multipart/form-data`` request body, by name."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.body)
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        fields[name] = MultipartField(
            name=name,
            filename=part.get_filename(),
            content_type=part.get_content_type() if part.get("content-type") else None,
            data=part.get_payload(decode=True),
        )
    return fields


@dataclass
class FilesAndJobs:
    standin: OpenAIStandIn
    upload_delay: float = 0.0
    # How many of the next uploads / job creations OpenAI completes but whose reply is lost (the
    # connection drops after the work is done).
    lose_upload_replies: int = 0
    lose_job_replies: int = 0
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self) -> FilesAndJobs:
        self.standin.on("POST", r"/files", self._create_file)
        self.standin.on("GET", r"/files", self._list_files)
        self.standin.on("POST", r"/fine_tuning/jobs", self._create_job)
        self.standin.on("GET", r"/fine_tuning/jobs", self._list_jobs)
        self.standin.on("GET", r"/fine_tuning/jobs/(?P<job>[^/]+)", self._retrieve_job)
        self.standin.on("GET", r"/fine_tuning/jobs/(?P<job>[^/]+)/events", self._list_events)
        return self

    # --- what the service sent ------------------------------------------------------------------

    def uploads(self) -> list[Recorded]:
        return self.standin.requests_to("POST", r"/files")

    def job_creations(self) -> list[Recorded]:
        return self.standin.requests_to("POST", r"/fine_tuning/jobs")

    # --- OpenAI's side of the life cycle --------------------------------------------------------

    def advance(self, job_id: str, status: str, **changes: Any) -> None:
        """Move a job on, as OpenAI's workers would, with an event telling so."""
        with self._lock:
            job = self.jobs[job_id]
            job.update(status=status, **changes)
            if status == "succeeded":
                job.setdefault("fine_tuned_model", None)
                if job["fine_tuned_model"] is None:
                    job["fine_tuned_model"] = f"ft:{job['model']}:shop::{job_id[-8:]}"
                job["trained_tokens"] = job.get("trained_tokens") or 12_345
                job["finished_at"] = int(time.time())
            self.events[job_id].insert(0, self._event(f"Job {status.replace('_', ' ')}", status))

    def _create_file(self, request: Recorded, _) -> Reply:
        fields = multipart_fields(request)
        if self.upload_delay:
            time.sleep(self.upload_delay)
        upload = fields["file"]
        created = {
            "id": f"file-{next(self._ids):06d}",
            "object": "file",
            "bytes": len(upload.data),
            "created_at": int(time.time()),
            "filename": upload.filename,
            "purpose": fields["purpose"].data.decode(),
            "status": "processed",
        }
        with self._lock:
            self.files[created["id"]] = created
            if self.lose_upload_replies:
                self.lose_upload_replies -= 1
                return Reply(drop=True)
        return Reply(200, dict(created))

    def _list_files(self, request: Recorded, _) -> Reply:
        query = parse_qs(request.query)
        with self._lock:
            files = [dict(f) for f in reversed(self.files.values())]
        if "purpose" in query:
            files = [f for f in files if f["purpose"] == query["purpose"][0]]
        limit = int(query.get("limit", ["10000"])[0])
        page = files[:limit]
        return Reply(
            200,
            {
                "object": "list",
                "data": page,
                "has_more": len(files) > limit,
                "first_id": page[0]["id"] if page else "",
                "last_id": page[-1]["id"] if page else "",
            },
        )

    def _list_jobs(self, request: Recorded, _) -> Reply:
        """Newest first; ``metadata[k]=v`` filters, as OpenAI's list does."""
        query = parse_qs(request.query)
        wanted = {
            name[len("metadata[") : -1]: values[0] for name, values in query.items() if name.startswith("metadata[")
        }
        with self._lock:
            jobs = [json.loads(json.dumps(job)) for job in reversed(self.jobs.values())]
        jobs = [job for job in jobs if all((job.get("metadata") or {}).get(k) == v for k, v in wanted.items())]
        limit = int(query.get("limit", ["20"])[0])
        return Reply(200, {"object": "list", "data": jobs[:limit], "has_more": len(jobs) > limit})

    def _create_job(self, request: Recorded, _) -> Reply:
        body = request.json()
        job_id = f"ftjob-{next(self._ids):08d}"
        hyperparameters = body.get("method", {}).get("supervised", {}).get("hyperparameters", {})
        job = {
            "object": "fine_tuning.job",
            "id": job_id,
            "model": body["model"],
            "created_at": int(time.time()),
            "fine_tuned_model": None,
            "organization_id": "org-shop",
            "result_files": [],
            "status": "validating_files",
            "validation_file": body.get("validation_file"),
            "training_file": body["training_file"],
            "hyperparameters": {
                "n_epochs": "auto",
                "batch_size": "auto",
                "learning_rate_multiplier": "auto",
                **hyperparameters,
            },
            "trained_tokens": None,
            "error": None,
            "finished_at": None,
            "estimated_finish": None,
            "integrations": None,
            "seed": 42,
            "metadata": body.get("metadata"),
            "method": body.get("method"),
        }
        with self._lock:
            self.jobs[job_id] = job
            self.events[job_id] = [self._event("Validating training file", "validating_files")]
            if self.lose_job_replies:
                self.lose_job_replies -= 1
                return Reply(drop=True)
        return Reply(200, dict(job))

    def _retrieve_job(self, _: Recorded, match) -> Reply:
        with self._lock:
            job = self.jobs.get(match["job"])
            if job is None:
                return _not_found(match["job"])
            return Reply(200, json.loads(json.dumps(job)))

    def _list_events(self, request: Recorded, match) -> Reply:
        with self._lock:
            if match["job"] not in self.events:
                return _not_found(match["job"])
            events = list(self.events[match["job"]])
        return Reply(200, {"object": "list", "data": events, "has_more": False})

    def _event(self, message: str, status: str) -> dict[str, Any]:
        return {
            "object": "fine_tuning.job.event",
            "id": f"ftevent-{next(self._ids):08d}",
            "created_at": int(time.time()),
            "level": "info",
            "message": message,
            "data": {"status": status},
            "type": "message",
        }


def _not_found(job_id: str) -> Reply:
    return Reply(
        404,
        {
            "error": {
                "message": f"No such job: {job_id}",
                "type": "invalid_request_error",
                "param": "fine_tune_id",
                "code": "fine_tune_not_found",
            }
        },
    )
