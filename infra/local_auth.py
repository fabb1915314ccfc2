"""The API's access rules, enforced locally the way API Gateway's JWT authorizer enforces them in AWS.

The local run serves every route open by default (and says so). With ``LOCAL_AUTH=enforce`` and a
signing key in ``LOCAL_AUTH_SECRET`` it checks the same rules template.yaml gives API Gateway: a route's
``Auth.AuthorizationScopes`` under the API's default authorizer, or no check for ``Authorizer: NONE``.

- no token, a malformed, forged, expired or foreign (issuer, audience) one: 401 ``{"message": "Unauthorized"}``
- a valid token without the route's scope: 403 ``{"message": "Forbidden"}``

Local tokens are HS256 JWTs with ``iss`` ``LOCAL_AUTH_ISSUER`` (``local``), ``client_id`` in
``LOCAL_AUTH_AUDIENCE`` (``shop-local``) and the scopes in ``scope``, as Cognito's access tokens carry
them: ``python -m infra.local_auth shop/catalog.read shop/judge`` prints one. A person's token, as the
user pool issues it, names their groups: ``python -m infra.local_auth --groups reviewers`` asks for
every product scope and keeps what Cognito's pre token generation trigger (functions/people_scopes)
leaves for those groups, with the groups in ``cognito:groups``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import jwt

UNAUTHORIZED = (401, {"Content-Type": "application/json", "WWW-Authenticate": "Bearer"}, b'{"message":"Unauthorized"}')
FORBIDDEN = (403, {"Content-Type": "application/json"}, b'{"message":"Forbidden"}')
PUBLIC = None


def route_scopes(api: dict[str, Any] | None, event: dict[str, Any]) -> tuple[str, ...] | None:
    """The scopes an HttpApi event's route demands under the API's default authorizer (None: public)."""
    default = ((api or {}).get("Properties", {}).get("Auth") or {}).get("DefaultAuthorizer")
    auth = event["Properties"].get("Auth") or {}
    authorizer = auth.get("Authorizer", default)
    if authorizer in (None, "NONE"):
        return PUBLIC
    return tuple(auth.get("AuthorizationScopes", ()))


@dataclass(frozen=True)
class LocalAuth:
    secret: str
    issuer: str = "local"
    audience: tuple[str, ...] = ("shop-local",)
    leeway_seconds: int = field(default=0)

    @classmethod
    def from_environment(cls) -> LocalAuth | None:
        """Enforcing rules when ``LOCAL_AUTH=enforce``; ``None`` (open) when unset or ``open``."""
        mode = os.environ.get("LOCAL_AUTH", "open").strip().lower()
        if mode in ("", "open", "off"):
            return None
        if mode != "enforce":
            raise SystemExit("configuration: LOCAL_AUTH must be open or enforce")
        secret = os.environ.get("LOCAL_AUTH_SECRET", "")
        if len(secret) < 32:
            raise SystemExit(
                "configuration: LOCAL_AUTH_SECRET must be set (at least 32 characters) when LOCAL_AUTH=enforce"
            )
        audience = tuple(a.strip() for a in os.environ.get("LOCAL_AUTH_AUDIENCE", "shop-local").split(",") if a.strip())
        return cls(secret=secret, issuer=os.environ.get("LOCAL_AUTH_ISSUER", "local"), audience=audience)

    def token(
        self,
        scopes: list[str] | tuple[str, ...],
        *,
        lifetime_seconds: int = 3600,
        subject: str = "local-user",
        **claims: Any,
    ) -> str:
        now = int(time.time())
        payload = {
            "iss": self.issuer,
            "sub": subject,
            "client_id": self.audience[0],
            "token_use": "access",
            "scope": " ".join(scopes),
            "iat": now,
            "exp": now + lifetime_seconds,
            **claims,
        }
        return jwt.encode(payload, self.secret, algorithm="HS256")

    def person_token(self, groups: list[str] | tuple[str, ...], *, subject: str = "local-person", **claims: Any) -> str:
        """A person's access token: every product scope asked for, cut down by the user pool's trigger."""
        from shop_marketing.access import SCOPES

        requested = ["openid", "email", *SCOPES]
        event = pre_token_generation_event(groups, requested, subject)
        from infra.lambda_runtime import LocalContext

        answered = people_scopes_trigger()(event, LocalContext())
        suppressed = set(
            answered["response"]["claimsAndScopeOverrideDetails"]["accessTokenGeneration"]["scopesToSuppress"]
        )
        scopes = [scope for scope in requested if scope not in suppressed]
        return self.token(scopes, subject=subject, **{"cognito:groups": list(groups), "username": subject, **claims})

    def claims(self, headers: dict[str, str]) -> dict[str, Any] | None:
        """The token's claims when it is valid for this API, else None."""
        value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        try:
            claims = jwt.decode(
                token.strip(),
                self.secret,
                algorithms=["HS256"],
                issuer=self.issuer,
                leeway=self.leeway_seconds,
                options={"require": ["exp", "iss"], "verify_aud": False},
            )
        except jwt.PyJWTError:
            return None
        # API Gateway accepts a token whose aud, or else client_id, is one of the audiences.
        audiences = claims.get("aud", claims.get("client_id"))
        audiences = [audiences] if isinstance(audiences, str) else list(audiences or [])
        return claims if any(a in self.audience for a in audiences) else None

    def check(
        self, scopes: tuple[str, ...] | None, headers: dict[str, str]
    ) -> tuple[tuple[int, dict, bytes] | None, dict | None]:
        """``(API Gateway's refusal or None, the token's claims or None)`` for a request to a route."""
        if scopes is PUBLIC:
            return None, None
        claims = self.claims(headers)
        if claims is None:
            return UNAUTHORIZED, None
        granted = claims.get("scope", claims.get("scp", ""))
        granted = set(granted.split() if isinstance(granted, str) else granted)
        # Like API Gateway: any one of the route's scopes suffices.
        if scopes and not granted.intersection(scopes):
            return FORBIDDEN, None
        return None, claims


