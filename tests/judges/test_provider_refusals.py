"""A provider that refuses: retired models, fine-tuning closed; and twins that must cost one call."""

from __future__ import annotations

import json
import threading

import pytest
import sqlalchemy as sa

from tests.judges.conftest import GOOD, create_judge, jsonl, keep_examples, post, use_settings
from tests.judging.conftest import make_active_judge
from tests.support.lambda_invoke import call_http

RETIRED = "ft:gpt-4o-mini-2024-07-18:shop::judge01"


def test_a_retired_model_is_503_judge_model_unavailable(judge_handler, openai, openai_standin, db):
    openai.retired_models = {"gpt-4o-mini-2024-07-18"}
    make_active_judge(RETIRED)

    result = post(judge_handler, "/comments/judge", {"comment": GOOD[0]})

    assert result.status == 503
    assert result.json["error"]["code"] == "judge_model_unavailable"
    assert RETIRED in result.json["error"]["message"]
    with db.connect() as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM judgements")) == 0


def test_the_fallback_judge_answers_when_the_active_judges_model_is_gone(
    judge_handler, judges_handler, upload_handler, openai, openai_standin, monkeypatch
):
    openai.retired_models = {"gpt-4o-mini-2024-07-18"}
    make_active_judge(RETIRED)
    file_id = keep_examples(upload_handler)
    create_judge(
        judges_handler, name="prompted-fallback", style="prompted", model="gpt-4.1-mini", examples_file_id=file_id
    )
    use_settings(monkeypatch, JUDGE_FALLBACK="prompted-fallback")

    answer = post(judge_handler, "/comments/judge", {"comment": GOOD[0]})

    assert answer.status == 200, answer.json
    assert (answer.json["judge"], answer.json["model"], answer.json["verdict"]) == (
        "prompted-fallback",
        "gpt-4.1-mini",
        "good",
    )
    again = post(judge_handler, "/comments/judge", {"comment": GOOD[0]}).json
    assert (again["judge"], again["cached"]) == ("prompted-fallback", True)


def test_a_queued_batch_goes_to_the_fallback_judge_when_the_active_judges_model_is_gone(
    judge_handler, judges_handler, upload_handler, openai, openai_standin, db, monkeypatch
):
    from infra.lambda_runtime import LocalContext, load_handler
    from tests.judging.test_judge_queue import batch, failed_ids
    from tests.support.lambda_invoke import ROOT

    queue_handler = load_handler(ROOT / "functions" / "judge_comment", "app.queue_handler")
    openai.retired_models = {"gpt-4o-mini-2024-07-18"}
    make_active_judge(RETIRED)
    event = batch(
        [json.dumps({"comment": GOOD[0]}), json.dumps({"comment": GOOD[1]}), json.dumps({"comment": GOOD[0]})]
    )

    # Without a fallback every record waits for a retry, and nothing is stored
    assert sorted(failed_ids(queue_handler(event, LocalContext()))) == sorted(r["messageId"] for r in event["Records"])

    file_id = keep_examples(upload_handler)
    create_judge(
        judges_handler, name="prompted-fallback", style="prompted", model="gpt-4.1-mini", examples_file_id=file_id
    )
    use_settings(monkeypatch, JUDGE_FALLBACK="prompted-fallback")
    # With one, the fallback judge answers the batch, each text once
    assert queue_handler(event, LocalContext()) == {"batchItemFailures": []}
    with db.connect() as connection:
        stored = (
            connection.execute(sa.text("SELECT j.name FROM judgements JOIN judges j ON j.id = judgements.judge_id"))
            .scalars()
            .all()
        )
    assert stored == ["prompted-fallback", "prompted-fallback"]


def test_fine_tuning_refused_by_the_provider_is_502_with_the_way_on_and_no_job(
    upload_handler, jobs_handler, openai, openai_standin, db
):
    training = call_http(
        upload_handler,
        "POST",
        "/training-files",
        body=jsonl(
            [(t, "good") for t in GOOD[:6]]
            + [("별로네요", "bad"), ("좋아요", "bad"), ("배송 언제요?", "bad"), ("예뻐요", "bad")]
        ),
        headers={"content-type": "application/jsonl"},
    )
    assert training.status == 201, training.json
    openai.fine_tuning_refused = True

    result = post(jobs_handler, "/fine-tuning/jobs", {"training_file_id": training.json["id"]})

    assert result.status == 502
    error = result.json["error"]
    assert error["code"] == "fine_tuning_unavailable"
    assert "upload=false" in error["message"] and "prompted" in error["message"]
    with db.connect() as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM fine_tuning_jobs")) == 0


def test_a_kept_file_is_never_sent_to_openai_and_cannot_start_a_job(
    upload_handler, jobs_handler, openai, openai_standin, db
):
    file_id = keep_examples(upload_handler)

    again = call_http(
        upload_handler,
        "POST",
        "/training-files",
        body=jsonl(_training()),
        headers={"content-type": "application/jsonl"},
        query="upload=false",
    )
    job = post(jobs_handler, "/fine-tuning/jobs", {"training_file_id": file_id})

    assert (again.status, again.json["id"], again.json["uploaded"]) == (200, file_id, False)
    assert job.status == 422
    assert openai_standin.requests == []
    with db.connect() as connection:
        rows = connection.execute(sa.text("SELECT line, text, label FROM training_examples ORDER BY line")).all()
    assert [(line, text, label) for line, text, label in rows] == [
        (n, text, label) for n, (text, label) in enumerate(_training(), start=1)
    ]


def test_a_kept_file_uploaded_later_keeps_its_examples_and_local_id(
    upload_handler, judges_handler, openai, openai_standin
):
    local_id = keep_examples(upload_handler)

    uploaded = call_http(
        upload_handler,
        "POST",
        "/training-files",
        body=jsonl(_training()),
        headers={"content-type": "application/jsonl"},
    )

    assert uploaded.status == 201 and uploaded.json["id"].startswith("file-") and uploaded.json["uploaded"] is True
    assert len(openai_standin.requests_to("POST", "/files")) == 1
    judge = create_judge(judges_handler, name="p", style="prompted", model="gpt-4o-mini", examples_file_id=local_id)
    assert judge["examples_file_id"] == uploaded.json["id"]


def test_upload_must_be_true_or_false(upload_handler, openai_standin):
    result = call_http(
        upload_handler,
        "POST",
        "/training-files",
        body=jsonl(_training()),
        headers={"content-type": "application/jsonl"},
        query="upload=maybe",
    )

    assert result.status == 422
    assert openai_standin.requests == []


def _training():
    from tests.judges.conftest import TRAINING

    return TRAINING


@pytest.mark.parametrize("twins", [8])
def test_identical_new_comments_at_the_same_moment_cost_one_paid_call(judge_handler, openai, openai_standin, db, twins):
    # Given a slow model, and 8 identical comments sent at once
    make_active_judge("ft:gpt-4o-mini-2024-07-18:shop::judge01")
    openai.delay = 0.5
    barrier = threading.Barrier(twins)
    answers: list[dict] = []

    def send():
        barrier.wait()
        answers.append(post(judge_handler, "/comments/judge", {"comment": GOOD[1]}).json)

    threads = [threading.Thread(target=send) for _ in range(twins)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then exactly one call reached OpenAI and all 8 got the same verdict
    assert len(openai_standin.requests_to("POST", "/chat/completions")) == 1
    assert len(answers) == twins
    assert {a["verdict"] for a in answers} == {"good"}
    assert sorted(a["cached"] for a in answers) == [False] + [True] * (twins - 1)
    with db.connect() as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM judgements")) == 1
