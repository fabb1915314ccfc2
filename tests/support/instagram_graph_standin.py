"""A stand-in for the Instagram Graph API's ``GET /{media-id}/comments``: a real HTTP server on loopback.

Built from Meta's documented shapes, so the product's adapter is exercised over real HTTP:

- the access token comes in the ``Authorization: Bearer`` (or ``OAuth``) header or the ``access_token``
  query parameter, as Graph accepts both;
- a page is ``{"data": [...], "paging": {"cursors": {"before", "after"}, "next"?}}``; ``next`` is a
  full URL carrying the access token (as Meta writes it) and the ``after`` cursor, and is absent on the
  last page; ``next_base_url`` makes it name another host (what a tampered reply would do);
- ``fields`` selects what each comment carries (``id``, ``text``, ``username``, ``timestamp``,
  ``like_count``, ``from`` = ``{"id", "username"}``); ``limit`` sets the page size (Meta's default 25);
- errors are ``{"error": {"message", "type", "code", "error_subcode"?, "fbtrace_id"}}``: an unknown
  or expired token → 400 ``OAuthException`` code 190; an unknown media id → 400 code 100 subcode 33;
  once ``rate_limit_after`` requests were answered → 403 code 32 (page-level) or 4 (application-level)
  with the ``X-Business-Use-Case-Usage`` / ``X-App-Usage`` headers Meta sends.

Every request is recorded (path and query) for assertions.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

VERSION = "v23.0"
DEFAULT_LIMIT = 25


@dataclass
class StandInComment:
    id: str
    text: str
    username: str
    user_id: str
    timestamp: str = "2026-11-20T09:30:00+0000"
    like_count: int = 0

    def fields(self, wanted: list[str]) -> dict[str, Any]:
        values = {
            "id": self.id,
            "text": self.text,
            "username": self.username,
            "timestamp": self.timestamp,
            "like_count": self.like_count,
            "from": {"id": self.user_id, "username": self.username},
        }
        # Meta always returns the id.
        return {name: values[name] for name in ["id", *wanted] if name in values}


@dataclass
class GraphRequest:
    path: str
    query: dict[str, str]
    target: str = ""  # the request line's URL as sent
    authorization: str | None = None


@dataclass
class InstagramGraphStandIn:
    access_token: str = "IGAAT-test-token"
    media: dict[str, list[StandInComment]] = field(default_factory=dict)
    requests: list[GraphRequest] = field(default_factory=list)
    rate_limit_after: int | None = None
    rate_limit_code: int = 32
    regain_access_minutes: int = 7
    next_base_url: str | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                status, body, headers = standin._answer(self.path, self.headers.get("Authorization"))
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/{VERSION}"

    def start(self) -> InstagramGraphStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add_comments(self, media_id: str, comments: list[StandInComment]) -> None:
        with self._lock:
            self.media.setdefault(media_id, []).extend(comments)

    def comment_requests(self) -> list[GraphRequest]:
        return [request for request in self.requests if request.path.endswith("/comments")]

    # --- Meta's behaviour ------------------------------------------------------------------------

    @staticmethod
    def _error(status: int, message: str, type_: str, code: int, subcode: int | None = None, headers=None):
        error: dict[str, Any] = {"message": message, "type": type_, "code": code, "fbtrace_id": "AbCdEfGhIjK"}
        if subcode is not None:
            error["error_subcode"] = subcode
        return status, {"error": error}, headers or {}

    def _answer(self, target: str, authorization: str | None = None) -> tuple[int, dict[str, Any], dict[str, str]]:
        parts = urlsplit(target)
        query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
        scheme, _, header_token = (authorization or "").partition(" ")
        token = header_token.strip() if scheme.lower() in ("bearer", "oauth") else query.get("access_token")
        with self._lock:
            self.requests.append(GraphRequest(parts.path, query, target, authorization))
            answered = len(self.requests) - 1
            if self.rate_limit_after is not None and answered >= self.rate_limit_after:
                usage = {
                    "17841400000000000": [
                        {
                            "type": "instagram",
                            "call_count": 100,
                            "total_cputime": 12,
                            "total_time": 15,
                            "estimated_time_to_regain_access": self.regain_access_minutes,
                        }
                    ]
                }
                if self.rate_limit_code == 4:
                    return self._error(
                        403,
                        "(#4) Application request limit reached",
                        "OAuthException",
                        4,
                        headers={"X-App-Usage": json.dumps({"call_count": 100, "total_cputime": 20, "total_time": 30})},
                    )
                return self._error(
                    403,
                    "(#32) Page request limit reached",
                    "OAuthException",
                    self.rate_limit_code,
                    headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
                )
            media = dict(self.media)
        if token != self.access_token:
            return self._error(
                400,
                "Error validating access token: Session has expired on Friday, 20-Nov-26 10:00:00 PST.",
                "OAuthException",
                190,
                463,
            )
        segments = [segment for segment in parts.path.split("/") if segment]
        if len(segments) != 3 or segments[0] != VERSION or segments[2] != "comments":
            return self._error(400, "Unknown path components", "OAuthException", 2500)
        media_id = segments[1]
        if media_id not in media:
            return self._error(
                400,
                f"Unsupported get request. Object with ID '{media_id}' does not exist, cannot be loaded due to "
                "missing permissions, or does not support this operation.",
                "GraphMethodException",
                100,
                33,
            )
        comments = media[media_id]
        limit = max(1, min(int(query.get("limit") or DEFAULT_LIMIT), 100))
        start = int(base64.b64decode(query["after"]).decode()) if query.get("after") else 0
        page = comments[start : start + limit]
        wanted = [name for name in (query.get("fields") or "id,text,timestamp").split(",") if name]
        body: dict[str, Any] = {"data": [comment.fields(wanted) for comment in page]}
        if page:
            cursors = {
                "before": base64.b64encode(str(start).encode()).decode(),
                "after": base64.b64encode(str(start + len(page)).encode()).decode(),
            }
            body["paging"] = {"cursors": cursors}
            if start + len(page) < len(comments):
                following = {k: v for k, v in query.items() if k != "before"} | {
                    "after": cursors["after"],
                    "access_token": token,
                }
                body["paging"]["next"] = (
                    f"{self.next_base_url or self.base_url}/{media_id}/comments?{urlencode(following)}"
                )
        return 200, body, {}
