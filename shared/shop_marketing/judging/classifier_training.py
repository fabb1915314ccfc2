"""Training ``classifier`` judges (product.md "Classifier judges — the judge the shop owns").

- The examples are the union of the kept training files named (each distinct text once, in the order
  the files are named, then by line). A text labelled both ways is refused: 422
  ``conflicting_labels``, one detail per conflicting line, naming where the other label is. Both labels
  are needed (at least :data:`MIN_PER_LABEL` of each, for the cross-validation), and at most
  :data:`MAX_EXAMPLES` examples.
- Everything that can be refused for free is checked before the endpoint is paid: the endpoint, the
  name, the files, the labels (and, for a successor, the golden set its evaluation needs).
- The examples are embedded (:mod:`.embeddings`: batches of at most 2,048, no chat call), the
  logistic regression fitted with its regularisation chosen by cross-validation (:mod:`.logistic`),
  and the judge and its weights stored in the caller's transaction: a refusal or failure anywhere
  leaves nothing behind.
- A successor learns the same examples on another embedding model and its evaluation on the current
  golden set is started with it: embedding models retire too, and a classifier outlives them.

Loads numpy (through :mod:`.logistic`): imported by the judges function's HTTP routes only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from openai import OpenAI
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..config import ConfigurationError, Settings
from ..errors import DomainError, Duplicate, InvalidInput, ServiceUnavailable
from ..models import Evaluation, Judge, JudgeClassifier, TrainingExample, TrainingFile
from ..observability import logger
from . import evaluation_queue, logistic
from .embeddings import embed_texts
from .evaluation import GoldenSetRequired, start_evaluation
from .judges import NewJudge, Prices, classifier_training_view, current_golden_set, get_judge, training_file_by_public_id

MAX_EXAMPLES = 5_000
MIN_PER_LABEL = 2

ClientFor = Callable[[str], OpenAI]


class ConflictingLabels(InvalidInput):
    code = "conflicting_labels"


class NotEnoughExamples(InvalidInput):
    code = "not_enough_examples"


class TooManyExamples(InvalidInput):
    code = "too_many_examples"


class NotAClassifier(DomainError):
    status = 422
    code = "not_a_classifier"


@dataclass(frozen=True)
class Examples:
    texts: list[str]
    labels: list[str]

    def count(self, label: str) -> int:
        return self.labels.count(label)


def _detail(field: str, message: str, code: str = "invalid") -> dict[str, Any]:
    return {"field": field, "in": "body", "type": code, "message": message}


def resolve_files(session: Session, public_ids: list[str], field: str) -> list[TrainingFile]:
    files, missing = [], []
    for position, public_id in enumerate(public_ids):
        found = training_file_by_public_id(session, public_id)
        where = field if field == "examples_file_id" else f"{field}.{position}"
        if found is None:
            missing.append(_detail(where, f"No training file {public_id!r}.", "unknown_file"))
        elif found.id not in {file.id for file in files}:
            files.append(found)
    if missing:
        raise InvalidInput("A training file named does not exist.", details=missing)
    return files


def gather_examples(session: Session, files: list[TrainingFile]) -> Examples:
    """The union of the files' examples: each distinct text once; a text labelled both ways refused."""
    position = {file.id: index for index, file in enumerate(files)}
    public = {file.id: file.openai_file_id for file in files}
    rows = session.execute(
        select(TrainingExample.training_file_id, TrainingExample.line, TrainingExample.text, TrainingExample.label)
        .where(TrainingExample.training_file_id.in_(list(position)))
    ).all()
    rows.sort(key=lambda row: (position[row.training_file_id], row.line))
    first: dict[str, tuple[str, int, int]] = {}  # text -> label, file, line
    conflicts = []
    for row in rows:
        seen = first.get(row.text)
        if seen is None:
            first[row.text] = (row.label, row.training_file_id, row.line)
        elif seen[0] != row.label:
            conflicts.append({
                "file_id": public[row.training_file_id], "line": row.line, "code": "conflicting_label",
                "message": f"Labelled {row.label!r} here and {seen[0]!r} in {public[seen[1]]} line {seen[2]}.",
            })
    if conflicts:
        raise ConflictingLabels(
            f"{len(conflicts)} example(s) carry a label that another example of the same text contradicts; fix or drop them.",
            details=conflicts,
        )
    examples = Examples(texts=list(first), labels=[label for label, _, _ in first.values()])
    good, bad = examples.count("good"), examples.count("bad")
    if min(good, bad) < MIN_PER_LABEL:
        raise NotEnoughExamples(
            f"The examples hold {good} good and {bad} bad distinct texts; a classifier needs both labels, "
            f"at least {MIN_PER_LABEL} of each.",
            details=[_detail("examples_file_ids", f"{good} good, {bad} bad", "single_label" if min(good, bad) == 0 else "too_few")],
        )
    if len(examples.texts) > MAX_EXAMPLES:
        raise TooManyExamples(
            f"{len(examples.texts)} distinct examples; a classifier is trained on at most {MAX_EXAMPLES} in one request.",
            details=[_detail("examples_file_ids", f"{len(examples.texts)} examples", "too_many")],
        )
    return examples


