"""Classifier judges: trained by the product on the shop's labelled comments over embeddings (the
stand-in's vectors carry the texts' similarity), judged with one embeddings call, evaluated, costed,
and refused cleanly when the input or the provider says no."""

from __future__ import annotations

import json
import random

import pytest
import sqlalchemy as sa

from infra.lambda_runtime import LocalContext, load_handler
from infra.openai_standin import Reply, o200k_tokens
from tests.judges.conftest import BAD, GOLDEN, GOOD, ROOT, add_golden_set, evaluate, get, keep_examples, post
from tests.judging.test_judge_queue import batch

EMBEDDINGS = "/embeddings"
LABELLED = [(text, "good") for text in GOOD] + [(text, "bad") for text in BAD]
# What a classifier trained on LABELLED reaches on GOLDEN (no text in common); stated, and shown.
STATED_F1, STATED_PRECISION = 0.90, 0.90
GOLDEN_EXTRA_GOOD = "원피스 안감이 있어서 비침 걱정 없어요. 세 번 세탁했는데 모양이 그대로예요."
PROMPTED_PRICES = {"input": 0.15, "cached_input": 0.075, "output": 0.60}  # gpt-4o-mini, USD per 1M tokens
EMBEDDING_PRICES = {"input": 0.02}  # text-embedding-3-small


def embedding_calls(openai_standin) -> list[dict]:
    return [request.json() for request in openai_standin.requests_to("POST", EMBEDDINGS)]


def answered_by(behaviour, request) -> Reply:
    """What the behaving stand-in answers a recorded embeddings request."""
    answer = behaviour.handle("POST", "/v1/embeddings", request.headers, request.body)
    return Reply(answer.status, answer.json)


def chat_calls(openai_standin) -> list:
    return openai_standin.requests_to("POST", "/chat/completions")


def judge_rows(db) -> int:
    with db.connect() as connection:
        return (
            connection.execute(sa.text("SELECT count(*) FROM judges")).scalar()
            + connection.execute(sa.text("SELECT count(*) FROM judge_classifiers")).scalar()
        )


def train(judges_handler, name: str, file_id: str | list[str], model: str = "text-embedding-3-small", **extra):
    files = {"examples_file_ids": file_id} if isinstance(file_id, list) else {"examples_file_id": file_id}
    return post(
        judges_handler, "/judges", {"name": name, "style": "classifier", "embedding_model": model, **files, **extra}
    )


def flipped_at_random(examples: list[tuple[str, str]], seed: int = 17) -> list[tuple[str, str]]:
    chance = random.Random(seed)
    return [(text, chance.choice(("good", "bad"))) for text, _ in examples]


@pytest.fixture
def labelled_file(upload_handler, openai_standin) -> str:
    return keep_examples(upload_handler, LABELLED)


