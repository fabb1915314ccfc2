"""The training format, written: what every labelled-examples file the product makes looks like. Light
on purpose (json alone): the reviews' export uses it, and that function loads neither openai nor tiktoken."""

from __future__ import annotations

import json
from collections.abc import Iterable


def training_jsonl(examples: Iterable[tuple[str, str]]) -> bytes:
    """Labelled comments in the training format: one ``{"messages": [user, assistant]}`` line each."""
    return "".join(
        json.dumps(
            {"messages": [{"role": "user", "content": text}, {"role": "assistant", "content": label}]},
            ensure_ascii=False,
        )
        + "\n"
        for text, label in examples
    ).encode("utf-8")
