"""The ``$default`` route (functions/unrouted): in AWS, a request no route matches reaches it instead of
API Gateway's own ``404 {"message": "Not Found"}``, and it answers as the contract says: 404 ``not_found``,
or 405 ``method_not_allowed`` with ``Allow`` for a path a route serves with another method.

Its route table ships with it (routes.json) and is held equal to template.yaml's here; the local run
answers its unrouted requests with the same function; the translated template holds exactly one
catch-all route, open (a caller without a token gets 404/405, not 401), throttled and bounded like the
webhooks. HEAD and OPTIONS are methods like any other: 405 on a known path, 404 elsewhere.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.api_gateway import (
    DEFAULT_ROUTE,
    ROUTE_TABLE,
    api_gateway_event,
    default_route_from_template,
    load_template,
    route_table,
    routes_from_template,
)
from infra.lambda_runtime import LocalContext
from infra.local_api import LocalApi
from infra.translate_template import translate
from tests.support.lambda_invoke import HttpResult, handler_of, result_of, sample_event

ERROR_KEYS = {"code", "message"}


@pytest.fixture(scope="module")
def handler():
    return handler_of("unrouted")


def unrouted(handler, method: str, path: str, **options: Any) -> HttpResult:
    """``method path`` as API Gateway hands it to the ``$default`` route (routeKey ``$default``)."""
    event = api_gateway_event(method, path, route_key=DEFAULT_ROUTE, **options)
    response = handler(event, LocalContext(function_name="UnroutedFunction"))
    assert set(response) == {"statusCode", "headers", "body", "isBase64Encoded"}
    assert response["headers"]["Content-Type"] == "application/json"
    return result_of(response)


def assert_error(result: HttpResult, status: int, code: str) -> None:
    assert result.status == status, result.body
    assert set(result.json) == {"error"} and set(result.json["error"]) == ERROR_KEYS
    assert result.json["error"]["code"] == code


# --- the route table it ships with ----------------------------------------------------------------


def test_the_route_table_it_ships_with_is_the_templates():
    shipped = json.loads(ROUTE_TABLE.read_text())

    assert shipped == route_table(routes_from_template()), "run `python -m infra.api_gateway` to write it anew"
    assert len(shipped) == len({tuple(route) for route in shipped}) >= 40


def test_the_default_route_is_its_function_and_no_route_of_the_table():
    route = default_route_from_template()

    assert (route.method, route.path, route.function) == ("ANY", "$default", "UnroutedFunction")
    assert route.code_dir.name == "unrouted" and route.scopes is None
    assert all(r.path != DEFAULT_ROUTE for r in routes_from_template())


# --- what it answers -------------------------------------------------------------------------------


def test_an_unknown_path_is_404_in_the_products_error_shape(handler):
    result = unrouted(handler, "GET", "/nothing-here")

    assert_error(result, 404, "not_found")
    assert result.json["error"]["message"] == "No route for GET /nothing-here."
    assert "Allow" not in result.headers


def test_the_sample_event_of_a_wrong_method_is_405_with_allow(handler):
    """events/unrouted_patch_store.json: `sam local generate-event apigateway http-api-proxy`'s shape."""
    result = result_of(handler(sample_event("unrouted_patch_store.json"), LocalContext()))

    assert_error(result, 405, "method_not_allowed")
    assert result.json["error"]["message"] == "PATCH is not allowed on /stores/1."
    assert result.headers["Allow"] == "DELETE, GET"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PATCH", "/stores/1", "DELETE, GET"),
        ("PUT", "/stores", "GET, POST"),
        ("GET", "/banners/7/instagram-posts/9", "DELETE, PUT"),
        ("POST", "/comments/42/review", "DELETE, PUT"),
        ("PATCH", "/fine-tuning/jobs/ftjob-abc", "GET"),
        # A path of its own serves its own methods, not those of /judges/{judge_id} that matches it too.
        ("DELETE", "/judges/rollback", "POST"),
        ("PUT", "/judges/activations", "GET"),
        ("DELETE", "/judges/9", "GET"),
        ("GET", "/webhooks/openai", "POST"),
    ],
)
def test_a_wrong_method_on_a_known_path_is_405_naming_the_paths_methods(handler, method, path, allowed):
    result = unrouted(handler, method, path, body=b"{}", headers={"content-type": "application/json"})

    assert_error(result, 405, "method_not_allowed")
    assert result.headers["Allow"] == allowed
    assert result.json["error"]["message"] == f"{method} is not allowed on {path}."


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS"])
def test_head_and_options_are_methods_like_any_other(handler, method):
    assert unrouted(handler, method, "/stores/1").headers["Allow"] == "DELETE, GET"
    assert_error(unrouted(handler, method, "/stores/1"), 405, "method_not_allowed")
    assert_error(unrouted(handler, method, "/nothing-here"), 404, "not_found")