def test_a_classifier_learns_the_shops_labels_and_one_trained_on_random_labels_does_measurably_worse(
    judges_handler, upload_handler, openai, openai_standin, queue, labelled_file
):
    # Given the shop's labelled comments, and the same comments with labels drawn at random
    noise = flipped_at_random(LABELLED)
    assert sum(1 for (_, a), (_, b) in zip(LABELLED, noise, strict=True) if a != b) >= len(LABELLED) // 3
    noise_file = keep_examples(upload_handler, noise)
    add_golden_set(judges_handler)

    # When a classifier is trained on each
    trained = train(judges_handler, "own-judge", labelled_file, prices=EMBEDDING_PRICES)
    random_labels = train(judges_handler, "random-labels", noise_file)

    # Then the product fitted it without a chat call, from one batch of embeddings
    assert trained.status == 201, trained.json
    judge = trained.json
    assert (judge["style"], judge["model"], judge["embedding_model"], judge["output"], judge["status"]) == (
        "classifier",
        "text-embedding-3-small",
        "text-embedding-3-small",
        "probability",
        "candidate",
    )
    assert judge["examples_file_ids"] == [labelled_file]
    training = judge["training"]
    assert training["examples"] == len(LABELLED)
    assert training["labels"] == {"good": len(GOOD), "bad": len(BAD)}
    assert (
        0.8 <= training["cross_validated"]["f1_good"] <= 1 and 0.8 <= training["cross_validated"]["precision_good"] <= 1
    )
    assert training["dimensions"] == 1536
    assert chat_calls(openai_standin) == []
    # (the same texts with other labels: their vectors were stored by the first training, not paid again)
    calls = embedding_calls(openai_standin)
    assert [len(call["input"]) for call in calls] == [len(LABELLED)]
    assert calls[0]["model"] == "text-embedding-3-small" and calls[0]["encoding_format"] == "base64"
    assert training["embedding_tokens"] == sum(o200k_tokens(text) for text, _ in LABELLED)
    assert training["embeddings"] == {"reused": 0, "embedded": len(LABELLED)}
    assert random_labels.json["training"]["embeddings"] == {"reused": len(LABELLED), "embedded": 0}
    assert random_labels.json["training"]["embedding_tokens"] == 0
    assert get(judges_handler, f"/judges/{judge['id']}").json["training"] == training

    # And on the golden set it reaches the stated F1 and precision; the random one does measurably worse
    learnt = evaluate(judges_handler, queue, judge["id"])
    guessed = evaluate(judges_handler, queue, random_labels.json["id"])
    assert learnt["status"] == guessed["status"] == "succeeded"
    assert learnt["metrics"]["f1_good"] >= STATED_F1 and learnt["metrics"]["precision_good"] >= STATED_PRECISION
    assert guessed["metrics"]["f1_good"] <= learnt["metrics"]["f1_good"] - 0.25
    assert guessed["metrics"]["accuracy"] <= learnt["metrics"]["accuracy"] - 0.25
    assert chat_calls(openai_standin) == []


def test_judging_a_comment_is_one_embeddings_call_its_probability_and_billed_tokens_and_then_cached(
    judges_handler, judge_handler, openai, openai_standin, labelled_file
):
    judge = train(judges_handler, "own-judge", labelled_file, prices=EMBEDDING_PRICES).json
    assert post(judges_handler, f"/judges/{judge['id']}/activate", {"force": True, "reason": "test"}).status == 200
    trained_calls = len(embedding_calls(openai_standin))
    comment = "셔츠 원단이 두꺼워서 겨울에도 따뜻해요. 세탁 후에도 보풀이 없어요."

    first = post(judge_handler, "/comments/judge", {"comment": comment})
    again = post(judge_handler, "/comments/judge", {"comment": comment})

    assert first.status == 200, first.json
    answer = first.json
    assert (answer["verdict"], answer["judge"], answer["model"], answer["cached"]) == (
        "good",
        "own-judge",
        "text-embedding-3-small",
        False,
    )
    assert 0.5 <= answer["confidence"] <= 1
    assert (
        answer["prompt_tokens"] == o200k_tokens(comment)
        and answer["completion_tokens"] == answer["cached_prompt_tokens"] == 0
    )
    calls = embedding_calls(openai_standin)[trained_calls:]
    assert [call["input"] for call in calls] == [[comment]]
    assert chat_calls(openai_standin) == []
    assert again.json == {**answer, "cached": True}
    assert post(judge_handler, "/comments/judge", {"comment": "배송 언제 와요?"}).json["verdict"] == "bad"


def test_a_queue_batch_of_20_distinct_comments_is_one_embeddings_call_billed_exactly(
    judges_handler, db, openai, openai_standin, labelled_file
):
    judge = train(judges_handler, "own-judge", labelled_file).json
    assert post(judges_handler, f"/judges/{judge['id']}/activate", {"force": True, "reason": "test"}).status == 200
    queue_handler = load_handler(ROOT / "functions" / "judge_comment", "app.queue_handler")
    comments = [text for text, _ in GOLDEN[:20]]
    trained_calls = len(embedding_calls(openai_standin))

    response = queue_handler(batch([json.dumps({"comment": comment}) for comment in comments]), LocalContext())

    assert response == {"batchItemFailures": []}
    calls = embedding_calls(openai_standin)[trained_calls:]
    assert len(calls) == 1 and sorted(calls[0]["input"]) == sorted(comments)
    assert chat_calls(openai_standin) == []
    with db.connect() as connection:
        stored = connection.execute(
            sa.text("SELECT prompt_tokens, completion_tokens FROM judgements WHERE judge_id = :id"), {"id": judge["id"]}
        ).all()
    assert len(stored) == 20 and all(row.completion_tokens == 0 and row.prompt_tokens > 0 for row in stored)
    assert sum(row.prompt_tokens for row in stored) == sum(o200k_tokens(comment) for comment in comments)


