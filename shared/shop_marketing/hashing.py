"""The hash that keys a text: a comment's judgement, review and label are found by it.

``text_sha256`` is what ``judgements``, ``instagram_comments``, ``training_examples`` and
``golden_examples`` store as ``text_sha256`` (and what PostgreSQL computes as
``encode(sha256(convert_to(text, 'UTF8')), 'hex')``): one definition, so that a comment hashed where
it arrives (Instagram), where it is judged and where it is labelled is the same key everywhere.
"""

from __future__ import annotations

import hashlib


def text_sha256(text: str) -> str:
    """The lower-case hex SHA-256 of the text's UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
