"""POST /training-files and the training-data bucket's ObjectCreated event."""

from __future__ import annotations

import copy
import hashlib
import json
import threading

import pytest
import sqlalchemy as sa

from infra.lambda_runtime import LocalContext
from infra.openai_standin import Reply, multipart_fields
from tests.fine_tuning.conftest import BUCKET, EXAMPLES, example_line, training_jsonl, use_settings
from tests.support.lambda_invoke import call_http, result_of, sample_event

JSONL = {"content-type": "application/jsonl"}


def upload(handler, data: bytes, *, query: str = "", headers=None, base64_encoded=None):
    return call_http(
        handler,
        "POST",
        "/training-files",
        body=data,
        headers=headers or JSONL,
        query=query,
        base64_encoded=base64_encoded,
    )


def with_line(number: int, line: str) -> bytes:
    """The valid ten-example file with its line ``number`` (1-based) replaced."""
    lines = [example_line(comment, label) for comment, label in EXAMPLES]
    lines[number - 1] = line
    return ("\n".join(lines) + "\n").encode()


def message_line(*messages, **extra) -> str:
    return json.dumps({"messages": list(messages), **extra}, ensure_ascii=False)


USER = {"role": "user", "content": "색감이 사진이랑 똑같아요. 두 번 빨아도 늘어나지 않았어요."}
GOOD = {"role": "assistant", "content": "good"}

INVALID_FILES = {
    "not_json": (with_line(3, '{"messages": [{"role": "user", "content": "unterminated'), "not_json", 3),
    "not_an_object": (with_line(4, '["user", "good"]'), "not_an_object", 4),
    "no_messages_list": (with_line(5, json.dumps({"prompt": "hi", "completion": "good"})), "missing_messages", 5),
    "messages_not_a_list": (with_line(5, json.dumps({"messages": "good"})), "missing_messages", 5),
    "message_without_role": (with_line(6, message_line({"content": "예뻐요 정말"}, GOOD)), "missing_role", 6),
    "message_without_content": (with_line(7, message_line({"role": "user"}, GOOD)), "missing_content", 7),
    "unknown_message_key": (with_line(2, message_line({**USER, "mood": "happy"}, GOOD)), "unknown_key", 2),
    "unknown_example_key": (with_line(2, message_line(USER, GOOD, source="instagram")), "unknown_key", 2),
    "unknown_role": (with_line(8, message_line({**USER, "role": "customer"}, GOOD)), "unknown_role", 8),
    "empty_content": (with_line(9, message_line({**USER, "content": "  "}, GOOD)), "empty_content", 9),
    "null_content": (with_line(9, message_line({**USER, "content": None}, GOOD)), "missing_content", 9),
    "non_string_content": (
        with_line(10, message_line({**USER, "content": ["a", "b"]}, GOOD)),
        "content_not_string",
        10,
    ),
    "no_assistant_message": (with_line(1, message_line(USER)), "no_assistant_message", 1),
    "label_not_good_or_bad": (
        with_line(2, message_line(USER, {"role": "assistant", "content": "Good."})),
        "invalid_label",
        2,
    ),
    "fewer_than_ten_examples": (training_jsonl(EXAMPLES[:9]), "too_few_examples", None),
    "only_one_label": (
        training_jsonl([(f"{comment} ({n})", "good") for n, (comment, _) in enumerate(EXAMPLES)]),
        "single_label",
        None,
    ),
    "invalid_utf8": (
        with_line(4, "PLACEHOLDER").replace(b"PLACEHOLDER", b'{"messages": "\xff\xfe"}'),
        "invalid_utf8",
        4,
    ),
    "only_blank_lines": (b"\n\r\n  \n", "empty_file", None),
}


@pytest.mark.parametrize("data,code,line", INVALID_FILES.values(), ids=INVALID_FILES.keys())
def test_invalid_training_file_is_422_with_code_and_line_and_nothing_reaches_openai(
    upload_handler, openai, data, code, line
):
    # Given a file with exactly one problem, When it is uploaded (base64, as API Gateway sends bytes)
    result = upload(upload_handler, data, base64_encoded=True)

    # Then it is refused with that problem, located, and OpenAI hears nothing of it
    assert result.status == 422, result.json
    error = result.json["error"]
    assert error["code"] == "invalid_training_file"
    assert {"code": code, "line": line} in [{"code": d["code"], "line": d["line"]} for d in error["details"]]
    assert all(set(detail) == {"line", "code", "message"} for detail in error["details"])
    assert openai.standin.requests == []


def test_example_over_the_token_limit_is_refused(upload_handler, openai, monkeypatch):
    # Given a limit the long seed comment (line 1) exceeds but the short ones do not
    use_settings(monkeypatch, TRAINING_TOKEN_LIMIT="40")

    result = upload(upload_handler, training_jsonl())

    assert result.status == 422
    assert ("too_many_tokens", 1) in [(d["code"], d["line"]) for d in result.json["error"]["details"]]
    assert openai.standin.requests == []


