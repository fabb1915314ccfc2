"""The judges function's events/ samples (``sam local invoke -e``) run through its two handlers."""

from __future__ import annotations

from infra.lambda_runtime import LocalContext, load_handler
from tests.judges.conftest import add_golden_set, get
from tests.support.lambda_invoke import ROOT, result_of, sample_event


def test_the_judges_sample_events_create_activate_and_evaluate_a_judge(judges_handler, openai, queue):
    created = result_of(judges_handler(sample_event("judges_create_http.json"), LocalContext()))
    assert (created.status, created.json["id"], created.json["style"]) == (201, 1, "fine_tuned")
    activated = result_of(judges_handler(sample_event("judges_activate_http.json"), LocalContext()))
    assert (activated.status, activated.json["status"]) == (200, "active")

    add_golden_set(judges_handler)
    started = result_of(judges_handler(sample_event("judges_start_evaluation_http.json"), LocalContext()))
    assert (started.status, started.json["status"]) == (202, "queued")
    queue.waiting.clear()  # the sample SQS event stands for what the queue would deliver

    queue_handler = load_handler(ROOT / "functions" / "judges", "app.evaluation_queue_handler")
    response = queue_handler(sample_event("judges_evaluation_sqs.json"), LocalContext())

    assert response == {"batchItemFailures": []}
    assert get(judges_handler, "/evaluations/1").json["judged"] == 2
