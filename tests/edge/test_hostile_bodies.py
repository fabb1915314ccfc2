"""Hostile bodies on every route of the template, plain and base64-flagged: a clear 4xx, never a crash.

Each body below once crashed a handler (a bare 500 in Lambda): JSON nested 10,000 deep
(RecursionError), a NUL character or a lone surrogate in a string (PostgreSQL cannot store either),
an integer literal over 4,300 digits (ValueError), multipart/form-data without a boundary. The checks
live at the HTTP edge every function shares, so they are asserted on every route, including routes
that take no body at all.
"""

from __future__ import annotations

import base64

import pytest

from infra.api_gateway import api_gateway_event, routes_from_template
from infra.lambda_runtime import LocalContext
from tests.support.lambda_invoke import handler_of, result_of

ROUTES = routes_from_template()
DEEP = b"[" * 10_000 + b"]" * 10_000

HOSTILE = [
    # (id, body, content type, expected status, expected code)
    ("nested-10000-deep", DEEP, "application/json", 422, "invalid_json"),
    ("nested-object-10000-deep", b'{"a":' * 10_000 + b"1" + b"}" * 10_000, "application/json", 422, "invalid_json"),
    ("nul-in-a-string", b'{"name": "a\\u0000b", "comment": "x\\u0000"}', "application/json", 422, "invalid_json"),
    ("nul-in-a-key", b'{"a\\u0000": 1}', "application/json", 422, "invalid_json"),
    ("lone-surrogate", b'{"name": "\\ud800", "comment": "\\udfff"}', "application/json", 422, "invalid_json"),
    ("integer-of-5000-digits", b'{"product_id": ' + b"9" * 5_000 + b"}", "application/json", 422, "invalid_json"),
    ("upper-case-media-type-nul", b'{"comment": "\\u0000"}', "Application/JSON", 422, "invalid_json"),
    ("multipart-without-boundary", b"--x\r\n\r\nhello\r\n--x--", "multipart/form-data", 415, "unsupported_media_type"),
    ("multipart-upper-case", b"--x\r\n\r\nhello\r\n--x--", "Multipart/Form-Data", 415, "unsupported_media_type"),
    ("form", b"name=x&naver_store_id=y", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ("invalid-utf-8", b'{"name": "\xff\xfe"}', "application/json", 422, "invalid_body"),
    ("json-past-the-size-limit", b'{"name": "' + b"x" * 300_000 + b'"}', "application/json", 413, "body_too_large"),
    ("any-body-past-6-mb", b"x" * (6 * 1024 * 1024 + 1), "application/jsonl", 413, "body_too_large"),
]


def concrete(path: str) -> str:
    for name in ("store_id", "banner_id", "product_id", "post_id"):
        path = path.replace("{" + name + "}", "1")
    return path.replace("{job_id}", "ftjob-1")


def handlers():
    return {route.function: handler_of(route.code_dir.name) for route in ROUTES}


@pytest.fixture(scope="module")
def loaded(database_url):
    return handlers()


@pytest.fixture
def webhook_secrets(monkeypatch):
    """Both webhooks configured, so that an unsigned delivery meets its signature check."""
    from shop_marketing.config import get_settings

    monkeypatch.setenv("OPENAI_WEBHOOK_SECRET", "whsec_" + base64.b64encode(b"hostile-bodies-test-secret").decode())
    monkeypatch.setenv("INSTAGRAM_APP_SECRET", "hostile-bodies-app-secret")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def invoke(handler, method, path, body: bytes, content_type: str, base64_encoded: bool):
    event = api_gateway_event(
        method, path, body=body, headers={"content-type": content_type}, base64_encoded=base64_encoded
    )
    return result_of(handler(event, LocalContext()))


def is_text(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# API Gateway passes a body as text only when it is UTF-8; any other body arrives base64-encoded.
ENCODED_CASES = [
    pytest.param(case, encoding, id=f"{case[0]}-{encoding}")
    for case in HOSTILE
    for encoding in ("plain", "base64")
    if encoding == "base64" or is_text(case[1])
]


@pytest.mark.parametrize("case,encoding", ENCODED_CASES)
@pytest.mark.parametrize("route", ROUTES, ids=[route.route_key for route in ROUTES])
def test_a_hostile_body_gets_a_clear_error_on_every_route(route, case, encoding, loaded, webhook_secrets):
    _, body, content_type, status, code = case
    if route.path.startswith("/webhooks/") and code != "unsupported_media_type" and case[0] != "any-body-past-6-mb":
        # A webhook's signature (or the handshake's verify token) is checked before anything reads
        # the body: an unsigned delivery is 401, a handshake without the token 403.
        status, code = (403, "forbidden") if route.method == "GET" else (401, "unauthorized")
    result = invoke(
        loaded[route.function], route.method, concrete(route.path), body, content_type, encoding == "base64"
    )

    assert (result.status, result.json["error"]["code"]) == (status, code), result.body[:300]
    assert set(result.json["error"]) <= {"code", "message", "details", "details_truncated"}
