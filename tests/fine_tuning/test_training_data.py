"""The training-file validator on its own: counts, epochs, billed tokens, warnings, normalisation."""

from __future__ import annotations

import json

import pytest

from shop_marketing.tokens import chat_prompt_tokens, count_tokens
from shop_marketing.training.validation import auto_epochs, validate_training_file
from tests.fine_tuning.conftest import EXAMPLES, example_line, training_jsonl

LIMIT = 65_536


def codes(findings) -> list[tuple[int | None, str]]:
    return [(finding.line, finding.code) for finding in findings]


@pytest.mark.parametrize(
    ("examples", "epochs"),
    [(1, 25), (3, 25), (10, 10), (33, 4), (34, 3), (100, 3), (8_333, 3), (8_334, 2), (12_500, 2), (30_000, 1)],
)
def test_auto_epochs_follow_openais_rule(examples, epochs):
    # Given n examples, OpenAI aims at 3 epochs, but at least 100 and at most 25,000 example passes.
    assert auto_epochs(examples) == epochs


def test_seed_file_counts_examples_labels_and_chat_tokens():
    report = validate_training_file(training_jsonl(), token_limit=LIMIT)

    assert report.valid, report.problems
    assert report.examples == 10
    assert report.labels == {"good": 5, "bad": 5}
    expected = sum(
        chat_prompt_tokens([{"role": "user", "content": comment}, {"role": "assistant", "content": label}])
        for comment, label in EXAMPLES
    )
    assert report.tokens == expected
    # Each example: 3 reply-priming tokens + 2 messages x (3 framing + role) + the texts.
    first, label = EXAMPLES[0]
    assert report.max_example_tokens >= 3 + 2 * 3 + count_tokens("user") + count_tokens(first) + 2
    assert report.n_epochs == 10  # 10 examples x 3 < 100, so ceil(100 / 10)
    assert report.estimated_training_tokens == expected * 10


def test_given_epochs_replace_openais_choice_in_the_estimate():
    report = validate_training_file(training_jsonl(), token_limit=LIMIT, n_epochs=2)

    assert report.n_epochs == 2
    assert report.estimated_training_tokens == report.tokens * 2


def test_small_balanced_file_warns_only_that_more_examples_train_better():
    report = validate_training_file(training_jsonl(), token_limit=LIMIT)

    assert codes(report.warnings) == [(None, "few_examples")]


def test_imbalanced_duplicate_and_conflicting_examples_are_warnings_not_errors():
    examples = [(f"정말 좋은 후기 {n}번입니다, 재구매 의사 있어요", "good") for n in range(10)] + [
        ("별로예요", "bad"),
        ("정말 좋은 후기 0번입니다, 재구매 의사 있어요", "good"),  # line 12 repeats line 1
        ("정말 좋은 후기 1번입니다, 재구매 의사 있어요", "bad"),  # line 13 contradicts line 2
    ]
    report = validate_training_file(training_jsonl(examples), token_limit=LIMIT)

    assert report.valid
    assert codes(report.warnings) == [
        (None, "few_examples"),
        (None, "label_imbalance"),
        (12, "duplicate_example"),
        (13, "conflicting_example"),
    ]


def test_bom_crlf_and_blank_lines_are_normalised_away_with_warnings():
    lines = [example_line(comment, label) for comment, label in EXAMPLES]
    messy = b"\xef\xbb\xbf" + "\r\n".join(lines[:3]).encode() + b"\r\n\r\n   \r\n" + "\r\n".join(lines[3:]).encode()

    report = validate_training_file(messy, token_limit=LIMIT)

    assert report.valid, report.problems
    assert report.normalized == training_jsonl()
    assert codes(report.warnings)[:3] == [
        (1, "utf8_bom_removed"),
        (None, "crlf_line_endings"),
        (4, "blank_lines_removed"),
    ]
    assert "4, 5" in report.warnings[2].message


def test_every_broken_line_is_reported_not_just_the_first():
    lines = [example_line(comment, label) for comment, label in EXAMPLES]
    lines[1] = "not json"
    lines[6] = json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "meh"}]})
    lines[8] = json.dumps({"messages": [{"role": "robot", "content": ""}]})

    report = validate_training_file("\n".join(lines).encode(), token_limit=LIMIT)

    assert codes(report.problems) == [
        (2, "not_json"),
        (7, "invalid_label"),
        (9, "unknown_role"),
        (9, "empty_content"),
    ]


def test_too_few_examples_and_a_single_label_are_both_reported():
    report = validate_training_file(training_jsonl([("좋은 후기입니다 정말로요", "good")] * 3), token_limit=LIMIT)

    assert codes(report.problems) == [(None, "too_few_examples"), (None, "single_label")]


def test_an_empty_file_is_one_problem():
    assert codes(validate_training_file(b"", token_limit=LIMIT).problems) == [(None, "empty_file")]
    assert codes(validate_training_file(b"\n \n", token_limit=LIMIT).problems) == [(None, "empty_file")]
