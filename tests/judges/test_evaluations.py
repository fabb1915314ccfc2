"""Golden sets, evaluations and their figures, and promotion on evidence."""

from __future__ import annotations

import pytest

from tests.judges.conftest import (
    BAD,
    GOLDEN,
    GOOD,
    add_golden_set,
    create_judge,
    evaluate,
    get,
    judging_calls,
    keep_examples,
    post,
)
from tests.support.lambda_invoke import call_http

FINE_TUNED = "ft:gpt-4o-mini-2024-07-18:shop::judge01"
PRICES = {"input": 0.30, "cached_input": 0.15, "output": 1.20}


def chat_calls(openai_standin) -> list:
    return judging_calls(openai_standin)


def test_an_evaluation_reports_the_exact_confusion_matrix_metrics_and_cost(
    judges_handler, openai, openai_standin, queue
):
    # Given a golden set of 12 good and 12 bad comments, and a judge the stand-in makes wrong on
    # 3 good comments (answers bad) and 1 bad comment (answers good)
    golden = add_golden_set(judges_handler)
    assert (golden["examples"], golden["labels"], golden["current"]) == (24, {"good": 12, "bad": 12}, True)
    goods = [text for text, label in GOLDEN if label == "good"]
    bads = [text for text, label in GOLDEN if label == "bad"]
    openai.labels_by_comment = {**{text: "good" for text in goods}, **{text: "bad" for text in bads}}
    for text in goods[:3]:
        openai.labels_by_comment[text] = "bad"
    openai.labels_by_comment[bads[0]] = "good"
    judge = create_judge(judges_handler, name="ft-judge", style="fine_tuned", model=FINE_TUNED, prices=PRICES)

    # When it is evaluated (in the background: the queue handler judges every example)
    result = evaluate(judges_handler, queue, judge["id"])

    # Then the figures are exactly those of 9 tp, 1 fp, 3 fn, 11 tn
    assert result["status"] == "succeeded"
    assert (result["total"], result["judged"], result["errors"]) == (24, 24, 0)
    metrics = result["metrics"]
    assert metrics["confusion"] == {"tp": 9, "fp": 1, "fn": 3, "tn": 11}
    assert metrics["accuracy"] == pytest.approx(20 / 24)
    assert metrics["precision_good"] == pytest.approx(9 / 10)
    assert metrics["recall_good"] == pytest.approx(9 / 12)
    assert metrics["f1_good"] == pytest.approx(2 * 0.9 * 0.75 / (0.9 + 0.75))
    # And the cost is what the stand-in billed, priced per 1,000 comments
    usages = [call.json() for call in chat_calls(openai_standin)]
    assert len(usages) == 24
    from infra.openai_standin import billed_prompt_tokens

    prompt = sum(billed_prompt_tokens(body["messages"]) for body in usages)
    assert result["cost"]["prompt_tokens"] == prompt
    assert result["cost"]["completion_tokens"] == 24
    assert result["cost"]["cached_prompt_tokens"] == 0
    expected = (prompt * 0.30 + 24 * 1.20) / 1_000_000 / 24 * 1000
    assert result["cost"]["usd_per_1000_comments"] == pytest.approx(expected, rel=1e-4)
    assert result["latency_ms"]["p50"] is not None and result["latency_ms"]["p95"] >= result["latency_ms"]["p50"]
    assert result["paid_calls"] == 24


def test_an_evaluation_run_twice_pays_nothing_the_second_time(judges_handler, openai, openai_standin, queue):
    add_golden_set(judges_handler)
    judge = create_judge(judges_handler, name="ft-judge", style="fine_tuned", model=FINE_TUNED, prices=PRICES)
    first = evaluate(judges_handler, queue, judge["id"])
    calls = len(chat_calls(openai_standin))

    second = evaluate(judges_handler, queue, judge["id"])

    assert second["id"] != first["id"] and second["status"] == "succeeded"
    assert len(chat_calls(openai_standin)) == calls == 24
    assert second["paid_calls"] == 0
    assert (second["metrics"], second["cost"]) == (first["metrics"], first["cost"])


def test_without_prices_the_cost_per_1000_is_null(judges_handler, openai, queue):
    add_golden_set(judges_handler)
    judge = create_judge(judges_handler, name="ft-judge", style="fine_tuned", model=FINE_TUNED)

    assert evaluate(judges_handler, queue, judge["id"])["cost"]["usd_per_1000_comments"] is None


