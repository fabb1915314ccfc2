"""Making judges: ``POST /judges`` and ``POST /judges/{judge_id}/successor``.

Creating a judge is the same few steps for every style, with a style's own step where styles differ
(:data:`STYLES`, one :class:`Style` each; a new style registers its own):

1. the request checked against what the product holds (endpoint, name, examples) — ``build``;
2. the model's calendar read from the provider (:mod:`.model_calendar`): a model already shut down is
   422 ``model_unavailable`` before anything is paid;
3. the request shape settled — ``settle``: for chat judges one probe judgement (:mod:`.probing`);
4. the judge stored, with its calendar and what its probe sent and was billed.

A successor is a new judge of the same recipe on another model (``successor``: what the source
judge's style carries over), probed, and its evaluation on the current golden set started — one call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated

from openai import OpenAI
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, or_, select, text
from sqlalchemy.orm import Session

from ..advisory_lock import lock_key
from ..config import ConfigurationError, Settings
from ..errors import DomainError, Duplicate, ServiceUnavailable
from ..hashing import text_sha256
from ..models import Evaluation, FineTuningJob, Judge, TrainingExample, TrainingFile
from ..observability import logger
from . import evaluation_queue, model_calendar
from .evaluation import GoldenSetRequired, start_evaluation
from .judges import (
    DEFAULT_EXAMPLE_COUNT,
    Name,
    NewJudge,
    Prices,
    get_judge,
    invalid_field,
    load_spec,
    training_file_by_public_id,
)
from .probing import ModelUnavailable, probe
from .promotion import current_golden_set

ClientFor = Callable[[str], OpenAI]
# Advisory-lock namespace of judge names: one creation per name at a time, so a probe is never paid
# for a judge whose name a twin request takes meanwhile.
JUDGE_NAME_LOCK_NAMESPACE = 0x6A6E  # "jn"


class NoSuccessorRecipe(DomainError):
    status = 422
    code = "no_successor_recipe"


@dataclass(frozen=True)
class Style:
    """What differs between judge styles when a judge is made."""

    # The judge the request describes (not stored yet), checked against what the product holds.
    build: Callable[[Session, NewJudge], Judge]
    # Settle how the judge asks its model (a probe), recording it on the judge.
    settle: Callable[[Session, Judge, NewJudge, OpenAI], None]
    # The request of a successor of a judge of this style on another model.
    successor: Callable[[Session, Judge, SuccessorRequest], NewJudge]


# --- creating ---------------------------------------------------------------------------------


def create_judge(
    session: Session,
    request: NewJudge,
    settings: Settings,
    *,
    client_for: ClientFor,
    today: date | None = None,
    predecessor: Judge | None = None,
) -> Judge:
    if request.endpoint not in settings.endpoint_names():
        raise invalid_field(
            "endpoint", f"Unknown endpoint {request.endpoint!r}; known: {', '.join(settings.endpoint_names())}."
        )
    style = STYLES[request.style]
    session.execute(
        text("SELECT pg_advisory_xact_lock(:namespace, :key)"),
        {"namespace": JUDGE_NAME_LOCK_NAMESPACE, "key": lock_key(text_sha256(request.name))},
    )
    existing = session.scalar(select(Judge.id).where(Judge.name == request.name))
    if existing is not None:
        raise Duplicate(f"A judge named {request.name!r} exists.", existing_id=existing)
    judge = style.build(session, request)
    judge.prices = request.prices.as_dict() if request.prices else None
    judge.status = "candidate"
    judge.predecessor_id = predecessor.id if predecessor is not None else None
    try:
        client = client_for(request.endpoint)
    except ConfigurationError as error:
        raise ServiceUnavailable(str(error)) from None
    model_calendar.apply(judge, model_calendar.look_up(client, judge.model), settings, today)
    if judge.model_status == "shut_down":
        shown = f" on {judge.model_shutdown_date.isoformat()}" if judge.model_shutdown_date else ""
        raise ModelUnavailable(
            f"The provider does not serve the model {judge.model!r} any more (shut down{shown}): "
            "choose a current model.",
            model=judge.model,
            model_shutdown_date=judge.model_shutdown_date.isoformat() if judge.model_shutdown_date else None,
        )
    style.settle(session, judge, request, client)
    session.add(judge)
    session.flush()
    logger.info(
        "judge created",
        extra={
            "judge_id": judge.id,
            "style": judge.style,
            "model": judge.model,
            "output": judge.output,
            "reasoning_effort": judge.reasoning_effort,
            "probe_calls": (judge.probe or {}).get("calls"),
        },
    )
    return judge


def _fine_tuned_judge(session: Session, request: NewJudge) -> Judge:
    return Judge(
        name=request.name, style="fine_tuned", model=request.model, endpoint=request.endpoint, output="label_token"
    )


def _prompted_judge(session: Session, request: NewJudge) -> Judge:
    file = training_file_by_public_id(session, request.examples_file_id)
    if file is None:
        raise invalid_field("examples_file_id", f"No training file {request.examples_file_id!r}.")
    count = request.example_count or DEFAULT_EXAMPLE_COUNT
    labels: dict[str, int] = dict(
        session.execute(
            select(TrainingExample.label, func.count(func.distinct(TrainingExample.text)))
            .where(TrainingExample.training_file_id == file.id)
            .group_by(TrainingExample.label)
        ).all()
    )
    if labels.get("good", 0) < 1 or labels.get("bad", 0) < 1 or sum(labels.values()) < count:
        raise invalid_field(
            "example_count",
            f"The file has {labels.get('good', 0)} good and {labels.get('bad', 0)} bad distinct examples; "
            f"{count} examples with both labels are needed.",
        )
    return Judge(
        name=request.name,
        style="prompted",
        model=request.model,
        endpoint=request.endpoint,
        examples_file_id=file.id,
        example_count=count,
        instructions=request.instructions,
        output=request.output or "label_token",
        reasoning_effort=request.reasoning_effort,
    )


def _probe_chat_shape(session: Session, judge: Judge, request: NewJudge, client: OpenAI) -> None:
    """One probe judgement (at most three calls) settles the chat request the judge sends."""
    result = probe(load_spec(session, judge), client, output=request.output, reasoning_effort=request.reasoning_effort)
    judge.output = result.shape.output
    judge.reasoning_effort = result.shape.reasoning_effort
    judge.logprobs = result.shape.logprobs
    judge.probe = result.record


# --- successors -------------------------------------------------------------------------------


FileId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]
EndpointName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")]


class SuccessorRequest(BaseModel):
    """``POST /judges/{judge_id}/successor``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    model: Name
    name: Name | None = None
    prices: Prices | None = None
    endpoint: EndpointName | None = None
    examples_file_id: FileId | None = None


