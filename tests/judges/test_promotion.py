"""Promotion on evidence: the rule and its errors, forced promotion, rollback, history; judging
follows the active judge without a restart."""

from __future__ import annotations

import pytest

from tests.judges.conftest import GOLDEN, add_golden_set, create_judge, evaluate, get, post, use_settings

GOOD_TEXTS = [text for text, label in GOLDEN if label == "good"]
BAD_TEXTS = [text for text, label in GOLDEN if label == "bad"]


def script(openai, model: str, wrong_good: int = 0, wrong_bad: int = 0) -> None:
    """Make ``model`` miss ``wrong_good`` good comments and call ``wrong_bad`` bad ones good."""
    openai.labels_by_model[model] = {
        **{text: ("bad" if n < wrong_good else "good") for n, text in enumerate(GOOD_TEXTS)},
        **{text: ("good" if n < wrong_bad else "bad") for n, text in enumerate(BAD_TEXTS)},
    }


@pytest.fixture
def scripted(openai):
    """The stand-in answering per model, so two judges on one golden set score differently."""
    return openai


def judge_named(judges_handler, name: str, model: str) -> dict:
    return create_judge(judges_handler, name=name, style="fine_tuned", model=model)


def activate(judges_handler, judge_id: int, body=None):
    return post(judges_handler, f"/judges/{judge_id}/activate", body)


def test_a_judge_without_an_evaluation_on_the_current_set_is_not_promoted(judges_handler, scripted, queue):
    judge = judge_named(judges_handler, "a", "model-a")

    result = activate(judges_handler, judge["id"])

    assert result.status == 409
    assert result.json["error"]["code"] == "evaluation_required"
    add_golden_set(judges_handler)
    assert activate(judges_handler, judge["id"]).json["error"]["code"] == "evaluation_required"


def test_the_first_judge_needs_only_the_precision_floor(judges_handler, scripted, queue):
    add_golden_set(judges_handler)
    sloppy = judge_named(judges_handler, "sloppy", "model-sloppy")
    script(scripted, "model-sloppy", wrong_bad=3)  # precision 12/15 = 0.8 < 0.9
    evaluate(judges_handler, queue, sloppy["id"])

    refused = activate(judges_handler, sloppy["id"])

    assert refused.status == 409
    error = refused.json["error"]
    assert error["code"] == "worse_than_active"
    assert error["candidate"]["precision_good"] == pytest.approx(0.8)
    assert error["active"] is None
    assert error["rule"] == {"f1_tolerance": 0.01, "min_precision": 0.9}


def test_the_precision_floor_is_promotion_min_precision(judges_handler, scripted, queue, monkeypatch):
    use_settings(monkeypatch, PROMOTION_MIN_PRECISION="0.75")
    add_golden_set(judges_handler)
    sloppy = judge_named(judges_handler, "sloppy", "model-sloppy")
    script(scripted, "model-sloppy", wrong_bad=3)  # precision 12/15 = 0.8 >= 0.75
    evaluate(judges_handler, queue, sloppy["id"])

    promoted = activate(judges_handler, sloppy["id"])

    assert (promoted.status, promoted.json["status"]) == (200, "active")


def test_a_worse_judge_is_refused_with_both_judges_figures_and_a_better_one_is_promoted(
    judges_handler, scripted, queue
):
    add_golden_set(judges_handler)
    first = judge_named(judges_handler, "first", "model-first")
    script(scripted, "model-first", wrong_good=2)  # precision 1, recall 10/12
    evaluate(judges_handler, queue, first["id"])
    assert activate(judges_handler, first["id"]).json["status"] == "active"

    worse = judge_named(judges_handler, "worse", "model-worse")
    script(scripted, "model-worse", wrong_good=4)  # precision 1, recall 8/12: lower F1
    evaluate(judges_handler, queue, worse["id"])
    refused = activate(judges_handler, worse["id"])
    assert refused.status == 409
    error = refused.json["error"]
    assert error["code"] == "worse_than_active"
    assert error["active"]["judge_id"] == first["id"]
    assert error["candidate"]["judge_id"] == worse["id"]
    assert error["candidate"]["f1_good"] < error["active"]["f1_good"]

    better = judge_named(judges_handler, "better", "model-better")
    script(scripted, "model-better", wrong_good=0)
    evaluate(judges_handler, queue, better["id"])
    promoted = activate(judges_handler, better["id"])
    assert (promoted.status, promoted.json["status"]) == (200, "active")
    assert get(judges_handler, f"/judges/{first['id']}").json["status"] == "retired"