def test_seed_examples_plus_eight_more_upload_with_bytes_filename_and_purpose(upload_handler, openai, db):
    data = training_jsonl()

    result = upload(upload_handler, data, query="filename=judge-2024-10.jsonl")

    # Then OpenAI received one multipart upload carrying exactly the file, its name and the purpose
    assert result.status == 201, result.json
    [request] = openai.uploads()
    assert request.headers["content-type"].startswith("multipart/form-data")
    fields = multipart_fields(request)
    assert fields["file"].data == data
    assert fields["file"].filename == "judge-2024-10.jsonl"
    assert fields["purpose"].data == b"fine-tune"
    # And the answer and the record describe the file
    body = result.json
    assert {name: body[name] for name in ("id", "filename", "bytes", "sha256", "examples", "labels", "source")} == {
        "id": "file-000001",
        "filename": "judge-2024-10.jsonl",
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "examples": 10,
        "labels": {"good": 5, "bad": 5},
        "source": "api",
    }
    assert body["tokens"] > 10 * 9  # every example is at least its framing
    assert (body["estimated_epochs"], body["estimated_training_tokens"]) == (10, body["tokens"] * 10)
    assert [warning["code"] for warning in body["warnings"]] == ["few_examples"]
    with db.connect() as connection:
        row = connection.execute(sa.text("SELECT openai_file_id, uploaded_by, source_ref FROM training_files")).one()
    assert row.openai_file_id == "file-000001"
    assert row.uploaded_by == "127.0.0.1"
    assert row.source_ref.startswith("request ")


def test_text_plain_base64_body_and_default_filename_are_accepted(upload_handler, openai):
    result = upload(
        upload_handler, training_jsonl(), headers={"content-type": "text/plain; charset=utf-8"}, base64_encoded=True
    )

    assert result.status == 201
    assert multipart_fields(openai.uploads()[0])["file"].filename == "training.jsonl"


def test_same_bytes_twice_by_api_make_one_openai_upload(upload_handler, openai):
    first = upload(upload_handler, training_jsonl())
    second = upload(upload_handler, training_jsonl(), query="filename=again.jsonl")

    assert (first.status, second.status) == (201, 200)
    assert second.json["id"] == first.json["id"]
    assert second.json["filename"] == first.json["filename"]
    assert len(openai.uploads()) == 1


def test_same_examples_with_bom_and_crlf_are_the_same_content(upload_handler, openai):
    clean = training_jsonl()
    windows = b"\xef\xbb\xbf" + clean.replace(b"\n", b"\r\n")

    first = upload(upload_handler, windows, base64_encoded=True)
    second = upload(upload_handler, clean)

    # The normalised content (no BOM, LF) is what OpenAI gets, and what makes the two one file
    assert first.status == 201 and second.status == 200
    assert multipart_fields(openai.uploads()[0])["file"].data == clean
    assert {"utf8_bom_removed", "crlf_line_endings"} <= {w["code"] for w in first.json["warnings"]}
    assert len(openai.uploads()) == 1


def test_two_identical_uploads_at_once_make_one_openai_upload(upload_handler, openai):
    # Given OpenAI takes a moment to answer, When the same file is uploaded twice concurrently
    openai.upload_delay = 0.5
    results = []

    def send():
        results.append(upload(upload_handler, training_jsonl()))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then one of them uploaded and the other waited and answered with the same file
    assert sorted(result.status for result in results) == [200, 201]
    assert len({result.json["id"] for result in results}) == 1
    assert len(openai.uploads()) == 1


def test_openai_outage_is_503_with_retry_after_and_records_nothing(upload_handler, openai, db):
    openai.standin.on(
        "POST",
        r"/files",
        lambda request, match: Reply(503, {"error": {"message": "overloaded"}}, headers={"retry-after": "7"}),
    )

    result = upload(upload_handler, training_jsonl())

    assert result.status == 503
    assert result.headers["Retry-After"] == "7"
    with db.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM training_files")).scalar_one() == 0


@pytest.mark.parametrize(
    "query,content_type,status,code",
    [
        ("filename=../../etc/passwd.jsonl", "application/jsonl", 422, "validation_error"),
        ("filename=data.csv", "application/jsonl", 422, "validation_error"),
        ("", "application/octet-stream", 415, "unsupported_media_type"),
        ("", "", 415, "unsupported_media_type"),
    ],
)
def test_bad_filename_or_content_type_is_refused_before_openai(
    upload_handler, openai, query, content_type, status, code
):
    result = upload(upload_handler, training_jsonl(), query=query, headers={"content-type": content_type})

    assert (result.status, result.json["error"]["code"]) == (status, code)
    assert openai.standin.requests == []


# --- the training-data bucket ------------------------------------------------------------------


def bucket_event(key: str) -> dict:
    event = copy.deepcopy(sample_event("training_bucket_object_created.json"))
    event["Records"][0]["s3"]["object"]["key"] = key
    return event