def test_an_example_the_judge_cannot_answer_counts_as_an_error_not_a_wrong_answer(judges_handler, openai, queue):
    add_golden_set(judges_handler)
    broken = GOLDEN[0][0]
    openai.labels_by_comment = {broken: "maybe"}
    judge = create_judge(judges_handler, name="ft-judge", style="fine_tuned", model=FINE_TUNED)

    result = evaluate(judges_handler, queue, judge["id"])

    assert (result["status"], result["judged"], result["errors"]) == ("succeeded", 23, 1)
    assert sum(result["metrics"]["confusion"].values()) == 23


def test_an_outage_is_retried_and_the_evaluation_resumes_where_it_stopped(
    judges_handler, openai, openai_standin, queue
):
    # Given an OpenAI that fails every request for a while
    from infra.openai_standin import Reply

    add_golden_set(judges_handler)
    judge = create_judge(judges_handler, name="ft-judge", style="fine_tuned", model=FINE_TUNED)
    outage = {"on": True}
    openai_standin.on(
        "POST",
        "/chat/completions",
        lambda request, match: (
            Reply(500, {"error": {"message": "down", "type": "server_error"}})
            if outage["on"]
            else _answer(openai, request)
        ),
    )
    started = post(judges_handler, "/evaluations", {"judge_id": judge["id"]}).json

    # When a first batch meets the outage
    failures = queue.deliver_once()

    # Then every record of it is reported back for redelivery and nothing is recorded as judged
    assert len(failures) == 10
    assert get(judges_handler, f"/evaluations/{started['id']}").json["judged"] == 0

    # And once OpenAI is back the evaluation finishes with nothing lost or counted twice
    outage["on"] = False
    queue.drain()
    result = get(judges_handler, f"/evaluations/{started['id']}").json
    assert (result["status"], result["judged"], result["errors"]) == ("succeeded", 24, 0)


def _answer(openai, request):
    from infra.openai_standin import Reply

    answer = openai.chat(request.body)
    return Reply(answer.status, answer.json)


def test_golden_set_examples_found_in_training_data_are_reported_and_not_scored(
    judges_handler, upload_handler, openai, queue
):
    # Given kept training examples, and a golden set that repeats two of them
    keep_examples(upload_handler)
    examples = list(GOLDEN)
    examples[0] = (GOOD[0], "good")
    examples[12] = (BAD[0], "bad")

    golden = add_golden_set(judges_handler, examples)

    assert golden["overlap_with_training"] == 2
    overlaps = [w for w in golden["warnings"] if w["code"] == "overlap"]
    assert [w["line"] for w in overlaps] == [1, 13]
    judge = create_judge(judges_handler, name="ft-judge", style="fine_tuned", model=FINE_TUNED)
    assert evaluate(judges_handler, queue, judge["id"])["total"] == 22


def test_golden_set_examples_found_in_training_data_uploaded_later_are_not_scored_either(
    judges_handler, upload_handler, openai, queue
):
    # Given a golden set, and then training data that repeats two of its comments
    golden = add_golden_set(judges_handler)
    assert golden["overlap_with_training"] == 0
    keep_examples(
        upload_handler, [GOLDEN[0], GOLDEN[12], *[(t, "good") for t in GOOD[:5]], *[(t, "bad") for t in BAD[:5]]]
    )
    judge = create_judge(judges_handler, name="ft-judge", style="fine_tuned", model=FINE_TUNED)

    # When a judge is evaluated on it, those two are left out of scoring
    result = evaluate(judges_handler, queue, judge["id"])
    assert (result["status"], result["total"], result["judged"]) == ("succeeded", 22, 22)
    assert sum(result["metrics"]["confusion"].values()) == 22


@pytest.mark.parametrize(
    ("examples", "code"),
    [
        pytest.param(GOLDEN[:19], "too_few_examples", id="fewer-than-20"),
        pytest.param([(text, "good") for text, _ in GOLDEN], "single_label", id="one-label"),
    ],
)
def test_a_golden_set_is_validated_like_training_data(judges_handler, openai_standin, examples, code):
    from tests.judges.conftest import jsonl

    result = call_http(
        judges_handler, "POST", "/golden-sets", body=jsonl(examples), headers={"content-type": "application/jsonl"}
    )

    assert result.status == 422
    assert code in [detail["code"] for detail in result.json["error"]["details"]]
    assert openai_standin.requests == []


