"""The HTTP edge shared by every function: one resolver factory, one translation of errors to HTTP.

Every error body is ``{"error": {"code", "message", "details"?}}``. Validation problems (bad JSON,
wrong types, bodies that are not base64 though they say so) are 422; unknown routes 404; a known path
with another method 405. Domain errors carry their own status.
"""

from __future__ import annotations

import binascii
import json
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Path

from .errors import DomainError
from .models.base import MAX_ID
from .observability import logger

FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})

# A path id that can name a row: anything else is answered 422 before reaching the database.
Id = Annotated[int, Path(ge=1, le=MAX_ID)]


def media_type(event) -> str:
    """The request's media type, lower-case, without parameters (``charset``, ``boundary``)."""
    return (event.headers.get("content-type") or "").split(";")[0].strip().lower()


def json_response(status: int, payload: Any = None, headers: dict[str, str] | None = None) -> Response:
    body = None if payload is None else json.dumps(payload, ensure_ascii=False, default=str)
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON if body is not None else None,
        body=body,
        headers=headers,
    )


def error_response(status: int, code: str, message: str, details: list[dict[str, Any]] | None = None) -> Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return json_response(status, {"error": error})


def _validation_details(error: RequestValidationError) -> list[dict[str, Any]]:
    details = []
    for problem in error.errors():
        # Powertools locates a problem as ("body" | "path" | "query", field, ...).
        where, *field = [str(part) for part in problem.get("loc", ())] or ["request"]
        details.append(
            {
                "field": ".".join(field) or where,
                "in": where,
                "type": problem.get("type", "invalid"),
                "message": problem.get("msg", "invalid value"),
            }
        )
    return details


def create_http_app() -> APIGatewayHttpResolver:
    """A resolver with request validation and the product's error translation registered."""
    app = APIGatewayHttpResolver(enable_validation=True)

    @app.exception_handler(DomainError)
    def _domain_error(error: DomainError) -> Response:
        return json_response(error.status, error.body(), headers=error.headers())

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported_type(_: Exception) -> Response:
        return error_response(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "Send the body as application/json."
        )

    @app.exception_handler(RequestValidationError)
    def _invalid_request(error: RequestValidationError) -> Response:
        # Powertools parses form bodies for any route; this API takes none, so say what it wants
        # (a bare `curl -d` sends a form) instead of listing the form's missing fields.
        if media_type(app.current_event) in FORM_TYPES:
            return _unsupported_type(error)
        details = _validation_details(error)
        if any(detail["type"] == "json_invalid" for detail in details):
            return error_response(422, "invalid_json", "The request body is not valid JSON.", details)
        return error_response(422, "validation_error", "The request is not valid.", details)

    @app.exception_handler([binascii.Error, UnicodeDecodeError])
    def _undecodable_body(_: Exception) -> Response:
        return error_response(422, "invalid_body", "The request body could not be decoded (base64 / UTF-8).")

    @app.not_found
    def _not_found(_: NotFoundError) -> Response:
        event = app.current_event
        path, method = event.path, event.http_method.upper()
        routes = app._static_routes + app._dynamic_routes  # noqa: SLF001 - the resolver's own route table
        allowed = sorted({route.method for route in routes if route.rule.match(path) and route.method != method})
        if allowed:
            response = error_response(405, "method_not_allowed", f"{method} is not allowed on {path}.")
            response.headers["Allow"] = ", ".join(allowed)
            return response
        logger.info("no route", extra={"method": method, "path": path})
        return error_response(404, "not_found", f"No route for {method} {path}.")

    return app
