"""POST /fine-tuning/jobs, GET /fine-tuning/jobs/{id}, the schedule, the OpenAI webhook, and the
active judge a successful job leaves behind."""

from __future__ import annotations

import copy
import json
import threading
import time

import pytest
import sqlalchemy as sa

from infra.lambda_runtime import LocalContext
from tests.fine_tuning.conftest import BASE_MODEL_DEFAULT, signed_headers, training_jsonl
from tests.support.lambda_invoke import call_http, result_of, sample_event


def current_model() -> str | None:
    """The model of the active judge (a finished job's judge is active at once without a golden set)."""
    from sqlalchemy import select

    from shop_marketing.db import session_scope
    from shop_marketing.models import Judge

    with session_scope() as session:
        return session.scalar(select(Judge.model).where(Judge.status == "active"))


@pytest.fixture
def training_file(upload_handler, openai) -> str:
    result = call_http(
        upload_handler, "POST", "/training-files", body=training_jsonl(), headers={"content-type": "application/jsonl"}
    )
    assert result.status == 201
    return result.json["id"]


def start(handler, **request):
    return call_http(handler, "POST", "/fine-tuning/jobs", json=request)


def get(handler, job_id: str):
    return call_http(handler, "GET", f"/fine-tuning/jobs/{job_id}")


def job_rows(db) -> list:
    with db.connect() as connection:
        return connection.execute(
            sa.text("SELECT openai_job_id, status, idempotency_key FROM fine_tuning_jobs ORDER BY id")
        ).all()


def webhook_event(job_id: str, event_type: str = "fine_tuning.job.succeeded") -> dict:
    event = copy.deepcopy(sample_event("openai_webhook.json"))
    payload = json.loads(event["body"])
    payload["data"]["id"] = job_id
    payload["type"] = event_type
    event["body"] = json.dumps(payload)
    return event


def deliver(handler, event: dict, headers: dict[str, str]):
    event = copy.deepcopy(event)
    event["headers"] = {**{k: v for k, v in event["headers"].items() if not k.startswith("webhook-")}, **headers}
    return result_of(handler(event, LocalContext()))


# --- starting jobs ------------------------------------------------------------------------------


def test_job_starts_supervised_on_the_default_model_with_auto_hyperparameters(jobs_handler, openai, training_file):
    result = start(jobs_handler, training_file_id=training_file)

    assert result.status == 201, result.json
    [request] = openai.job_creations()
    body = request.json()
    assert body["model"] == BASE_MODEL_DEFAULT
    assert body["training_file"] == training_file
    assert body["method"] == {
        "type": "supervised",
        "supervised": {
            "hyperparameters": {"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto"}
        },
    }
    assert "suffix" not in body and "validation_file" not in body
    job = result.json
    assert job["id"].startswith("ftjob-")
    assert (job["status"], job["model"], job["training_file"], job["fine_tuned_model"]) == (
        "validating_files",
        BASE_MODEL_DEFAULT,
        training_file,
        None,
    )


def test_given_options_are_sent_as_given(jobs_handler, openai, training_file):
    result = start(
        jobs_handler,
        training_file_id=training_file,
        validation_file_id=training_file,
        suffix="judge",
        n_epochs=4,
        batch_size=2,
        learning_rate_multiplier=0.5,
        model="gpt-4o-mini-2024-07-18",
    )

    assert result.status == 201, result.json
    body = openai.job_creations()[0].json()
    assert (body["suffix"], body["validation_file"]) == ("judge", training_file)
    assert body["method"]["supervised"]["hyperparameters"] == {
        "n_epochs": 4,
        "batch_size": 2,
        "learning_rate_multiplier": 0.5,
    }


def test_same_request_twice_makes_one_job(jobs_handler, openai, training_file, db):
    first = start(jobs_handler, training_file_id=training_file, suffix="judge")
    # The same request, spelled with its defaults, is still the same request
    second = start(
        jobs_handler, suffix="judge", training_file_id=training_file, n_epochs="auto", model=BASE_MODEL_DEFAULT
    )

    assert (first.status, second.status) == (201, 200)
    assert second.json["id"] == first.json["id"]
    assert len(openai.job_creations()) == 1
    assert len(job_rows(db)) == 1


