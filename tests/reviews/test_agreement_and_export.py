"""Agreement (each judge against the reviewers, over the comments both judged and reviewed) and the
labelled export (reviewed comments as JSONL in the training format, which POST /golden-sets takes)."""

from __future__ import annotations

import json

import pytest

from tests.reviews.conftest import review
from tests.support.lambda_invoke import call_http, handler_of


def agreement(reviews, query=""):
    result = call_http(reviews, "GET", "/reviews/agreement", query=query)
    assert result.status == 200, result.body
    return result.json["judges"]


def test_agreement_counts_each_judges_verdicts_against_the_reviewers_labels(reviews, shop):
    post = shop.post()
    fine_tuned, prompted, unused = shop.judge("fine-tuned"), shop.judge("prompted"), shop.judge("never-reviewed")
    # (text, fine-tuned's verdict, prompted's verdict or None, the reviewer's label or None)
    cases = [
        ("a", "good", "good", "good"),  # ft tp, pr tp
        ("b", "good", "bad", "good"),  # ft tp, pr fn
        ("c", "good", "good", "bad"),  # ft fp, pr fp
        ("d", "bad", "bad", "bad"),  # ft tn, pr tn
        ("e", "bad", None, "good"),  # ft fn; prompted never judged it
        ("f", "bad", "good", "bad"),  # ft tn, pr fp
        ("g", "good", "good", None),  # not reviewed: counts for no judge
    ]
    for text, ft_verdict, pr_verdict, label in cases:
        comment = shop.judged(post, fine_tuned, f"comment {text}", ft_verdict)
        if pr_verdict is not None:
            shop.judgement(prompted, f"comment {text}", pr_verdict)
        if label is not None:
            assert review(reviews, comment, label).status == 200
    shop.judgement(unused, "a text no comment has", "good")

    judges = {entry["name"]: entry for entry in agreement(reviews)}

    assert set(judges) == {"fine-tuned", "prompted"}
    ft, pr = judges["fine-tuned"], judges["prompted"]
    assert (ft["judge_id"], ft["reviewed"], ft["confusion"]) == (fine_tuned, 6, {"tp": 2, "fp": 1, "fn": 1, "tn": 2})
    assert ft["precision_good"] == pytest.approx(2 / 3)
    assert ft["recall_good"] == pytest.approx(2 / 3)
    assert ft["f1_good"] == pytest.approx(2 / 3)
    assert (pr["reviewed"], pr["confusion"]) == (5, {"tp": 1, "fp": 2, "fn": 1, "tn": 1})
    assert pr["precision_good"] == pytest.approx(1 / 3)
    assert pr["recall_good"] == pytest.approx(1 / 2)
    assert pr["f1_good"] == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))

    # One judge asked for by id; one with nothing reviewed is listed with zeros; an unknown one is 404.
    assert agreement(reviews, f"judge_id={prompted}") == [pr]
    [empty] = agreement(reviews, f"judge_id={unused}")
    assert (empty["reviewed"], empty["confusion"], empty["precision_good"], empty["f1_good"]) == (
        0,
        {"tp": 0, "fp": 0, "fn": 0, "tn": 0},
        None,
        None,
    )
    assert call_http(reviews, "GET", "/reviews/agreement", query="judge_id=999999").status == 404
    assert call_http(reviews, "GET", "/reviews/agreement", query="judge_id=zero").status == 422


def test_agreement_with_no_reviews_lists_no_judges(reviews, shop):
    shop.judged(shop.post(), shop.judge("fine-tuned"), "not reviewed", "good")

    assert agreement(reviews) == []


def labelled(texts_and_labels):
    return [
        (json.loads(line)["messages"][0]["content"], json.loads(line)["messages"][1]["content"])
        for line in texts_and_labels
    ]


def test_the_export_is_the_reviewers_labels_in_the_training_format_and_round_trips_into_a_golden_set(reviews, shop):
    judge = shop.judge("fine-tuned")
    post = shop.post()
    expected = {}
    for n in range(24):
        # The judge says good for every one; the reviewers label every third bad.
        text = f"리뷰 {n}번: 린넨 셔츠 잘 입고 있어요" if n % 3 else f"리뷰 {n}번: 배송이 너무 늦어요"
        comment = shop.judged(post, judge, text, "good")
        label = "good" if n % 3 else "bad"
        assert review(reviews, comment, label).status == 200
        expected[text] = label
    shop.judged(post, judge, "not reviewed, not exported", "good")

    exported = call_http(reviews, "GET", "/reviews/export")

    assert exported.status == 200
    assert exported.headers["Content-Type"].startswith("application/jsonl")
    lines = exported.body.decode("utf-8").splitlines()
    assert json.loads(lines[0]) == {
        "messages": [
            {"role": "user", "content": "리뷰 0번: 배송이 너무 늦어요"},
            {"role": "assistant", "content": "bad"},
        ]
    }
    assert dict(labelled(lines)) == expected and len(lines) == 24

    golden = call_http(
        handler_of("judges"), "POST", "/golden-sets", body=exported.body, headers={"content-type": "application/jsonl"}
    )

    assert golden.status == 201, golden.body
    assert (golden.json["examples"], golden.json["labels"]) == (24, {"good": 16, "bad": 8})


