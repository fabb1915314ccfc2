"""Training ``classifier`` judges (docs/judging.md "Classifier judges").

- The examples are the union of the kept training files named (each distinct text once, in the order
  the files are named, then by line). A text labelled both ways is refused: 422
  ``conflicting_labels``, one detail per conflicting line, naming where the other label is. Both labels
  are needed (at least :data:`MIN_PER_LABEL` of each, for the cross-validation), and at most
  :data:`MAX_EXAMPLES` examples.
- A classifier is made like every judge (:mod:`.creation`), as the style it registers there: ``build``
  checks what can be refused for free before the endpoint is paid (the files, the labels; creation
  checks the endpoint, the name and, for a successor, the golden set); ``settle`` — where a chat
  judge is probed — embeds the examples (:mod:`.embeddings`: batches of at most 2,048 texts and
  within OpenAI's tokens per request, no chat call), fits the logistic regression with its
  regularisation chosen by cross-validation (:mod:`.logistic`) and stores the weights with the
  judge, in the request's transaction: a refusal or failure anywhere leaves no judge behind.
- No example is paid for twice (:mod:`.embedding_store`): the vectors stored for the endpoint and
  embedding model are reused, only the other texts are sent, and each paid call's vectors are stored
  at once in a transaction of their own, so a request that fails afterwards loses no paid work and
  its retry sends nothing again. ``embedding_tokens`` is what this training paid;
  ``reused_embeddings`` how many examples it did not have to.
- ``successor``: the same examples on another embedding model (``POST /judges/{id}/successor``
  ``{"model": <embedding model>}``), its evaluation on the current golden set started by creation:
  embedding models retire too, and a classifier outlives them.

Loads numpy (through :mod:`.logistic`): imported by the judges function's HTTP routes only, which is
where the style is registered.
"""

from __future__ import annotations

import array
import time
from dataclasses import dataclass
from typing import Any

from openai import OpenAI
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import InvalidInput, UpstreamBadReply
from ..models import Judge, JudgeClassifier, TrainingExample, TrainingFile
from ..observability import logger
from . import creation, embedding_store, logistic
from .embeddings import embed_texts
from .judges import NewJudge, training_file_by_public_id

MAX_EXAMPLES = 5_000
MIN_PER_LABEL = 2


class ConflictingLabels(InvalidInput):
    code = "conflicting_labels"


class NotEnoughExamples(InvalidInput):
    code = "not_enough_examples"


class TooManyExamples(InvalidInput):
    code = "too_many_examples"


@dataclass(frozen=True)
class Examples:
    texts: list[str]
    labels: list[str]

    def count(self, label: str) -> int:
        return self.labels.count(label)


def _detail(field: str, message: str, code: str = "invalid") -> dict[str, Any]:
    return {"field": field, "in": "body", "type": code, "message": message}


def resolve_files(session: Session, public_ids: list[str], field: str) -> list[TrainingFile]:
    files: list[TrainingFile] = []
    missing: list[dict[str, Any]] = []
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
    rows = sorted(
        session.execute(
            select(
                TrainingExample.training_file_id, TrainingExample.line, TrainingExample.text, TrainingExample.label
            ).where(TrainingExample.training_file_id.in_(list(position)))
        ).all(),
        key=lambda row: (position[row.training_file_id], row.line),
    )
    first: dict[str, tuple[str, int, int]] = {}  # text -> label, file, line
    conflicts = []
    for row in rows:
        seen = first.get(row.text)
        if seen is None:
            first[row.text] = (row.label, row.training_file_id, row.line)
        elif seen[0] != row.label:
            conflicts.append(
                {
                    "file_id": public[row.training_file_id],
                    "line": row.line,
                    "code": "conflicting_label",
                    "message": f"Labelled {row.label!r} here and {seen[0]!r} in {public[seen[1]]} line {seen[2]}.",
                }
            )
    if conflicts:
        raise ConflictingLabels(
            f"{len(conflicts)} example(s) carry a label that another example of the same text contradicts; "
            "fix or drop them.",
            details=conflicts,
        )
    examples = Examples(texts=list(first), labels=[label for label, _, _ in first.values()])
    good, bad = examples.count("good"), examples.count("bad")
    if min(good, bad) < MIN_PER_LABEL:
        raise NotEnoughExamples(
            f"The examples hold {good} good and {bad} bad distinct texts; a classifier needs both labels, "
            f"at least {MIN_PER_LABEL} of each.",
            details=[
                _detail(
                    "examples_file_ids", f"{good} good, {bad} bad", "single_label" if min(good, bad) == 0 else "too_few"
                )
            ],
        )
    if len(examples.texts) > MAX_EXAMPLES:
        raise TooManyExamples(
            f"{len(examples.texts)} distinct examples; "
            f"a classifier is trained on at most {MAX_EXAMPLES} in one request.",
            details=[_detail("examples_file_ids", f"{len(examples.texts)} examples", "too_many")],
        )
    return examples


