"""Access (docs/deploy-and-access.md "Deploy", step 3): a JWT with the route's scope on every route but the
webhooks.

The rule lives in shop_marketing.access; template.yaml writes each route's scope; these tests hold the
SAM-translated template (what API Gateway receives) to the rule, and show the local run enforcing the
same template rules: 401 without a valid token, 403 with the wrong scope, the route's answer with the
right one.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest

from infra.api_gateway import routes_from_template
from infra.local_api import LocalApi, make_server
from infra.local_auth import LocalAuth
from infra.translate_template import translate
from shop_marketing import access
from shop_marketing.access import CATALOG_READ, CATALOG_WRITE, JUDGE, MODELS_ADMIN, REVIEW

WEBHOOKS = {("POST", "/webhooks/openai"), ("GET", "/webhooks/instagram"), ("POST", "/webhooks/instagram")}

# Every route of the API, with the scope that template.yaml and shop_marketing/access.py give it.
PRODUCT_ROUTES = {
    ("POST", "/stores"): CATALOG_WRITE,
    ("GET", "/stores/{store_id}"): CATALOG_READ,
    ("DELETE", "/stores/{store_id}"): CATALOG_WRITE,
    ("POST", "/stores/{store_id}/products"): CATALOG_WRITE,
    ("DELETE", "/products/{product_id}"): CATALOG_WRITE,
    ("POST", "/stores/{store_id}/banners"): CATALOG_WRITE,
    ("GET", "/banners/{banner_id}"): CATALOG_READ,
    ("DELETE", "/banners/{banner_id}"): CATALOG_WRITE,
    ("POST", "/instagram-posts"): CATALOG_WRITE,
    ("DELETE", "/instagram-posts/{post_id}"): CATALOG_WRITE,
    ("PUT", "/banners/{banner_id}/product"): CATALOG_WRITE,
    ("DELETE", "/banners/{banner_id}/product"): CATALOG_WRITE,
    ("PUT", "/banners/{banner_id}/instagram-posts/{post_id}"): CATALOG_WRITE,
    ("DELETE", "/banners/{banner_id}/instagram-posts/{post_id}"): CATALOG_WRITE,
    ("POST", "/comments/judge"): JUDGE,
    ("GET", "/instagram-posts/{post_id}/good-comments"): CATALOG_READ,
    ("GET", "/stores"): CATALOG_READ,
    ("GET", "/instagram-posts"): CATALOG_READ,
    ("GET", "/instagram-posts/{post_id}/banner-images"): CATALOG_READ,
    ("POST", "/judges"): MODELS_ADMIN,
    ("GET", "/judges"): MODELS_ADMIN,
    ("GET", "/judges/{judge_id}"): MODELS_ADMIN,
    ("POST", "/judges/{judge_id}/activate"): MODELS_ADMIN,
    ("POST", "/judges/rollback"): MODELS_ADMIN,
    ("GET", "/judges/activations"): MODELS_ADMIN,
    ("POST", "/judges/refresh-models"): MODELS_ADMIN,
    ("POST", "/judges/{judge_id}/successor"): MODELS_ADMIN,
    ("POST", "/golden-sets"): MODELS_ADMIN,
    ("POST", "/evaluations"): MODELS_ADMIN,
    ("GET", "/evaluations/{evaluation_id}"): MODELS_ADMIN,
    ("GET", "/evaluations"): MODELS_ADMIN,
    ("POST", "/training-files"): MODELS_ADMIN,
    ("GET", "/training-files/rejections"): MODELS_ADMIN,
    ("POST", "/fine-tuning/jobs"): MODELS_ADMIN,
    ("GET", "/fine-tuning/jobs/{job_id}"): MODELS_ADMIN,
    ("POST", "/instagram-posts/{post_id}/comments/fetch"): JUDGE,
    ("POST", "/instagram-posts/{post_id}/banner-images"): CATALOG_WRITE,
    ("GET", "/instagram-posts/{post_id}/comments"): REVIEW,
    ("GET", "/comments/review-queue"): REVIEW,
    ("PUT", "/comments/{comment_id}/review"): REVIEW,
    ("DELETE", "/comments/{comment_id}/review"): REVIEW,
    ("GET", "/reviews/agreement"): REVIEW,
    ("GET", "/reviews/export"): REVIEW,
    ("POST", "/webhooks/openai"): None,
    ("GET", "/webhooks/instagram"): None,
    ("POST", "/webhooks/instagram"): None,
}


@pytest.fixture(scope="module")
def translated() -> dict:
    return translate()


def operations(translated: dict) -> dict[tuple[str, str], dict]:
    body = translated["Resources"]["HttpApi"]["Properties"]["Body"]
    return {
        (method.upper(), path): operation
        for path, methods in body["paths"].items()
        for method, operation in methods.items()
        if method != "x-amazon-apigateway-any-method"
    }


@pytest.mark.parametrize(("method", "path"), PRODUCT_ROUTES, ids=[f"{m} {p}" for m, p in PRODUCT_ROUTES])
def test_the_rule_gives_every_product_route_the_scope_the_product_names(method, path):
    assert access.required_scope(method, path) == PRODUCT_ROUTES[method, path]


def test_every_route_of_the_translated_template_has_the_jwt_authorizer_and_its_scope(translated):
    routes = operations(translated)

    assert len(routes) >= 21
    for (method, path), operation in routes.items():
        scope = access.required_scope(method, path)
        if (method, path) in WEBHOOKS:
            assert operation["security"] == [{"NONE": []}], f"{method} {path} is signed by its sender, not a token"
        else:
            assert scope is not None, f"{method} {path}: only webhooks go without a token"
            assert operation["security"] == [{"ShopJwt": [scope]}], f"{method} {path} must demand {scope}"


def test_the_authorizer_is_a_jwt_authorizer_on_the_stacks_user_pool_or_the_given_issuer(translated):
    schemes = translated["Resources"]["HttpApi"]["Properties"]["Body"]["components"]["securitySchemes"]
    authorizer = schemes["ShopJwt"]["x-amazon-apigateway-authorizer"]

    assert authorizer["type"] == "jwt"
    assert authorizer["identitySource"] == "$request.header.Authorization"
    issuer = authorizer["jwtConfiguration"]["issuer"]["Fn::If"]
    assert issuer[0] == "CreateUserPool"
    assert issuer[1] == {"Fn::Sub": "https://cognito-idp.${AWS::Region}.amazonaws.com/${UserPool}"}
    assert issuer[2] == {"Ref": "AuthIssuerUrl"}
    audience = authorizer["jwtConfiguration"]["audience"]["Fn::If"]
    assert audience[1] == [{"Ref": "MachineClient"}, {"Ref": "PeopleClient"}]


def test_the_user_pool_holds_the_five_scopes_and_a_client_per_kind_of_caller(translated):
    resources = translated["Resources"]
    server = resources["ShopResourceServer"]["Properties"]
    machine = resources["MachineClient"]["Properties"]
    people = resources["PeopleClient"]["Properties"]

    assert {f"{server['Identifier']}/{scope['ScopeName']}" for scope in server["Scopes"]} == set(access.SCOPES)
    assert machine["AllowedOAuthFlows"] == ["client_credentials"] and machine["GenerateSecret"] is True
    assert people["AllowedOAuthFlows"] == ["code"] and people["GenerateSecret"] is False
    assert set(access.SCOPES) <= set(machine["AllowedOAuthScopes"]) and set(access.SCOPES) <= set(
        people["AllowedOAuthScopes"]
    )


def test_the_stage_throttles_and_writes_access_logs(translated):
    stage = translated["Resources"]["HttpApiApiGatewayDefaultStage"]["Properties"]

    assert stage["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": {"Ref": "ThrottlingBurstLimit"},
        "ThrottlingRateLimit": {"Ref": "ThrottlingRateLimit"},
    }
    assert stage["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogs", "Arn"]}
    assert "$context.authorizer.error" in stage["AccessLogSettings"]["Format"]


def test_the_local_routes_carry_the_templates_scopes():
    for route in routes_from_template():
        expected = access.required_scope(route.method, route.path)
        assert route.scopes == (None if expected is None else (expected,)), route.route_key


def test_openapi_security_names_the_route_scope():
    assert access.openapi_security("GET", "/stores/{store_id}") == [{"ShopJwt": [CATALOG_READ]}]
    assert access.openapi_security("POST", "/webhooks/openai") == []
    scheme = access.openapi_security_schemes("https://cognito-idp.us-east-1.amazonaws.com/pool")["ShopJwt"]
    assert (
        scheme["openIdConnectUrl"]
        == "https://cognito-idp.us-east-1.amazonaws.com/pool/.well-known/openid-configuration"
    )


# --- the local run enforcing the template's rules -------------------------------------------------

SECRET = "local-signing-key-for-tests-only-0123456789"


@pytest.fixture
def enforcing_api(db, monkeypatch):
    monkeypatch.setenv("LOCAL_AUTH", "enforce")
    monkeypatch.setenv("LOCAL_AUTH_SECRET", SECRET)
    auth = LocalAuth.from_environment()
    server = make_server(LocalApi(routes_from_template(), auth), port=0)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", auth
    server.shutdown()
    server.server_close()


def call(base: str, method: str, path: str, token: str | None = None, body: dict | None = None):
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def test_no_token_is_401_and_nothing_runs(enforcing_api):
    base, _ = enforcing_api

    assert call(base, "POST", "/stores", body={"name": "Anon", "naver_store_id": "anon"}) == (
        401,
        {"message": "Unauthorized"},
    )
    _, auth = enforcing_api
    status, _ = call(base, "POST", "/stores", auth.token([CATALOG_WRITE]), {"name": "Anon", "naver_store_id": "anon"})
    assert status == 201  # the refused request created nothing: the same id is still free


def test_the_wrong_scope_is_403_and_the_right_one_reaches_the_route(enforcing_api):
    base, auth = enforcing_api
    reader, writer = auth.token([CATALOG_READ]), auth.token([CATALOG_WRITE, JUDGE])

    assert call(base, "POST", "/stores", reader, {"name": "Shop", "naver_store_id": "s-1"}) == (
        403,
        {"message": "Forbidden"},
    )
    status, store = call(base, "POST", "/stores", writer, {"name": "Shop", "naver_store_id": "s-1"})
    assert status == 201
    assert call(base, "GET", f"/stores/{store['id']}", writer) == (403, {"message": "Forbidden"})
    assert call(base, "GET", f"/stores/{store['id']}", reader)[0] == 200
    assert call(base, "DELETE", f"/stores/{store['id']}", reader)[0] == 403
    assert call(base, "POST", "/fine-tuning/jobs", writer, {"training_file_id": "file-x"})[0] == 403


@pytest.mark.parametrize(
    "forge",
    [
        lambda auth: LocalAuth("another-key-entirely-0123456789abcdef").token([CATALOG_READ]),
        lambda auth: auth.token([CATALOG_READ], lifetime_seconds=-60),
        lambda auth: auth.token([CATALOG_READ], iss="https://elsewhere.example"),
        lambda auth: auth.token([CATALOG_READ], client_id="someone-elses-app"),
        lambda auth: "not-a-jwt",
    ],
    ids=["forged", "expired", "foreign issuer", "foreign audience", "malformed"],
)
def test_an_invalid_token_is_401(enforcing_api, forge):
    base, auth = enforcing_api

    assert call(base, "GET", "/banners/1", forge(auth)) == (401, {"message": "Unauthorized"})


def test_webhooks_need_no_token_their_signature_decides(enforcing_api):
    base, _ = enforcing_api

    status, body = call(base, "POST", "/webhooks/openai", None, {"type": "fine_tuning.job.succeeded"})

    # Past the authorizer: the function itself refuses the unsigned delivery
    assert status in (401, 503)
    assert "error" in body


def test_the_local_run_is_open_unless_told_to_enforce(monkeypatch):
    monkeypatch.delenv("LOCAL_AUTH", raising=False)
    assert LocalAuth.from_environment() is None
    monkeypatch.setenv("LOCAL_AUTH", "enforce")
    monkeypatch.delenv("LOCAL_AUTH_SECRET", raising=False)
    with pytest.raises(SystemExit, match="LOCAL_AUTH_SECRET"):
        LocalAuth.from_environment()


def test_reviews_need_the_review_scope_and_the_reviewer_is_the_tokens_subject(enforcing_api):
    import sqlalchemy as sa

    from shop_marketing.db import get_engine

    base, auth = enforcing_api
    with get_engine().begin() as connection:
        post = connection.execute(
            sa.text("INSERT INTO instagram_posts (instagram_media_id) VALUES ('17990000000000001') RETURNING id")
        ).scalar()
        comment = connection.execute(
            sa.text(
                "INSERT INTO instagram_comments (instagram_comment_id, post_id, text, text_sha256) "
                "VALUES ('1785', :p, '좋아요', 'x') RETURNING id"
            ),
            {"p": post},
        ).scalar()
    viewer = auth.token([CATALOG_READ], subject="viewer-sub")
    reviewer = auth.token([CATALOG_READ, JUDGE, REVIEW], subject="reviewer-sub")

    assert call(base, "PUT", f"/comments/{comment}/review", viewer, {"label": "bad"}) == (403, {"message": "Forbidden"})
    assert call(base, "GET", "/comments/review-queue", viewer)[0] == 403
    assert call(base, "GET", f"/instagram-posts/{post}/comments", None)[0] == 401
    status, reviewed = call(base, "PUT", f"/comments/{comment}/review", reviewer, {"label": "bad"})
    assert status == 200, reviewed
    assert reviewed["review"]["reviewer"] == "reviewer-sub"
    assert call(base, "GET", "/reviews/agreement", reviewer)[0] == 200