def test_a_classifiers_cost_per_1000_comments_is_its_billed_embedding_tokens_and_under_a_tenth_of_a_prompted_judges(
    judges_handler, openai, queue, labelled_file
):
    add_golden_set(judges_handler)
    prompted = post(
        judges_handler,
        "/judges",
        {
            "name": "prompted",
            "style": "prompted",
            "model": "gpt-4o-mini",
            "examples_file_id": labelled_file,
            "prices": PROMPTED_PRICES,
        },
    )
    assert prompted.status == 201, prompted.json
    classifier = train(judges_handler, "own-judge", labelled_file, prices=EMBEDDING_PRICES).json

    prompted_cost = evaluate(judges_handler, queue, prompted.json["id"])["cost"]
    own = evaluate(judges_handler, queue, classifier["id"])

    tokens = sum(o200k_tokens(text) for text, _ in GOLDEN)
    assert own["cost"]["prompt_tokens"] == tokens and own["cost"]["completion_tokens"] == 0
    assert own["cost"]["usd_per_1000_comments"] == round(tokens * 0.02 / 1e6 / len(GOLDEN) * 1000, 6)
    assert own["cost"]["usd_per_1000_comments"] <= prompted_cost["usd_per_1000_comments"] / 10
    assert own["latency_ms"]["p50"] is not None


def test_several_files_train_on_their_union_with_duplicates_counted_once(
    judges_handler, upload_handler, openai, openai_standin
):
    first = keep_examples(upload_handler, LABELLED[:10] + LABELLED[-10:])
    second = keep_examples(upload_handler, LABELLED[5:12] + LABELLED[-12:-5])

    trained = train(judges_handler, "union", [first, second])

    assert trained.status == 201, trained.json
    distinct = {text for text, _ in LABELLED[:12] + LABELLED[-12:]}
    assert trained.json["training"]["examples"] == len(distinct)
    assert trained.json["examples_file_ids"] == [first, second]
    assert sorted(embedding_calls(openai_standin)[0]["input"]) == sorted(distinct)


def test_conflicting_labels_across_files_are_a_422_by_line_and_nothing_is_paid_or_stored(
    judges_handler, upload_handler, openai, openai_standin, db
):
    first = keep_examples(upload_handler, LABELLED[:10] + LABELLED[-10:])
    contradicting = [(text, "bad" if label == "good" else "good") for text, label in LABELLED[:2]]
    second = keep_examples(upload_handler, contradicting + LABELLED[12:16] + LABELLED[-16:-12])

    refused = train(judges_handler, "conflict", [first, second])

    assert refused.status == 422 and refused.json["error"]["code"] == "conflicting_labels"
    details = refused.json["error"]["details"]
    assert [(d["file_id"], d["line"], d["code"]) for d in details] == [
        (second, 1, "conflicting_label"),
        (second, 2, "conflicting_label"),
    ]
    assert f"{first} line 1" in details[0]["message"] and "'bad' here and 'good'" in details[0]["message"]
    assert embedding_calls(openai_standin) == [] and judge_rows(db) == 0


def test_a_file_without_both_labels_is_refused_before_anything_is_paid(judges_handler, openai, openai_standin, db):
    # A file kept before both labels were required: only good examples.
    with db.begin() as connection:
        file_id = connection.execute(
            sa.text(
                "INSERT INTO training_files (openai_file_id, sha256, filename, bytes, examples, tokens, "
                "good_examples, bad_examples, estimated_training_tokens, source, uploaded) "
                "VALUES ('local-onelabel', :sha, 'old.jsonl', 1, 12, 1, 12, 0, 1, 'api', false) "
                "RETURNING id"
            ),
            {"sha": "f" * 64},
        ).scalar()
        for line, text in enumerate(GOOD[:12], start=1):
            connection.execute(
                sa.text(
                    "INSERT INTO training_examples (training_file_id, line, text, text_sha256, label)"
                    " VALUES (:f, :line, :text, :sha, 'good')"
                ),
                {"f": file_id, "line": line, "text": text, "sha": f"{line:064d}"},
            )

    refused = train(judges_handler, "one-label", "local-onelabel")

    assert refused.status == 422 and refused.json["error"]["code"] == "not_enough_examples"
    assert "12 good and 0 bad" in refused.json["error"]["message"]
    assert refused.json["error"]["details"][0]["type"] == "single_label"
    assert embedding_calls(openai_standin) == [] and judge_rows(db) == 0