def request_files(session: Session, request: NewJudge) -> list[TrainingFile]:
    if request.examples_file_ids is not None:
        return resolve_files(session, request.examples_file_ids, "examples_file_ids")
    if request.examples_file_id is None:  # NewJudge refuses a classifier without either; said again here
        raise InvalidInput(
            "A classifier judge needs examples_file_id or examples_file_ids.",
            details=[_detail("examples_file_ids", "name the training files of the examples", "missing")],
        )
    return resolve_files(session, [request.examples_file_id], "examples_file_id")


def build(session: Session, request: NewJudge) -> Judge:
    """The classifier judge the request describes, once its examples are known to be usable."""
    files = request_files(session, request)
    gather_examples(session, files)
    return Judge(
        name=request.name,
        style="classifier",
        model=request.embedding_model,
        endpoint=request.endpoint,
        output="probability",
        examples_file_id=files[0].id,
    )


def train(session: Session, judge: Judge, request: NewJudge, client: OpenAI) -> None:
    """Embed the examples, fit, and add the judge with its weights to the session (flushed)."""
    files = request_files(session, request)
    examples = gather_examples(session, files)
    stored = embedding_store.stored_vectors(session, judge.endpoint, judge.model, examples.texts)
    missing = [text for text in examples.texts if text not in stored]
    embedded = embed_texts(
        client,
        judge.model,
        missing,
        action="embedding the training examples",
        keep=embedding_store.keeper(session, judge.endpoint, judge.model),
    )
    vectors = _all_vectors(judge, examples, stored, dict(zip(missing, embedded.vectors, strict=True)))
    started = time.perf_counter()
    fit = logistic.train(vectors, examples.labels, examples.texts)
    training_ms = round((time.perf_counter() - started) * 1000)
    session.add(judge)
    session.flush()
    classifier = JudgeClassifier(
        judge_id=judge.id,
        dimensions=len(fit.weights),
        weights=fit.weights,
        bias=fit.bias,
        regularisation_c=fit.c,
        folds=fit.folds,
        training_file_ids=[file.id for file in files],
        examples=len(examples.texts),
        good_examples=examples.count("good"),
        bad_examples=examples.count("bad"),
        cv_f1_good=fit.f1_good,
        cv_precision_good=fit.precision_good,
        cv_recall_good=fit.recall_good,
        embedding_tokens=embedded.tokens,
        reused_embeddings=len(stored),
        training_ms=training_ms,
    )
    session.add(classifier)
    logger.info(
        "classifier judge trained",
        extra={
            "judge_id": judge.id,
            "embedding_model": judge.model,
            "examples": classifier.examples,
            "embedding_calls": embedded.calls,
            "embedding_tokens": embedded.tokens,
            "embeddings_reused": len(stored),
            "embeddings_embedded": len(missing),
            "training_ms": training_ms,
            "c": fit.c,
        },
    )


def _all_vectors(
    judge: Judge, examples: Examples, stored: dict[str, array.array[float]], fresh: dict[str, array.array[float]]
) -> list[array.array[float]]:
    """Every example's vector, stored or just paid for, in the examples' order (all of one size)."""
    vectors = [stored[text] if text in stored else fresh[text] for text in examples.texts]
    sizes = sorted({len(vector) for vector in vectors})
    if len(sizes) > 1:
        raise UpstreamBadReply(
            f"The embedding model {judge.model!r} of endpoint {judge.endpoint!r} answers vectors of "
            f"{' and '.join(map(str, sizes))} dimensions (some were stored before): the examples cannot be learnt "
            "together."
        )
    return vectors


def successor(session: Session, source: Judge, request: creation.SuccessorRequest) -> NewJudge:
    """A classifier's successor: the same examples (or ``examples_file_id``) on the embedding model asked for."""
    stored = session.get(JudgeClassifier, source.id)
    if request.examples_file_id is not None:
        file_ids = [request.examples_file_id]
    else:
        learnt_from = stored.training_file_ids if stored is not None else []
        files = [file for file_id in learnt_from if (file := session.get(TrainingFile, file_id)) is not None]
        if not files or len(files) != len(learnt_from):
            raise InvalidInput(
                f"The training files judge {source.id} learnt from are gone: name the examples with examples_file_id.",
                details=[_detail("examples_file_id", "the predecessor's training files are gone")],
            )
        file_ids = [file.openai_file_id for file in files]
    return NewJudge(
        name=request.name or f"{source.name} → {request.model}"[:200],
        style="classifier",
        embedding_model=request.model,
        endpoint=request.endpoint or source.endpoint,
        examples_file_ids=file_ids,
        prices=request.prices,
    )


creation.STYLES["classifier"] = creation.Style(build=build, settle=train, successor=successor)
