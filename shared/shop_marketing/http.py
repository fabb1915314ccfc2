"""The HTTP edge shared by every function: one resolver factory, one translation of errors to HTTP.

Every error body is ``{"error": {"code", "message", "details"?, "details_truncated"?}}``. Validation
problems (bad JSON, wrong types, bodies that are not base64 though they say so) are 422; unknown routes
404; a known path with another method 405. Domain errors carry their own status.

Every request passes :func:`refused_body` before any route sees it, so a route added later is covered
too: bodies past the size limit are 413; forms (the API takes none) 415; a JSON body that cannot be
decoded, is nested absurdly deep, holds an integer of thousands of digits, or a string PostgreSQL
cannot store (NUL, lone surrogates) is 422. Media types are compared case-insensitively.

Every route's OpenAPI description lists the error answers every route can give (:func:`documented`),
beside what the route declares itself (``responses=success(Model, 201) | errors(409)``).
"""

from __future__ import annotations

import base64
import binascii
import inspect
import json
import re
from collections.abc import Callable, Collection, Mapping
from http import HTTPStatus
from typing import Annotated, Any, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Route
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from pydantic import BaseModel, ConfigDict, Field

from . import access, safe_json
from .errors import DatabaseUnavailable, DomainError, error_object, validation_details
from .models.base import MAX_ID
from .observability import logger

_Handler = TypeVar("_Handler", bound=Callable[..., Any])

FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
JSON_TYPE = "application/json"
# A JSON body of this API is a few hundred bytes; the JSONL upload passes its own, larger limit.
MAX_JSON_BODY_BYTES = 256 * 1024
# Webhook deliveries: their signature is verified over the raw body before anything parses it.
SIGNED_BODY_PREFIX = "/webhooks/"
# Lambda's own limit on a synchronous request is 6 MB; past it API Gateway would answer instead.
MAX_BODY_BYTES = 6 * 1024 * 1024
# Methods a client may repeat: retried once, on a fresh connection, when the database drops one.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})

# A path id that can name a row: anything else is answered 422 before reaching the database.
Id = Annotated[int, Path(ge=1, le=MAX_ID)]


def media_type(event: APIGatewayProxyEventV2) -> str:
    """The request's media type, lower-case, without parameters (``charset``, ``boundary``)."""
    return bare_media_type(event.headers.get("content-type"))


def bare_media_type(content_type: str | None) -> str:
    """A Content-Type header's media type, lower-case, without parameters."""
    return (content_type or "").split(";")[0].strip().lower()


def json_response(status: int, payload: Any = None, headers: dict[str, str] | None = None) -> Response[Any]:
    body = None if payload is None else json.dumps(payload, ensure_ascii=False, default=str)
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON if body is not None else None,
        body=body,
        headers=headers,
    )


def error_response(status: int, code: str, message: str, details: list[dict[str, Any]] | None = None) -> Response[Any]:
    return json_response(status, {"error": error_object(code, message, details)})


# --- what every route documents -------------------------------------------------------------------


class ErrorObject(BaseModel):
    """The ``error`` member; some codes add keys of their own (``existing_id``, ``field``...)."""

    model_config = ConfigDict(extra="allow")

    code: str = Field(description="snake_case, stable: what went wrong")
    message: str = Field(description="for a person")
    # Absent rather than null: the published schema declares a list (and an int below), so the type stays
    # non-optional while the default is None, which pydantic allows for a field left out.
    details: list[dict[str, Any]] = Field(
        default=None,  # type: ignore[arg-type]  # see above
        max_length=100,
        description="one entry per problem (invalid field, JSONL line), at most 100",
    )
    details_truncated: int = Field(  # type: ignore[assignment]  # see above
        default=None, ge=1, description="how many more details there were"
    )


class ErrorBody(BaseModel):
    """Every error answer of the API."""

    error: ErrorObject


ERROR_DESCRIPTIONS = {
    400: "Bad request",
    401: "No valid token (the API's JWT authorizer), or a webhook's missing, invalid or stale signature",
    403: "Refused: the token lacks the route's scope, or the action is not allowed",
    404: "Not found",
    409: "Conflict with the current state",
    413: "Body too large",
    415: "Unsupported media type",
    422: "Invalid request (body, path or query)",
    502: "The upstream service answered something unusable",
    503: "A dependency (database, OpenAI) is unavailable; try again after Retry-After",
    504: "The upstream service did not answer in time",
}
# What any route can answer, whatever it does: a refused body, invalid input, the database gone.
EVERY_ROUTE_ERRORS = (413, 415, 422, 503)
# What a route behind the API's JWT authorizer can answer besides: no valid token, or not its scope.
TOKEN_ERRORS = (401, 403)
# The API's JWT authorizer (template.yaml: HttpApi's DefaultAuthorizer), as the description names it.
SECURITY_SCHEME = "ShopJwt"
# A path parameter of a Powertools rule (``<judge_id>``) and its API Gateway form (``{judge_id}``).
_RULE_PARAMETER = re.compile(r"<(\w+)>")


