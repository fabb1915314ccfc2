"""Judges as data: the request that makes one, how one is found and shown, and the one that answers.

- A judge is immutable once created; only its status moves (``candidate`` → ``active`` → ``retired``).
  Judges are made in :mod:`.creation` (probed, calendar read) and promoted in :mod:`.promotion`.
- Readers find the active judge through :class:`ActiveJudgeCache` (``ACTIVE_MODEL_TTL_SECONDS``), so
  judging follows a change without a redeploy and without a query per request.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from ..config import Settings
from ..errors import DomainError, InvalidInput, NotFound, ServiceUnavailable
from ..models import Evaluation, Judge, JudgeClassifier, TrainingExample, TrainingFile
from .recipes import JudgeSpec, Shot, choose_shots

MAX_EXAMPLE_COUNT = 64
# A kept file's id: ``local-`` and the first 16 hex digits of its content's hash (training.files makes them).
LOCAL_ID = re.compile(r"local-[0-9a-f]{16}")
DEFAULT_EXAMPLE_COUNT = 10


class NoActiveJudge(ServiceUnavailable):
    code = "no_active_judge"


class JudgeNotFound(NotFound):
    code = "judge_not_found"


# --- creating judges ------------------------------------------------------------------------------


class Prices(BaseModel):
    """USD per 1M tokens; ``cached_input`` defaults to ``input``. ``output`` is required of every judge
    but a ``classifier``, which is billed for its embedding (input) tokens alone."""

    model_config = ConfigDict(extra="forbid")

    # Strict: a JSON number (``"1.5"`` and ``true`` are 422).
    input: Annotated[float, Field(strict=True, ge=0, le=10_000)]
    output: Annotated[float, Field(strict=True, ge=0, le=10_000)] | None = None
    cached_input: Annotated[float, Field(strict=True, ge=0, le=10_000)] | None = None

    def as_dict(self) -> dict[str, float]:
        cached = self.input if self.cached_input is None else self.cached_input
        return {"input": self.input, "cached_input": cached, "output": self.output or 0.0}


def unicode_text(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("a lone surrogate escape is not text") from None
    return value


Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$"), AfterValidator(unicode_text)]
Text = Annotated[str, Field(min_length=1, max_length=20_000, pattern=r"^[^\x00]+$"), AfterValidator(unicode_text)]


FileId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]


class NewJudge(BaseModel):
    """``POST /judges``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Name
    style: Literal["fine_tuned", "prompted", "classifier"]
    model: Name | None = None
    # A ``classifier``: the embedding model instead of ``model``, and one or several kept training files.
    embedding_model: Name | None = None
    examples_file_ids: Annotated[list[FileId], Field(min_length=1, max_length=20)] | None = None
    endpoint: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")] = "openai"
    instructions: Text | None = None
    examples_file_id: FileId | None = None
    # Strict: ``"12"`` and ``12.0`` are not twelve examples.
    example_count: Annotated[int, Field(strict=True, ge=2, le=MAX_EXAMPLE_COUNT)] | None = None
    output: Literal["label_token", "structured"] | None = None
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high"] | None = None
    prices: Prices | None = None

    @model_validator(mode="after")
    def _combination(self) -> NewJudge:
        if self.style == "classifier":
            extra = [
                name
                for name in ("model", "instructions", "example_count", "output", "reasoning_effort")
                if getattr(self, name) is not None
            ]
            if extra:
                raise ValueError(
                    f"a classifier judge is trained on embeddings: {', '.join(extra)} not allowed "
                    "(embedding_model names the model)"
                )
            if self.embedding_model is None:
                raise ValueError("a classifier judge needs embedding_model (e.g. text-embedding-3-small)")
            if (self.examples_file_id is None) == (self.examples_file_ids is None):
                raise ValueError("a classifier judge needs examples_file_id or examples_file_ids (one of them)")
            return self
        if self.embedding_model is not None or self.examples_file_ids is not None:
            raise ValueError("embedding_model and examples_file_ids go with style classifier")
        if self.model is None:
            raise ValueError("model is required")
        if self.prices is not None and self.prices.output is None:
            raise ValueError("prices.output is required (USD per 1M output tokens)")
        # What a model accepts is the probe's to find out (probing.py), not its name's.
        if self.style == "fine_tuned":
            extra = [
                name
                for name in ("instructions", "examples_file_id", "example_count", "reasoning_effort")
                if getattr(self, name) is not None
            ]
            if extra:
                raise ValueError(f"a fine_tuned judge sends the bare comment: {', '.join(extra)} not allowed")
            if self.output == "structured":
                raise ValueError("a fine_tuned judge answers one label token: output must be label_token")
        else:
            if self.examples_file_id is None:
                raise ValueError("a prompted judge needs examples_file_id (a kept or uploaded training file)")
            if self.reasoning_effort is not None and self.output == "label_token":
                raise ValueError("reasoning_effort goes with output structured")
        return self


def invalid_field(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, details=[{"field": field, "in": "body", "type": "invalid", "message": message}])


