"""The Instagram Graph API adapter: a post's comments, every page, with Meta's errors as domain errors.

``GET /{media-id}/comments?fields=id,text,username,timestamp,like_count,from`` answers a page
``{"data": [...], "paging": {"cursors": {"before", "after"}, "next"?}}``; ``paging.next`` (a full URL)
is followed until it is absent, but only to the configured Graph host and scheme (a ``next`` naming
another host ends the fetch there, logged). The access token travels in the ``Authorization`` header,
never in a URL: a ``next`` that carries one has it removed before it is followed. Failures come as
``{"error": {"message", "type", "code", "error_subcode"?, "fbtrace_id"}}`` and are mapped here, in one place:

- rate limits (codes 4, 17, 32, 613, and Instagram's business-use-case limit 80002) → 503 with
  ``Retry-After`` (from ``X-Business-Use-Case-Usage``'s ``estimated_time_to_regain_access`` when Meta
  sends it, else a minute);
- an expired or revoked access token (code 190) → 503 ``instagram_token_expired`` naming the setting;
- a media Instagram does not know (code 100: deleted, or not the shop's) → 404 ``instagram_media_not_found``;
- anything else Meta refuses, or a reply that is not JSON or not a page → 502 ``instagram_graph_error``;
- no answer in time → 504; no connection → 503.

The access token never appears in a log line or an error message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import urllib3

from ..errors import DomainError, NotFound, ServiceUnavailable, UpstreamBadReply, UpstreamTimeout
from ..observability import logger
from ..safe_json import UNSTORABLE
from .limits import Refused, is_meta_id, shown_id, text_refusal

COMMENT_FIELDS = "id,text,username,timestamp,like_count,from"
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80002})
TOKEN_EXPIRED_CODE = 190
# "Unsupported get request. Object with ID … does not exist": the media was deleted, or is not the shop's.
UNKNOWN_OBJECT_CODE = 100
GRAPH_ID = re.compile(r"[0-9A-Za-z_]{1,64}")
DEFAULT_RETRY_AFTER_SECONDS = 60
# A post with more comments than this many pages is cut short (and logged) rather than looping forever.
MAX_PAGES = 1_000
PAGE_SIZE = 50
# The like_count column's largest value (a PostgreSQL integer).
MAX_LIKE_COUNT = 2**31 - 1


class InstagramNotConfigured(ServiceUnavailable):
    code = "instagram_not_configured"


class InstagramRateLimited(ServiceUnavailable):
    code = "instagram_rate_limited"


class InstagramTokenExpired(ServiceUnavailable):
    code = "instagram_token_expired"


class InstagramMediaNotFound(NotFound):
    code = "instagram_media_not_found"


class InstagramGraphError(UpstreamBadReply):
    code = "instagram_graph_error"


class InstagramUnavailable(ServiceUnavailable):
    code = "instagram_unavailable"


class InstagramTimeout(UpstreamTimeout):
    code = "instagram_timeout"


@dataclass(frozen=True)
class GraphComment:
    """One comment as the Graph API describes it."""

    id: str
    text: str
    username: str | None
    author_id: str | None
    timestamp: str | None
    like_count: int | None


def _retry_after(headers: Any) -> int:
    """Seconds until Meta lets the app call again, from its business-use-case usage header."""
    raw = headers.get("X-Business-Use-Case-Usage") if headers is not None else None
    minutes: float = 0
    if raw:
        try:
            usage = json.loads(raw)
            for entries in usage.values() if isinstance(usage, dict) else ():
                for entry in entries if isinstance(entries, list) else ():
                    value = entry.get("estimated_time_to_regain_access") if isinstance(entry, dict) else None
                    if isinstance(value, int | float) and value > minutes:
                        minutes = value
        except ValueError:
            pass
    return max(DEFAULT_RETRY_AFTER_SECONDS, int(minutes * 60))


def graph_failure(status: int, body: Any, headers: Any) -> DomainError:
    """The domain error for a Graph API reply that is not a success."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return InstagramGraphError(f"The Instagram Graph API answered HTTP {status} without an error object.")
    code = error.get("code")
    message = str(error.get("message") or "no message")[:300]
    trace = error.get("fbtrace_id")
    where = f" (code {code}{', fbtrace_id ' + str(trace) if trace else ''})"
    if code in RATE_LIMIT_CODES:
        return InstagramRateLimited(
            f"The Instagram Graph API is rate limiting this app{where}; try again later.",
            retry_after=_retry_after(headers),
        )
    if code == TOKEN_EXPIRED_CODE:
        return InstagramTokenExpired(
            f"The Instagram access token has expired or was revoked{where}: renew it in INSTAGRAM_ACCESS_TOKEN "
            "(INSTAGRAM_ACCESS_TOKEN_SECRET_ARN in AWS)."
        )
    if code == UNKNOWN_OBJECT_CODE:
        # Any client can register a post by any media id: Instagram not knowing it is the client's 404.
        return InstagramMediaNotFound(f"Instagram has no media of this post that the shop can read{where}.")
    return InstagramGraphError(f"The Instagram Graph API refused the request{where}: {message}")


