"""Hostile JSONL lines and enormous problem lists: a 422 of bounded size, nothing sent to OpenAI."""

from __future__ import annotations

import json
import logging

import pytest
from pydantic import ValidationError

from tests.fine_tuning.conftest import EXAMPLES, example_line
from tests.support.lambda_invoke import call_http

JSONL = {"content-type": "application/jsonl"}


def with_line(number: int, line: str) -> bytes:
    lines = [example_line(comment, label) for comment, label in EXAMPLES]
    lines[number - 1] = line
    return ("\n".join(lines) + "\n").encode()


HOSTILE_LINES = {
    "nested-10000-deep": ("[" * 10_000 + "]" * 10_000, "not_json"),
    "integer-of-5000-digits": ('{"messages": [], "n": ' + "9" * 5_000 + "}", "not_json"),
    "nul-in-content": (
        json.dumps({"messages": [{"role": "user", "content": "a\u0000b"}, {"role": "assistant", "content": "good"}]}),
        "unstorable_text",
    ),
    "lone-surrogate": (
        '{"messages": [{"role": "user", "content": "\\ud800"}, {"role": "assistant", "content": "good"}]}',
        "unstorable_text",
    ),
}


@pytest.mark.parametrize("base64_encoded", [False, True], ids=["plain", "base64"])
@pytest.mark.parametrize("name", HOSTILE_LINES)
def test_a_hostile_line_is_a_422_naming_its_line_and_nothing_reaches_openai(
    name, base64_encoded, upload_handler, openai
):
    line, code = HOSTILE_LINES[name]

    result = call_http(
        upload_handler, "POST", "/training-files", body=with_line(4, line), headers=JSONL, base64_encoded=base64_encoded
    )

    assert result.status == 422, result.body[:300]
    assert {"line": 4, "code": code} in [
        {"line": d["line"], "code": d["code"]} for d in result.json["error"]["details"]
    ]
    assert openai.uploads() == []


def test_a_file_of_100000_bad_lines_answers_100_details_and_counts_the_rest(upload_handler, openai):
    data = b"x\n" * 100_000

    result = call_http(upload_handler, "POST", "/training-files", body=data, headers=JSONL)

    assert result.status == 422
    error = result.json["error"]
    assert len(error["details"]) == 100
    assert error["details"][0]["line"] == 1
    # Every line is a problem, plus the whole-file ones (too few examples...): all counted.
    assert error["details_truncated"] >= 100_000 - 100
    assert len(result.body) < 64 * 1024
    assert openai.uploads() == []


def test_problems_quote_a_wrong_label_only_briefly(upload_handler, openai, caplog):
    secret = "이 문장은 학습 데이터이므로 로그나 응답에 통째로 나오면 안 됩니다 " * 20
    line = json.dumps(
        {"messages": [{"role": "user", "content": "좋아요"}, {"role": "assistant", "content": secret}]},
        ensure_ascii=False,
    )

    with caplog.at_level(logging.DEBUG):
        result = call_http(upload_handler, "POST", "/training-files", body=with_line(2, line), headers=JSONL)

    assert result.status == 422
    assert secret not in result.body.decode()
    assert secret[:40] not in result.body.decode()
    assert secret[:40] not in caplog.text


@pytest.mark.parametrize(
    "field,value",
    [
        ("suffix", "judge\u0000"),
        ("suffix", "\ud800"),
        ("training_file_id", "file-\u0000"),
        ("n_epochs", True),
        ("n_epochs", "3"),
        ("batch_size", 8.0),
        ("learning_rate_multiplier", True),
    ],
)
def test_a_job_request_that_could_not_be_stored_or_is_loosely_typed_is_refused_before_openai(field, value):
    from shop_marketing.training.fine_tuning import JobRequest

    with pytest.raises(ValidationError):
        JobRequest.model_validate({"training_file_id": "file-1", field: value})


def test_a_nul_in_a_job_suffix_over_http_creates_no_job(jobs_handler, openai):
    result = call_http(
        jobs_handler, "POST", "/fine-tuning/jobs", body='{"training_file_id": "file-1", "suffix": "a\\u0000"}'
    )

    assert result.status == 422
    assert openai.job_creations() == []