def test_a_golden_set_too_small_for_training_data_too_is_told_the_golden_sets_minimum(judges_handler, openai_standin):
    from tests.judges.conftest import jsonl

    examples = GOLDEN[:5] + GOLDEN[12:16]  # 9: fewer than training data's 10 as well as the golden set's 20
    result = call_http(
        judges_handler, "POST", "/golden-sets", body=jsonl(examples), headers={"content-type": "application/jsonl"}
    )

    assert result.status == 422
    [detail] = [d for d in result.json["error"]["details"] if d["code"] == "too_few_examples"]
    assert "at least 20" in detail["message"] and "10" not in detail["message"]
    assert "golden set" in result.json["error"]["message"]


def test_a_broken_golden_set_line_is_422_with_its_line(judges_handler):
    from tests.judges.conftest import jsonl

    body = jsonl(GOLDEN).replace(b"\n", b"\nnot json\n", 1)
    result = call_http(judges_handler, "POST", "/golden-sets", body=body, headers={"content-type": "application/jsonl"})

    assert result.status == 422
    assert {"line": 2, "code": "not_json"}.items() <= result.json["error"]["details"][0].items()


def test_evaluations_are_listed_per_judge(judges_handler, openai, queue):
    add_golden_set(judges_handler)
    one = create_judge(judges_handler, name="one", style="fine_tuned", model=FINE_TUNED)
    two = create_judge(judges_handler, name="two", style="fine_tuned", model=FINE_TUNED + "x")
    evaluate(judges_handler, queue, one["id"])
    evaluate(judges_handler, queue, two["id"])

    listed = get(judges_handler, "/evaluations", query=f"judge_id={one['id']}").json["evaluations"]

    assert [e["judge_id"] for e in listed] == [one["id"]]
    assert len(get(judges_handler, "/evaluations").json["evaluations"]) == 2


def test_an_evaluation_needs_a_golden_set_and_a_known_judge(judges_handler, openai, queue):
    judge = create_judge(judges_handler, name="one", style="fine_tuned", model=FINE_TUNED)

    assert (
        post(judges_handler, "/evaluations", {"judge_id": judge["id"]}).json["error"]["code"] == "golden_set_required"
    )
    add_golden_set(judges_handler)
    assert post(judges_handler, "/evaluations", {"judge_id": 999}).status == 404
    assert post(judges_handler, "/evaluations", {"judge_id": judge["id"], "golden_set_id": 999}).status == 404
    assert post(judges_handler, "/evaluations", {"judge_id": True}).status == 422
    assert get(judges_handler, "/evaluations/999").status == 404


def test_an_evaluation_whose_messages_were_lost_is_resumed_by_posting_it_again(
    judges_handler, openai, openai_standin, queue
):
    # Given an evaluation that judged one batch, then lost the rest of its messages (a crash)
    add_golden_set(judges_handler)
    judge = create_judge(judges_handler, name="ft-judge", style="fine_tuned", model=FINE_TUNED)
    started = post(judges_handler, "/evaluations", {"judge_id": judge["id"]}).json
    queue.deliver_once()
    queue.waiting.clear()
    assert get(judges_handler, f"/evaluations/{started['id']}").json["status"] == "running"

    # When the same evaluation is asked for again
    resumed = post(judges_handler, "/evaluations", {"judge_id": judge["id"]})
    queue.drain()

    # Then it is the same evaluation, its pending examples only were sent again, and nothing was paid twice
    assert (resumed.status, resumed.json["id"]) == (202, started["id"])
    assert queue.sent == 24 + 14
    result = get(judges_handler, f"/evaluations/{started['id']}").json
    assert (result["status"], result["judged"]) == ("succeeded", 24)
    assert len(chat_calls(openai_standin)) == 24