def _as_comment(item: Any) -> GraphComment | Refused:
    """A comment of a page, or why it is refused (Instagram's limits, :mod:`.limits`)."""
    if not isinstance(item, dict) or not is_meta_id(item.get("id")):
        return Refused(shown_id(item.get("id")) if isinstance(item, dict) else None, "malformed_id")
    reason = text_refusal(item.get("text"))
    if reason is not None:
        return Refused(item["id"], reason)
    sender = item.get("from")
    author: dict[str, Any] = sender if isinstance(sender, dict) else {}
    username = author.get("username") or item.get("username")
    likes = item.get("like_count")
    # What the database cannot hold is left out; the comment itself is kept.
    return GraphComment(
        id=item["id"],
        text=item["text"],
        username=username if isinstance(username, str) and not UNSTORABLE.search(username) else None,
        author_id=author.get("id") if is_meta_id(author.get("id")) else None,
        timestamp=item.get("timestamp") if isinstance(item.get("timestamp"), str) else None,
        like_count=likes if type(likes) is int and 0 <= likes <= MAX_LIKE_COUNT else None,
    )


_TOKEN_IN_URL = re.compile(r"access_token=[^&]*")


def _redacted(url: str) -> str:
    return _TOKEN_IN_URL.sub("access_token=***", url)


def _without_token(url: str) -> str:
    """``url`` without an ``access_token`` query parameter (the token goes in the header)."""
    parts = urlsplit(url)
    query = [(name, value) for name, value in parse_qsl(parts.query, keep_blank_values=True) if name != "access_token"]
    return urlunsplit(parts._replace(query=urlencode(query)))


class GraphClient:
    """Reads from the Instagram Graph API (``INSTAGRAM_GRAPH_URL``, e.g. ``https://graph.facebook.com/v23.0``)."""

    def __init__(self, base_url: str, access_token: str, *, timeout: float, http: urllib3.PoolManager | None = None):
        self.base_url = base_url.rstrip("/")
        base = urlsplit(self.base_url)
        # Where paging.next may lead: the configured Graph host, over the configured scheme (https in AWS).
        self._origin = (base.scheme.lower(), base.netloc.lower())
        self.access_token = access_token
        self.timeout = urllib3.Timeout(connect=min(timeout, 5.0), read=timeout)
        self.http = http or urllib3.PoolManager(retries=False)

    def _get(self, url: str) -> dict[str, Any]:
        try:
            response = self.http.request(
                "GET",
                url,
                headers={"Authorization": f"Bearer {self.access_token}"},
                timeout=self.timeout,
                retries=False,
                redirect=False,
            )
        except urllib3.exceptions.TimeoutError:
            raise InstagramTimeout("The Instagram Graph API did not answer in time.") from None
        except urllib3.exceptions.HTTPError as error:
            logger.warning("instagram graph unreachable", extra={"url": _redacted(url), "error": type(error).__name__})
            raise InstagramUnavailable("The Instagram Graph API could not be reached.", retry_after=30) from None
        try:
            body = json.loads(response.data or b"null")
        except ValueError:
            body = None
        if response.status != 200 or not isinstance(body, dict) or "error" in body:
            failure = graph_failure(response.status, body, response.headers)
            logger.warning("instagram graph refused", extra={"status": response.status, "code": failure.code})
            raise failure
        return body

    def _next_page(self, following: str) -> str | None:
        """The page ``paging.next`` names, if it is on the configured Graph host (without a token in it)."""
        try:
            parts = urlsplit(following)
            origin = (parts.scheme.lower(), parts.netloc.lower())
        except ValueError:
            origin = None
        if origin != self._origin:
            logger.warning(
                "instagram paging.next leaves the graph host; not followed",
                extra={"next_origin": f"{origin[0]}://{parts.hostname}" if origin else "unparseable"},
            )
            return None
        return _without_token(following)

    def media_comments(self, media_id: str) -> Iterator[GraphComment | Refused]:
        """Every comment of the media, page after page, until ``paging.next`` is absent; a comment that
        breaks Instagram's limits comes as its refusal."""
        if not GRAPH_ID.fullmatch(media_id):
            # Graph ids are digits (and underscores): anything else names no media, and would only
            # make Meta parse another path (a '/' or '..' in it).
            raise InstagramMediaNotFound(f"Instagram has no media with the id of this post ({media_id[:40]!r}).")
        query = urlencode({"fields": COMMENT_FIELDS, "limit": PAGE_SIZE})
        url: str | None = f"{self.base_url}/{quote(media_id, safe='')}/comments?{query}"
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            if url is None:
                return
            seen.add(url)
            page = self._get(url)
            data = page.get("data") or []
            if not isinstance(data, list):
                raise InstagramGraphError("The Instagram Graph API answered a page whose 'data' is not a list.")
            for item in data:
                yield _as_comment(item)
            links = page.get("paging")
            paging: dict[str, Any] = links if isinstance(links, dict) else {}
            following = paging.get("next")
            url = self._next_page(following) if isinstance(following, str) else None
            if url in seen:
                url = None
        logger.warning("instagram comments cut short", extra={"media_id": media_id, "pages": MAX_PAGES})