def test_an_unknown_embedding_model_is_a_422_and_nothing_is_stored(
    judges_handler, openai, openai_standin, labelled_file, db
):
    refused = train(judges_handler, "unknown", labelled_file, model="text-embedding-9-tiny")

    assert refused.status == 422 and refused.json["error"]["code"] == "model_unavailable"
    assert refused.json["error"]["details"][0]["field"] == "embedding_model"
    assert "text-embedding-9-tiny" in refused.json["error"]["message"]
    assert judge_rows(db) == 0


@pytest.mark.parametrize(
    ("status", "body", "expected_status", "expected_code"),
    [
        (
            400,
            {
                "error": {
                    "message": "This model's maximum context length is 8192 tokens.",
                    "type": "invalid_request_error",
                    "param": "input",
                    "code": None,
                }
            },
            422,
            "openai_rejected",
        ),
        (
            401,
            {
                "error": {
                    "message": "Incorrect API key provided.",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "invalid_api_key",
                }
            },
            502,
            "bad_upstream_reply",
        ),
        (
            503,
            {"error": {"message": "The server is overloaded.", "type": "server_error", "param": None, "code": None}},
            503,
            "upstream_unavailable",
        ),
    ],
)
def test_a_provider_refusal_is_a_clear_error_and_nothing_is_half_stored(
    judges_handler, openai, openai_standin, labelled_file, db, status, body, expected_status, expected_code
):
    openai_standin.on("POST", EMBEDDINGS, lambda request, match: Reply(status, body))

    refused = train(judges_handler, "refused", labelled_file)

    assert refused.status == expected_status, refused.json
    assert refused.json["error"]["code"] == expected_code
    assert judge_rows(db) == 0


def test_more_than_2048_examples_are_embedded_in_batches_of_at_most_2048(
    judges_handler, upload_handler, openai, openai_standin
):
    examples = [
        (f"{GOOD[n % len(GOOD)]} ({n}번째 후기)", "good") if n % 2 else (f"{BAD[n % len(BAD)]} #{n}", "bad")
        for n in range(2100)
    ]
    file_id = keep_examples(upload_handler, examples)

    trained = train(judges_handler, "big", file_id)

    assert trained.status == 201, trained.json
    assert [len(call["input"]) for call in embedding_calls(openai_standin)] == [2048, 52]
    assert trained.json["training"]["examples"] == 2100


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "style": "classifier", "examples_file_id": "local-abc"},
        {"name": "x", "style": "classifier", "embedding_model": "text-embedding-3-small"},
        {
            "name": "x",
            "style": "classifier",
            "embedding_model": "text-embedding-3-small",
            "examples_file_id": "local-a",
            "examples_file_ids": ["local-a"],
        },
        {
            "name": "x",
            "style": "classifier",
            "embedding_model": "text-embedding-3-small",
            "examples_file_id": "local-a",
            "model": "gpt-4o-mini",
        },
        {"name": "x", "style": "classifier", "embedding_model": "text-embedding-3-small", "examples_file_ids": []},
        {
            "name": "x",
            "style": "prompted",
            "model": "gpt-4o-mini",
            "examples_file_id": "local-a",
            "embedding_model": "text-embedding-3-small",
        },
        {
            "name": "x",
            "style": "prompted",
            "model": "gpt-4o-mini",
            "examples_file_id": "local-a",
            "prices": {"input": 1},
        },
    ],
)
def test_invalid_classifier_requests_are_422_before_anything_is_paid(judges_handler, openai, openai_standin, body):
    refused = post(judges_handler, "/judges", body)

    assert refused.status == 422 and refused.json["error"]["code"] == "validation_error", refused.json
    assert openai_standin.requests == []


