"""Every JSON route of the template refuses a body that is not JSON with 415, before anything reads it:
a ``text/plain`` body that happens to hold JSON must not act (it once recorded a forced activation)."""

from __future__ import annotations

import json
import re

import pytest

from infra.api_gateway import routes_from_template
from infra.local_api import LocalApi

ROUTES = routes_from_template()
NOT_JSON_TYPES = ("text/plain", "application/xml", "application/octet-stream", "text/csv")


@pytest.fixture(scope="module")
def api(database_url):
    return LocalApi(ROUTES).load_all()


def accepted_types(api: LocalApi, route) -> set[str]:
    body = api.openapi()["paths"][route.path][route.method.lower()].get("requestBody") or {}
    return set(body.get("content", {})) or {"application/json"}


def json_routes(api: LocalApi):
    return [
        route
        for route in ROUTES
        if route.scopes is not None  # the webhooks verify their sender's signature over any body
        and accepted_types(api, route) == {"application/json"}
    ]


def concrete(path: str) -> str:
    return re.sub(r"\{job_id\}", "ftjob-1", re.sub(r"\{\w+_id\}", "1", path))


def test_the_json_routes_are_every_route_but_the_uploads_and_the_webhooks(api):
    others = {route.route_key for route in ROUTES} - {route.route_key for route in json_routes(api)}

    assert others == {
        "POST /golden-sets",
        "POST /training-files",
        "POST /webhooks/openai",
        "GET /webhooks/instagram",
        "POST /webhooks/instagram",
    }


@pytest.mark.parametrize("kind", NOT_JSON_TYPES)
def test_every_json_route_refuses_a_body_that_is_not_json(api, db, kind):
    answers = {}
    for route in json_routes(api):
        status, headers, body = api.invoke(
            route.method, concrete(route.path), {"Content-Type": kind}, b'{"force": true, "reason": "x"}'
        )
        answers[route.route_key] = (status, headers.get("Content-Type"), json.loads(body)["error"]["code"])

    assert set(answers.values()) == {(415, "application/json", "unsupported_media_type")}, answers


def test_a_forced_activation_sent_as_text_records_nothing(api, db):
    status, _, _ = api.invoke(
        "POST", "/judges/1/activate", {"Content-Type": "text/plain"}, b'{"force": true, "reason": "as text"}'
    )
    _, _, listed = api.invoke("GET", "/judges/activations", {}, None)

    assert status == 415
    assert json.loads(listed) == {"activations": []}


def test_a_json_body_with_a_charset_or_a_json_suffix_is_still_json(api, db):
    for kind in ("application/json; charset=utf-8", "Application/JSON", "application/merge-patch+json"):
        status, _, body = api.invoke("POST", "/judges/1/activate", {"Content-Type": kind}, b'{"force": true}')
        # Read as JSON: the judge is looked for (none here), or the request judged incomplete.
        assert json.loads(body)["error"]["code"] in ("not_found", "validation_error"), kind
        assert status in (404, 422), kind
