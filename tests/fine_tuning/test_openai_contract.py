"""The upload and job requests against OpenAI's own API description, and the stand-in's answers.

The bodies the service sends are validated with jsonschema against ``CreateFileRequest`` and
``CreateFineTuningJobRequest``; what the files-and-jobs stand-in answers in OpenAI's place against
``OpenAIFile``, ``FineTuningJob`` and the list schemas, so the tests' OpenAI is the documented one.
The schemas come from the extract kept in ``tests/support/openai_api`` (MIT). They are read with
draft-4 semantics (``exclusiveMinimum: true``), as the description's schemas are written.
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from infra.openai_standin import multipart_fields
from tests.fine_tuning.conftest import training_jsonl
from tests.support.lambda_invoke import call_http
from tests.support.openai_api import problems as schema_problems


def problems(schema_name: str, instance: dict) -> list[str]:
    return schema_problems(schema_name, instance, draft="draft4")


def form_of(request) -> dict:
    """A multipart upload as the form the schema describes (the file part stands in as text)."""
    return {name: part.data.decode() for name, part in multipart_fields(request).items()}


def upload(handler):
    return call_http(
        handler, "POST", "/training-files", body=training_jsonl(), headers={"content-type": "application/jsonl"}
    )


def test_the_upload_is_a_valid_create_file_request(upload_handler, openai):
    upload(upload_handler)

    [request] = openai.uploads()
    assert problems("CreateFileRequest", form_of(request)) == []


def test_job_requests_are_valid_create_fine_tuning_job_requests(upload_handler, jobs_handler, openai):
    file_id = upload(upload_handler).json["id"]

    call_http(jobs_handler, "POST", "/fine-tuning/jobs", json={"training_file_id": file_id})
    call_http(
        jobs_handler,
        "POST",
        "/fine-tuning/jobs",
        json={
            "training_file_id": file_id,
            "validation_file_id": file_id,
            "suffix": "judge",
            "n_epochs": 3,
            "batch_size": 8,
            "learning_rate_multiplier": 0.3,
        },
    )

    bodies = [request.json() for request in openai.job_creations()]
    assert len(bodies) == 2
    assert [problems("CreateFineTuningJobRequest", body) for body in bodies] == [[], []]


@pytest.mark.parametrize(
    "schema_name,broken",
    [
        pytest.param("CreateFileRequest", {"purpose": "finetune"}, id="file-unknown-purpose"),
        pytest.param("CreateFileRequest", {"filename": "x.jsonl"}, id="file-unknown-field"),
        pytest.param("CreateFineTuningJobRequest", {"suffix": ""}, id="job-empty-suffix"),
        pytest.param(
            "CreateFineTuningJobRequest",
            {"method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 0}}}},
            id="job-zero-epochs",
        ),
        pytest.param(
            "CreateFineTuningJobRequest",
            {"method": {"type": "supervised", "supervised": {"hyperparameters": {"learning_rate_multiplier": 0}}}},
            id="job-zero-learning-rate",
        ),
        pytest.param("CreateFineTuningJobRequest", {"method": {"type": "tuned"}}, id="job-unknown-method"),
    ],
)
def test_the_schema_check_rejects_what_openai_would(schema_name, broken):
    # Shows the validation above can fail: a valid request, broken in one place.
    valid = {
        "CreateFileRequest": {"file": "{}", "purpose": "fine-tune"},
        "CreateFineTuningJobRequest": {
            "model": "gpt-4o-mini-2024-07-18",
            "training_file": "file-abc123",
            "method": {"type": "supervised", "supervised": {"hyperparameters": {"learning_rate_multiplier": 0.5}}},
        },
    }[schema_name]
    assert problems(schema_name, valid) == []
    assert problems(schema_name, {**valid, **broken}) != []


def read(standin, path: str) -> dict:
    request = urllib.request.Request(f"{standin.base_url}{path}", headers={"authorization": "Bearer sk-test"})
    with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310 - loopback
        return json.loads(reply.read())


def test_the_stand_ins_answers_are_what_openai_documents(upload_handler, jobs_handler, openai):
    uploaded = upload(upload_handler)
    assert uploaded.status == 201, uploaded.json
    started = call_http(
        jobs_handler, "POST", "/fine-tuning/jobs", json={"training_file_id": uploaded.json["id"], "suffix": "judge"}
    )
    assert started.status == 201, started.json
    job_id = started.json["id"]
    openai.advance(job_id, "succeeded")

    answers = {
        "OpenAIFile": read(openai.standin, "/files").get("data", [None])[0],
        "ListFilesResponse": read(openai.standin, "/files?purpose=fine-tune"),
        "FineTuningJob": read(openai.standin, f"/fine_tuning/jobs/{job_id}"),
        "ListPaginatedFineTuningJobsResponse": read(openai.standin, "/fine_tuning/jobs"),
        "ListFineTuningJobEventsResponse": read(openai.standin, f"/fine_tuning/jobs/{job_id}/events"),
    }

    assert {name: problems(name, answer) for name, answer in answers.items()} == dict.fromkeys(answers, [])


def test_the_answer_check_rejects_what_openai_would_not_send():
    # Shows the check above can fail: a documented job, broken in one place.
    job = {
        "object": "fine_tuning.job",
        "id": "ftjob-1",
        "model": "gpt-4o-mini-2024-07-18",
        "created_at": 1,
        "fine_tuned_model": None,
        "organization_id": "org",
        "result_files": [],
        "status": "queued",
        "validation_file": None,
        "training_file": "file-1",
        "hyperparameters": {},
        "trained_tokens": None,
        "error": None,
        "finished_at": None,
        "estimated_finish": None,
        "integrations": None,
        "seed": 1,
        "metadata": None,
    }
    assert problems("FineTuningJob", job) == []
    assert problems("FineTuningJob", {**job, "status": "done"}) != []