def training_file_by_public_id(session: Session, public_id: str | None) -> TrainingFile | None:
    """A training file by the id the API showed: ``file-...`` (uploaded) or ``local-<hash prefix>`` (kept)."""
    if not public_id:
        return None
    found = session.scalar(select(TrainingFile).where(TrainingFile.openai_file_id == public_id))
    if found is None and LOCAL_ID.fullmatch(public_id):
        # A kept file uploaded later has a file- id now; its local id (whole, never cut short) still names it.
        prefix = public_id.removeprefix("local-")
        found = session.scalar(
            select(TrainingFile).where(TrainingFile.sha256.startswith(prefix, autoescape=True)).limit(1)
        )
    return found


def fine_tuned_judge_for_model(
    session: Session, model: str, *, job_id: str | None = None, endpoint: str = "openai"
) -> Judge:
    """The ``fine_tuned`` judge of ``model`` on ``endpoint``, made (as a candidate) if none exists."""
    found = session.scalar(
        select(Judge)
        .where(Judge.style == "fine_tuned", Judge.model == model, Judge.endpoint == endpoint)
        .order_by(Judge.id)
        .limit(1)
    )
    if found is not None:
        return found
    for name in (model, f"{model} (fine_tuned)"):
        statement = insert(Judge).values(
            name=name, style="fine_tuned", model=model, endpoint=endpoint, source_job_id=job_id, logprobs=True
        )
        inserted = session.scalar(statement.on_conflict_do_nothing().returning(Judge.id))
        if inserted is not None:
            return session.get(Judge, inserted)
        # The name is taken: by the same judge made concurrently, or by another kind of judge.
        twin = session.scalar(
            select(Judge).where(Judge.name == name, Judge.style == "fine_tuned", Judge.model == model)
        )
        if twin is not None:
            return twin
    raise DomainError(f"No name is free for a judge of {model!r}.")


def get_judge(session: Session, judge_id: int) -> Judge:
    judge = session.get(Judge, judge_id)
    if judge is None:
        raise JudgeNotFound(f"Judge {judge_id} does not exist.")
    return judge


# --- views ----------------------------------------------------------------------------------------


def evaluation_summary(evaluation: Evaluation | None) -> dict[str, Any] | None:
    if evaluation is None:
        return None
    return {
        "id": evaluation.id,
        "golden_set_id": evaluation.golden_set_id,
        "status": evaluation.status,
        "metrics": evaluation.metrics,
        "cost": evaluation.cost,
        "latency_ms": evaluation.latency_ms,
        "finished_at": evaluation.finished_at.isoformat() if evaluation.finished_at else None,
    }


def judge_view(
    session: Session, judge: Judge, latest: Evaluation | None = None, *, with_latest: bool = True
) -> dict[str, Any]:
    if with_latest and latest is None:
        latest = session.scalar(
            select(Evaluation).where(Evaluation.judge_id == judge.id).order_by(Evaluation.id.desc()).limit(1)
        )
    examples_file = session.get(TrainingFile, judge.examples_file_id) if judge.examples_file_id else None
    return {
        "id": judge.id,
        "name": judge.name,
        "style": judge.style,
        "model": judge.model,
        "endpoint": judge.endpoint,
        "instructions": judge.instructions,
        "examples_file_id": examples_file.openai_file_id if examples_file else None,
        "example_count": judge.example_count,
        "output": judge.output,
        "reasoning_effort": judge.reasoning_effort,
        # Whether its answers carry a confidence (forced labels, or logprobs the probe found accepted).
        "confidence": judge.output in ("label_token", "probability") or bool(judge.logprobs),
        "prices": judge.prices,
        "status": judge.status,
        "model_shutdown_date": judge.model_shutdown_date.isoformat() if judge.model_shutdown_date else None,
        "model_status": judge.model_status,
        "model_checked_at": judge.model_checked_at.isoformat() if judge.model_checked_at else None,
        "probe": judge.probe,
        "predecessor_id": judge.predecessor_id,
        "unevaluated": judge.unevaluated,
        "source_job_id": judge.source_job_id,
        "created_at": judge.created_at.isoformat() if judge.created_at else None,
        "latest_evaluation": evaluation_summary(latest),
        **(classifier_view(session, judge) if judge.style == "classifier" else {}),
    }


def classifier_training_view(classifier: JudgeClassifier) -> dict[str, Any]:
    """What a classifier judge learnt from, and how well it did in cross-validation."""
    return {
        "examples": classifier.examples,
        "labels": {"good": classifier.good_examples, "bad": classifier.bad_examples},
        "cross_validated": {
            "f1_good": round(classifier.cv_f1_good, 4),
            "precision_good": round(classifier.cv_precision_good, 4),
            "recall_good": round(classifier.cv_recall_good, 4),
            "folds": classifier.folds,
        },
        "regularisation_c": classifier.regularisation_c,
        "dimensions": classifier.dimensions,
        "embedding_tokens": classifier.embedding_tokens,
        "training_ms": classifier.training_ms,
        # Examples whose stored vectors were reused, and those this training sent (and paid for).
        "embeddings": {
            "reused": classifier.reused_embeddings,
            "embedded": classifier.examples - classifier.reused_embeddings,
        },
    }


