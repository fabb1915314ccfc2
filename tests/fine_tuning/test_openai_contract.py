"""The upload and job requests against OpenAI's own API description: its schemas, and the team's
Prism mock generated from it.

The mock was seen to accept invalid requests, so the bodies the service sends are also validated
here with jsonschema against ``CreateFileRequest`` and ``CreateFineTuningJobRequest``. The description
is read from the team folder at test time, never copied into the repository. It is OpenAPI 3.0, whose
schemas use draft-4 semantics (``exclusiveMinimum: true``), so a draft-4 validator reads them.
"""

from __future__ import annotations

from functools import cache

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from tests.fine_tuning.conftest import training_jsonl, use_settings
from tests.fine_tuning.openai_files_and_jobs import multipart_fields
from tests.support.lambda_invoke import ROOT, call_http

OPENAPI = ROOT.parent / "shared" / "openai" / "openapi.yaml"
SPEC_URI = "urn:openai:openapi"


@cache
def validator(schema_name: str) -> jsonschema.Draft4Validator:
    if not OPENAPI.exists():
        pytest.fail(f"OpenAI's API description is missing from the team folder: {OPENAPI}")
    spec = yaml.load(OPENAPI.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    # The whole description is one resource, so its "#/components/schemas/..." references resolve.
    registry = Registry().with_resource(SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT4))
    return jsonschema.Draft4Validator({"$ref": f"{SPEC_URI}#/components/schemas/{schema_name}"}, registry=registry)


def problems(schema_name: str, instance: dict) -> list[str]:
    return [error.message for error in validator(schema_name).iter_errors(instance)]


def form_of(request) -> dict:
    """A multipart upload as the form the schema describes (the file part stands in as text)."""
    return {name: part.data.decode() for name, part in multipart_fields(request).items()}


def upload(handler):
    return call_http(handler, "POST", "/training-files", body=training_jsonl(), headers={"content-type": "application/jsonl"})


def test_the_upload_is_a_valid_create_file_request(upload_handler, openai):
    upload(upload_handler)

    [request] = openai.uploads()
    assert problems("CreateFileRequest", form_of(request)) == []


def test_job_requests_are_valid_create_fine_tuning_job_requests(upload_handler, jobs_handler, openai):
    file_id = upload(upload_handler).json["id"]

    call_http(jobs_handler, "POST", "/fine-tuning/jobs", json={"training_file_id": file_id})
    call_http(
        jobs_handler, "POST", "/fine-tuning/jobs",
        json={"training_file_id": file_id, "validation_file_id": file_id, "suffix": "judge", "n_epochs": 3,
              "batch_size": 8, "learning_rate_multiplier": 0.3},
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
        pytest.param("CreateFineTuningJobRequest", {"method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 0}}}}, id="job-zero-epochs"),
        pytest.param("CreateFineTuningJobRequest", {"method": {"type": "supervised", "supervised": {"hyperparameters": {"learning_rate_multiplier": 0}}}}, id="job-zero-learning-rate"),
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


def test_the_openai_mock_accepts_the_upload_and_the_job(upload_handler, jobs_handler, openai_mock, monkeypatch):
    # Given the SDK pointed at the mock generated from OpenAI's API description (examples as answers)
    # (Prism compiles a schema on its first request to an operation: on a busy machine that is slow.)
    use_settings(monkeypatch, OPENAI_BASE_URL=openai_mock.base_url, OPENAI_TIMEOUT_SECONDS="25")
    seen = len(openai_mock.log_lines())

    # When a training file is uploaded, a job started on it and read back
    uploaded = upload(upload_handler)
    assert uploaded.status == 201, uploaded.json
    started = call_http(jobs_handler, "POST", "/fine-tuning/jobs", json={"training_file_id": uploaded.json["id"], "suffix": "judge"})
    assert started.status == 201, started.json
    refreshed = call_http(jobs_handler, "GET", f"/fine-tuning/jobs/{started.json['id']}")
    assert refreshed.status == 200, refreshed.json

    # Then the mock validated every request and found nothing wrong, and its answers were understood
    log = "\n".join(openai_mock.log_lines()[seen:])
    for call in ("post /files", "post /fine_tuning/jobs", f"get /fine_tuning/jobs/{started.json['id']}"):
        assert call in log.lower().replace("%2f", "/"), log
    assert log.count("The request passed the validation rules") >= 4
    assert "violation" not in log.lower()
