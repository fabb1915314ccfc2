"""/openapi.json: generated from the code, merged across the functions, describing every route of
template.yaml with every status it answers, the error shape, and the success bodies."""

from __future__ import annotations

import json
import re
import threading
import urllib.request

import pytest

from infra.api_gateway import routes_from_template
from infra.local_api import LocalApi, make_server

ROUTES = routes_from_template()


@pytest.fixture(scope="module")
def local(database_url):
    api = LocalApi(ROUTES).load_all()
    server = make_server(api, port=0)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - loopback
        return response.status, response.headers["Content-Type"], response.read()


@pytest.fixture(scope="module")
def spec(local) -> dict:
    status, kind, body = get(f"{local}/openapi.json")
    assert (status, kind) == (200, "application/json")
    return json.loads(body)


def operations(spec: dict) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in spec["paths"].items() for method in item}


def test_the_description_has_exactly_the_routes_of_the_template(spec):
    template = {(route.method, route.path) for route in ROUTES}

    assert operations(spec) == template


def test_every_operation_documents_its_success_and_the_errors_every_route_can_give(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            where = f"{method.upper()} {path}"
            assert any(code.startswith("2") for code in responses), where
            for code in ("413", "415", "422", "503"):
                assert responses[code]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ErrorBody"
                }, where
            if "{" in path:
                assert "404" in responses, where
            assert "HTTPValidationError" not in json.dumps(responses), where


def test_the_error_shape_is_the_contracts(spec):
    schemas = spec["components"]["schemas"]
    error = schemas["ErrorObject"]

    assert schemas["ErrorBody"]["required"] == ["error"]
    assert set(error["required"]) == {"code", "message"}
    assert {"details", "details_truncated"} <= set(error["properties"])
    assert error["properties"]["details"]["maxItems"] == 100


def test_success_bodies_are_described(spec):
    def schema_of(method, path, status):
        return spec["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]

    assert schema_of("post", "/stores", "201") == {"$ref": "#/components/schemas/StoreOut"}
    assert schema_of("get", "/banners/{banner_id}", "200") == {"$ref": "#/components/schemas/BannerOut"}
    assert spec["paths"]["/stores/{store_id}"]["delete"]["responses"]["204"].get("content", {}) == {}
    assert "201" in spec["paths"]["/fine-tuning/jobs"]["post"]["responses"]
    assert "200" in spec["paths"]["/fine-tuning/jobs"]["post"]["responses"]


def test_a_route_added_without_declarations_is_documented_too():
    from shop_marketing.http import create_http_app

    app = create_http_app()

    @app.get("/things/<thing_id>")
    def thing(thing_id: int):
        return {"id": thing_id}

    operation = json.loads(app.get_openapi_json_schema())["paths"]["/things/{thing_id}"]["get"]

    assert {"200", "404", "413", "415", "422", "503"} <= set(operation["responses"])
    assert operation["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }


def test_the_docs_page_shows_the_description_offline(local):
    status, kind, body = get(f"{local}/docs")

    assert status == 200 and kind.startswith("text/html")
    page = body.decode()
    assert "SwaggerUIBundle" in page
    assert "/banners/{banner_id}/instagram-posts/{post_id}" in page
    # Script and style are inlined: nothing is fetched from elsewhere.
    assert not re.search(r"<script src=|<link [^>]*href=", page)


# --- who may call each operation, and what each takes and answers ---------------------------------


def test_the_description_declares_the_jwt_the_authorizer_checks():
    from infra.api_gateway import load_template

    scheme = generated_security_schemes()["ShopJwt"]
    authorizer = load_template()["Resources"]["HttpApi"]["Properties"]["Auth"]

    assert authorizer["DefaultAuthorizer"] == "ShopJwt"
    assert authorizer["Authorizers"]["ShopJwt"]["IdentitySource"] == "$request.header.Authorization"
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer" and scheme["bearerFormat"] == "JWT"


def generated_security_schemes() -> dict:
    from shop_marketing.http import create_http_app

    app = create_http_app()

    @app.get("/things")
    def things():
        return {}

    return json.loads(app.get_openapi_json_schema())["components"]["securitySchemes"]


def test_every_operation_demands_the_scope_the_template_gives_it(spec):
    assert set(spec["components"]["securitySchemes"]) == {"ShopJwt"}
    for route in ROUTES:
        operation = spec["paths"][route.path][route.method.lower()]
        declared = operation.get("security", [])
        if route.scopes is None:  # a webhook: its sender's signature protects it, not a token
            assert declared == [], route.route_key
        else:
            assert declared == [{"ShopJwt": list(route.scopes)}], route.route_key
            assert "401" in operation["responses"] and "403" in operation["responses"], route.route_key


def _schema_is_described(schema: dict) -> bool:
    """A schema that says something: a reference, a type, or a combination of them (not ``{}``, not a bare
    ``{"type": "object"}`` without properties)."""
    if not schema:
        return False
    if schema.get("type") == "object":
        return bool(schema.get("properties") or schema.get("additionalProperties"))
    return True


def test_every_success_answer_and_every_request_body_has_a_schema(spec):
    bare = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            for code, response in operation["responses"].items():
                if not code.startswith("2") or code == "204":
                    continue
                content = response.get("content") or {}
                if not content or not all(_schema_is_described(kind.get("schema", {})) for kind in content.values()):
                    bare.append(f"{where} {code}")
            for kind, media in (operation.get("requestBody") or {}).get("content", {}).items():
                schema = media.get("schema", {})
                if not _schema_is_described(schema):
                    bare.append(f"{where} request body {kind}")
    for method, path in ROUTES_WITH_A_BODY:
        if not spec["paths"][path][method].get("requestBody", {}).get("content"):
            bare.append(f"{method.upper()} {path} request body")
    assert bare == [], bare


# Routes that read a body (the issue names the JSONL upload, the activation and the webhooks' deliveries).
ROUTES_WITH_A_BODY = {
    ("post", "/golden-sets"),
    ("post", "/judges/{judge_id}/activate"),
    ("post", "/webhooks/openai"),
    ("post", "/webhooks/instagram"),
    ("post", "/judges"),
    ("post", "/judges/{judge_id}/successor"),
    ("post", "/evaluations"),
    ("post", "/training-files"),
    ("post", "/stores"),
    ("put", "/comments/{comment_id}/review"),
}


def test_the_answers_a_route_can_give_beyond_its_success_are_described(spec):
    # Routes that wait on OpenAI or Instagram: either may not answer in time.
    upstream_routes = {
        ("post", "/judges"),
        ("post", "/judges/{judge_id}/successor"),
        ("post", "/judges/refresh-models"),
        ("post", "/comments/judge"),
        ("post", "/training-files"),
        ("post", "/fine-tuning/jobs"),
        ("post", "/instagram-posts/{post_id}/comments/fetch"),
    }
    for method, path in upstream_routes:
        assert "504" in spec["paths"][path][method]["responses"], f"{method.upper()} {path}"
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            assert "415" in operation["responses"], f"{method.upper()} {path}"
    assert "405" in spec["info"]["description"]