def test_within_the_f1_tolerance_a_judge_is_promoted(judges_handler, scripted, queue, monkeypatch):
    use_settings(monkeypatch, PROMOTION_F1_TOLERANCE="0.2")
    add_golden_set(judges_handler)
    first = judge_named(judges_handler, "first", "model-first")
    script(scripted, "model-first")
    evaluate(judges_handler, queue, first["id"])
    activate(judges_handler, first["id"])
    close = judge_named(judges_handler, "close", "model-close")
    script(scripted, "model-close", wrong_good=2)  # F1 0.909 >= 1.0 - 0.2
    evaluate(judges_handler, queue, close["id"])

    assert activate(judges_handler, close["id"]).status == 200


def test_force_needs_a_reason_and_is_recorded(judges_handler, scripted, queue):
    judge = judge_named(judges_handler, "unmeasured", "model-x")

    without_reason = activate(judges_handler, judge["id"], {"force": True})
    assert without_reason.status == 422

    forced = activate(judges_handler, judge["id"], {"force": True, "reason": "the old model is retired tonight"})
    assert (forced.status, forced.json["status"]) == (200, "active")
    [activation] = get(judges_handler, "/judges/activations").json["activations"]
    assert activation["forced"] is True
    assert activation["reason"] == "the old model is retired tonight"
    assert activation["judge_id"] == judge["id"]


def test_rollback_restores_the_previous_judge_and_judging_follows_without_a_restart(
    judges_handler, judge_handler, scripted, queue, openai_standin
):
    # Given judge A active, then judge B promoted over it
    add_golden_set(judges_handler)
    a = judge_named(judges_handler, "a", "model-a")
    b = judge_named(judges_handler, "b", "model-b")
    for judge, model in ((a, "model-a"), (b, "model-b")):
        script(scripted, model)
        evaluate(judges_handler, queue, judge["id"])
    activate(judges_handler, a["id"])
    activate(judges_handler, b["id"])
    answer = post(judge_handler, "/comments/judge", {"comment": "핏이 정말 좋아요, 세탁해도 그대로예요"}).json
    assert (answer["judge"], answer["model"]) == ("b", "model-b")

    # When the promotion is rolled back
    rolled = post(judges_handler, "/judges/rollback")

    # Then A is active again, judging follows at once, and the history tells it all, newest first
    assert (rolled.status, rolled.json["id"], rolled.json["status"]) == (200, a["id"], "active")
    answer = post(judge_handler, "/comments/judge", {"comment": "핏이 정말 좋아요, 세탁해도 그대로예요"}).json
    assert (answer["judge"], answer["model"], answer["cached"]) == ("a", "model-a", False)
    history = get(judges_handler, "/judges/activations").json["activations"]
    assert [(h["kind"], h["judge_id"]) for h in history] == [
        ("rollback", a["id"]),
        ("activation", b["id"]),
        ("activation", a["id"]),
    ]
    assert history[1]["rolled_back_at"] is not None
    assert history[1]["metrics"]["f1_good"] == pytest.approx(1.0)

    # And there is nothing earlier than A to roll back to
    again = post(judges_handler, "/judges/rollback")
    assert (again.status, again.json["error"]["code"]) == (409, "nothing_to_roll_back")


def test_activating_the_active_judge_changes_nothing(judges_handler, scripted, queue):
    judge = judge_named(judges_handler, "a", "model-a")
    activate(judges_handler, judge["id"], {"force": True, "reason": "first"})

    assert activate(judges_handler, judge["id"]).status == 200
    assert len(get(judges_handler, "/judges/activations").json["activations"]) == 1


def test_exactly_one_judge_is_active_even_when_promotions_race(judges_handler, scripted, queue, db):
    import threading

    import sqlalchemy as sa

    judges = [judge_named(judges_handler, f"j{n}", f"model-{n}") for n in range(6)]
    barrier = threading.Barrier(len(judges))

    def promote(judge):
        barrier.wait()
        activate(judges_handler, judge["id"], {"force": True, "reason": "race"})

    threads = [threading.Thread(target=promote, args=(judge,)) for judge in judges]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    with db.connect() as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM judges WHERE status = 'active'")) == 1
        assert connection.scalar(sa.text("SELECT count(*) FROM judge_activations")) == 6