def pre_token_generation_event(groups, scopes, subject: str) -> dict[str, Any]:
    """The event Cognito sends its pre token generation trigger (version 2) for a hosted sign-in."""
    return {
        "version": "2",
        "triggerSource": "TokenGeneration_HostedAuth",
        "region": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        "userPoolId": "local_pool",
        "userName": subject,
        "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "shop-local"},
        "request": {
            "userAttributes": {"sub": subject, "cognito:user_status": "CONFIRMED"},
            "groupConfiguration": {"groupsToOverride": list(groups), "iamRolesToOverride": [], "preferredRole": None},
            "scopes": list(scopes),
        },
        "response": {"claimsAndScopeOverrideDetails": None},
    }


def people_scopes_trigger():
    """The user pool's pre token generation trigger, imported as Lambda imports it."""
    from pathlib import Path

    from infra.lambda_runtime import load_handler

    return load_handler(Path(__file__).resolve().parents[1] / "functions" / "people_scopes")


def authorizer_context(claims: dict[str, Any]) -> dict[str, Any]:
    """The ``requestContext.authorizer`` API Gateway passes to the function for a JWT."""
    scopes = claims.get("scope", "")
    return {
        "jwt": {
            "claims": {k: str(v) for k, v in claims.items()},
            "scopes": scopes.split() if isinstance(scopes, str) else scopes,
        }
    }


def main(argv: list[str] | None = None) -> None:
    arguments = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("LOCAL_AUTH", "enforce")
    auth = LocalAuth.from_environment()
    if auth is None:  # LOCAL_AUTH=open in the environment: there is nothing to sign with
        raise SystemExit("LOCAL_AUTH=open: tokens are made with LOCAL_AUTH=enforce and LOCAL_AUTH_SECRET")
    if arguments[:1] == ["--groups"]:
        token = auth.person_token(arguments[1:])
        scopes = jwt.decode(token, options={"verify_signature": False})["scope"].split()
    else:
        scopes = arguments
        token = auth.token(scopes)
    print(token)
    print(json.dumps({"scopes": scopes, "issuer": auth.issuer, "client_id": auth.audience[0]}), file=sys.stderr)


if __name__ == "__main__":
    main()
