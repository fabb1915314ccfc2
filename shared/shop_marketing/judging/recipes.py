"""What a judge sends to its model and how it reads the answer, for both styles.

- ``fine_tuned``: the bare comment as the only user message (exactly the training examples' shape);
  both labels forced with ``logit_bias`` and one output token.
- ``prompted``: fixed instructions (Korean and English: what a good comment is), then
  ``example_count`` labelled examples, balanced between the labels and chosen deterministically,
  then the comment. Everything before the comment is the same bytes on every call, so the
  provider's prompt cache serves it. ``label_token`` forces the labels as above; ``structured`` asks
  for a JSON-schema answer whose only field is an enum of the two labels — the way for reasoning
  models, which refuse ``logit_bias`` (and, while they reason, ``temperature`` and ``logprobs``).
  A structured judge asks for ``logprobs`` when its probe found them accepted (the gpt-6 generation
  at ``reasoning_effort: none``): its confidence is then the label token's probability.

Which shape a model takes is discovered when the judge is created (:mod:`.probing`); the name
patterns below are only the probe's first guess.

Pure: no database, no network. Imported by the functions that judge (it needs tiktoken).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..hashing import text_sha256
from ..tokens import single_token_id

LABELS = ("good", "bad")
# +100 makes a token certain among the unbiased ones; on both labels the model still chooses between them.
LABEL_BIAS = 100

DEFAULT_INSTRUCTIONS = """\
You judge Instagram comments for an online fashion shop's marketing team. The good ones become banners.
A comment is "good" when it is sincere, not negative, and a real-use review: the writer says what they \
noticed wearing or using the product (fit, fabric, colour, comfort, washing, an occasion). Merely \
"it's great!" or "so pretty" is not enough. Everything else is "bad": complaints, questions (delivery, \
stock, sizes), sold-out sighs, off-topic chatter, bare praise, advertising.

당신은 온라인 패션 쇼핑몰 마케팅팀을 위해 인스타그램 댓글을 판정합니다. 좋은 댓글은 배너가 됩니다.
"good"은 진심이 담기고, 부정적이지 않으며, 실제로 입거나 써 본 후기인 댓글입니다(핏, 원단, 색감, 착용감, \
세탁, 입은 상황 등). 단순히 "너무 좋아요!", "예뻐요" 같은 칭찬만으로는 부족합니다. 그 밖의 모든 댓글은 \
"bad"입니다: 불만, 질문(배송, 재고, 사이즈), 품절 아쉬움, 상관없는 잡담, 내용 없는 칭찬, 광고."""

LABEL_TOKEN_RULE = "Answer with exactly one word: good or bad. / 정확히 한 단어로 답하세요: good 또는 bad."
STRUCTURED_RULE = 'Answer as JSON {"verdict": "good"} or {"verdict": "bad"}. / JSON으로 답하세요.'

VERDICT_SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "comment_verdict",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"verdict": {"type": "string", "enum": list(LABELS)}},
            "required": ["verdict"],
            "additionalProperties": False,
        },
    },
}

_REASONING = re.compile(r"^(o\d|gpt-5)")


def base_model(model: str) -> str:
    """The base model of a fine-tuned one (``ft:o4-mini-2025-04-16:org::id`` → ``o4-mini-2025-04-16``)."""
    return model.split(":")[1] if model.startswith("ft:") and model.count(":") >= 1 else model


def is_reasoning_model(model: str) -> bool:
    """A first guess only: the o-series and the gpt-5 family are reasoning models. The probe at a
    judge's creation settles what the model accepts (a gpt-6 model is one the pattern misses)."""
    return bool(_REASONING.match(base_model(model)))


def lowest_reasoning_effort(model: str) -> str | None:
    """A first guess of the lowest ``reasoning_effort`` the model accepts (None: not a reasoning model)."""
    base = base_model(model)
    if not is_reasoning_model(base):
        return None
    if base.startswith("gpt-5") and not re.match(r"^gpt-5(-|$)", base):
        return "none"  # gpt-5.1 and later
    return "minimal" if base.startswith("gpt-5") else "low"