HOSTILE_PATHS = [
    "/" + "a" * 10_000,
    "/stores/" + "9" * 5_000 + "/x",
    "/stores\x00/1",
    "/\x00",
    "/%00%ff%fe/%2e%2e/%2e%2e/etc/passwd",
    "/stores/%E0%A4%A/zz",
    "/\ud800/stores",
    "//stores",
    "/stores/",
    "/",
    "",
    "stores",
    "/judges/rollback/",
    "/STORES",
    "/stores/1/products/2/../../..",
    "/{store_id}/\n\r",
]


@pytest.mark.parametrize("path", HOSTILE_PATHS, ids=range(len(HOSTILE_PATHS)))
def test_a_hostile_path_is_404_never_a_failure(handler, path):
    result = unrouted(handler, "PATCH", path)

    assert_error(result, 404, "not_found")
    assert len(result.body) < 1_000  # the path is quoted, not echoed whole


@pytest.mark.parametrize(
    "event",
    [
        {},
        None,
        [],
        {"rawPath": 7, "requestContext": "x"},
        {"rawPath": None, "requestContext": {"http": {"method": ["GET"], "path": {}}}},
        {"requestContext": {"http": {"method": "delete", "path": "/judges/rollback"}}},
    ],
)
def test_an_event_of_any_shape_gets_an_answer(handler, event):
    result = result_of(handler(event, LocalContext()))

    assert result.status in (404, 405)
    assert set(result.json["error"]) == ERROR_KEYS


def test_a_method_a_path_with_a_parameter_matches_even_when_its_segment_is_junk(handler):
    result = unrouted(handler, "PATCH", "/stores/%00%ff")

    assert_error(result, 405, "method_not_allowed")
    assert result.headers["Allow"] == "DELETE, GET"


# --- the local run: the same function, the same answers --------------------------------------------


@pytest.fixture(scope="module")
def local():
    return LocalApi(routes_from_template())


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/nothing-here"), ("PATCH", "/stores/1"), ("DELETE", "/judges/rollback"), ("HEAD", "/stores")],
)
def test_the_local_run_answers_unrouted_requests_with_the_same_function(local, handler, method, path):
    status, headers, body = local.invoke(method, path, {"Content-Type": "application/json"}, None)
    expected = unrouted(handler, method, path)

    assert (status, headers.get("Allow"), json.loads(body)) == (
        expected.status,
        expected.headers.get("Allow"),
        expected.json,
    )


def test_the_local_run_loads_the_default_routes_function_with_the_others(local):
    assert local.unrouted.function == "UnroutedFunction"
    assert local.load_all().unavailable == {}


# --- the template: one catch-all route, open, throttled and bounded --------------------------------


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    return translate()


def test_the_translated_template_has_exactly_one_open_catch_all_route_throttled_and_bounded(translated):
    resources = translated["Resources"]
    paths = resources["HttpApi"]["Properties"]["Body"]["paths"]
    catch_all = [
        (path, operation)
        for path, methods in paths.items()
        for method, operation in methods.items()
        if method == "x-amazon-apigateway-any-method" or "+}" in path
    ]

    assert [path for path, _ in catch_all] == ["$default"]
    [(_, operation)] = catch_all
    assert operation["isDefaultRoute"] is True
    assert operation["security"] == [{"NONE": []}]
    assert "${UnroutedFunctionAliaslive}" in operation["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
    assert operation["x-amazon-apigateway-integration"]["payloadFormatVersion"] == "2.0"
    # Its own throttle, the webhooks' (not the API's default budget) ...
    stage = resources["HttpApiApiGatewayDefaultStage"]["Properties"]
    assert stage["RouteSettings"]["$default"] == {
        "ThrottlingRateLimit": {"Ref": "WebhookThrottlingRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "WebhookThrottlingBurstLimit"},
    }
    # ... its own reserved concurrency, and nothing to read: no secret, no database, no network.
    function = resources["UnroutedFunction"]["Properties"]
    assert function["ReservedConcurrentExecutions"] == {
        "Fn::If": ["HasWebhookReservedConcurrency", {"Ref": "WebhookReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }
    assert "DependsOn" not in resources["UnroutedFunction"]
    role = resources["UnroutedRole"]["Properties"]
    actions = {a for p in role["Policies"] for s in p["PolicyDocument"]["Statement"] for a in s["Action"]}
    assert actions == {"logs:CreateLogStream", "logs:PutLogEvents"}


def test_only_the_unrouted_function_serves_the_default_route():
    serving = [
        name
        for name, resource in load_template()["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
        for event in (resource["Properties"].get("Events") or {}).values()
        if event["Type"] == "HttpApi" and event["Properties"]["Path"] == DEFAULT_ROUTE
    ]

    assert serving == ["UnroutedFunction"]