def errors(*statuses: int) -> dict[int, OpenAPIResponse]:
    """OpenAPI responses for error statuses, each with the error body's schema."""
    return {
        status: {
            "description": ERROR_DESCRIPTIONS.get(status, HTTPStatus(status).phrase),
            "content": {JSON_TYPE: {"model": ErrorBody}},
        }
        for status in statuses
    }


def success(model: Any = None, status: int = 200, description: str | None = None) -> dict[int, OpenAPIResponse]:
    """The OpenAPI response of a route's success: its body's model, or no body (``None``, e.g. 204)."""
    response: OpenAPIResponse = {"description": description or HTTPStatus(status).phrase}
    response["content"] = {JSON_TYPE: {"model": model}} if model is not None else {}
    return {status: response}


def api_path(rule: str) -> str:
    """A Powertools rule in API Gateway's (and OpenAPI's) form: ``/judges/<judge_id>`` → ``/judges/{judge_id}``."""
    return _RULE_PARAMETER.sub(r"{\1}", rule)


def security_of(methods: str | list[str] | tuple[str, ...], rule: str) -> list[dict[str, list[str]]]:
    """The OpenAPI ``security`` of a route: the JWT with the scope :mod:`.access` assigns (the scope
    template.yaml writes; a test holds the two together), or none for a signed webhook."""
    path = api_path(rule)
    each = [
        access.openapi_security(method, path, SECURITY_SCHEME)
        for method in ([methods] if isinstance(methods, str) else methods)
    ]
    if any(security != each[0] for security in each):
        raise ValueError(f"{path}: methods of one route demanding different scopes")
    return each[0]


def documented(
    rule: str, declared: Mapping[int, Any] | None, status_code: int, *, token: bool = False
) -> dict[int, Any]:
    """A route's responses: the errors every route can give, 404 where the path names something, 401 and
    403 behind the JWT (``token``), then what the route declares (which wins). Without a declared
    success, any JSON is documented."""
    statuses = [*EVERY_ROUTE_ERRORS, *([404] if "<" in rule else []), *(TOKEN_ERRORS if token else ())]
    responses: dict[int, Any] = {**errors(*sorted(statuses)), **(declared or {})}
    if not any(200 <= int(status) < 300 for status in responses):
        responses[status_code] = {"description": HTTPStatus(status_code).phrase, "content": {JSON_TYPE: {"schema": {}}}}
    return responses


def security_schemes() -> dict[str, Any]:
    """The description's security scheme: the bearer JWT that HttpApi's JWT authorizer checks (its issuer
    and audiences are the stack's: Cognito's user pool or AuthIssuerUrl/AuthAudience)."""
    return {
        SECURITY_SCHEME: HTTPBearer(
            bearerFormat="JWT",
            description="An access token (Authorization: Bearer ...) from the stack's issuer, carrying the "
            "route's scope: " + "; ".join(f"{scope}: {text}" for scope, text in access.SCOPES.items()),
        )
    }


class ShopHttpResolver(APIGatewayHttpResolver):
    """Powertools' HTTP API resolver with the product's edge: body checks and documented errors."""

    def __init__(self, *, max_body_bytes: int, **options: Any):
        super().__init__(**options)
        self.max_body_bytes = max_body_bytes
        # (methods, path pattern, media types of the bodies the route reads), one per route.
        self.body_types: list[tuple[frozenset[str], re.Pattern[str], frozenset[str]]] = []
        self.configure_openapi(security_schemes=security_schemes())

    def route(
        self, *args: Any, body_types: Collection[str] = (JSON_TYPE,), **kwargs: Any
    ) -> Callable[[_Handler], _Handler]:  # Powertools' route, responses and security completed
        """Powertools' route; ``body_types``: the media types of the bodies it reads (JSON unless said)."""
        bound = inspect.signature(APIGatewayHttpResolver.route).bind(self, *args, **kwargs)
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        arguments.pop("self")
        if arguments["security"] is None:
            arguments["security"] = security_of(arguments["method"], arguments["rule"])
        arguments["responses"] = documented(
            arguments["rule"], arguments["responses"], arguments["status_code"], token=bool(arguments["security"])
        )
        methods = [arguments["method"]] if isinstance(arguments["method"], str) else arguments["method"]
        self.body_types.append(
            (frozenset(method.upper() for method in methods), _rule_pattern(arguments["rule"]), frozenset(body_types))
        )
        return super().route(**arguments)

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        event = _normalised(event)
        refusal = refused_body(event, self.max_body_bytes) or self._refused_media_type(event)
        if refusal is not None:
            status, code, message = refusal
            logger.info("request body refused", extra={"status": status, "code": code, "reason": message})
            return {
                "statusCode": status,
                "headers": {"Content-Type": JSON_TYPE},
                "body": json.dumps({"error": error_object(code, message)}),
                "isBase64Encoded": False,
                "cookies": [],
            }
        return super().resolve(event, context)

    def _refused_media_type(self, event: Mapping[str, Any]) -> tuple[int, str, str] | None:
        """415 for a body the route does not read (a JSON route sent ``text/plain``), before any route reads
        it. A body without a media type is read as JSON; webhooks check their sender's signature first."""
        kind = bare_media_type((event.get("headers") or {}).get("content-type"))
        if not event.get("body") or not kind or _signed(event):
            return None
        http = (event.get("requestContext") or {}).get("http", {})
        method, path = str(http.get("method", "")).upper(), event.get("rawPath") or http.get("path") or ""
        for methods, pattern, types in self.body_types:
            if method in methods and pattern.match(path):
                if kind in types or (JSON_TYPE in types and kind.endswith("+json")):
                    return None
                wanted = " or ".join(sorted(types))
                return 415, "unsupported_media_type", f"Send the body as {wanted}."
        return None  # no such route: 404 or 405, as the resolver answers