def test_an_unknown_examples_file_is_named_in_the_422(judges_handler, openai, openai_standin, labelled_file):
    refused = train(judges_handler, "missing", [labelled_file, "local-nosuchfile"])

    assert refused.status == 422
    assert refused.json["error"]["details"][0]["field"] == "examples_file_ids.1"
    assert openai_standin.requests_to("POST", EMBEDDINGS) == []


def test_a_kept_files_id_cut_short_names_no_file(judges_handler, openai, openai_standin, labelled_file):
    # Given a kept file's id, When a request names it cut short (a prefix of its hash, or none of it)
    for cut in (labelled_file[: len("local-") + 1], labelled_file[:-1], "local-"):
        refused = train(judges_handler, f"cut-{len(cut)}", cut)

        # Then no file is taken for it
        assert refused.status == 422, (cut, refused.json)
        assert refused.json["error"]["details"][0]["field"] == "examples_file_id"
    assert openai_standin.requests_to("POST", EMBEDDINGS) == []
    assert train(judges_handler, "whole", labelled_file).status == 201


def test_a_classifier_successor_learns_the_same_examples_on_another_embedding_model_and_its_evaluation_starts(
    judges_handler, upload_handler, openai, openai_standin, queue, labelled_file
):
    # Given a classifier trained on two kept files, and a golden set
    more = keep_examples(upload_handler, LABELLED[:6] + LABELLED[-6:] + [(GOLDEN_EXTRA_GOOD, "good")])
    add_golden_set(judges_handler)
    predecessor = train(judges_handler, "own-judge", [labelled_file, more], prices=EMBEDDING_PRICES).json
    trained_calls = len(embedding_calls(openai_standin))

    # When its successor is asked for on another embedding model
    made = post(
        judges_handler,
        f"/judges/{predecessor['id']}/successor",
        {"model": "text-embedding-3-large", "prices": {"input": 0.13}},
    )
    queue.drain()

    # Then it learnt the same examples there, without a chat call, and its evaluation ran
    assert made.status == 201, made.json
    successor, started = made.json["judge"], made.json["evaluation"]
    calls = embedding_calls(openai_standin)[trained_calls:]
    assert calls[0]["model"] == "text-embedding-3-large"
    assert sorted(calls[0]["input"]) == sorted({t for t, _ in LABELLED} | {GOLDEN_EXTRA_GOOD})
    assert chat_calls(openai_standin) == []
    assert (
        successor["style"],
        successor["embedding_model"],
        successor["status"],
        successor["name"],
        successor["predecessor_id"],
    ) == ("classifier", "text-embedding-3-large", "candidate", "own-judge → text-embedding-3-large", predecessor["id"])
    assert successor["prices"] == {"input": 0.13, "cached_input": 0.13, "output": 0.0}
    assert successor["training"]["examples"] == predecessor["training"]["examples"] == len(LABELLED) + 1
    assert successor["training"]["dimensions"] == 3072
    assert successor["examples_file_ids"] == predecessor["examples_file_ids"] == [labelled_file, more]
    evaluated = get(judges_handler, f"/evaluations/{started['id']}").json
    assert evaluated["judge_id"] == successor["id"]
    assert evaluated["status"] == "succeeded" and evaluated["metrics"]["f1_good"] >= STATED_F1


def test_the_successor_service_trains_a_classifier_directly_and_starts_its_evaluation(
    judges_handler, openai, openai_standin, queue, labelled_file
):
    from shop_marketing.config import get_settings
    from shop_marketing.db import session_scope
    from shop_marketing.judging import creation
    from shop_marketing.openai_client import get_endpoint_client

    add_golden_set(judges_handler)
    predecessor = train(judges_handler, "own-judge", labelled_file).json

    with session_scope() as session:
        judge, evaluation = creation.create_successor(
            session,
            predecessor["id"],
            creation.SuccessorRequest(model="text-embedding-ada-002", name="ada"),
            get_settings(),
            client_for=get_endpoint_client,
        )
        made = (judge.style, judge.model, judge.output, evaluation.status, evaluation.total)

    assert made == ("classifier", "text-embedding-ada-002", "probability", "queued", len(GOLDEN))
    assert get(judges_handler, f"/judges/{judge.id}").json["training"]["examples"] == len(LABELLED)
    assert queue.waiting and chat_calls(openai_standin) == []


