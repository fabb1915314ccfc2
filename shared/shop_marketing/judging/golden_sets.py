"""Golden sets: labelled comments a judge is measured on, kept here and never sent for training.

A golden set is a JSONL in the training format, validated like a training file (the same problems,
the same 422), with at least 20 examples and both labels. An example whose comment is also in a
training file would flatter a judge that learnt it (or was shown it): it is reported with its line
and left out of scoring. The newest golden set is the current one. The same content posted again is
the same golden set (also when two requests post it at the same moment).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from ..config import Settings
from ..hashing import text_sha256
from ..models import GoldenExample, GoldenSet, TrainingExample, TrainingFile
from ..training.files import InvalidTrainingFile, validated

MIN_GOLDEN_EXAMPLES = 20


def create_golden_set(
    session: Session, data: bytes, *, filename: str | None, settings: Settings
) -> tuple[GoldenSet, bool]:
    """The golden set of this content (``True``: made now)."""
    try:
        report = validated(data, settings)
    except InvalidTrainingFile as error:
        raise _as_golden_set_problems(error) from None
    if report.examples < MIN_GOLDEN_EXAMPLES:
        raise InvalidTrainingFile(
            f"A golden set needs at least {MIN_GOLDEN_EXAMPLES} examples; this one has {report.examples}.",
            details=[_too_few(report.examples)],
        )
    sha256 = hashlib.sha256(report.normalized).hexdigest()
    existing = session.scalar(select(GoldenSet).where(GoldenSet.sha256 == sha256))
    if existing is not None:
        return existing, False
    examples = [(line, text, label, text_sha256(text)) for line, text, label in report.labelled]
    in_training: dict[str, str] = dict(
        session.execute(
            select(TrainingExample.text_sha256, func.min(TrainingFile.openai_file_id))
            .join(TrainingFile, TrainingFile.id == TrainingExample.training_file_id)
            .where(TrainingExample.text_sha256.in_({sha for *_, sha in examples}))
            .group_by(TrainingExample.text_sha256)
        ).all()
    )
    warnings = [warning.as_dict() for warning in report.warnings]
    for line, _, _, sha in examples:
        if sha in in_training:
            warnings.append(
                {
                    "line": line,
                    "code": "overlap",
                    "message": f"The same comment is in training file {in_training[sha]}; it is left out of scoring.",
                }
            )
    # A twin request storing the same content at this moment: this insert waits for it and then
    # yields, and the twin's golden set is the answer.
    golden_id = session.scalar(
        insert(GoldenSet)
        .values(
            sha256=sha256,
            filename=filename,
            examples=report.examples,
            good_examples=report.labels["good"],
            bad_examples=report.labels["bad"],
            overlap_with_training=sum(1 for *_, sha in examples if sha in in_training),
            warnings=warnings,
        )
        .on_conflict_do_nothing(index_elements=[GoldenSet.sha256])
        .returning(GoldenSet.id)
    )
    if golden_id is None:
        return session.scalars(select(GoldenSet).where(GoldenSet.sha256 == sha256)).one(), False
    golden = session.get_one(GoldenSet, golden_id)
    session.execute(
        insert(GoldenExample),
        [
            {
                "golden_set_id": golden.id,
                "line": line,
                "text": text,
                "text_sha256": sha,
                "label": label,
                "overlaps_training": sha in in_training,
            }
            for line, text, label, sha in examples
        ],
    )
    return golden, True


def _too_few(examples: int | None) -> dict[str, Any]:
    counted = f"{examples} examples" if examples is not None else "Too few examples"
    return {
        "line": None,
        "code": "too_few_examples",
        "message": f"{counted}; a golden set needs at least {MIN_GOLDEN_EXAMPLES}.",
    }


def _as_golden_set_problems(error: InvalidTrainingFile) -> InvalidTrainingFile:
    """Training data's problems, said of a golden set: its own minimum, not training data's."""
    details = []
    for detail in error.details or []:
        if detail.get("code") == "too_few_examples":
            counted = re.match(r"\d+", str(detail.get("message", "")))
            detail = _too_few(int(counted[0]) if counted else None)
        details.append(detail)
    return InvalidTrainingFile(f"The golden set has {len(details)} problem(s); nothing was stored.", details=details)


def golden_set_view(session: Session, golden: GoldenSet) -> dict[str, Any]:
    newest = session.scalar(select(func.max(GoldenSet.id)))
    return {
        "id": golden.id,
        "filename": golden.filename,
        "examples": golden.examples,
        "labels": {"good": golden.good_examples, "bad": golden.bad_examples},
        "overlap_with_training": golden.overlap_with_training,
        "scored_examples": golden.examples - golden.overlap_with_training,
        "current": golden.id == newest,
        "warnings": golden.warnings,
        "created_at": golden.created_at.isoformat() if golden.created_at else None,
    }
