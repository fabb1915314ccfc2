"""People by role (docs/deploy-and-access.md "Deploy", step 4): Cognito groups, and a token that carries only
their groups' scopes.

The user pool's pre token generation trigger (functions/people_scopes) is run on Cognito's own event
shape (events/people_scopes_pre_token_generation.json); the local run's enforcement then meets the
tokens it shapes — signed JWTs, as API Gateway's authorizer would.
"""

from __future__ import annotations

import copy

import jwt
import pytest

from infra.lambda_runtime import LocalContext
from infra.translate_template import translate
from shop_marketing.access import (
    ADMINS,
    CATALOG_READ,
    CATALOG_WRITE,
    GROUP_SCOPES,
    JUDGE,
    MARKETERS,
    MODELS_ADMIN,
    REVIEW,
    REVIEWERS,
    SCOPES,
    VIEWERS,
)
from tests.foundation.test_access import call, enforcing_api  # noqa: F401 - the local run, enforcing
from tests.support.lambda_invoke import handler_of, sample_event

EVERY_REQUEST = ["openid", "email", *SCOPES]


def trigger(groups: list[str], scopes: list[str] = EVERY_REQUEST) -> dict:
    event = copy.deepcopy(sample_event("people_scopes_pre_token_generation.json"))
    event["request"]["groupConfiguration"]["groupsToOverride"] = groups
    event["request"]["scopes"] = scopes
    return handler_of("people_scopes")(event, LocalContext())


def suppressed(answer: dict) -> set[str]:
    return set(answer["response"]["claimsAndScopeOverrideDetails"]["accessTokenGeneration"]["scopesToSuppress"])


def test_the_groups_grant_what_the_product_names():
    assert GROUP_SCOPES == {
        VIEWERS: {CATALOG_READ},
        REVIEWERS: {CATALOG_READ, JUDGE, REVIEW},
        MARKETERS: {CATALOG_READ, JUDGE, REVIEW, CATALOG_WRITE},
        ADMINS: {CATALOG_READ, JUDGE, REVIEW, CATALOG_WRITE, MODELS_ADMIN},
    }


def test_the_trigger_answers_cognitos_sample_event_for_a_reviewer():
    event = sample_event("people_scopes_pre_token_generation.json")

    answer = handler_of("people_scopes")(copy.deepcopy(event), LocalContext())

    # Cognito's event comes back whole, with only the response filled in
    assert {k: v for k, v in answer.items() if k != "response"} == {k: v for k, v in event.items() if k != "response"}
    assert answer["response"] == {
        "claimsAndScopeOverrideDetails": {"accessTokenGeneration": {"scopesToSuppress": [CATALOG_WRITE, MODELS_ADMIN]}}
    }


@pytest.mark.parametrize("group", [VIEWERS, REVIEWERS, MARKETERS, ADMINS])
def test_a_person_keeps_only_their_groups_product_scopes_and_cognitos_own(group):
    kept = set(EVERY_REQUEST) - suppressed(trigger([group]))

    assert kept == {"openid", "email"} | GROUP_SCOPES[group]


def test_several_groups_grant_the_union_and_no_group_grants_nothing():
    assert set(EVERY_REQUEST) - suppressed(trigger([VIEWERS, REVIEWERS])) == {
        "openid",
        "email",
        CATALOG_READ,
        JUDGE,
        REVIEW,
    }
    assert suppressed(trigger([])) == set(SCOPES)
    assert suppressed(trigger(["shop-owners-typo"])) == set(SCOPES)


def test_a_scope_not_asked_for_is_not_added():
    assert suppressed(trigger([ADMINS], ["openid", CATALOG_READ])) == set()
    assert suppressed(trigger([VIEWERS], ["openid", CATALOG_READ, MODELS_ADMIN])) == {MODELS_ADMIN}


# --- the local run enforcing the template's scopes on people's tokens --------------------------------


def scopes_of(token: str) -> set[str]:
    return set(jwt.decode(token, options={"verify_signature": False})["scope"].split())


def test_a_reviewer_cannot_reach_the_models_admin_routes_and_an_admin_can(enforcing_api):  # noqa: F811
    base, auth = enforcing_api
    reviewer, admin = auth.person_token([REVIEWERS]), auth.person_token([ADMINS])

    assert MODELS_ADMIN not in scopes_of(reviewer) and MODELS_ADMIN in scopes_of(admin)
    assert call(base, "GET", "/judges", reviewer) == (403, {"message": "Forbidden"})
    assert call(base, "POST", "/judges/rollback", reviewer) == (403, {"message": "Forbidden"})
    assert call(base, "GET", "/fine-tuning/jobs/ftjob-x", reviewer) == (403, {"message": "Forbidden"})
    assert call(base, "GET", "/judges", admin) == (200, {"judges": []})
    # Past the authorizer: the route itself answers (nothing to roll back yet)
    status, body = call(base, "POST", "/judges/rollback", admin)
    assert status == 409 and body["error"]["code"] == "nothing_to_roll_back"