def _prompted_successor(session: Session, source: Judge, request: SuccessorRequest) -> NewJudge:
    file_id = request.examples_file_id or _public_file_id(session, source.examples_file_id)
    return _successor_request(
        source, request, file_id, instructions=source.instructions, example_count=source.example_count
    )


def _fine_tuned_successor(session: Session, source: Judge, request: SuccessorRequest) -> NewJudge:
    """The fine-tuned judge's examples are its job's training file, which the product kept."""
    file_id = request.examples_file_id
    if file_id is None:
        job = session.scalar(
            select(FineTuningJob)
            .where(
                or_(FineTuningJob.openai_job_id == source.source_job_id, FineTuningJob.fine_tuned_model == source.model)
            )
            .order_by(FineTuningJob.id.desc())
            .limit(1)
        )
        file_id = job.training_file_id if job is not None else None
    return _successor_request(source, request, file_id, instructions=None, example_count=None)


def _successor_request(
    source: Judge,
    request: SuccessorRequest,
    file_id: str | None,
    *,
    instructions: str | None,
    example_count: int | None,
) -> NewJudge:
    if file_id is None:
        raise invalid_field(
            "examples_file_id",
            f"The product does not know judge {source.id}'s labelled examples (a judge declared by hand): "
            "name them with examples_file_id (POST /training-files?upload=false keeps them).",
        )
    if request.prices is not None and request.prices.output is None:
        raise invalid_field("prices.output", "A prompted successor's prices need output (USD per 1M output tokens).")
    name = request.name or f"{source.name} → {request.model}"[:200]
    return NewJudge(
        name=name,
        style="prompted",
        model=request.model,
        endpoint=request.endpoint or source.endpoint,
        instructions=instructions,
        examples_file_id=file_id,
        example_count=example_count,
        prices=request.prices,
    )


def _public_file_id(session: Session, file_id: int | None) -> str | None:
    file = session.get(TrainingFile, file_id) if file_id is not None else None
    return file.openai_file_id if file is not None else None


def create_successor(
    session: Session,
    judge_id: int,
    request: SuccessorRequest,
    settings: Settings,
    *,
    client_for: ClientFor,
    today: date | None = None,
) -> tuple[Judge, Evaluation]:
    """A successor of the judge on ``request.model``: created, probed, and its evaluation started."""
    source = get_judge(session, judge_id)
    style = STYLES.get(source.style)
    if style is None:
        raise NoSuccessorRecipe(f"Judges of style {source.style!r} have no successor recipe.")
    new_request = style.successor(session, source, request)
    golden = current_golden_set(session)
    if golden is None:
        raise GoldenSetRequired("A successor is evaluated on the current golden set: POST /golden-sets first.")
    evaluation_queue.require_queue(settings)
    judge = create_judge(session, new_request, settings, client_for=client_for, today=today, predecessor=source)
    evaluation, _ = start_evaluation(session, judge.id, golden.id, settings)
    logger.info(
        "successor created", extra={"judge_id": judge.id, "predecessor_id": source.id, "evaluation_id": evaluation.id}
    )
    return judge, evaluation


STYLES: dict[str, Style] = {
    "fine_tuned": Style(build=_fine_tuned_judge, settle=_probe_chat_shape, successor=_fine_tuned_successor),
    "prompted": Style(build=_prompted_judge, settle=_probe_chat_shape, successor=_prompted_successor),
}
