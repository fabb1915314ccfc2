"""The embeddings adapter: texts to vectors through any OpenAI-compatible ``/v1/embeddings`` endpoint.

- The real SDK's client posts ``/embeddings`` (its errors and bounded retries), at most
  :data:`MAX_BATCH` texts per call (OpenAI's limit on one request's inputs); the answers in the order
  of the texts, whatever order the endpoint lists them in. As for chat (:func:`.chat_reply.ask_model`),
  the request is plain JSON sent by ``client.post`` and the reply read as the JSON it is: the SDK's
  ``embeddings.create`` would walk its typed parameters and build a model object per vector, a
  millisecond per judgement that buys nothing, since every part of the reply is checked here.
- Vectors are asked for as ``base64`` (little-endian float32, a quarter of the JSON of floats) and
  decoded here with the standard library: the SDK would decode them with numpy wherever numpy is
  importable, and the functions that judge must not load it.
- ``usage.prompt_tokens`` is what the endpoint billed; a call's failure is a domain error (a model
  the endpoint does not serve: :class:`EmbeddingModelUnavailable`).
- ``keep``, when given, receives each call's texts and vectors as soon as the call is read, before
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import openai
from openai import OpenAI

from ..errors import DomainError, UpstreamBadReply
from ..observability import logger
from ..openai_failures import openai_failures_as_domain_errors

# OpenAI's limit on the inputs of one embeddings request.
MAX_BATCH = 2048


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


def _vector(value: object) -> array.array[float]:
    if isinstance(value, str):
        try:
            vector = array.array("f", base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            raise UpstreamBadReply("The embeddings endpoint answered a vector that is not base64 float32.") from None
        if sys.byteorder == "big":
            vector.byteswap()
        return vector
    if isinstance(value, list) and all(isinstance(number, int | float) for number in value):
        return array.array("f", value)
    raise UpstreamBadReply("The embeddings endpoint answered something that is not a vector.")


def embed_texts(
    client: OpenAI,
    model: str,
    texts: Sequence[str],
    *,
    action: str = "embedding texts",
    rejected: type[DomainError] | None = None,
    keep: Keep | None = None,
) -> Embedded:
    """The vectors of ``texts`` (one per text, same order), in calls of at most :data:`MAX_BATCH`.

    ``rejected`` is the error for a request the endpoint refuses (see
    :func:`..openai_failures.openai_failures_as_domain_errors`); ``keep`` receives each call's
    vectors as the call returns."""
    done = {"tokens": 0, "calls": 0, "kept": 0}
    try:
        return _embed(client, model, texts, action, rejected, keep, done)
    except DomainError:
        if done["calls"]:  # paid for before the failure: said where an operator reads it (and how many kept)
            logger.warning("embeddings paid before a failure", extra={"model": model, **done, "texts": len(texts)})
        raise


def _embed(
    client: OpenAI,
    model: str,
    texts: Sequence[str],
    action: str,
    rejected: type[DomainError] | None,
    keep: Keep | None,
    done: dict[str, int],
) -> Embedded:
    vectors: list[array.array[float]] = []
    tokens = calls = 0
    dimensions = None
    for start in range(0, len(texts), MAX_BATCH):
        batch = list(texts[start : start + MAX_BATCH])
        with openai_failures_as_domain_errors(action, rejected=rejected):
            try:
                response = client.post(
                    "/embeddings", body={"model": model, "input": batch, "encoding_format": "base64"}, cast_to=object
                )
            except openai.NotFoundError as error:
                body = error.body if isinstance(error.body, dict) else {}
                inner = body.get("error") if isinstance(body.get("error"), dict) else body
                if isinstance(inner, dict) and inner.get("code") == "model_not_found":
                    message = f"The endpoint does not serve the embedding model {model!r}."
                    raise EmbeddingModelUnavailable(
                        message,
                        details=[
                            {"field": "embedding_model", "in": "body", "type": "model_unavailable", "message": message}
                        ],
                    ) from None
                raise
        calls += 1
        usage = response.get("usage") if isinstance(response, dict) else None
        billed = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        tokens += billed if isinstance(billed, int) and billed >= 0 else 0
        done.update(tokens=tokens, calls=calls)
        data = response.get("data") if isinstance(response, dict) else None
        by_index = {
            item.get("index"): item.get("embedding")
            for item in (data if isinstance(data, list) else ())
            if isinstance(item, dict)
        }
        if set(by_index) != set(range(len(batch))):
            raise UpstreamBadReply(f"The embeddings endpoint answered {len(by_index)} vectors for {len(batch)} texts.")
        for index in range(len(batch)):
            vector = _vector(by_index[index])
            if dimensions is None:
                dimensions = len(vector)
            if not vector or len(vector) != dimensions or not all(map(math.isfinite, vector)):
                raise UpstreamBadReply("The embeddings endpoint answered vectors of different sizes, or not numbers.")
            vectors.append(vector)
        if keep is not None:
            done["kept"] += keep(batch, vectors[start:])
    return Embedded(vectors=vectors, tokens=tokens, calls=calls)
