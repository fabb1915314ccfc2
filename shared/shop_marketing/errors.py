"""Domain errors. Raised deep in the services; translated to HTTP in one place (:mod:`.http`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# docs/walkthrough.md "Errors": an error lists at most this many details, and says how many more there were.
MAX_DETAILS = 100


def validation_details(problems: Iterable[Mapping[str, Any]], *, where: str | None = None) -> list[dict[str, Any]]:
    """pydantic's problems (``ValidationError.errors()``) as the product's details: one
    ``{"field", "in", "type", "message"}`` each, never the value that was refused.

    ``where`` names the part of the request the model read (``"body"``); without it the first part of
    each problem's location does, as Powertools' request validation locates a problem
    (``("body" | "path" | "query", field, ...)``)."""
    details = []
    for problem in problems:
        location = [str(part) for part in problem.get("loc", ())]
        if where is None:
            part, *field = location or ["request"]
        else:
            part, field = where, location
        details.append(
            {
                "field": ".".join(field) or part,
                "in": part,
                "type": problem.get("type", "invalid"),
                "message": problem.get("msg", "invalid value"),
            }
        )
    return details


def error_object(code: str, message: str, details: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    """The ``error`` member of every error body, with ``details`` capped at :data:`MAX_DETAILS`."""
    error: dict[str, Any] = {"code": code, "message": message, **extra}
    if details is not None:
        error["details"] = details[:MAX_DETAILS]
        if len(details) > MAX_DETAILS:
            error["details_truncated"] = len(details) - MAX_DETAILS
    return error


class DomainError(Exception):
    """An expected failure the caller can act on. ``status`` is the HTTP status it maps to."""

    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        retry_after: int | None = None,
        **extra: Any,
    ):
        super().__init__(message)
        self.message = message
        self.details = details
        # Seconds after which trying again may succeed; sent as the Retry-After header.
        self.retry_after = retry_after
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": error_object(self.code, self.message, self.details, **self.extra)}

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Duplicate(DomainError):
    """A unique thing already exists; ``existing_id`` names it."""

    status = 409
    code = "duplicate"

    def __init__(self, message: str, *, existing_id: int | str):
        super().__init__(message, existing_id=existing_id)


class StoreMismatch(DomainError):
    status = 409
    code = "store_mismatch"


class InvalidInput(DomainError):
    status = 422
    code = "validation_error"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class UpstreamError(DomainError):
    """OpenAI failed in a way the caller may retry later."""

    status = 503
    code = "upstream_unavailable"


class UpstreamTimeout(DomainError):
    status = 504
    code = "upstream_timeout"


class UpstreamBadReply(DomainError):
    status = 502
    code = "bad_upstream_reply"


class ServiceUnavailable(DomainError):
    status = 503
    code = "unavailable"


class DatabaseUnavailable(ServiceUnavailable):
    """The database could not be reached or dropped the connection; nothing was committed."""

    code = "database_unavailable"


class InvalidMessage(InvalidInput):
    """A queue message or event that fails validation. Its text names only where and what kind of
    problem each is (``comment: string_too_long``), never the values: they are customers' comments
    and training data, and this text is logged."""

    code = "invalid_message"

    @classmethod
    def from_validation_error(cls, error: Any, what: str = "message") -> InvalidMessage:
        problems = [
            f"{'.'.join(str(part) for part in problem.get('loc', ())) or what}: {problem.get('type', 'invalid')}"
            for problem in error.errors(include_url=False, include_input=False, include_context=False)
        ]
        return cls(f"Invalid {what}: " + "; ".join(problems[:20]), details=[{"problem": p} for p in problems])