def test_sample_bucket_event_uploads_the_object(upload_handler, openai, bucket, db):
    event = sample_event("training_bucket_object_created.json")
    record = event["Records"][0]["s3"]
    assert record["bucket"]["name"] == BUCKET
    bucket.put_object(Bucket=BUCKET, Key=record["object"]["key"], Body=training_jsonl())

    outcome = upload_handler(event, LocalContext())

    assert outcome["results"][0]["status"] == "uploaded"
    [request] = openai.uploads()
    assert multipart_fields(request)["file"].data == training_jsonl()
    assert multipart_fields(request)["file"].filename == "comments-2024-10.jsonl"
    with db.connect() as connection:
        row = connection.execute(sa.text("SELECT source, source_ref, uploaded_by FROM training_files")).one()
    assert (row.source, row.source_ref) == ("s3", f"s3://{BUCKET}/training/comments-2024-10.jsonl")


def test_same_bytes_by_bucket_event_and_api_make_one_openai_upload(upload_handler, openai, bucket):
    bucket.put_object(Bucket=BUCKET, Key="training/a.jsonl", Body=training_jsonl())
    bucket.put_object(Bucket=BUCKET, Key="training/copy of a.jsonl", Body=training_jsonl())

    by_event = upload_handler(bucket_event("training/a.jsonl"), LocalContext())
    again_by_event = upload_handler(bucket_event("training/copy+of+a.jsonl"), LocalContext())  # keys arrive URL-encoded
    by_api = upload(upload_handler, training_jsonl())
    by_api_key = call_http(upload_handler, "POST", "/training-files", json={"s3_key": "training/a.jsonl"})

    assert by_event["results"][0]["status"] == "uploaded"
    assert again_by_event["results"][0]["status"] == "duplicate"
    assert (by_api.status, by_api_key.status) == (200, 200)
    assert by_api.json["id"] == by_api_key.json["id"] == by_event["results"][0]["file_id"]
    assert len(openai.uploads()) == 1


def test_s3_key_by_api_uploads_the_object_and_a_missing_key_is_404(upload_handler, openai, bucket):
    bucket.put_object(Bucket=BUCKET, Key="training/b.jsonl", Body=training_jsonl())

    found = call_http(upload_handler, "POST", "/training-files", json={"s3_key": "training/b.jsonl"})
    missing = call_http(upload_handler, "POST", "/training-files", json={"s3_key": "training/none.jsonl"})
    malformed = call_http(upload_handler, "POST", "/training-files", json={"key": "training/b.jsonl"})

    assert found.status == 201 and found.json["filename"] == "b.jsonl"
    assert (missing.status, missing.json["error"]["code"]) == (404, "training_object_not_found")
    assert malformed.status == 422
    assert len(openai.uploads()) == 1


def test_rejected_bucket_file_is_recorded_for_operators_and_not_uploaded(upload_handler, openai, bucket, db):
    bad = with_line(3, "not json")
    bucket.put_object(Bucket=BUCKET, Key="training/bad.jsonl", Body=bad)

    outcome = upload_handler(bucket_event("training/bad.jsonl"), LocalContext())
    upload_handler(bucket_event("training/bad.jsonl"), LocalContext())  # S3 delivers at least once

    assert outcome["results"][0] == {"key": "training/bad.jsonl", "status": "rejected", "problems": 1}
    assert openai.standin.requests == []
    listed = call_http(upload_handler, "GET", "/training-files/rejections")
    assert listed.status == 200
    [rejection] = listed.json["rejections"]
    assert rejection["key"] == "training/bad.jsonl"
    assert rejection["sha256"] == hashlib.sha256(bad).hexdigest()
    assert rejection["uploaded_by"] == "EXAMPLE"
    assert [(p["line"], p["code"]) for p in rejection["problems"]] == [(3, "not_json")]


def test_sample_http_event_runs_through_the_handler(upload_handler, openai):
    event = sample_event("upload_training_file_http.json")

    result = result_of(upload_handler(event, LocalContext()))

    assert result.status == 201, result.json
    assert result.json["examples"] == 10
    assert len(openai.uploads()) == 1


def test_upload_waiting_too_long_for_its_twin_is_409_retry_later(upload_handler, openai, db, monkeypatch):
    from shop_marketing.advisory_lock import lock_key
    from shop_marketing.training.files import UPLOAD_LOCK_NAMESPACE

    # Given another request holds the upload of this very content and does not finish in time
    use_settings(monkeypatch, OPENAI_TIMEOUT_SECONDS="0.3")
    data = training_jsonl()
    with db.connect() as twin:
        twin.execute(
            sa.text("SELECT pg_advisory_lock(:namespace, :key)"),
            {"namespace": UPLOAD_LOCK_NAMESPACE, "key": lock_key(hashlib.sha256(data).hexdigest())},
        )
        result = upload(upload_handler, data)
        twin.execute(sa.text("SELECT pg_advisory_unlock_all()"))

    # Then the waiter gives up with a retryable conflict, and uploaded nothing itself
    assert (result.status, result.json["error"]["code"]) == (409, "in_progress")
    assert result.headers["Retry-After"] == "2"
    assert openai.uploads() == []
