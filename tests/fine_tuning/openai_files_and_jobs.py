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

from tests.support.openai_standin import OpenAIStandIn, Recorded, Reply

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
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self) -> FilesAndJobs:
        self.standin.on("POST", r"/files", self._create_file)
        self.standin.on("POST", r"/fine_tuning/jobs", self._create_job)
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
        return Reply(
            200,
            {
                "id": f"file-{next(self._ids):06d}",
                "object": "file",
                "bytes": len(upload.data),
                "created_at": int(time.time()),
                "filename": upload.filename,
                "purpose": fields["purpose"].data.decode(),
                "status": "processed",
                "expires_at": None,
                "status_details": None,
            },
        )

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
            "hyperparameters": {"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto", **hyperparameters},
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
    return Reply(404, {"error": {"message": f"No such job: {job_id}", "type": "invalid_request_error", "param": "fine_tune_id", "code": "fine_tune_not_found"}})
