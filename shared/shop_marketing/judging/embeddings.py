"""The embeddings adapter: texts to vectors through any OpenAI-compatible ``/v1/embeddings`` endpoint.

- The real SDK's client posts ``/embeddings`` (its errors and bounded retries); the answers in the
  order of the texts, whatever order the endpoint lists them in. As for chat
  (:func:`.chat_reply.ask_model`), the request is plain JSON sent by ``client.post`` and the reply read
  as the JSON it is: the SDK's ``embeddings.create`` would walk its typed parameters and build a model
  object per vector, a millisecond per judgement that buys nothing, since every part of the reply is
  checked here.
- Each call is packed by count and by tokens (:func:`batches`): at most :data:`MAX_BATCH` texts
  (OpenAI's limit on one request's inputs) and at most :data:`TOKEN_BUDGET` tokens by the layer's own
  count (:func:`..tokens.count_tokens`, ``o200k_base``), under OpenAI's other limit, 300,000 tokens
  summed over one request's inputs (:data:`MAX_REQUEST_TOKENS`). The budget is half that limit because
  OpenAI's embedding models count with another tokenizer, ``cl100k_base``, which spends more tokens
  than ``o200k_base`` on the shop's Korean (about 1.6 times as many on its comments, up to 4 on runs
  of jamo such as ``ㅋㅋㅋ``; as many on English). A batch whose UTF-8 bytes fit the budget is not
  counted at all (a token is at least one byte): a comment, or a queue batch, is one call as before.
- A call the endpoint refuses for its tokens anyway (400 ``max_tokens_per_request``; a refusal is not
  billed) is split in two and each half sent in turn, split again if refused: no text is paid for
  twice, and a single text over the limit is the refusal's error (the caller's ``rejected``), naming
  the limit. The margin thus costs at most a few refused round trips, never money.
- Vectors are asked for as ``base64`` (little-endian float32, a quarter of the JSON of floats) and
  decoded here with the standard library: the SDK would decode them with numpy wherever numpy is
  importable, and the functions that judge must not load it.
- ``usage.prompt_tokens`` is what the endpoint billed (the served calls'); a call's failure is a
  domain error (a model the endpoint does not serve: :class:`EmbeddingModelUnavailable`).
- ``keep``, when given, receives each paid call's texts and vectors as soon as the call is read, before
  the next call is made: a caller that stores them (:mod:`.embedding_store`) keeps what was paid even
  when a later call, or the request, fails.

Imported only by the functions that call OpenAI.
"""

from __future__ import annotations

import array
import base64
import binascii
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import openai
from openai import OpenAI

from ..errors import DomainError, UpstreamBadReply
from ..observability import logger
from ..openai_failures import OpenAIRejected, openai_failures_as_domain_errors
from ..tokens import count_tokens

# OpenAI's limit on the inputs of one embeddings request.
MAX_BATCH = 2048
# OpenAI's limit on the tokens of one embeddings request, summed over its inputs (its models' count).
MAX_REQUEST_TOKENS = 300_000
# The most tokens, by the layer's o200k_base count, packed in one call: a margin for the models'
# cl100k_base count (see the module's docstring).
TOKEN_BUDGET = MAX_REQUEST_TOKENS // 2
# The endpoint's refusal of a request over its tokens per request (its error's ``code`` and ``type``).
TOO_MANY_TOKENS = "max_tokens_per_request"


class EmbeddingModelUnavailable(DomainError):
    """The endpoint does not serve this embedding model (404 ``model_not_found``)."""

    status = 422
    code = "model_unavailable"


# Receives one call's texts and their vectors (same order), once the call's reply is read; answers
# how many it kept.
Keep = Callable[[Sequence[str], Sequence[array.array[float]]], int]


@dataclass(frozen=True)
class Embedded:
    vectors: list[array.array[float]]
    # Tokens the endpoint billed, over all the calls.
    tokens: int
    calls: int


def from_bytes(data: bytes) -> array.array[float]:
    """A vector from its float32 little-endian bytes (as the endpoint answers it, and as it is stored)."""
    vector = array.array("f", data)
    if sys.byteorder == "big":
        vector.byteswap()
    return vector