def _check_free(session: Session, name: str, endpoint: str, settings: Settings) -> None:
    if endpoint not in settings.endpoint_names():
        message = f"Unknown endpoint {endpoint!r}; known: {', '.join(settings.endpoint_names())}."
        raise InvalidInput(message, details=[_detail("endpoint", message)])
    existing = session.scalar(select(Judge.id).where(Judge.name == name))
    if existing is not None:
        raise Duplicate(f"A judge named {name!r} exists.", existing_id=existing)


def _client(client_for: ClientFor, endpoint: str) -> OpenAI:
    try:
        return client_for(endpoint)
    except ConfigurationError as error:
        raise ServiceUnavailable(str(error)) from None


def train_and_store(
    session: Session,
    *,
    name: str,
    embedding_model: str,
    endpoint: str,
    prices: dict[str, float] | None,
    files: list[TrainingFile],
    examples: Examples,
    client: OpenAI,
) -> tuple[Judge, dict[str, Any]]:
    """Embed the examples, fit, and add the judge and its weights to the session (flushed, not committed)."""
    embedded = embed_texts(client, embedding_model, examples.texts, action="embedding the training examples")
    started = time.perf_counter()
    fit = logistic.train(embedded.vectors, examples.labels, examples.texts)
    training_ms = round((time.perf_counter() - started) * 1000)
    judge = Judge(
        name=name, style="classifier", model=embedding_model, endpoint=endpoint, output="probability",
        examples_file_id=files[0].id, prices=prices, status="candidate",
    )
    session.add(judge)
    session.flush()
    classifier = JudgeClassifier(
        judge_id=judge.id, dimensions=len(fit.weights), weights=fit.weights, bias=fit.bias, regularisation_c=fit.c,
        folds=fit.folds, training_file_ids=[file.id for file in files], examples=len(examples.texts),
        good_examples=examples.count("good"), bad_examples=examples.count("bad"), cv_f1_good=fit.f1_good,
        cv_precision_good=fit.precision_good, cv_recall_good=fit.recall_good, embedding_tokens=embedded.tokens,
        training_ms=training_ms,
    )
    session.add(classifier)
    session.flush()
    logger.info("classifier judge trained", extra={
        "judge_id": judge.id, "embedding_model": embedding_model, "examples": classifier.examples,
        "embedding_calls": embedded.calls, "embedding_tokens": embedded.tokens, "training_ms": training_ms, "c": fit.c,
    })
    return judge, classifier_training_view(classifier)


def classifier_prices(prices: Prices | None) -> dict[str, float] | None:
    """A classifier is billed for its input (embedding) tokens alone."""
    if prices is None:
        return None
    return {"input": prices.input, "cached_input": prices.input, "output": 0.0}


def create_classifier_judge(
    session: Session, request: NewJudge, settings: Settings, *, client_for: ClientFor
) -> tuple[Judge, dict[str, Any]]:
    """``POST /judges`` with ``"style": "classifier"``: the judge, trained, and its training figures."""
    _check_free(session, request.name, request.endpoint, settings)
    if request.examples_file_ids is not None:
        files = resolve_files(session, request.examples_file_ids, "examples_file_ids")
    else:
        files = resolve_files(session, [request.examples_file_id], "examples_file_id")
    examples = gather_examples(session, files)
    return train_and_store(
        session, name=request.name, embedding_model=request.embedding_model, endpoint=request.endpoint,
        prices=classifier_prices(request.prices), files=files, examples=examples, client=_client(client_for, request.endpoint),
    )


def train_classifier_successor(
    session: Session,
    judge_id: int,
    embedding_model: str,
    settings: Settings,
    *,
    client_for: ClientFor,
    name: str | None = None,
    prices: Prices | None = None,
    endpoint: str | None = None,
) -> tuple[Judge, dict[str, Any], Evaluation]:
    """A classifier judge's successor: the same examples on ``embedding_model``, trained now, its
    evaluation on the current golden set started. Nothing is paid when a golden set or the evaluations
    queue is missing."""
    predecessor = get_judge(session, judge_id)
    stored = session.get(JudgeClassifier, predecessor.id) if predecessor.style == "classifier" else None
    if stored is None:
        raise NotAClassifier(f"Judge {judge_id} is a {predecessor.style} judge, not a classifier.")
    endpoint = endpoint or predecessor.endpoint
    name = name or f"{predecessor.name} on {embedding_model}"[:200]
    _check_free(session, name, endpoint, settings)
    golden = current_golden_set(session)
    if golden is None:
        raise GoldenSetRequired("There is no golden set to evaluate the successor on: POST /golden-sets first.")
    evaluation_queue.require_queue(settings)
    files = [session.get(TrainingFile, file_id) for file_id in stored.training_file_ids]
    if any(file is None for file in files):
        raise InvalidInput(f"A training file judge {judge_id} learnt from is gone: create the successor with POST /judges.")
    examples = gather_examples(session, files)
    judge, training = train_and_store(
        session, name=name, embedding_model=embedding_model, endpoint=endpoint,
        prices=classifier_prices(prices) if prices is not None else None, files=files, examples=examples,
        client=_client(client_for, endpoint),
    )
    evaluation, _ = start_evaluation(session, judge.id, golden.id, settings)
    logger.info("classifier successor trained", extra={"predecessor": predecessor.id, "judge_id": judge.id, "evaluation_id": evaluation.id})
    return judge, training, evaluation