def test_a_successor_without_a_golden_set_is_refused_before_anything_is_paid(
    judges_handler, openai, openai_standin, queue, labelled_file, db
):
    classifier = train(judges_handler, "own-judge", labelled_file).json
    paid = len(embedding_calls(openai_standin))

    refused = post(judges_handler, f"/judges/{classifier['id']}/successor", {"model": "text-embedding-3-large"})

    assert refused.status == 409 and refused.json["error"]["code"] == "golden_set_required"
    assert len(embedding_calls(openai_standin)) == paid
    with db.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM judges")).scalar() == 1


def test_a_classifier_is_promoted_on_its_evaluation_and_rolled_back_like_any_judge(
    judges_handler, openai, queue, labelled_file
):
    add_golden_set(judges_handler)
    prompted = post(
        judges_handler,
        "/judges",
        {"name": "prompted", "style": "prompted", "model": "gpt-4o-mini", "examples_file_id": labelled_file},
    ).json
    evaluate(judges_handler, queue, prompted["id"])
    assert post(judges_handler, f"/judges/{prompted['id']}/activate", {}).status == 200
    classifier = train(judges_handler, "own-judge", labelled_file).json

    unevaluated = post(judges_handler, f"/judges/{classifier['id']}/activate", {})
    evaluate(judges_handler, queue, classifier["id"])
    promoted = post(judges_handler, f"/judges/{classifier['id']}/activate", {})
    rolled_back = post(judges_handler, "/judges/rollback")

    assert unevaluated.status == 409 and unevaluated.json["error"]["code"] == "evaluation_required"
    assert promoted.status == 200 and promoted.json["status"] == "active", promoted.json
    assert rolled_back.status == 200 and rolled_back.json["id"] == prompted["id"]
    assert get(judges_handler, f"/judges/{classifier['id']}").json["status"] == "retired"


def test_a_classifier_whose_embedding_model_is_gone_answers_503_judge_model_unavailable(
    judges_handler, judge_handler, openai, labelled_file
):
    judge = train(judges_handler, "own-judge", labelled_file).json
    assert post(judges_handler, f"/judges/{judge['id']}/activate", {"force": True, "reason": "test"}).status == 200
    openai.retired_models.add("text-embedding-3-small")

    answer = post(judge_handler, "/comments/judge", {"comment": "바지 기장이 딱 맞아요. 두 번 빨아도 색이 그대로예요."})

    assert answer.status == 503 and answer.json["error"]["code"] == "judge_model_unavailable"


def test_more_than_5000_examples_are_refused_before_anything_is_paid(
    judges_handler, upload_handler, openai, openai_standin, db
):
    examples = [
        (f"니트 후기 {n}번: 보풀 없어요", "good") if n % 2 else (f"배송 문의 {n}번", "bad") for n in range(5001)
    ]
    file_id = keep_examples(upload_handler, examples)

    refused = train(judges_handler, "too-many", file_id)

    assert refused.status == 422 and refused.json["error"]["code"] == "too_many_examples"
    assert "5001" in refused.json["error"]["message"]
    assert embedding_calls(openai_standin) == [] and judge_rows(db) == 0


# A fresh interpreter judges with a classifier through the judging path alone, and says whether numpy
# was loaded: the functions that judge have no layer holding it.
JUDGING_WITHOUT_NUMPY = r"""
import json, sys
from infra.openai_standin import start_in_background
from openai import OpenAI
from shop_marketing.judging.judge import ask_judge
from shop_marketing.judging.recipes import JudgeSpec
server, base_url = start_in_background()
spec = JudgeSpec(id=1, name="own", style="classifier", model="text-embedding-3-small", weights=(0.01,) * 1536, bias=0.0)
answer = ask_judge(spec, "니트 보풀 없어요", OpenAI(api_key="sk-test", base_url=base_url))
print(json.dumps({"verdict": answer["verdict"], "numpy": "numpy" in sys.modules}))
"""