@dataclass(frozen=True)
class Shot:
    text: str
    label: str


@dataclass(frozen=True)
class JudgeSpec:
    """Everything needed to judge with one judge, loaded once per judge (judges are immutable)."""

    id: int
    name: str
    style: str
    model: str
    endpoint: str = "openai"
    output: str = "label_token"
    reasoning_effort: str | None = None
    # A structured judge that asks for logprobs (its confidence); forced labels always do.
    logprobs: bool = False
    instructions: str | None = None
    shots: tuple[Shot, ...] = ()
    prices: dict[str, float] | None = None
    # A ``classifier``: its fitted weights and bias (``model`` is then the embedding model).
    weights: tuple[float, ...] = ()
    bias: float = 0.0

    def messages(self, comment: str) -> list[dict[str, str]]:
        if self.style == "fine_tuned":
            return [{"role": "user", "content": comment}]
        return [*self.prefix_messages(), {"role": "user", "content": comment}]

    def prefix_messages(self) -> list[dict[str, str]]:
        """Instructions and examples: the same on every call (the prompt cache's prefix)."""
        rule = STRUCTURED_RULE if self.output == "structured" else LABEL_TOKEN_RULE
        messages = [{"role": "system", "content": f"{self.instructions or DEFAULT_INSTRUCTIONS}\n\n{rule}"}]
        for shot in self.shots:
            messages.append({"role": "user", "content": shot.text})
            messages.append({"role": "assistant", "content": self.answer(shot.label)})
        return messages

    def answer(self, label: str) -> str:
        return json.dumps({"verdict": label}) if self.output == "structured" else label

    def chat_request(self, comment: str) -> dict[str, Any]:
        """Keyword arguments of ``chat.completions.create`` for judging ``comment``."""
        request: dict[str, Any] = {"model": self.model, "messages": self.messages(comment)}
        if self.output == "structured":
            request["response_format"] = VERDICT_SCHEMA
            if self.reasoning_effort is not None:
                request["reasoning_effort"] = self.reasoning_effort
            if self.logprobs:
                request.update(logprobs=True, top_logprobs=len(LABELS))
            return request
        request.update(
            max_completion_tokens=1,
            logit_bias={str(single_token_id(label)): LABEL_BIAS for label in LABELS},
            temperature=0,
            logprobs=True,
            top_logprobs=len(LABELS),
        )
        return request


def choose_shots(examples: Iterable[tuple[str, str]], count: int) -> tuple[Shot, ...]:
    """``count`` examples, as balanced as the labels allow, the same for the same file every time.

    Within a label the examples are ordered by the hash of their text (stable, and unrelated to the
    file's order, so a file sorted by label still gives a mix); the labels then alternate.
    """
    by_label: dict[str, list[str]] = {label: [] for label in LABELS}
    seen: set[str] = set()
    for text, label in examples:
        if text not in seen and label in by_label:
            seen.add(text)
            by_label[label].append(text)
    for texts in by_label.values():
        texts.sort(key=text_sha256)
    wanted = {"good": (count + 1) // 2, "bad": count // 2}
    # A label short of its share leaves its places to the other.
    for label, other in (("good", "bad"), ("bad", "good")):
        missing = wanted[label] - len(by_label[label])
        if missing > 0:
            wanted[label] -= missing
            wanted[other] = min(len(by_label[other]), wanted[other] + missing)
    picked = {label: by_label[label][: wanted[label]] for label in LABELS}
    shots: list[Shot] = []
    for index in range(max(wanted.values(), default=0)):
        for label in LABELS:
            if index < len(picked[label]):
                shots.append(Shot(picked[label][index], label))
    return tuple(shots)


def read_structured_label(content: object) -> str | None:
    """The label of a structured answer ``{"verdict": "good"}``, or None when it is anything else."""
    if not isinstance(content, str):
        return None
    try:
        value = json.loads(content)
    except ValueError:
        return None
    if isinstance(value, dict) and set(value) == {"verdict"} and value["verdict"] in LABELS:
        verdict: str = value["verdict"]
        return verdict
    return None