def test_a_judge_whose_model_is_retired_fails_its_evaluation_without_retrying_it(
    judges_handler, openai, openai_standin, queue
):
    add_golden_set(judges_handler)
    judge = create_judge(judges_handler, name="ft-judge", style="fine_tuned", model=FINE_TUNED)
    openai.retired_models = {"gpt-4o-mini-2024-07-18"}

    result = evaluate(judges_handler, queue, judge["id"])

    assert (result["status"], result["judged"], result["errors"], result["metrics"]) == ("failed", 0, 24, None)
    assert len(chat_calls(openai_standin)) == 24  # one refused call per example, none repeated
    # and the judge's model shows shut down from the first refusal on
    assert get(judges_handler, f"/judges/{judge['id']}").json["model_status"] == "shut_down"


def test_an_evaluation_with_no_example_left_to_score_finishes_at_once_as_failed_saying_why(
    judges_handler, upload_handler, openai, openai_standin, queue
):
    # Given a golden set every example of which is in a training file (all left out of scoring)
    keep_examples(upload_handler, GOLDEN)
    golden = add_golden_set(judges_handler, GOLDEN[1:])
    assert golden["overlap_with_training"] == golden["examples"] == 23
    judge = create_judge(judges_handler, name="ft-judge", style="fine_tuned", model=FINE_TUNED)

    # When it is evaluated on that set
    started = post(judges_handler, "/evaluations", {"judge_id": judge["id"]})

    # Then the evaluation does not wait for examples that will never come: it has failed, and says why
    assert started.status == 202, started.json
    result = get(judges_handler, f"/evaluations/{started.json['id']}").json
    assert (result["status"], result["total"], result["metrics"]) == ("failed", 0, None)
    assert result["finished_at"] is not None and "training file" in result["outcome"]
    assert queue.sent == 0 and judging_calls(openai_standin) == []


def test_an_evaluation_judged_to_the_end_but_never_finished_is_finished_by_posting_it_again(
    judges_handler, openai, queue, db
):
    import sqlalchemy as sa

    # Given an evaluation whose every example was judged, but whose finishing step never ran (a crash)
    add_golden_set(judges_handler)
    judge = create_judge(judges_handler, name="ft-judge", style="fine_tuned", model=FINE_TUNED)
    first = evaluate(judges_handler, queue, judge["id"])
    with db.begin() as connection:
        connection.execute(
            sa.text("UPDATE evaluations SET status = 'running', metrics = NULL, finished_at = NULL WHERE id = :id"),
            {"id": first["id"]},
        )

    # When it is asked for again
    again = post(judges_handler, "/evaluations", {"judge_id": judge["id"]})

    # Then the same evaluation is finished with its figures, with nothing sent to judge again
    assert (again.status, again.json["id"]) == (202, first["id"])
    result = get(judges_handler, f"/evaluations/{first['id']}").json
    assert (result["status"], result["metrics"]) == ("succeeded", first["metrics"])
    assert queue.sent == 24


def test_the_same_golden_set_posted_twice_at_once_is_one_set_and_both_are_answered(judges_handler, db, master_engine):
    import hashlib
    import threading
    import time

    import sqlalchemy as sa

    from shop_marketing.config import get_settings
    from shop_marketing.training.files import validated
    from tests.judges.conftest import jsonl

    data = jsonl(GOLDEN)
    sha = hashlib.sha256(validated(data, get_settings()).normalized).hexdigest()
    results = []

    def send():
        results.append(
            call_http(judges_handler, "POST", "/golden-sets", body=data, headers={"content-type": "application/jsonl"})
        )

    # Given a twin request that has stored this golden set but not committed yet
    with db.connect() as twin:
        transaction = twin.begin()
        twin_id = twin.scalar(
            sa.text(
                "INSERT INTO golden_sets (sha256, examples, good_examples, bad_examples, overlap_with_training) "
                "VALUES (:sha, 24, 12, 12, 0) RETURNING id"
            ),
            {"sha": sha},
        )
        # When the same golden set is posted meanwhile (it waits on the twin's row)
        thread = threading.Thread(target=send)
        thread.start()
        for _ in range(600):
            with master_engine.connect() as watcher:
                waiting = watcher.scalar(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND datname = current_database()"
                    )
                )
            if waiting or not thread.is_alive():
                break
            time.sleep(0.05)
        transaction.commit()
    thread.join()

    # Then it is answered with the twin's golden set, not an error
    [result] = results
    assert (result.status, result.json["id"]) == (200, twin_id), result.json