def _rule_pattern(rule: str) -> re.Pattern[str]:
    return re.compile("^" + _RULE_PARAMETER.sub("[^/]+", re.escape(rule)) + "$")


def _normalised(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event with its media type lower-cased (``Application/JSON`` is JSON) and header names too."""
    headers = {str(name).lower(): value for name, value in (event.get("headers") or {}).items()}
    content_type = headers.get("content-type")
    if content_type:
        kind, separator, parameters = content_type.partition(";")
        headers["content-type"] = kind.strip().lower() + separator + parameters
    return {**event, "headers": headers}


def request_body(event: Mapping[str, Any]) -> bytes:
    """The body's bytes as the client sent them (base64-decoded when API Gateway flagged it)."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body, validate=True)
    return body.encode("utf-8", errors="surrogatepass")


def _signed(event: Mapping[str, Any]) -> bool:
    """Whether the body is a signed webhook delivery: its signature is checked before anything reads it,
    so a forged body is 401 whatever it holds (the route parses it with :func:`safe_json.loads`)."""
    path = event.get("rawPath") or (event.get("requestContext") or {}).get("http", {}).get("path") or ""
    return path.startswith(SIGNED_BODY_PREFIX)


def refused_body(event: Mapping[str, Any], max_body_bytes: int) -> tuple[int, str, str] | None:
    """``(status, code, message)`` when the body must not reach a route, else ``None``."""
    headers = event.get("headers") or {}
    kind = bare_media_type(headers.get("content-type"))
    if not event.get("body"):
        return None
    if len(event["body"]) > max_body_bytes * 4 // 3 + 4:  # cheap bound before decoding anything
        return 413, "body_too_large", f"The request body is larger than {max_body_bytes} bytes."
    try:
        raw = request_body(event)
    except (binascii.Error, ValueError):
        return 422, "invalid_body", "The request body could not be decoded (base64 / UTF-8)."
    if len(raw) > max_body_bytes:
        return 413, "body_too_large", f"The request body is larger than {max_body_bytes} bytes."
    if kind in FORM_TYPES:
        return 415, "unsupported_media_type", "Send the body as application/json."
    if (kind == JSON_TYPE or kind.endswith("+json")) and not _signed(event):
        if len(raw) > MAX_JSON_BODY_BYTES:
            return 413, "body_too_large", f"A JSON body is at most {MAX_JSON_BODY_BYTES} bytes."
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return 422, "invalid_body", "The request body could not be decoded (base64 / UTF-8)."
        try:
            safe_json.loads(text)
        except json.JSONDecodeError as error:
            return 422, "invalid_json", f"The request body is not valid JSON: {error.msg}."
    return None


def _retry_when_the_database_drops(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """A request a client may repeat is repeated once, on a fresh connection, when the database
    dropped the connection it used (nothing was committed: :mod:`.db` makes sure of that)."""
    method = app.current_event.http_method.upper()
    try:
        return next_middleware(app)
    except DatabaseUnavailable as error:
        drop = {"method": method, "path": app.current_event.path, "cause": _cause(error)}
        if method not in IDEMPOTENT_METHODS:
            logger.warning("database connection lost; answered 503", extra={**drop, "detail": str(error)})
            raise
        logger.info("database connection lost; retrying the request once", extra=drop)
    try:
        return next_middleware(app)
    except DatabaseUnavailable as error:
        logger.warning("database connection lost again; answered 503", extra={**drop, "cause": _cause(error)})
        raise


def _cause(error: BaseException) -> str:
    """The driver's error under a :class:`DatabaseUnavailable` (by name: one log field, no traceback)."""
    while error.__cause__ is not None and not isinstance(error, OSError):
        error = error.__cause__
        if type(error).__module__.startswith("pg8000"):
            break
    return type(error).__name__


def create_http_app(*, max_body_bytes: int = MAX_BODY_BYTES) -> ShopHttpResolver:
    """A resolver with request validation, the body checks, documented error answers, the retry of
    idempotent requests on a dropped database connection, and the product's error translation."""
    app = ShopHttpResolver(
        max_body_bytes=max_body_bytes, enable_validation=True, json_body_deserializer=safe_json.loads
    )
    app.use(middlewares=[_retry_when_the_database_drops])

    @app.exception_handler(DomainError)  # type: ignore[untyped-decorator]  # Powertools leaves it unannotated
    def _domain_error(error: DomainError) -> Response[Any]:
        return json_response(error.status, error.body(), headers=error.headers())

    def _unsupported_type(_: Exception) -> Response[Any]:
        return error_response(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "Send the body as application/json."
        )

    # Registered without the decorator syntax: it stays typed for _invalid_request, which calls it.
    app.exception_handler(RequestUnsupportedContentType)(_unsupported_type)

    @app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]  # Powertools leaves it unannotated
    def _invalid_request(error: RequestValidationError) -> Response[Any]:
        # Powertools parses form bodies for any route; this API takes none, so say what it wants
        # (a bare `curl -d` sends a form) instead of listing the form's missing fields.
        if media_type(app.current_event) in FORM_TYPES:
            return _unsupported_type(error)
        details = validation_details(error.errors())
        # A path of its own (``/judges/rollback``) met by a route with a parameter (``GET /judges/<judge_id>``):
        # the client named that path with another method, not a bad id.
        fixed = _fixed_path_methods(app, app.current_event.path)
        if fixed and any(detail["in"] == "path" for detail in details):
            return _method_not_allowed(app.current_event.http_method.upper(), app.current_event.path, fixed)
        if any(detail["type"] == "json_invalid" for detail in details):
            return error_response(422, "invalid_json", "The request body is not valid JSON.", details)
        return error_response(422, "validation_error", "The request is not valid.", details)

    @app.exception_handler([binascii.Error, UnicodeDecodeError])  # type: ignore[untyped-decorator]  # Powertools leaves it unannotated
    def _undecodable_body(_: Exception) -> Response[Any]:
        return error_response(422, "invalid_body", "The request body could not be decoded (base64 / UTF-8).")

    @app.not_found
    def _not_found(_: NotFoundError) -> Response[Any]:
        event = app.current_event
        path, method = event.path, event.http_method.upper()
        matching = {route.method for route in _route_table(app) if route.rule.match(path)}
        allowed = (_fixed_path_methods(app, path) or matching) - {method}
        if allowed:
            return _method_not_allowed(method, path, allowed)
        logger.info("no route", extra={"method": method, "path": path})
        return error_response(404, "not_found", f"No route for {method} {path}.")

    return app


def _method_not_allowed(method: str, path: str, allowed: Collection[str]) -> Response[Any]:
    response = error_response(405, "method_not_allowed", f"{method} is not allowed on {path}.")
    response.headers["Allow"] = ", ".join(sorted(allowed))
    return response


def _fixed_path_methods(resolver: APIGatewayHttpResolver, path: str) -> set[str]:
    """The methods of the routes whose rule is ``path`` itself, without parameters (``POST /judges/rollback``):
    such a path names its own resource, never an id for a route with a parameter (``/judges/<judge_id>``)."""
    return {route.method for route in _route_table(resolver) if route.rule.groups == 0 and route.rule.match(path)}


# The resolver's route table is private to Powertools; 405 (rather than 404) for a known path needs it. It
# is read only on the releases (major.minor) it was verified against and while it has the shape used;
# otherwise a wrong method is a 404, as Powertools itself answers. tests/foundation/test_private_apis.py
# fails on an upgrade.
POWERTOOLS_VERIFIED_RELEASES = frozenset({"3.37"})


def route_table_fits(resolver: object, release: str) -> bool:
    if ".".join(release.split(".")[:2]) not in POWERTOOLS_VERIFIED_RELEASES:
        return False
    tables = [getattr(resolver, name, None) for name in ("_static_routes", "_dynamic_routes")]
    lists = [table for table in tables if isinstance(table, list)]
    return len(lists) == len(tables) and all(
        hasattr(route, "rule") and hasattr(route, "method") for table in lists for route in table
    )


def _route_table(resolver: APIGatewayHttpResolver) -> list[Route]:
    from aws_lambda_powertools.shared.version import VERSION

    if not route_table_fits(resolver, VERSION):
        return []
    return resolver._static_routes + resolver._dynamic_routes  # noqa: SLF001 - verified above