def test_identical_requests_at_once_make_one_job(jobs_handler, openai, training_file, db):
    openai.standin.on("POST", r"/fine_tuning/jobs", _slowly(openai.respond, 0.5))
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(start(jobs_handler, training_file_id=training_file)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(result.status for result in results) == [200, 201]
    assert len(openai.job_creations()) == 1
    assert len(job_rows(db)) == 1


def _slowly(responder, delay):
    def answer(request, match):
        time.sleep(delay)
        return responder(request, match)

    return answer


def test_a_different_request_makes_another_job(jobs_handler, openai, training_file):
    first = start(jobs_handler, training_file_id=training_file)
    other = start(jobs_handler, training_file_id=training_file, n_epochs=3)

    assert (first.status, other.status) == (201, 201)
    assert first.json["id"] != other.json["id"]


def test_same_request_after_a_failed_job_starts_a_new_one(jobs_handler, openai, training_file):
    first = start(jobs_handler, training_file_id=training_file).json["id"]
    openai.advance(
        first, "failed", error={"code": "invalid_training_file", "message": "bad file", "param": "training_file"}
    )
    failed = get(jobs_handler, first).json
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "invalid_training_file"

    retry = start(jobs_handler, training_file_id=training_file)

    assert retry.status == 201
    assert retry.json["id"] != first
    assert current_model() is None


@pytest.mark.parametrize("field", ["training_file_id", "validation_file_id"])
def test_unknown_file_id_makes_no_job_and_no_openai_call(jobs_handler, openai, training_file, db, field):
    request = {"training_file_id": training_file, field: "file-never-uploaded"}

    result = start(jobs_handler, **request)

    assert (result.status, result.json["error"]["code"]) == (404, "training_file_not_found")
    assert result.json["error"]["field"] == field
    assert openai.job_creations() == []
    assert job_rows(db) == []


@pytest.mark.parametrize(
    "request_body",
    [
        {},
        {"training_file_id": ""},
        {"training_file_id": "file-1", "n_epochs": 0},
        {"training_file_id": "file-1", "batch_size": "big"},
        {"training_file_id": "file-1", "learning_rate_multiplier": -1},
        {"training_file_id": "file-1", "suffix": "x" * 65},
        {"training_file_id": "file-1", "epochs": 3},
    ],
)
def test_invalid_job_request_is_422_before_openai(jobs_handler, openai, request_body):
    result = start(jobs_handler, **request_body)

    assert result.status == 422
    assert openai.standin.requests == []


def test_openai_refusing_the_job_is_422_with_its_message_and_no_job(jobs_handler, openai, training_file, db):
    from infra.openai_standin import Reply

    openai.standin.on(
        "POST",
        r"/fine_tuning/jobs",
        lambda request, match: Reply(
            400,
            {
                "error": {
                    "message": "Model gpt-9 is not available for fine-tuning",
                    "type": "invalid_request_error",
                    "param": "model",
                    "code": None,
                }
            },
        ),
    )

    result = start(jobs_handler, training_file_id=training_file, model="gpt-9")

    assert (result.status, result.json["error"]["code"]) == (422, "openai_rejected")
    assert "not available for fine-tuning" in result.json["error"]["message"]
    assert job_rows(db) == []


# --- following a job to its model ---------------------------------------------------------------


def test_job_life_cycle_seen_by_get_activates_the_model(jobs_handler, openai, training_file):
    job_id = start(jobs_handler, training_file_id=training_file).json["id"]

    openai.advance(job_id, "running")
    running = get(jobs_handler, job_id)
    assert running.status == 200
    assert running.json["status"] == "running"
    assert [event["message"] for event in running.json["events"]] == ["Job running", "Validating training file"]
    assert current_model() is None

    openai.advance(job_id, "succeeded")
    done = get(jobs_handler, job_id).json

    assert done["status"] == "succeeded"
    assert done["fine_tuned_model"].startswith("ft:gpt-4o-mini-2024-07-18:shop::")
    assert done["trained_tokens"] == 12_345
    assert done["finished_at"] is not None
    assert current_model() == done["fine_tuned_model"]


def test_get_of_an_unknown_job_is_404_without_asking_openai(jobs_handler, openai, db):
    result = get(jobs_handler, "ftjob-unknown")

    assert (result.status, result.json["error"]["code"]) == (404, "job_not_found")
    assert openai.standin.requests == []


def test_sample_get_event_runs_through_the_handler(jobs_handler, openai, training_file):
    start(jobs_handler, training_file_id=training_file)  # the stand-in names it ftjob-00000002

    result = result_of(jobs_handler(sample_event("get_job_http.json"), LocalContext()))

    assert result.status == 200, result.json
    assert result.json["id"] == "ftjob-00000002"


def test_sample_start_event_runs_through_the_handler(jobs_handler, openai, training_file):
    assert training_file == "file-000001"  # the id the sample names

    result = result_of(jobs_handler(sample_event("start_job_http.json"), LocalContext()))

    assert result.status == 201, result.json
    assert result.json["suffix"] == "judge"


def test_schedule_refreshes_unfinished_jobs_and_activates_the_model(jobs_handler, openai, training_file):
    job_id = start(jobs_handler, training_file_id=training_file).json["id"]
    schedule = sample_event("refresh_jobs_schedule.json")

    openai.advance(job_id, "running")
    assert jobs_handler(schedule, LocalContext()) == {"refreshed": {job_id: "running"}, "failed": []}
    openai.advance(job_id, "succeeded")
    assert jobs_handler(schedule, LocalContext()) == {"refreshed": {job_id: "succeeded"}, "failed": []}

    assert current_model() == openai.jobs[job_id]["fine_tuned_model"]
    # A finished job is no longer polled
    requests_before = len(openai.standin.requests)
    assert jobs_handler(schedule, LocalContext()) == {"refreshed": {}, "failed": []}
    assert len(openai.standin.requests) == requests_before


def test_schedule_keeps_going_when_openai_fails_for_one_job(jobs_handler, openai, training_file):
    from infra.openai_standin import Reply

    broken = start(jobs_handler, training_file_id=training_file).json["id"]
    healthy = start(jobs_handler, training_file_id=training_file, suffix="b").json["id"]
    openai.standin.on(
        "GET", rf"/fine_tuning/jobs/{broken}", lambda request, match: Reply(500, {"error": {"message": "boom"}})
    )
    openai.advance(healthy, "succeeded")

    summary = jobs_handler(sample_event("refresh_jobs_schedule.json"), LocalContext())

    assert summary == {"refreshed": {healthy: "succeeded"}, "failed": [broken]}
    assert current_model() == openai.jobs[healthy]["fine_tuned_model"]


def test_signed_webhook_refreshes_the_job_and_activates_the_model(jobs_handler, openai, training_file):
    job_id = start(jobs_handler, training_file_id=training_file).json["id"]
    openai.advance(job_id, "running")
    openai.advance(job_id, "succeeded")
    event = webhook_event(job_id)

    result = deliver(jobs_handler, event, signed_headers(event["body"].encode()))

    assert result.status == 200, result.json
    assert result.json["handled"] is True
    assert result.json["job"]["status"] == "succeeded"
    assert current_model() == openai.jobs[job_id]["fine_tuned_model"]


def test_base64_webhook_body_is_verified_over_its_decoded_bytes(jobs_handler, openai, training_file):
    import base64

    job_id = start(jobs_handler, training_file_id=training_file).json["id"]
    openai.advance(job_id, "succeeded")
    event = webhook_event(job_id)
    raw = event["body"].encode()
    event["body"], event["isBase64Encoded"] = base64.b64encode(raw).decode(), True

    result = deliver(jobs_handler, event, signed_headers(raw))

    assert result.status == 200
    assert current_model() == openai.jobs[job_id]["fine_tuned_model"]


def _forged(body: bytes) -> dict[str, str]:
    return signed_headers(body, secret="whsec_" + "Zm9yZ2VkLXNlY3JldC1mb3JnZWQtc2VjcmV0IQ==")


def _stale(body: bytes) -> dict[str, str]:
    return signed_headers(body, timestamp=int(time.time()) - 600)


def _tampered(body: bytes) -> dict[str, str]:
    return signed_headers(body.replace(b"succeeded", b"cancelled"))


@pytest.mark.parametrize(
    "headers_for",
    [_forged, _stale, _tampered, lambda body: {"content-type": "application/json"}],
    ids=["forged", "stale", "signed-other-body", "unsigned"],
)
def test_unverifiable_webhook_is_401_and_changes_nothing(jobs_handler, openai, training_file, db, headers_for):
    job_id = start(jobs_handler, training_file_id=training_file).json["id"]
    openai.advance(job_id, "succeeded")
    requests_before = len(openai.standin.requests)
    event = webhook_event(job_id)

    result = deliver(jobs_handler, event, headers_for(event["body"].encode()))

    assert (result.status, result.json["error"]["code"]) == (401, "unauthorized")
    assert job_rows(db)[0].status == "validating_files"
    assert current_model() is None
    assert len(openai.standin.requests) == requests_before


def test_signed_event_of_another_kind_or_job_is_acknowledged_and_ignored(jobs_handler, openai, training_file, db):
    job_id = start(jobs_handler, training_file_id=training_file).json["id"]
    openai.advance(job_id, "succeeded")
    other_kind = webhook_event(job_id, event_type="batch.completed")
    other_job = webhook_event("ftjob-from-another-project")

    results = [
        deliver(jobs_handler, event, signed_headers(event["body"].encode())) for event in (other_kind, other_job)
    ]

    assert [(r.status, r.json["handled"]) for r in results] == [(200, False), (200, False)]
    assert job_rows(db)[0].status == "validating_files"
    assert current_model() is None


def test_refreshing_an_old_success_never_reactivates_its_model_over_a_newer_one(jobs_handler, openai, training_file):
    older = start(jobs_handler, training_file_id=training_file, suffix="old").json["id"]
    newer = start(jobs_handler, training_file_id=training_file, suffix="new").json["id"]
    openai.advance(older, "succeeded")
    get(jobs_handler, older)
    openai.advance(newer, "succeeded")
    get(jobs_handler, newer)

    get(jobs_handler, older)  # e.g. a late webhook or a user looking at it again

    assert current_model() == openai.jobs[newer]["fine_tuned_model"]


def test_a_stale_reply_never_moves_a_job_backwards(jobs_handler, openai, training_file):
    job_id = start(jobs_handler, training_file_id=training_file).json["id"]
    openai.advance(job_id, "succeeded")
    assert get(jobs_handler, job_id).json["status"] == "succeeded"

    openai.jobs[job_id]["status"] = "running"  # an out-of-date answer, e.g. from a lagging replica

    assert get(jobs_handler, job_id).json["status"] == "succeeded"


def test_webhook_without_a_configured_secret_is_503_naming_the_variable(jobs_handler, openai, monkeypatch):
    from tests.fine_tuning.conftest import use_settings

    monkeypatch.delenv("OPENAI_WEBHOOK_SECRET")
    use_settings(monkeypatch)
    event = webhook_event("ftjob-any")

    result = deliver(jobs_handler, event, signed_headers(event["body"].encode()))

    assert result.status == 503
    assert "OPENAI_WEBHOOK_SECRET" in result.json["error"]["message"]


def test_webhook_secret_is_read_from_secrets_manager_in_aws(jobs_handler, openai, training_file, monkeypatch):
    import boto3
    from moto import mock_aws

    from tests.fine_tuning.conftest import WEBHOOK_SECRET, use_settings

    job_id = start(jobs_handler, training_file_id=training_file).json["id"]
    openai.advance(job_id, "succeeded")
    event = webhook_event(job_id)
    with mock_aws():
        arn = boto3.client("secretsmanager").create_secret(Name="openai-webhook-ft-test", SecretString=WEBHOOK_SECRET)[
            "ARN"
        ]
        monkeypatch.delenv("OPENAI_WEBHOOK_SECRET")
        use_settings(monkeypatch, OPENAI_WEBHOOK_SECRET_ARN=arn)

        result = deliver(jobs_handler, event, signed_headers(event["body"].encode()))

    assert result.status == 200, result.json
    assert current_model() == openai.jobs[job_id]["fine_tuned_model"]


def test_webhook_answers_401_until_the_signing_secret_is_put_in_the_stacks_secret(
    jobs_handler, openai, training_file, monkeypatch
):
    """docs/deploy-and-access.md "Deploy": the stack creates the secret unset; OpenAI issues whsec_ only once
    the URL exists."""
    import boto3
    from aws_lambda_powertools.utilities import parameters
    from moto import mock_aws

    from infra.api_gateway import load_template
    from tests.fine_tuning.conftest import WEBHOOK_SECRET, use_settings

    created = load_template()["Resources"]["OpenAIWebhookSecret"]["Properties"]["SecretString"]
    job_id = start(jobs_handler, training_file_id=training_file).json["id"]
    openai.advance(job_id, "succeeded")
    event = webhook_event(job_id)
    with mock_aws():
        # Given the secret as the stack created it, before anyone registered the webhook
        secrets = boto3.client("secretsmanager")
        arn = secrets.create_secret(Name="openai-webhook-unset", SecretString=created)["ARN"]
        monkeypatch.delenv("OPENAI_WEBHOOK_SECRET")
        use_settings(monkeypatch, OPENAI_WEBHOOK_SECRET_ARN=arn)

        # Then a delivery, even one signed with the real secret, is refused and changes nothing
        refused = deliver(jobs_handler, event, signed_headers(event["body"].encode()))
        assert refused.status == 401
        assert "not set yet" in refused.json["error"]["message"]
        assert current_model() is None

        # When the operator puts OpenAI's whsec_ value in (and the 5-minute cache has moved on)
        secrets.put_secret_value(SecretId=arn, SecretString=WEBHOOK_SECRET)
        parameters.clear_caches()
        accepted = deliver(jobs_handler, event, signed_headers(event["body"].encode()))

    assert accepted.status == 200, accepted.json
    assert current_model() == openai.jobs[job_id]["fine_tuned_model"]
