"""Request shapes discovered, not guessed from a model's name (docs/judging.md "Judges").

A chat judge is created with one probe judgement: the recipe asked for, or, where ``output`` and
``reasoning_effort`` are not given, the cheapest shape the model accepts —

1. forced labels (``logit_bias``, one output token, ``logprobs``): the cheapest, with confidence;
2. else structured output, at the lowest ``reasoning_effort`` the model accepts, learnt from the
   provider's refusal ("Supported values are: none, low, medium, high."), with ``logprobs`` where
   the model does not reason (``none``), so confidence stays.

The model's name only picks the first guess (:func:`.recipes.is_reasoning_model`); each refusal
moves to the next shape. At most :data:`MAX_PROBE_CALLS` calls are made, and only when a judge is
created: the judge keeps the shape that worked and is never probed again. The accepted call is billed
like a judgement, and what every call sent, what was refused and what was billed is the judge's
``probe`` record, shown in the answer.

- A model the provider does not serve (404 ``model_not_found``): 422 ``model_unavailable``.
- A shape given explicitly and refused, or no shape accepted: 422 ``model_refused`` naming the
  parameter the provider refused.
- A probe accepted (and billed) but answered with no label: 502 ``unexpected_label``, no judge; the
  error and the log count what the call cost.
"""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass
from typing import Any

import openai
from openai import OpenAI

from ..errors import DomainError, UpstreamBadReply
from ..observability import logger
from ..openai_failures import openai_failures_as_domain_errors
from .chat_reply import read_label
from .recipes import JudgeSpec, is_reasoning_model, lowest_reasoning_effort

MAX_PROBE_CALLS = 3
# A comment every judge can answer: a real-use review (its text is the same for every probe).
PROBE_COMMENT = "니트 두 번 빨았는데 늘어나지 않았어요. 어깨선도 잘 맞아요."
# From least to most reasoning: the first a model accepts is its lowest.
EFFORT_ORDER = ("none", "minimal", "low", "medium", "high")
# Parameters only forced labels send: a refusal of one means the model wants structured output.
LABEL_TOKEN_PARAMETERS = frozenset(
    {"logit_bias", "max_completion_tokens", "max_tokens", "temperature", "logprobs", "top_logprobs"}
)
LOGPROB_PARAMETERS = frozenset({"logprobs", "top_logprobs"})
_SUPPORTED_VALUES = re.compile(r"Supported values are:\s*([^.]*)")


class ModelUnavailable(DomainError):
    status = 422
    code = "model_unavailable"


class ModelRefused(DomainError):
    status = 422
    code = "model_refused"


@dataclass(frozen=True)
class Shape:
    """How a chat judge asks its model."""

    output: str
    reasoning_effort: str | None
    logprobs: bool

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Refusal:
    param: str | None
    code: str | None
    message: str


@dataclass(frozen=True)
class ProbeResult:
    shape: Shape
    record: dict[str, Any]


def asked_shape(
    style: str, model: str, output: str | None, reasoning_effort: str | None
) -> tuple[Shape, frozenset[str]]:
    """The first shape to try, and which of its parts were given explicitly (never changed)."""
    if style == "fine_tuned":
        # The bare comment and one forced label token: the only recipe of a fine-tuned judge.
        return Shape("label_token", None, True), frozenset({"output", "reasoning_effort"})
    fixed = frozenset(
        name for name, value in (("output", output), ("reasoning_effort", reasoning_effort)) if value is not None
    )
    if reasoning_effort is not None:
        return Shape("structured", reasoning_effort, reasoning_effort == "none"), fixed
    if output == "label_token" or (output is None and not is_reasoning_model(model)):
        return Shape("label_token", None, True), fixed
    effort = lowest_reasoning_effort(model)
    return Shape("structured", effort, effort in (None, "none")), fixed


def next_shape(shape: Shape, refusal: Refusal, fixed: frozenset[str]) -> Shape | None:
    """The shape to try after ``refusal`` of ``shape`` (None: nothing left to try)."""
    param = refusal.param
    if shape.output == "label_token":
        if param not in LABEL_TOKEN_PARAMETERS or "output" in fixed:
            return None
        return Shape("structured", "none", True)  # the lowest effort there is; refused if it reasons always
    if param == "reasoning_effort" and "reasoning_effort" not in fixed:
        supported = _supported_values(refusal.message)
        if supported:
            lowest = next((effort for effort in EFFORT_ORDER if effort in supported), None)
            if lowest is None or lowest == shape.reasoning_effort:
                return None
            return Shape("structured", lowest, lowest == "none")  # not reasoning, a model may give logprobs
        if shape.reasoning_effort is None:
            return None
        return Shape("structured", None, True)  # a model that does not reason takes no effort at all
    if param in LOGPROB_PARAMETERS and shape.logprobs:
        if shape.reasoning_effort is None and "reasoning_effort" not in fixed:
            # logprobs refused at the model's default effort: it reasons by default; try it without
            return Shape("structured", "none", True)
        return Shape(shape.output, shape.reasoning_effort, False)
    return None


