"""The comment judge: a fine-tuned model answers ``good`` or ``bad`` for a bare comment.

- The request carries the comment exactly as the fine-tuning examples did (one user message, no
  instruction) and can only produce one of the two labels in one output token: both labels are single
  o200k tokens, ``logit_bias`` +100 on both leaves the model no other choice, and
  ``max_completion_tokens=1`` stops it there.
- ``comment_tokens`` is the bare comment's count; ``prompt_tokens`` is computed before the call with
  the chat-format overhead (what OpenAI bills as ``usage.prompt_tokens``).
- A text already judged by the same model is answered from the database (``cached``), never paid
  twice. The database is not held while OpenAI thinks: one short transaction before the call, one
  after. Concurrent twins meet at ``INSERT ... ON CONFLICT`` instead of a unique-violation error.

Imported only by the functions that judge: it pulls in the openai SDK and tiktoken.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from typing import Annotated, Any

from openai import OpenAI
from openai.types.chat import ChatCompletion
from openai.types.chat.chat_completion import ChoiceLogprobs
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from .active_model import ActiveModelCache
from ..db import session_scope
from ..errors import NotFound, ServiceUnavailable, UpstreamBadReply
from ..models import MAX_ID, InstagramPost
from ..models.base import StrictId
from ..safe_json import StorableStr
from ..models.judging import InstagramComment, Judgement
from ..observability import logger
from ..openai_failures import openai_failures_as_domain_errors
from ..tokens import chat_prompt_tokens, count_tokens, single_token_id

LABELS = ("good", "bad")
# Instagram's own limit on a comment's length.
MAX_COMMENT_CHARACTERS = 2_200
# +100 makes a token certain among the unbiased ones; on both labels the model still chooses between them.
LABEL_BIAS = 100

SessionFactory = Callable[[], AbstractContextManager[Session]]


class NoActiveModel(ServiceUnavailable):
    code = "no_active_model"


class UnexpectedLabel(UpstreamBadReply):
    code = "unexpected_label"


def _not_blank(comment: str) -> str:
    if not comment.strip():
        raise ValueError("the comment is empty or only whitespace")
    return comment


class JudgeRequest(BaseModel):
    """The body of ``POST /comments/judge`` and of every message on the judge queue."""

    # Unknown keys are refused (as elsewhere in the API); the comment is kept exactly as sent.
    model_config = ConfigDict(extra="forbid")

    # Storable text is checked here, before OpenAI is paid: a NUL would fail only when stored.
    comment: Annotated[StorableStr, Field(max_length=MAX_COMMENT_CHARACTERS), AfterValidator(_not_blank)]
    instagram_comment_id: Annotated[StorableStr, Field(min_length=1, max_length=100)] | None = None
    post_id: StrictId | None = None


@dataclass(frozen=True)
class Verdict:
    verdict: str
    comment_tokens: int
    prompt_tokens: int
    completion_tokens: int
    model: str
    cached: bool
    confidence: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LabelReply:
    """What the model answered, read from one chat completion."""

    verdict: str
    confidence: float | None
    completion_tokens: int
    billed_prompt_tokens: int | None


# --- the request to OpenAI and its reply -------------------------------------------------------


def chat_request(model: str, comment: str) -> dict[str, Any]:
    """Keyword arguments of ``chat.completions.create`` for judging ``comment``."""
    return {
        "model": model,
        # Exactly the training examples' shape: the bare comment as the only user message.
        "messages": [{"role": "user", "content": comment}],
        "max_completion_tokens": 1,
        "logit_bias": {str(single_token_id(label)): LABEL_BIAS for label in LABELS},
        "temperature": 0,
        "logprobs": True,
        "top_logprobs": len(LABELS),
    }


def label_confidence(logprobs: ChoiceLogprobs | None, label: str) -> float | None:
    """The model's probability of ``label``, or None when the reply carries no usable logprobs.

    When both labels are among the top logprobs the probability is taken relative to the two, so it
    means the same whether OpenAI reports it before or after applying the logit bias.
    """
    first = logprobs.content[0] if logprobs is not None and logprobs.content else None
    if first is None or first.token != label or not isinstance(first.logprob, int | float):
        return None
    alternatives = {candidate.token: candidate.logprob for candidate in first.top_logprobs or ()}
    chosen = math.exp(first.logprob)
    if all(isinstance(alternatives.get(other), int | float) for other in LABELS):
        chosen /= sum(math.exp(alternatives[other]) for other in LABELS)
    return min(1.0, max(0.0, chosen))


def _token_count(value: object) -> int | None:
    return value if isinstance(value, int) and value >= 0 else None


def read_label(completion: object) -> LabelReply:
    """The one label the model answered, or :class:`UnexpectedLabel` for anything else.

    The SDK does not validate replies (it builds them leniently), so each part is checked here.
    """
    if not isinstance(completion, ChatCompletion):
        raise UpstreamBadReply("OpenAI's reply is not a chat completion.")
    choices = completion.choices if isinstance(completion.choices, list) else []
    choice = choices[0] if choices else None
    content = getattr(getattr(choice, "message", None), "content", None)
    if choice is None or content not in LABELS:
        shown = repr(content[:40]) if isinstance(content, str) else "no answer"
        raise UnexpectedLabel(f"The judge answered {shown}, not one of {', '.join(LABELS)}.")
    usage = completion.usage
    return LabelReply(
        verdict=content,
        confidence=label_confidence(choice.logprobs, content),
        completion_tokens=_token_count(getattr(usage, "completion_tokens", None)) or 1,
        billed_prompt_tokens=_token_count(getattr(usage, "prompt_tokens", None)),
    )


def ask_model(client: OpenAI, request: dict[str, Any]) -> LabelReply:
    """One chat completion (the SDK's bounded retries included), with its failures as domain errors.

    A refusal of the judge's own request is OpenAI's or our problem, not the caller's: 502.
    """
    with openai_failures_as_domain_errors("judging a comment", rejected=UpstreamBadReply):
        completion = client.chat.completions.create(**request)
    return read_label(completion)


# --- storage --------------------------------------------------------------------------------------


def text_sha256(comment: str) -> str:
    return hashlib.sha256(comment.encode("utf-8")).hexdigest()


def resolve_model(session: Session, override: str | None, active_models: ActiveModelCache) -> str:
    model = override or active_models.get(session)
    if not model:
        raise NoActiveModel("No judge model is active yet: finish a fine-tuning job or set JUDGE_MODEL.")
    return model


def _lock_post(session: Session, post_id: int) -> None:
    """Fail with 404 unless the post exists, and keep it from being deleted until commit."""
    found = session.scalar(select(InstagramPost.id).where(InstagramPost.id == post_id).with_for_update(key_share=True))
    if found is None:
        raise NotFound(f"Instagram post {post_id} does not exist.")


def _stored_judgement(session: Session, sha: str, model: str) -> Judgement | None:
    return session.scalar(select(Judgement).where(Judgement.text_sha256 == sha, Judgement.model == model))


def _store_judgement(session: Session, sha: str, model: str, values: dict[str, Any]) -> Judgement:
    """Insert the judgement, or return the twin a concurrent request stored first."""
    statement = insert(Judgement).values(text_sha256=sha, model=model, **values)
    session.execute(statement.on_conflict_do_nothing(constraint="uq_judgements_text_sha256_model"))
    # Inserted just now, or by the twin; either way exactly one row holds this text and model.
    return session.scalars(
        select(Judgement).where(Judgement.text_sha256 == sha, Judgement.model == model)
    ).one()


def _record_comment(session: Session, request: JudgeRequest, sha: str, judgement_id: int) -> None:
    """Remember the comment (when it can be named again) and point it at its latest judgement."""
    if request.instagram_comment_id is None and request.post_id is None:
        return
    statement = insert(InstagramComment).values(
        instagram_comment_id=request.instagram_comment_id,
        post_id=request.post_id,
        text=request.comment,
        text_sha256=sha,
        judgement_id=judgement_id,
    )
    if request.instagram_comment_id is not None:
        statement = statement.on_conflict_do_update(
            index_elements=[InstagramComment.instagram_comment_id],
            set_={
                "text": statement.excluded.text,
                "text_sha256": statement.excluded.text_sha256,
                "judgement_id": statement.excluded.judgement_id,
                # A later message without the post keeps the post learnt earlier.
                "post_id": func.coalesce(statement.excluded.post_id, InstagramComment.post_id),
                "updated_at": func.now(),
            },
        )
    else:
        statement = statement.on_conflict_do_update(
            index_elements=[InstagramComment.post_id, InstagramComment.text_sha256],
            index_where=InstagramComment.instagram_comment_id.is_(None),
            set_={"judgement_id": statement.excluded.judgement_id, "updated_at": func.now()},
        )
    session.execute(statement)


def _verdict(judgement: Judgement, *, cached: bool) -> Verdict:
    return Verdict(
        verdict=judgement.verdict,
        comment_tokens=judgement.comment_tokens,
        prompt_tokens=judgement.prompt_tokens,
        completion_tokens=judgement.completion_tokens,
        model=judgement.model,
        cached=cached,
        confidence=judgement.confidence,
    )


# --- the service ----------------------------------------------------------------------------------


def judge_comment(
    request: JudgeRequest,
    *,
    client_factory: Callable[[], OpenAI],
    active_models: ActiveModelCache,
    model_override: str | None = None,
    sessions: SessionFactory = session_scope,
) -> Verdict:
    """Judge one comment: from the database when this model judged the text before, else by OpenAI."""
    sha = text_sha256(request.comment)
    with sessions() as session:
        if request.post_id is not None:
            _lock_post(session, request.post_id)
        model = resolve_model(session, model_override, active_models)
        stored = _stored_judgement(session, sha, model)
        if stored is not None:
            _record_comment(session, request, sha, stored.id)
            return _verdict(stored, cached=True)

    chat = chat_request(model, request.comment)
    # Both counted before the call: what the comment costs, and what OpenAI will bill for the prompt.
    comment_tokens = count_tokens(request.comment)
    prompt_tokens = chat_prompt_tokens(chat["messages"])
    reply = ask_model(client_factory(), chat)
    if reply.billed_prompt_tokens is not None and reply.billed_prompt_tokens != prompt_tokens:
        logger.warning(
            "prompt token count differs from OpenAI's",
            extra={"computed": prompt_tokens, "billed": reply.billed_prompt_tokens, "model": model},
        )

    values = {
        "verdict": reply.verdict,
        "confidence": reply.confidence,
        "comment_tokens": comment_tokens,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": reply.completion_tokens,
    }
    # The paid answer is committed on its own first, so a post deleted meanwhile cannot undo it.
    with sessions() as session:
        judgement = _store_judgement(session, sha, model, values)
    with sessions() as session:
        if request.post_id is not None:
            _lock_post(session, request.post_id)
        _record_comment(session, request, sha, judgement.id)
    return _verdict(judgement, cached=False)


def good_comments(session: Session, post_id: int, limit: int) -> list[dict[str, Any]]:
    """The post's comments whose latest judgement is ``good``, most confident first."""
    if session.get(InstagramPost, post_id) is None:
        raise NotFound(f"Instagram post {post_id} does not exist.")
    rows = session.execute(
        select(InstagramComment, Judgement)
        .join(Judgement, InstagramComment.judgement_id == Judgement.id)
        .where(InstagramComment.post_id == post_id, Judgement.verdict == "good")
        .order_by(Judgement.confidence.desc().nulls_last(), InstagramComment.id)
        .limit(limit)
    )
    return [
        {
            "id": comment.id,
            "instagram_comment_id": comment.instagram_comment_id,
            "comment": comment.text,
            "confidence": judgement.confidence,
            "model": judgement.model,
            "judged_at": judgement.created_at.isoformat(),
        }
        for comment, judgement in rows
    ]
