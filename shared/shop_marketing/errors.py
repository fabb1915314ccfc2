"""Domain errors. Raised deep in the services; translated to HTTP in one place (:mod:`.http`)."""

from __future__ import annotations

from typing import Any


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
        error: dict[str, Any] = {"code": self.code, "message": self.message, **self.extra}
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}

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
