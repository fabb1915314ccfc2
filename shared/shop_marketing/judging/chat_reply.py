"""The judge's chat request and its reply: one chat completion asked for (the SDK's bounded retries
included, failures as domain errors) and read as exactly one label, with its confidence and its bill.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import openai
from openai import OpenAI

from ..errors import ServiceUnavailable, UpstreamBadReply
from ..openai_failures import openai_failures_as_domain_errors
from .recipes import LABELS, JudgeSpec, read_structured_label


class UnexpectedLabel(UpstreamBadReply):
    code = "unexpected_label"


class JudgeModelUnavailable(ServiceUnavailable):
    code = "judge_model_unavailable"


@dataclass(frozen=True)
class LabelReply:
    """What the model answered, read from one chat completion."""

    verdict: str
    confidence: float | None
    completion_tokens: int
    billed_prompt_tokens: int | None
    cached_prompt_tokens: int = 0


# --- the request to OpenAI and its reply -------------------------------------------------------


def chat_request(model: str, comment: str) -> dict[str, Any]:
    """Keyword arguments of ``chat.completions.create`` for a ``fine_tuned`` judge of ``model``."""
    return JudgeSpec(id=0, name=model, style="fine_tuned", model=model).chat_request(comment)


def _member(value: object, *path: str | int) -> Any:
    """``value[path[0]][path[1]]...`` of a decoded JSON reply, or None where it has another shape."""
    for key in path:
        if isinstance(key, int):
            value = value[key] if isinstance(value, list) and len(value) > key else None
        else:
            value = value.get(key) if isinstance(value, dict) else None
    return value


def label_confidence(logprobs: object, label: str) -> float | None:
    """The model's probability of ``label``, or None when the reply carries no usable logprobs.

    ``logprobs`` is a choice's ``logprobs`` member as OpenAI sent it. When both labels are among the
    top logprobs the probability is taken relative to the two, so it means the same whether OpenAI
    reports it before or after applying the logit bias.
    """
    tokens = _member(logprobs, "content")
    # A structured answer's label is one token among the JSON's; forced labels are the only token.
    first = (
        next((token for token in tokens if _member(token, "token") == label), None)
        if isinstance(tokens, list)
        else None
    )
    logprob = _member(first, "logprob")
    if _member(first, "token") != label or not isinstance(logprob, int | float):
        return None
    alternatives = {
        _member(candidate, "token"): _member(candidate, "logprob") for candidate in _member(first, "top_logprobs") or ()
    }
    chosen = math.exp(logprob)
    if all(isinstance(alternatives.get(other), int | float) for other in LABELS):
        chosen /= sum(math.exp(alternatives[other]) for other in LABELS)
    return min(1.0, max(0.0, chosen))


def _token_count(value: object) -> int | None:
    return value if isinstance(value, int) and value >= 0 else None


def read_label(completion: object, *, structured: bool = False) -> LabelReply:
    """The one label the model answered, or :class:`UnexpectedLabel` for anything else.

    ``completion`` is the chat completion as OpenAI sent it (decoded JSON): nothing about it is
    taken for granted, so each part is checked here.
    """
    if not isinstance(completion, dict):
        raise UpstreamBadReply("OpenAI's reply is not a chat completion.")
    choice = _member(completion, "choices", 0)
    content = _member(choice, "message", "content")
    label = read_structured_label(content) if structured else (content if content in LABELS else None)
    if choice is None or label is None:
        shown = repr(content[:40]) if isinstance(content, str) else "no answer"
        raise UnexpectedLabel(f"The judge answered {shown}, not one of {', '.join(LABELS)}.")
    usage = _member(completion, "usage")
    return LabelReply(
        verdict=label,
        confidence=label_confidence(_member(choice, "logprobs"), label),
        completion_tokens=_token_count(_member(usage, "completion_tokens")) or 1,
        billed_prompt_tokens=_token_count(_member(usage, "prompt_tokens")),
        cached_prompt_tokens=_token_count(_member(usage, "prompt_tokens_details", "cached_tokens")) or 0,
    )


def _provider_code(error: openai.APIStatusError) -> str | None:
    body = error.body if isinstance(error.body, dict) else {}
    inner = body.get("error") if isinstance(body.get("error"), dict) else body
    code = inner.get("code") if isinstance(inner, dict) else None
    return code if isinstance(code, str) else None


def ask_model(client: OpenAI, request: dict[str, Any], *, structured: bool = False) -> LabelReply:
    """One chat completion (the SDK's bounded retries included), with its failures as domain errors.

    A refusal of the judge's own request is OpenAI's or our problem, not the caller's: 502. A model
    the provider no longer has is 503 ``judge_model_unavailable``.
    """
    with openai_failures_as_domain_errors("judging a comment", rejected=UpstreamBadReply):
        try:
            # The SDK's own route for a request it does not model (``client.post``): the request is
            # built here as plain JSON already, so ``chat.completions.create``'s per-call walk over
            # its typed parameters (a third of the SDK's CPU per judgement) is skipped, and the reply
            # is taken as the JSON it is (``cast_to=object``): building the SDK's ChatCompletion from
            # it checks nothing and costs a cold start its first model build. The errors and retries
            # are the same client's.
            completion = client.post("/chat/completions", body=request, cast_to=object)
        except openai.NotFoundError as error:
            if _provider_code(error) == "model_not_found":
                raise JudgeModelUnavailable(
                    f"The judge's model {request['model']!r} is not available at the provider (retired?): "
                    "activate another judge, or set JUDGE_FALLBACK."
                ) from None
            raise
    return read_label(completion, structured=structured)
