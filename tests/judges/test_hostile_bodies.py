"""What a client can send to the judges' routes is answered 4xx, never 500: NUL characters and lone
surrogates in training files, golden sets and judge fields."""

from __future__ import annotations

import json

import pytest

from tests.judges.conftest import GOLDEN, TRAINING, get, jsonl, keep_examples, post
from tests.support.lambda_invoke import call_http

BROKEN_LINES = {
    "lone-surrogate": (
        '{"messages": [{"role": "user", "content": "\\ud800 후기"}, {"role": "assistant", "content": "good"}]}\n'
    ),
    "nul": '{"messages": [{"role": "user", "content": "후기\\u0000"}, {"role": "assistant", "content": "good"}]}\n',
}


@pytest.mark.parametrize("broken", BROKEN_LINES.values(), ids=BROKEN_LINES.keys())
def test_a_golden_set_or_kept_file_with_text_no_database_holds_is_422_on_its_line(
    judges_handler, upload_handler, openai_standin, broken
):
    golden = call_http(
        judges_handler,
        "POST",
        "/golden-sets",
        body=jsonl(GOLDEN).decode() + broken,
        headers={"content-type": "application/jsonl"},
    )
    kept = call_http(
        upload_handler,
        "POST",
        "/training-files",
        body=jsonl(TRAINING).decode() + broken,
        headers={"content-type": "application/jsonl"},
        query="upload=false",
    )

    for result, line in ((golden, len(GOLDEN) + 1), (kept, len(TRAINING) + 1)):
        assert result.status == 422, result.body
        assert {"line": line, "code": "unstorable_text"}.items() <= result.json["error"]["details"][0].items()
    assert openai_standin.requests == []


@pytest.mark.parametrize(
    "body",
    [
        '{"name": "a\\ud800", "style": "fine_tuned", "model": "m"}',
        '{"name": "a\\u0000", "style": "fine_tuned", "model": "m"}',
        '{"name": "a", "style": "fine_tuned", "model": "m", "endpoint": "../x"}',
        '{"name": true, "style": "fine_tuned", "model": "m"}',
        "[]",
        '{"name": "a", "style": "fine_tuned", "model": "m"',
    ],
)
def test_a_hostile_judge_body_is_422(judges_handler, body):
    result = call_http(judges_handler, "POST", "/judges", body=body, headers={"content-type": "application/json"})

    assert result.status == 422, result.body


@pytest.mark.parametrize(
    "body",
    [
        '{"force": true, "reason": "\\u0000"}',
        '{"force": "yes"}',
        '{"reason": "x", "surprise": 1}',
        "nope",
        # Values that only look like a boolean do not force a promotion past the rule.
        '{"force": "yes", "reason": "x"}',
        '{"force": "true", "reason": "x"}',
        '{"force": 1, "reason": "x"}',
    ],
)
def test_a_hostile_activation_body_is_422(judges_handler, openai, body):
    created = post(judges_handler, "/judges", {"name": "a", "style": "fine_tuned", "model": "gpt-4o-mini"})

    result = call_http(
        judges_handler,
        "POST",
        f"/judges/{created.json['id']}/activate",
        body=body,
        headers={"content-type": "application/json"},
    )

    assert result.status == 422, result.body
    assert json.loads(result.body)["error"]["code"] in ("validation_error", "invalid_json")
    assert get(judges_handler, f"/judges/{created.json['id']}").json["status"] == "candidate"
    assert get(judges_handler, "/judges/activations").json == {"activations": []}


@pytest.mark.parametrize(
    ("loose", "field"),
    [
        ({"example_count": "12"}, "example_count"),
        ({"example_count": 12.0}, "example_count"),
        ({"prices": {"input": "1.5", "output": 2}}, "prices"),
        ({"prices": {"input": True, "output": 2}}, "prices"),
        ({"prices": {"input": 1, "output": 2, "cached_input": "0.5"}}, "prices"),
    ],
    ids=["count-as-string", "count-as-float", "price-as-string", "price-as-boolean", "cached-price-as-string"],
)
def test_a_number_sent_as_another_type_is_422_and_makes_no_judge(judges_handler, upload_handler, openai, loose, field):
    examples_file = keep_examples(upload_handler)
    body = {"name": "loose", "style": "prompted", "model": "gpt-4o-mini", "examples_file_id": examples_file, **loose}

    result = post(judges_handler, "/judges", body)

    assert result.status == 422, result.body
    assert result.json["error"]["details"][0]["field"].startswith(field)
    assert get(judges_handler, "/judges").json == {"judges": []}
