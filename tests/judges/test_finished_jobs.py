"""What a finished fine-tuning job does: its model becomes a candidate judge, once; evaluated and
promoted by the rule when there is a golden set, active at once (marked unevaluated) when not."""

from __future__ import annotations

from tests.judges.conftest import GOLDEN, TRAINING, add_golden_set, get, jsonl, post
from tests.support.lambda_invoke import call_http


def finished_job(upload_handler, jobs_handler, suffix: str) -> dict:
    """Upload the training data, start a job, and read it until the stand-in reports success."""
    uploaded = call_http(
        upload_handler, "POST", "/training-files", body=jsonl(TRAINING), headers={"content-type": "application/jsonl"}
    )
    assert uploaded.status in (200, 201), uploaded.json
    job = post(jobs_handler, "/fine-tuning/jobs", {"training_file_id": uploaded.json["id"], "suffix": suffix}).json
    for _ in range(5):
        job = get(jobs_handler, f"/fine-tuning/jobs/{job['id']}").json
        if job["status"] == "succeeded":
            return job
    raise AssertionError(f"the job did not succeed: {job}")


def judges(judges_handler) -> list[dict]:
    return get(judges_handler, "/judges").json["judges"]


def test_without_a_golden_set_the_finished_jobs_judge_is_active_at_once_marked_unevaluated(
    upload_handler, jobs_handler, judges_handler, openai, queue
):
    job = finished_job(upload_handler, jobs_handler, "first")

    [judge] = judges(judges_handler)
    assert (judge["style"], judge["model"], judge["status"]) == ("fine_tuned", job["fine_tuned_model"], "active")
    assert (judge["unevaluated"], judge["source_job_id"]) == (True, job["id"])
    # Reading the finished job again makes no second judge
    get(jobs_handler, f"/fine-tuning/jobs/{job['id']}")
    assert len(judges(judges_handler)) == 1
    assert queue.sent == 0


def test_with_a_golden_set_the_finished_jobs_judge_is_evaluated_and_promoted_by_the_rule(
    upload_handler, jobs_handler, judges_handler, judge_handler, openai, queue
):
    # Given a golden set and no active judge yet
    add_golden_set(judges_handler)

    # When a job finishes, its judge is evaluated in the background
    first = finished_job(upload_handler, jobs_handler, "first")
    [candidate] = judges(judges_handler)
    assert candidate["status"] == "candidate"
    queue.drain()

    # Then, precise enough, it becomes the active judge, and judging uses it
    [promoted] = judges(judges_handler)
    assert promoted["status"] == "active" and promoted["unevaluated"] is False
    assert promoted["latest_evaluation"]["metrics"]["precision_good"] == 1.0
    answer = post(judge_handler, "/comments/judge", {"comment": GOLDEN[0][0]}).json
    assert answer["model"] == first["fine_tuned_model"]

    # When a second job's model is worse on the golden set
    second = finished_job(upload_handler, jobs_handler, "second")
    openai.labels_by_model[second["fine_tuned_model"]] = {
        text: "good" for text, _ in GOLDEN
    }  # every bad one called good
    queue.drain()

    # Then it stays a candidate, its evaluation says why, and the first judge stays active
    by_model = {judge["model"]: judge for judge in judges(judges_handler)}
    assert by_model[first["fine_tuned_model"]]["status"] == "active"
    worse = by_model[second["fine_tuned_model"]]
    assert worse["status"] == "candidate"
    evaluation = get(judges_handler, f"/evaluations/{worse['latest_evaluation']['id']}").json
    assert evaluation["outcome"].startswith("not promoted")
    assert len(get(judges_handler, "/judges/activations").json["activations"]) == 1


def test_a_golden_set_added_while_the_finished_jobs_judge_is_evaluated_leaves_it_a_candidate_its_evaluation_done(
    upload_handler, jobs_handler, judges_handler, openai, queue
):
    # Given a golden set, and a finished job's judge being evaluated on it
    add_golden_set(judges_handler)
    finished_job(upload_handler, jobs_handler, "first")

    # When a newer golden set becomes the current one before the evaluation finishes
    add_golden_set(judges_handler, GOLDEN[1:])
    queue.drain()

    # Then the evaluation finishes with its figures, and the judge is not promoted on the old set's evidence
    [judge] = judges(judges_handler)
    assert judge["status"] == "candidate"
    evaluation = get(judges_handler, f"/evaluations/{judge['latest_evaluation']['id']}").json
    assert evaluation["status"] == "succeeded" and evaluation["metrics"]["precision_good"] == 1.0
    assert evaluation["outcome"].startswith("not promoted") and "golden set" in evaluation["outcome"]
    assert get(judges_handler, "/judges/activations").json["activations"] == []
