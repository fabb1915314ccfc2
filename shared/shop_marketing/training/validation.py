"""Validation of a fine-tuning training file (JSONL, chat format), before anything reaches OpenAI.

Pure: bytes in, :class:`TrainingReport` out. Every problem carries its 1-based line (``None`` for
whole-file problems) and a stable ``code``. The checks cover OpenAI's own data-preparation cookbook
(not an object, no ``messages`` list, missing ``role``/``content``, unknown keys, unknown role, missing
or non-string content, no assistant message) and what the judge needs: assistant labels exactly
``good``/``bad``, at least 10 examples, both labels, every example within the training-token limit.

Encoding artifacts are handled deliberately: a UTF-8 byte-order mark, CRLF line ends and blank lines
are normalised away (each with a warning) and the *normalised* content is what gets hashed and
uploaded, so the same examples saved by two editors are one file. Bytes that are not UTF-8 are an
error on their line: guessing an encoding would silently change the training text.

Estimated billed tokens follow OpenAI's cookbook: the epochs OpenAI picks when ``n_epochs`` is
``auto``, times the tokens of every example (each capped at the per-example limit).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .. import safe_json
from ..tokens import chat_prompt_tokens

LABELS = ("good", "bad")
ROLES = frozenset({"system", "user", "assistant"})
EXAMPLE_KEYS = frozenset({"messages"})
MESSAGE_KEYS = frozenset({"role", "content", "name", "weight"})

MIN_EXAMPLES = 10  # OpenAI refuses fewer
RECOMMENDED_EXAMPLES = 50  # the seed: "50+ good examples usually work well"
# A label is "strongly imbalanced" when the rarer one is under this share of the examples.
MIN_LABEL_SHARE = 0.2

# OpenAI's automatic epoch choice (openai-cookbook, "Data preparation and analysis for chat model
# fine-tuning").
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25

BOM = b"\xef\xbb\xbf"
# A problem quotes at most this much of the file (a wrong label, an unknown key).
QUOTE_LIMIT = 24


@dataclass(frozen=True)
class Finding:
    """One problem or warning: where (1-based line, ``None`` for the whole file), what, and why."""

    line: int | None
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "code": self.code, "message": self.message}


@dataclass
class TrainingReport:
    problems: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    examples: int = 0
    tokens: int = 0
    max_example_tokens: int = 0
    labels: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LABELS, 0))
    n_epochs: int = 0
    estimated_training_tokens: int = 0
    # The content to upload: UTF-8, no BOM, LF line ends, no blank lines, ending in a newline.
    normalized: bytes = b""
    # Every valid example as (line, comment, label): the comment is its last user message.
    labelled: list[tuple[int, str, str]] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems


def auto_epochs(examples: int) -> int:
    """The number of epochs OpenAI chooses for ``n_epochs="auto"``."""
    if examples <= 0:
        return 0
    if examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_DEFAULT_EPOCHS, math.ceil(MIN_TARGET_EXAMPLES / examples))
    if examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // examples)
    return TARGET_EPOCHS


def estimated_training_tokens(examples: int, tokens_per_epoch: int, n_epochs: int | None = None) -> int:
    """Tokens OpenAI bills for training: one epoch's tokens times the epochs (given, or OpenAI's)."""
    return tokens_per_epoch * (n_epochs if n_epochs is not None else auto_epochs(examples))


@dataclass
class _Example:
    line: int
    label: str | None
    prompt_key: str  # the non-assistant messages, to find conflicting labels
    full_key: str  # the whole example, to find duplicates
    tokens: int
    text: str = ""  # the comment: the last user (or other non-assistant) message


def validate_training_file(data: bytes, *, token_limit: int, n_epochs: int | None = None) -> TrainingReport:
    """Check a JSONL training file and count it. ``token_limit`` bounds each example's tokens."""
    report = TrainingReport()
    lines = _split_lines(data, report)
    examples: list[_Example] = []
    kept: list[bytes] = []
    blank_lines: list[int] = []
    for number, raw in lines:
        if not raw.strip():
            blank_lines.append(number)
            continue
        kept.append(raw.strip())
        example = _check_line(number, raw, token_limit, report.problems)
        if example is not None:
            examples.append(example)
    _note_blank_lines(blank_lines, len(lines), report)
    _check_file(examples, len(kept), report)
    report.normalized = b"".join(line + b"\n" for line in kept)
    report.labelled = [(example.line, example.text, example.label) for example in examples if example.label]
    per_epoch = sum(min(token_limit, example.tokens) for example in examples)
    report.n_epochs = n_epochs if n_epochs is not None else auto_epochs(len(examples))
    report.estimated_training_tokens = estimated_training_tokens(len(examples), per_epoch, report.n_epochs)
    return report


