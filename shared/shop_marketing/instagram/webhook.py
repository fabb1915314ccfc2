"""Meta's Webhooks for Instagram: the subscription handshake and signed ``comments`` deliveries.

- Handshake: ``GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`` is answered with the
  challenge only when the token equals the configured verify token (compared in constant time).
- Delivery: ``X-Hub-Signature-256: sha256=<hex>`` is the HMAC-SHA256 of the raw body with the app
  secret. It is checked before the body is parsed at all; a missing or wrong signature is refused.
  Meta signs no timestamp, so a replayed delivery cannot be told from a retry: replays are harmless
  instead, because a comment is stored and queued once by its id.
- Each comment is held to Instagram's limits (:mod:`.limits`); one that breaks them is reported back,
  not stored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from .. import safe_json
from ..errors import DomainError, InvalidInput, Unauthorized
from ..safe_json import UNSTORABLE
from .comments import IncomingComment
from .limits import Refused, is_meta_id, shown_id, text_refusal

SIGNATURE_HEADER = "x-hub-signature-256"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


def answer_handshake(query: Mapping[str, str], verify_token: str | None) -> str:
    """The challenge to echo, or :class:`Forbidden` when the mode or the token is wrong."""
    given = query.get("hub.verify_token") or ""
    if (
        verify_token is None
        or query.get("hub.mode") != "subscribe"
        or not hmac.compare_digest(given.encode("utf-8"), verify_token.encode("utf-8"))
    ):
        raise Forbidden("The verify token does not match this subscription.")
    return query.get("hub.challenge") or ""


def verify_signature(raw: bytes, headers: Mapping[str, str], app_secret: str | None) -> None:
    """Accept only a body signed with the app secret; anything else is :class:`Unauthorized`."""
    if not app_secret:
        raise Unauthorized("Instagram deliveries are refused: INSTAGRAM_APP_SECRET is not configured.")
    header = next((value for name, value in headers.items() if name.lower() == SIGNATURE_HEADER), None)
    if not header or not header.startswith("sha256="):
        raise Unauthorized("The delivery is not signed (X-Hub-Signature-256).")
    expected = hmac.new(app_secret.encode("utf-8"), raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(
        header.removeprefix("sha256=").strip().lower().encode("ascii", "replace"), expected.encode()
    ):
        raise Unauthorized("The delivery's signature does not match its body.")


def sign(raw: bytes, app_secret: str) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends for ``raw`` (used by tests, samples and demos)."""
    return "sha256=" + hmac.new(app_secret.encode("utf-8"), raw, hashlib.sha256).hexdigest()


def delivered_comments(raw: bytes) -> tuple[list[tuple[IncomingComment, str | None]], list[Refused]]:
    """Each ``comments`` change of a (verified) delivery, with the id of the account it was sent for,
    and the comments refused by Instagram's limits (:mod:`.limits`), each with its reason.

    Changes of other fields are ignored. A body that is not a delivery at all is 422.
    """
    try:
        delivery = safe_json.loads(raw)
    except safe_json.UnstorableJSON:
        # Well-formed, with a string the database cannot hold (its depth and integers already checked):
        # the comments holding one are refused one by one, not the whole delivery.
        delivery = json.loads(raw)
    except ValueError:
        raise InvalidInput("The delivery is not valid JSON.") from None
    entries = delivery.get("entry") if isinstance(delivery, dict) else None
    if not isinstance(entries, list):
        raise InvalidInput("The delivery has no 'entry' list.")
    comments: list[tuple[IncomingComment, str | None]] = []
    refused: list[Refused] = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        account = entry.get("id") if isinstance(entry.get("id"), str) else None
        changes = entry.get("changes")
        for change in changes if isinstance(changes, list) else ():
            if (
                not isinstance(change, dict)
                or change.get("field") != "comments"
                or not isinstance(change.get("value"), dict)
            ):
                continue
            comment = _comment(change["value"])
            if isinstance(comment, Refused):
                refused.append(comment)
            else:
                comments.append((comment, account))
    return comments, refused


def _string(value: object) -> str | None:
    """A non-empty string the database can hold, else None."""
    return value if isinstance(value, str) and value and not UNSTORABLE.search(value) else None


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _comment(value: dict[str, Any]) -> IncomingComment | Refused:
    """One ``comments`` change's value (``id``, ``text``, ``from {id, username}``, ``media {id}``,
    ``parent_id``?), or why it is refused."""
    comment_id = value.get("id")
    if not is_meta_id(comment_id):
        return Refused(shown_id(comment_id), "malformed_id")
    media = _object(value.get("media"))
    if media.get("id") is None:
        return Refused(comment_id, "no_media")
    if not is_meta_id(media["id"]):
        return Refused(comment_id, "malformed_media_id")
    reason = text_refusal(value.get("text"))
    if reason is not None:
        return Refused(comment_id, reason)
    # "from" is who wrote it; Meta leaves it out for some accounts.
    author = _object(value.get("from"))
    parent_id = value.get("parent_id")
    return IncomingComment(
        instagram_comment_id=comment_id,
        text=value["text"],
        media_id=media["id"],
        author_id=_string(author.get("id")),
        author_username=_string(author.get("username")),
        parent_id=parent_id if is_meta_id(parent_id) else None,
        source="webhook",
    )