def test_the_export_is_accepted_as_a_training_file(reviews, shop):
    judge, post = shop.judge("fine-tuned"), shop.post()
    for n in range(12):
        text = f"후기 {n}: 원단이 부드러워요" if n % 2 else f"후기 {n}: 사이즈 교환 어떻게 하나요?"
        assert review(reviews, shop.judged(post, judge, text, "good"), "good" if n % 2 else "bad").status == 200
    exported = call_http(reviews, "GET", "/reviews/export").body

    # Kept without being sent to OpenAI (?upload=false): validated exactly as an upload is.
    kept = call_http(
        handler_of("upload_training_file"),
        "POST",
        "/training-files",
        query="upload=false&filename=reviewed.jsonl",
        body=exported,
        headers={"content-type": "application/jsonl"},
    )

    assert kept.status == 201, kept.body
    assert (kept.json["examples"], kept.json["labels"]) == (12, {"good": 6, "bad": 6})


def test_the_export_takes_since_keeps_one_line_per_text_and_is_empty_without_reviews(reviews, shop, db):
    import sqlalchemy as sa

    assert call_http(reviews, "GET", "/reviews/export").body == b""
    judge, post = shop.judge("fine-tuned"), shop.post()
    old = shop.judged(post, judge, "old review", "good")
    twin_a = shop.judged(post, judge, "same words", "good", ig_id="1001")
    twin_b = shop.comment(post, "same words", ig_id="1002")
    for comment, label in ((old, "good"), (twin_a, "good"), (twin_b, "bad")):
        assert review(reviews, comment, label).status == 200
    with db.begin() as connection:
        connection.execute(
            sa.text("UPDATE comment_reviews SET updated_at = '2026-01-01T00:00:00Z' WHERE comment_id = :c"), {"c": old}
        )

    everything = labelled(call_http(reviews, "GET", "/reviews/export").body.decode().splitlines())
    recent = labelled(
        call_http(reviews, "GET", "/reviews/export", query="since=2026-06-01T00:00:00%2B09:00")
        .body.decode()
        .splitlines()
    )

    # One text, one label: the newest review's.
    assert everything == [("old review", "good"), ("same words", "bad")]
    assert recent == [("same words", "bad")]
    assert call_http(reviews, "GET", "/reviews/export", query="since=2026-06-01").status == 200
    assert call_http(reviews, "GET", "/reviews/export", query="since=yesterday").status == 422


@pytest.mark.parametrize(
    ("since", "lines"),
    [
        # The last moment of year 9999 at UTC-23:59 is past what a timestamp holds: nothing is that recent.
        ("9999-12-31T23:59:59-23:59", 0),
        # The first moment of year 1 at UTC+14:00 is before it: every review is at least that recent.
        ("0001-01-01T00:00:00%2B14:00", 1),
    ],
)
def test_a_since_at_the_edge_of_the_calendar_is_answered_not_a_server_error(reviews, shop, since, lines):
    judge, post = shop.judge("fine-tuned"), shop.post()
    assert review(reviews, shop.judged(post, judge, "edge of time", "good"), "good").status == 200

    result = call_http(reviews, "GET", "/reviews/export", query=f"since={since}")

    assert result.status == 200, result.body
    assert len(result.body.decode().splitlines()) == lines


def test_the_description_names_the_exports_media_type_and_the_comment_shapes(database_url):
    from infra.api_gateway import routes_from_template
    from infra.local_api import LocalApi

    spec = LocalApi([r for r in routes_from_template() if r.function == "ReviewsFunction"]).load_all().openapi()

    export = spec["paths"]["/reviews/export"]["get"]["responses"]["200"]["content"]
    assert list(export) == ["application/jsonl"]
    queue = spec["components"]["schemas"]["QueuedCommentOut"]["properties"]
    assert {
        "id",
        "instagram_comment_id",
        "text",
        "username",
        "verdict",
        "confidence",
        "judge",
        "review",
        "label",
        "post_id",
    } == set(queue)
    assert "409" not in spec["paths"]["/comments/{comment_id}/review"]["put"]["responses"]
    assert "404" in spec["paths"]["/comments/{comment_id}/review"]["delete"]["responses"]