def _split_lines(data: bytes, report: TrainingReport) -> list[tuple[int, bytes]]:
    """Physical lines with their 1-based numbers, BOM and CR removed (each noted once as a warning)."""
    if data.startswith(BOM):
        data = data[len(BOM) :]
        report.warnings.append(Finding(1, "utf8_bom_removed", "The UTF-8 byte-order mark was removed."))
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()  # the newline that ends the last line does not start another one
    lines = []
    crlf_lines = 0
    for index, part in enumerate(parts, start=1):
        if part.endswith(b"\r"):
            part = part[:-1]
            crlf_lines += 1
        lines.append((index, part))
    if crlf_lines:
        report.warnings.append(
            Finding(None, "crlf_line_endings", f"{crlf_lines} line(s) ended in CRLF; they were converted to LF.")
        )
    return lines


def _note_blank_lines(blank_lines: list[int], total: int, report: TrainingReport) -> None:
    if blank_lines and len(blank_lines) < total:
        shown = ", ".join(str(number) for number in blank_lines[:20])
        report.warnings.append(Finding(blank_lines[0], "blank_lines_removed", f"Blank line(s) {shown} were removed."))


def _check_line(number: int, raw: bytes, token_limit: int, problems: list[Finding]) -> _Example | None:
    """Problems of one line; the example when its shape is valid (so it can be counted)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        problems.append(Finding(number, "invalid_utf8", f"Byte {error.start + 1} of the line is not valid UTF-8."))
        return None
    try:
        value = safe_json.loads(text)
    except safe_json.UnstorableJSON as error:
        problems.append(Finding(number, "unstorable_text", f"The line's {error.msg}; remove it."))
        return None
    except json.JSONDecodeError as error:
        problems.append(Finding(number, "not_json", f"Not valid JSON: {error.msg} (column {error.colno})."))
        return None
    if not isinstance(value, dict):
        problems.append(Finding(number, "not_an_object", "Each line must be a JSON object."))
        return None
    found = len(problems)
    for key in sorted(set(value) - EXAMPLE_KEYS):
        problems.append(Finding(number, "unknown_key", f"Unknown key {_quoted(key)}; an example has only 'messages'."))
    messages = value.get("messages")
    if not isinstance(messages, list) or not messages:
        problems.append(Finding(number, "missing_messages", "The example needs a non-empty 'messages' list."))
        return None
    for position, message in enumerate(messages, start=1):
        _check_message(number, position, message, problems)
    if len(problems) > found:
        return None
    return _labelled_example(number, messages, token_limit, problems)


def _quoted(value: Any) -> str:
    """A value of the file, quoted short: problems reach logs and answers, training data must not."""
    text = repr(value)
    return text if len(text) <= QUOTE_LIMIT else f"{text[:QUOTE_LIMIT]}... ({len(text)} characters)"


def _check_message(number: int, position: int, message: Any, problems: list[Finding]) -> None:
    where = f"Message {position}"
    if not isinstance(message, dict):
        problems.append(Finding(number, "message_not_an_object", f"{where} is not an object."))
        return
    for key in sorted(set(message) - MESSAGE_KEYS):
        problems.append(Finding(number, "unknown_key", f"{where} has the unknown key {_quoted(key)}."))
    if "role" not in message:
        problems.append(Finding(number, "missing_role", f"{where} has no 'role'."))
    elif message["role"] not in ROLES:
        problems.append(
            Finding(
                number,
                "unknown_role",
                f"{where} has the role {_quoted(message['role'])}; use system, user or assistant.",
            )
        )
    if "content" not in message or message["content"] is None:
        problems.append(Finding(number, "missing_content", f"{where} has no 'content'."))
    elif not isinstance(message["content"], str):
        problems.append(Finding(number, "content_not_string", f"{where} has content that is not a string."))
    elif not message["content"].strip():
        problems.append(Finding(number, "empty_content", f"{where} has empty content."))
    if "name" in message and (not isinstance(message["name"], str) or not _is_unicode_text(message["name"])):
        problems.append(Finding(number, "invalid_name", f"{where} has a 'name' that is not a string."))
    if "weight" in message and message["weight"] not in (0, 1):
        problems.append(Finding(number, "invalid_weight", f"{where} has a 'weight' other than 0 or 1."))


def _is_unicode_text(text: str) -> bool:
    """JSON's \\u escapes can spell NUL or half a surrogate pair, which no text column holds."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _labelled_example(
    number: int, messages: list[dict[str, Any]], token_limit: int, problems: list[Finding]
) -> _Example | None:
    answers = [message["content"] for message in messages if message["role"] == "assistant"]
    if not answers:
        problems.append(Finding(number, "no_assistant_message", "The example has no assistant message (its label)."))
        return None
    wrong = [answer for answer in answers if answer not in LABELS]
    if wrong:
        problems.append(
            Finding(
                number, "invalid_label", f"The assistant must answer exactly 'good' or 'bad', not {_quoted(wrong[0])}."
            )
        )
        return None
    # Only the text fields are tokens; 'weight' is a training flag, not text.
    text_fields: list[dict[str, str]] = [
        {key: message[key] for key in ("role", "content", "name") if key in message} for message in messages
    ]
    tokens = chat_prompt_tokens(text_fields)
    if tokens > token_limit:
        problems.append(
            Finding(number, "too_many_tokens", f"The example has {tokens} tokens; the limit is {token_limit}.")
        )
        return None
    prompt = [field for field in text_fields if field["role"] != "assistant"]
    users = [field["content"] for field in prompt if field["role"] == "user"] or [field["content"] for field in prompt]
    return _Example(
        text=users[-1] if users else "",
        line=number,
        label=answers[-1],
        prompt_key=json.dumps(prompt, ensure_ascii=False, sort_keys=True),
        full_key=json.dumps(text_fields, ensure_ascii=False, sort_keys=True),
        tokens=tokens,
    )


