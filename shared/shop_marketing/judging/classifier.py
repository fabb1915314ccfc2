"""Judging with a ``classifier`` judge: one embeddings call, a dot product, a probability.

- The texts of one call (a comment, or every distinct text of a queue batch) are embedded in one
  request to the judge's endpoint; the verdict is ``good`` when ``sigmoid(weights · vector + bias)``
  is at least one half, and ``confidence`` is the probability of the label given.
  (:func:`.embeddings.embed_texts` packs its calls within OpenAI's tokens per request: a queue
  batch, ten comments of at most 2,200 characters, is at most 88,000 bytes, within one call's budget
  without being counted.)
- ``prompt_tokens`` is what the endpoint billed: for one text, the call's ``usage``; for several,
  the bill shared out in proportion to each text's own token count (largest remainders), so the
  judgements of a call add up to exactly what it cost. No completion tokens, nothing cached.
- Judging reads no stored embeddings and stores none (:mod:`.embedding_store` is training's): the
  judge's verdict on a text is cached per judge already (a repeated comment is not paid again), and an
  evaluation must measure what judging really costs, one embeddings call per text.
- No numpy: a dot product of one vector is ``math.sumprod``, microseconds; the fitting lives in
  :mod:`.logistic`, which only the function that trains loads.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

from openai import OpenAI

from ..errors import UpstreamBadReply
from ..tokens import count_tokens
from .embeddings import EmbeddingModelUnavailable, embed_texts
from .recipes import JudgeSpec


class ClassifierModelUnavailable(Exception):
    """The judge's embedding model is no longer served (the caller maps it to its own error)."""


def probability_good(spec: JudgeSpec, vector: Sequence[float]) -> float:
    if len(vector) != len(spec.weights):
        raise UpstreamBadReply(
            f"The embedding model {spec.model!r} answered {len(vector)} dimensions; "
            f"judge {spec.name!r} was trained on {len(spec.weights)}."
        )
    margin = math.sumprod(spec.weights, vector) + spec.bias
    return 0.5 * (1.0 + math.tanh(0.5 * margin))


def share_tokens(billed: int, texts: Sequence[str]) -> list[int]:
    """``billed`` tokens shared out over ``texts`` in proportion to their own counts, summing exactly."""
    if len(texts) == 1:
        return [billed]
    counts = [max(1, count_tokens(text)) for text in texts]
    total = sum(counts)
    exact = [billed * count / total for count in counts]
    shares = [math.floor(value) for value in exact]
    by_remainder = sorted(range(len(texts)), key=lambda i: (shares[i] - exact[i], i))
    for i in by_remainder[: billed - sum(shares)]:
        shares[i] += 1
    return shares


def ask_classifier(spec: JudgeSpec, texts: Sequence[str], client: OpenAI) -> dict[str, dict[str, Any]]:
    """Judge ``texts`` (distinct) in one embeddings call; the values of each judgement to store."""
    started = time.perf_counter()
    try:
        embedded = embed_texts(client, spec.model, texts, action="judging a comment", rejected=UpstreamBadReply)
    except EmbeddingModelUnavailable:
        raise ClassifierModelUnavailable(spec.model) from None
    latency_ms = round((time.perf_counter() - started) * 1000)
    answers = {}
    for text, vector, tokens in zip(texts, embedded.vectors, share_tokens(embedded.tokens, texts), strict=True):
        good = probability_good(spec, vector)
        verdict = "good" if good >= 0.5 else "bad"
        answers[text] = {
            "model": spec.model,
            "verdict": verdict,
            "confidence": good if verdict == "good" else 1.0 - good,
            "comment_tokens": count_tokens(text),
            "prompt_tokens": tokens,
            "cached_prompt_tokens": 0,
            "completion_tokens": 0,
            "latency_ms": latency_ms,
        }
    return answers