def test_judging_with_a_classifier_never_loads_numpy():
    import os
    import subprocess
    import sys

    environment = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'shared'}"}
    finished = subprocess.run(
        [sys.executable, "-c", JUDGING_WITHOUT_NUMPY],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert finished.returncode == 0, finished.stderr
    answer = json.loads(finished.stdout.strip().splitlines()[-1])
    assert answer["verdict"] in ("good", "bad") and answer["numpy"] is False


@pytest.mark.parametrize(
    "reply",
    [
        {
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
            "model": "m",
            "usage": {"prompt_tokens": 3},
        },
        {"object": "list", "data": "not a list", "usage": {"prompt_tokens": 3}},
    ],
    ids=["fewer vectors than texts", "no vectors"],
)
def test_an_embeddings_reply_that_cannot_be_read_is_a_502_and_nothing_is_stored(
    judges_handler, openai, openai_standin, labelled_file, db, reply
):
    openai_standin.on("POST", EMBEDDINGS, lambda request, match: Reply(200, reply))

    refused = train(judges_handler, "unreadable", labelled_file)

    assert refused.status == 502 and refused.json["error"]["code"] == "bad_upstream_reply"
    assert judge_rows(db) == 0


def test_a_failure_after_a_paid_batch_stores_nothing_and_says_what_was_paid(
    judges_handler, upload_handler, openai, openai_standin, db, caplog
):
    examples = [
        (f"{GOOD[n % len(GOOD)]} ({n}번째 후기)", "good") if n % 2 else (f"{BAD[n % len(BAD)]} #{n}", "bad")
        for n in range(2100)
    ]
    file_id = keep_examples(upload_handler, examples)
    answered = []

    def first_batch_then_outage(request, match):
        if answered:
            return Reply(
                503,
                {
                    "error": {
                        "message": "The server is overloaded.",
                        "type": "server_error",
                        "param": None,
                        "code": None,
                    }
                },
            )
        answer = openai.handle("POST", "/v1/embeddings", request.headers, request.body)
        answered.append(answer.json["usage"]["prompt_tokens"])
        return Reply(answer.status, answer.json)

    openai_standin.on("POST", EMBEDDINGS, first_batch_then_outage)

    refused = train(judges_handler, "outage", file_id)

    assert refused.status == 503 and refused.json["error"]["code"] == "upstream_unavailable"
    assert judge_rows(db) == 0
    logged = [record for record in caplog.records if record.getMessage() == "embeddings paid before a failure"]
    assert [(record.calls, record.tokens, record.texts, record.kept) for record in logged] == [
        (1, answered[0], 2100, 2048)
    ]

    # And the paid batch was kept: once the endpoint is back, the retry sends only the other texts
    openai_standin.on("POST", EMBEDDINGS, lambda request, match: answered_by(openai, request))
    paid_before = len(embedding_calls(openai_standin))
    retried = train(judges_handler, "outage", file_id)

    assert retried.status == 201, retried.json
    assert [len(call["input"]) for call in embedding_calls(openai_standin)[paid_before:]] == [2100 - 2048]
    assert retried.json["training"]["embeddings"] == {"reused": 2048, "embedded": 2100 - 2048}


def test_a_classifier_whose_embedding_model_shuts_down_is_succeeded_by_its_evaluated_successor(
    judges_handler, judge_handler, openai, queue, labelled_file
):
    # Given an active classifier, and its successor on another embedding model, evaluated
    add_golden_set(judges_handler)
    judge = train(judges_handler, "own-judge", labelled_file).json
    assert post(judges_handler, f"/judges/{judge['id']}/activate", {"force": True, "reason": "test"}).status == 200
    made = post(judges_handler, f"/judges/{judge['id']}/successor", {"model": "text-embedding-3-large"})
    assert made.status == 201, made.json
    queue.drain()
    assert get(judges_handler, f"/evaluations/{made.json['evaluation']['id']}").json["status"] == "succeeded"

    # When the active classifier's embedding model is gone
    openai.retired_models.add("text-embedding-3-small")
    answer = post(judge_handler, "/comments/judge", {"comment": "바지 기장이 딱 맞아요. 두 번 빨아도 색이 그대로예요."})

    # Then its successor answers, made active by itself, and the old classifier shows its model shut down
    assert answer.status == 200, answer.json
    assert (answer.json["judge"], answer.json["model"]) == (made.json["judge"]["name"], "text-embedding-3-large")
    latest = get(judges_handler, "/judges/activations").json["activations"][0]
    assert (latest["judge_id"], latest["automatic"]) == (made.json["judge"]["id"], True)
    assert get(judges_handler, f"/judges/{judge['id']}").json["model_status"] == "shut_down"