def _supported_values(message: str) -> list[str]:
    found = _SUPPORTED_VALUES.search(message)
    if not found:
        return []
    return [value.strip().strip("'\"") for value in found[1].split(",") if value.strip()]


def _refusal(error: openai.APIStatusError) -> Refusal:
    body = error.body if isinstance(error.body, dict) else {}
    inner = body.get("error") if isinstance(body.get("error"), dict) else body
    param, code, message = (inner.get(key) if isinstance(inner, dict) else None for key in ("param", "code", "message"))
    return Refusal(
        param if isinstance(param, str) else None,
        code if isinstance(code, str) else None,
        message if isinstance(message, str) else str(error.message),
    )


def _call(client: OpenAI, request: dict[str, Any]) -> tuple[Any, Refusal | None, int]:
    """One probe call: the completion, or the provider's refusal of the request; its latency."""
    started = time.perf_counter()
    with openai_failures_as_domain_errors("probing the judge's model", rejected=UpstreamBadReply):
        try:
            completion = client.post("/chat/completions", body=request, cast_to=object)
        except (openai.BadRequestError, openai.NotFoundError, openai.UnprocessableEntityError) as error:
            return None, _refusal(error), round((time.perf_counter() - started) * 1000)
    return completion, None, round((time.perf_counter() - started) * 1000)


def probe(spec: JudgeSpec, client: OpenAI, *, output: str | None, reasoning_effort: str | None) -> ProbeResult:
    """Find the shape the judge's model accepts, in at most :data:`MAX_PROBE_CALLS` calls."""
    shape, fixed = asked_shape(spec.style, spec.model, output, reasoning_effort)
    attempts: list[dict[str, Any]] = []
    tried: set[Shape] = set()
    while True:
        tried.add(shape)
        probe_spec = dataclasses.replace(
            spec, output=shape.output, reasoning_effort=shape.reasoning_effort, logprobs=shape.logprobs
        )
        request = probe_spec.chat_request(PROBE_COMMENT)
        completion, refusal, latency_ms = _call(client, request)
        if refusal is None:
            attempts.append({**shape.as_dict(), "accepted": True, "latency_ms": latency_ms})
            try:
                reply = read_label(completion, structured=shape.output == "structured")
            except UpstreamBadReply as error:
                raise _unusable(error, spec, completion, attempts) from None
            record = {
                "calls": len(attempts),
                "attempts": attempts,
                "comment": PROBE_COMMENT,
                "verdict": reply.verdict,
                "confidence": reply.confidence,
                "prompt_tokens": reply.billed_prompt_tokens or 0,
                "cached_prompt_tokens": reply.cached_prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "usd": _usd(
                    spec.prices, reply.billed_prompt_tokens or 0, reply.cached_prompt_tokens, reply.completion_tokens
                ),
            }
            return ProbeResult(shape, record)
        attempts.append(
            {**shape.as_dict(), "accepted": False, "refused": refusal.param, "message": refusal.message[:500]}
        )
        if refusal.code == "model_not_found":
            raise ModelUnavailable(
                f"The provider does not serve the model {spec.model!r} (model_not_found): choose a current model "
                "(GET /judges shows each judge's model_shutdown_date).",
                model=spec.model,
                probe={"calls": len(attempts), "attempts": attempts},
            )
        following = next_shape(shape, refusal, fixed)
        if following is None or following in tried or len(attempts) >= MAX_PROBE_CALLS:
            named = refusal.param or "the request"
            explicit = f" (given explicitly: {', '.join(sorted(fixed))})" if fixed and following is None else ""
            raise ModelRefused(
                f"The model {spec.model!r} refused {named}{explicit}: {refusal.message}",
                param=refusal.param,
                probe={"calls": len(attempts), "attempts": attempts},
            )
        shape = following


def _unusable(
    error: UpstreamBadReply, spec: JudgeSpec, completion: object, attempts: list[dict[str, Any]]
) -> UpstreamBadReply:
    """The provider took the request and billed it, but its answer is no label: no judge is made, and
    what the call cost is counted in the answer and the log (a paid call is never left unrecorded)."""
    usage = completion.get("usage") if isinstance(completion, dict) else None
    billed = {
        name: value if isinstance(value := (usage or {}).get(name), int) and value >= 0 else 0
        for name in ("prompt_tokens", "completion_tokens")
    }
    details = (usage or {}).get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    billed["cached_prompt_tokens"] = cached if isinstance(cached, int) and cached >= 0 else 0
    record = {
        "calls": len(attempts),
        "attempts": attempts,
        **billed,
        "usd": _usd(spec.prices, billed["prompt_tokens"], billed["cached_prompt_tokens"], billed["completion_tokens"]),
    }
    logger.warning("probe paid for, answer unusable", extra={"model": spec.model, "error": error.message, **billed})
    return type(error)(f"The model {spec.model!r} answered its probe with no label: {error.message}", probe=record)


def _usd(prices: dict[str, float] | None, prompt: int, cached: int, completion: int) -> float | None:
    if not prices:
        return None
    cached = min(cached, prompt)
    total = (
        (prompt - cached) * prices["input"]
        + cached * prices.get("cached_input", prices["input"])
        + completion * prices["output"]
    )
    return round(total / 1_000_000, 8)