def test_each_group_reaches_its_routes_and_no_others(enforcing_api):  # noqa: F811
    base, auth = enforcing_api
    viewer, reviewer, marketer = (auth.person_token([group]) for group in (VIEWERS, REVIEWERS, MARKETERS))
    store = {"name": "Sundae Closet", "naver_store_id": "sundae-closet"}

    # Viewers read, and only read
    assert call(base, "POST", "/stores", viewer, store) == (403, {"message": "Forbidden"})
    assert call(base, "POST", "/comments/judge", viewer, {"comment": "좋아요"}) == (403, {"message": "Forbidden"})
    # Reviewers judge, but do not change the catalog
    assert call(base, "POST", "/stores", reviewer, store) == (403, {"message": "Forbidden"})
    status, body = call(base, "POST", "/comments/judge", reviewer, {"comment": " "})
    assert status == 422  # past the authorizer: the route refuses the blank comment itself
    # Marketers change the catalog, but not the judges
    status, created = call(base, "POST", "/stores", marketer, store)
    assert status == 201
    assert call(base, "GET", f"/stores/{created['id']}", viewer)[0] == 200
    assert call(base, "POST", "/golden-sets", marketer, {}) == (403, {"message": "Forbidden"})


def test_the_local_token_command_prints_a_persons_token(monkeypatch, capsys):
    from infra import local_auth

    monkeypatch.setenv("LOCAL_AUTH", "enforce")
    monkeypatch.setenv("LOCAL_AUTH_SECRET", "local-signing-key-for-tests-only-0123456789")

    local_auth.main(["--groups", MARKETERS])

    token = capsys.readouterr().out.strip()
    claims = jwt.decode(
        token, "local-signing-key-for-tests-only-0123456789", algorithms=["HS256"], options={"verify_aud": False}
    )
    assert claims["cognito:groups"] == [MARKETERS]
    assert set(claims["scope"].split()) == {"openid", "email"} | GROUP_SCOPES[MARKETERS]


# --- the user pool in the template --------------------------------------------------------------------


@pytest.fixture(scope="module")
def translated() -> dict:
    return translate()


def test_the_user_pool_has_the_four_groups_and_the_trigger_and_requires_mfa(translated):
    resources = translated["Resources"]
    pool = resources["UserPool"]
    groups = {r["Properties"]["GroupName"]: r for r in resources.values() if r["Type"] == "AWS::Cognito::UserPoolGroup"}

    assert set(groups) == set(GROUP_SCOPES)
    assert all(
        g["Condition"] == "CreateUserPool" and g["Properties"]["UserPoolId"] == {"Ref": "UserPool"}
        for g in groups.values()
    )
    assert pool["Properties"]["MfaConfiguration"] == "ON"  # admins included: Cognito has no per-group MFA
    assert pool["Properties"]["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
    trigger_config = pool["Properties"]["LambdaConfig"]["PreTokenGenerationConfig"]
    assert trigger_config == {"LambdaArn": {"Ref": "PeopleScopesFunctionAliaslive"}, "LambdaVersion": "V2_0"}
    permission = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Permission" and r["Properties"]["Principal"] == "cognito-idp.amazonaws.com"
    ]
    assert permission == [
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Ref": "PeopleScopesFunctionAliaslive"},
            "Principal": "cognito-idp.amazonaws.com",
            "SourceAccount": {"Ref": "AWS::AccountId"},
            "SourceArn": {"Fn::GetAtt": ["UserPool", "Arn"]},
        }
    ]
    # People may ask for every scope; the trigger decides what they get
    assert set(SCOPES) <= set(resources["PeopleClient"]["Properties"]["AllowedOAuthScopes"])


def test_threat_protection_is_on_where_the_account_allows_and_the_pool_is_kept(translated):
    pool = translated["Resources"]["UserPool"]
    parameter = translated["Parameters"]["ThreatProtection"]

    assert parameter["Default"] == "ENFORCED" and parameter["AllowedValues"] == ["OFF", "AUDIT", "ENFORCED"]
    assert pool["Properties"]["UserPoolAddOns"] == {"AdvancedSecurityMode": {"Ref": "ThreatProtection"}}
    assert pool["Properties"]["UserPoolTier"] == {"Fn::If": ["HasThreatProtection", "PLUS", "ESSENTIALS"]}
    assert (pool["DeletionPolicy"], pool["UpdateReplacePolicy"]) == ("Retain", "Retain")
