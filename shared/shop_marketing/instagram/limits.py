"""Instagram's own limits, applied to every comment that comes in (webhook or fetch).

- A comment is at most 2,200 characters (Instagram refuses longer ones; so does the judge).
- Ids are kept exactly as Meta sends them: JSON strings of Graph id characters (digits, and letters or
  underscores in some ids), at most 64 of them. A number, an empty string, or anything else names no
  Instagram object.

A comment that breaks a limit is refused — not stored, not judged — and reported back by the delivery
or fetch that brought it (:class:`Refused`), never dropped without a word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TypeGuard

from ..safe_json import UNSTORABLE

MAX_COMMENT_CHARACTERS = 2_200
META_ID = re.compile(r"[0-9A-Za-z_]{1,64}")
# A delivery or fetch reports at most this many refusals by id (every one is counted and logged).
MAX_REPORTED = 100

REASONS = {
    "malformed_id": "the comment's id is not an Instagram id as Meta sends it (a string of digits)",
    "malformed_media_id": "the media id is not an Instagram id as Meta sends it (a string of digits)",
    "no_media": "the comment names no media",
    "no_text": "the comment has no text",
    "too_long": f"the comment is longer than Instagram's {MAX_COMMENT_CHARACTERS:,} characters",
    "unstorable_text": "the comment's text holds a NUL character or a lone surrogate",
}


@dataclass(frozen=True)
class Refused:
    """A comment refused, and why (one of :data:`REASONS`)."""

    instagram_comment_id: str | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "instagram_comment_id": self.instagram_comment_id,
            "reason": self.reason,
            "message": REASONS[self.reason],
        }


def shown_id(value: Any) -> str | None:
    """How a refused comment's id is reported: as sent when it is a string or a number, cut short."""
    if isinstance(value, str):
        return value[:100]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)[:100]
    return None


def is_meta_id(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and META_ID.fullmatch(value) is not None


def text_refusal(text: Any) -> str | None:
    """Why a comment's text is refused, or None."""
    if not isinstance(text, str):
        return "no_text"
    if len(text) > MAX_COMMENT_CHARACTERS:
        return "too_long"
    if UNSTORABLE.search(text):
        return "unstorable_text"
    return None


def report(refused: list[Refused]) -> list[dict[str, Any]]:
    return [item.as_dict() for item in refused[:MAX_REPORTED]]