def _vector(value: object) -> array.array[float]:
    if isinstance(value, str):
        try:
            return from_bytes(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            raise UpstreamBadReply("The embeddings endpoint answered a vector that is not base64 float32.") from None
    if isinstance(value, list) and all(isinstance(number, int | float) for number in value):
        return array.array("f", value)
    raise UpstreamBadReply("The embeddings endpoint answered something that is not a vector.")


def batches(texts: Sequence[str]) -> Iterator[Sequence[str]]:
    """``texts`` cut in order into calls of at most :data:`MAX_BATCH` texts and :data:`TOKEN_BUDGET`
    estimated tokens (a text over the budget alone is a call of its own: the endpoint is its judge)."""
    start = 0
    while start < len(texts):
        end = min(start + MAX_BATCH, len(texts))
        if sum(len(text.encode()) for text in texts[start:end]) > TOKEN_BUDGET:  # else surely within
            end = _within_budget(texts, start, end)
        yield texts[start:end]
        start = end


def _within_budget(texts: Sequence[str], start: int, end: int) -> int:
    """The end of the longest run of ``texts`` from ``start`` (before ``end``) within the budget (one at least)."""
    total = 0
    for index in range(start, end):
        total += count_tokens(texts[index])
        if total > TOKEN_BUDGET and index > start:
            return index
    return end


def embed_texts(
    client: OpenAI,
    model: str,
    texts: Sequence[str],
    *,
    action: str = "embedding texts",
    rejected: type[DomainError] | None = None,
    keep: Keep | None = None,
) -> Embedded:
    """The vectors of ``texts`` (one per text, same order), in calls packed by :func:`batches`.

    ``rejected`` is the error for a request the endpoint refuses (see
    :func:`..openai_failures.openai_failures_as_domain_errors`); ``keep`` receives each paid call's
    vectors as the call returns."""
    embedder = _Embedder(client, model, action, rejected, keep)
    try:
        for batch in batches(texts):
            embedder.send(list(batch))
    except DomainError:
        if embedder.done["calls"]:  # paid for before the failure: said where an operator reads it (and how many kept)
            logger.warning(
                "embeddings paid before a failure", extra={"model": model, **embedder.done, "texts": len(texts)}
            )
        raise
    return Embedded(vectors=embedder.vectors, tokens=embedder.done["tokens"], calls=embedder.done["calls"])


class _Embedder:
    """The calls of one :func:`embed_texts`: what they answered, and what was paid (``done``)."""

    def __init__(
        self, client: OpenAI, model: str, action: str, rejected: type[DomainError] | None, keep: Keep | None
    ) -> None:
        self.client, self.model, self.action, self.rejected, self.keep = client, model, action, rejected, keep
        self.vectors: list[array.array[float]] = []
        self.dimensions: int | None = None
        self.done = {"tokens": 0, "calls": 0, "kept": 0, "refused": 0}

    def send(self, batch: list[str]) -> None:
        """Embed ``batch`` in one call, or, refused for its tokens, half by half."""
        response = self._post(batch)
        if response is None:
            self.done["refused"] += 1
            half = len(batch) // 2
            logger.info(
                "embeddings call over the endpoint's tokens per request: split",
                extra={"model": self.model, "texts": len(batch)},
            )
            self.send(batch[:half])
            self.send(batch[half:])
            return
        self.done["calls"] += 1
        usage = response.get("usage") if isinstance(response, dict) else None
        billed = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        self.done["tokens"] += billed if isinstance(billed, int) and billed >= 0 else 0
        vectors = self._read(response, batch)
        self.vectors.extend(vectors)
        if self.keep is not None:
            self.done["kept"] += self.keep(batch, vectors)

    def _post(self, batch: list[str]) -> object | None:
        """The call's reply; None when the endpoint refused ``batch`` (of several texts) for its tokens."""
        body = {"model": self.model, "input": batch, "encoding_format": "base64"}
        with openai_failures_as_domain_errors(self.action, rejected=self.rejected):
            try:
                return self.client.post("/embeddings", body=body, cast_to=object)
            except openai.BadRequestError as error:
                if TOO_MANY_TOKENS not in (_error_field(error, "code"), _error_field(error, "type")):
                    raise
                if len(batch) > 1:
                    return None
                message = (
                    f"OpenAI rejected the request ({self.action}): one text alone is over the endpoint's tokens "
                    f"per request ({_error_field(error, 'message') or TOO_MANY_TOKENS})."
                )
                raise (self.rejected or OpenAIRejected)(message, openai_status=error.status_code) from None
            except openai.NotFoundError as error:
                if _error_field(error, "code") == "model_not_found":
                    message = f"The endpoint does not serve the embedding model {self.model!r}."
                    raise EmbeddingModelUnavailable(
                        message,
                        details=[
                            {"field": "embedding_model", "in": "body", "type": "model_unavailable", "message": message}
                        ],
                    ) from None
                raise

    def _read(self, response: object, batch: list[str]) -> list[array.array[float]]:
        """The call's vectors in the order of ``batch``, checked."""
        data = response.get("data") if isinstance(response, dict) else None
        by_index = {
            item.get("index"): item.get("embedding")
            for item in (data if isinstance(data, list) else ())
            if isinstance(item, dict)
        }
        if set(by_index) != set(range(len(batch))):
            raise UpstreamBadReply(f"The embeddings endpoint answered {len(by_index)} vectors for {len(batch)} texts.")
        vectors = []
        for index in range(len(batch)):
            vector = _vector(by_index[index])
            if self.dimensions is None:
                self.dimensions = len(vector)
            if not vector or len(vector) != self.dimensions or not all(map(math.isfinite, vector)):
                raise UpstreamBadReply("The embeddings endpoint answered vectors of different sizes, or not numbers.")
            vectors.append(vector)
        return vectors


def _error_field(error: openai.APIStatusError, name: str) -> object:
    """``name`` of the endpoint's error object (the SDK gives the body's ``error``, or the body itself)."""
    body = error.body if isinstance(error.body, dict) else {}
    inner = body.get("error") if isinstance(body.get("error"), dict) else body
    return inner.get(name) if isinstance(inner, dict) else None