def _check_file(examples: list[_Example], attempted: int, report: TrainingReport) -> None:
    """Whole-file rules and counts. ``attempted`` counts every non-blank line, valid or not."""
    report.examples = len(examples)
    report.tokens = sum(example.tokens for example in examples)
    report.max_example_tokens = max((example.tokens for example in examples), default=0)
    counts = Counter(example.label for example in examples)
    report.labels = {label: counts.get(label, 0) for label in LABELS}
    if not attempted:
        report.problems.append(Finding(None, "empty_file", "The file holds no examples."))
        return
    line_problems = bool(report.problems)
    if attempted < MIN_EXAMPLES:
        report.problems.append(
            Finding(None, "too_few_examples", f"{attempted} examples; at least {MIN_EXAMPLES} are required.")
        )
    if line_problems:
        return  # an invalid line may hold the missing label; judge the rest once the lines are fixed
    missing = [label for label in LABELS if not counts.get(label)]
    if missing:
        report.problems.append(
            Finding(None, "single_label", f"No example is labelled {missing[0]!r}; both labels must be present.")
        )
    if not report.problems:
        _warn_about_quality(examples, counts, report)


def _warn_about_quality(examples: list[_Example], counts: Counter[str | None], report: TrainingReport) -> None:
    if len(examples) < RECOMMENDED_EXAMPLES:
        report.warnings.append(
            Finding(None, "few_examples", f"{len(examples)} examples; {RECOMMENDED_EXAMPLES}+ usually train better.")
        )
    rarest = min(counts.get(label, 0) for label in LABELS)
    if examples and rarest / len(examples) < MIN_LABEL_SHARE:
        report.warnings.append(
            Finding(None, "label_imbalance", f"Labels are imbalanced: {dict(counts)}; the judge may favour one.")
        )
    first_full: dict[str, int] = {}
    first_prompt: dict[str, _Example] = {}
    for example in examples:
        if example.full_key in first_full:
            report.warnings.append(
                Finding(example.line, "duplicate_example", f"Same example as line {first_full[example.full_key]}.")
            )
            continue
        first_full[example.full_key] = example.line
        earlier = first_prompt.setdefault(example.prompt_key, example)
        if earlier.label != example.label:
            report.warnings.append(
                Finding(
                    example.line,
                    "conflicting_example",
                    f"Same comment as line {earlier.line} but labelled {example.label!r}, not {earlier.label!r}.",
                )
            )
