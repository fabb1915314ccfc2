"""Replies lost after OpenAI did the work (the connection drops once the file or job exists): one
request leaves exactly one file and one job at OpenAI, on the SDK's retry and on the caller's."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.fine_tuning.conftest import training_jsonl, use_settings
from tests.support.lambda_invoke import call_http

JSONL = {"content-type": "application/jsonl"}


@pytest.fixture
def retries(monkeypatch):
    """The SDK may retry, as in production (the test conftest turns retries off)."""
    use_settings(monkeypatch, OPENAI_MAX_RETRIES="2")


def upload(handler):
    return call_http(handler, "POST", "/training-files", body=training_jsonl(), headers=JSONL)


def count(db, table: str) -> int:
    with db.connect() as connection:
        return connection.scalar(sa.text(f"SELECT count(*) FROM {table}"))


def test_an_upload_whose_reply_is_lost_is_adopted_not_repeated(upload_handler, openai, retries, db):
    openai.lose_upload_replies = 1

    result = upload(upload_handler)

    assert result.status == 201, result.body
    assert len(openai.files) == 1
    assert result.json["id"] == next(iter(openai.files))
    assert count(db, "training_files") == 1


def test_an_upload_whose_reply_is_lost_is_adopted_on_the_callers_retry(upload_handler, openai, db):
    # No retry within the request (OPENAI_MAX_RETRIES=0): the caller sees the failure and tries again.
    openai.lose_upload_replies = 1

    first = upload(upload_handler)
    second = upload(upload_handler)

    assert first.status == 503, first.body
    assert second.status == 201, second.body
    # The first request's upload was adopted by the second: never uploaded again.
    assert len(openai.files) == 1
    assert second.json["id"] == next(iter(openai.files))
    assert count(db, "training_files") == 1


def test_a_job_whose_reply_is_lost_is_adopted_not_repeated(upload_handler, jobs_handler, openai, retries, db):
    file_id = upload(upload_handler).json["id"]
    openai.lose_job_replies = 1

    result = call_http(jobs_handler, "POST", "/fine-tuning/jobs", json={"training_file_id": file_id, "suffix": "judge"})

    assert result.status == 201, result.body
    assert list(openai.jobs) == [result.json["id"]]
    assert count(db, "fine_tuning_jobs") == 1


def test_a_job_whose_reply_is_lost_is_adopted_on_the_callers_retry(upload_handler, jobs_handler, openai, db):
    file_id = upload(upload_handler).json["id"]
    openai.lose_job_replies = 1
    request = {"training_file_id": file_id, "suffix": "judge"}

    first = call_http(jobs_handler, "POST", "/fine-tuning/jobs", json=request)
    second = call_http(jobs_handler, "POST", "/fine-tuning/jobs", json=request)
    third = call_http(jobs_handler, "POST", "/fine-tuning/jobs", json=request)

    assert first.status == 503, first.body
    assert (second.status, third.status) == (201, 200)
    assert list(openai.jobs) == [second.json["id"]] == [third.json["id"]]
    assert count(db, "fine_tuning_jobs") == 1


def test_a_different_request_is_not_taken_for_a_lost_one(upload_handler, jobs_handler, openai, retries, db):
    file_id = upload(upload_handler).json["id"]

    a = call_http(jobs_handler, "POST", "/fine-tuning/jobs", json={"training_file_id": file_id, "suffix": "a"})
    b = call_http(jobs_handler, "POST", "/fine-tuning/jobs", json={"training_file_id": file_id, "suffix": "b"})

    assert (a.status, b.status) == (201, 201)
    assert a.json["id"] != b.json["id"]
    assert len(openai.jobs) == 2