def classifier_view(session: Session, judge: Judge) -> dict[str, Any]:
    classifier = session.get(JudgeClassifier, judge.id)
    files = (
        session.execute(
            select(TrainingFile.id, TrainingFile.openai_file_id).where(
                TrainingFile.id.in_(classifier.training_file_ids)
            )
        ).all()
        if classifier is not None
        else []
    )
    public: dict[int, str] = dict(files)
    return {
        "embedding_model": judge.model,
        "examples_file_ids": [public[file_id] for file_id in classifier.training_file_ids if file_id in public]
        if classifier
        else [],
        "training": classifier_training_view(classifier) if classifier is not None else None,
    }


def list_judges(session: Session) -> list[dict[str, Any]]:
    judges = list(session.scalars(select(Judge).order_by(Judge.id)))
    latest_ids = select(func.max(Evaluation.id)).group_by(Evaluation.judge_id)
    latest = {
        evaluation.judge_id: evaluation
        for evaluation in session.scalars(select(Evaluation).where(Evaluation.id.in_(latest_ids)))
    }
    return [judge_view(session, judge, latest.get(judge.id), with_latest=False) for judge in judges]


# --- the active judge -----------------------------------------------------------------------------


def load_spec(session: Session, judge: Judge) -> JudgeSpec:
    shots: tuple[Shot, ...] = ()
    if judge.style == "prompted" and judge.examples_file_id is not None:
        examples = session.execute(
            select(TrainingExample.text, TrainingExample.label)
            .where(TrainingExample.training_file_id == judge.examples_file_id)
            .order_by(TrainingExample.line)
        ).all()
        shots = choose_shots(((row.text, row.label) for row in examples), judge.example_count or DEFAULT_EXAMPLE_COUNT)
    weights: tuple[float, ...] = ()
    bias = 0.0
    if judge.style == "classifier":
        stored = session.execute(
            select(JudgeClassifier.weights, JudgeClassifier.bias).where(JudgeClassifier.judge_id == judge.id)
        ).one()
        weights, bias = tuple(stored.weights), stored.bias
    return JudgeSpec(
        weights=weights,
        bias=bias,
        id=judge.id,
        name=judge.name,
        style=judge.style,
        model=judge.model,
        endpoint=judge.endpoint,
        output=judge.output,
        reasoning_effort=judge.reasoning_effort,
        logprobs=bool(judge.logprobs),
        instructions=judge.instructions,
        shots=shots,
        prices=judge.prices,
    )


class ActiveJudgeCache:
    """The judge that answers, cached for ``ttl`` seconds per execution environment.

    Specs are cached by judge id for good (judges never change); only *which* judge is active is
    re-read after ``ttl``. ``JUDGE_MODEL`` and ``JUDGE_FALLBACK`` are resolved here too.
    """

    def __init__(self, ttl: float | None = None, clock: Callable[[], float] = time.monotonic):
        # None: ``ACTIVE_MODEL_TTL_SECONDS`` of the settings in force at each call.
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._active: JudgeSpec | None = None
        self._expires = float("-inf")
        self._by_key: dict[tuple[str, str], JudgeSpec] = {}

    def active(self, session: Session, settings: Settings) -> JudgeSpec:
        model = settings.judge_model
        if model:
            return self._keyed(("model", model), lambda: fine_tuned_judge_for_model(session, model), session)
        with self._lock:
            if self._clock() < self._expires and self._active is not None:
                return self._active
        judge = session.scalar(select(Judge).where(Judge.status == "active"))
        if judge is None:
            raise NoActiveJudge("No judge is active yet: activate one (POST /judges/{id}/activate) or set JUDGE_MODEL.")
        spec = self._keyed(("id", str(judge.id)), lambda: judge, session)
        with self._lock:
            self._active = spec
            self._expires = self._clock() + (self._ttl if self._ttl is not None else settings.active_model_ttl_seconds)
        return spec

    def fallback(self, session: Session, settings: Settings) -> JudgeSpec | None:
        if not settings.judge_fallback:
            return None
        name = settings.judge_fallback

        def find() -> Judge:
            judge = session.scalar(select(Judge).where(Judge.name == name))
            if judge is None:
                raise ServiceUnavailable(f"JUDGE_FALLBACK names no judge ({name!r}).")
            return judge

        return self._keyed(("name", name), find, session)

    def by_id(self, session: Session, judge_id: int) -> JudgeSpec:
        return self._keyed(("id", str(judge_id)), lambda: get_judge(session, judge_id), session)

    def _keyed(self, key: tuple[str, str], find: Callable[[], Judge], session: Session) -> JudgeSpec:
        with self._lock:
            spec = self._by_key.get(key)
        if spec is None:
            spec = load_spec(session, find())
            with self._lock:
                self._by_key[key] = spec
        return spec

    def forget_active(self) -> None:
        """Read which judge is active again at the next call (it just changed here)."""
        with self._lock:
            self._expires = float("-inf")
            self._active = None

    def clear(self) -> None:
        with self._lock:
            self._expires = float("-inf")
            self._active = None
            self._by_key.clear()
