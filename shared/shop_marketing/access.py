"""Who may call which route: the product's OAuth scopes and the one rule that assigns them.

In AWS an HTTP API JWT authorizer checks every route but the webhooks (docs/deploy-and-access.md "Deploy",
step 3); the scopes each route demands are written in template.yaml, and a test holds the template to
:data:`ROUTE_SCOPES`.
The local run enforces the same template rules when asked to (``LOCAL_AUTH=enforce``).
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

RESOURCE_SERVER = "shop"
CATALOG_READ = "shop/catalog.read"
CATALOG_WRITE = "shop/catalog.write"
JUDGE = "shop/judge"
MODELS_ADMIN = "shop/models.admin"
REVIEW = "shop/review"
SCOPES = {
    CATALOG_READ: "Read stores, products, banners, posts and their good comments.",
    CATALOG_WRITE: "Change the catalog and its links; make banner images.",
    JUDGE: "Judge comments (paid OpenAI calls) and fetch a post's comments from Instagram.",
    MODELS_ADMIN: "Training files, golden sets, fine-tuning jobs, judges, evaluations and activation.",
    REVIEW: "Review judged comments (a post's comments, the review queue, reviews), agreement and the labelled export.",
}

# People get scopes by role (docs/deploy-and-access.md "Deploy", step 4): the Cognito groups the stack creates
# and what each grants. A person's access token carries the union of their groups' scopes and nothing more
# (functions/people_scopes, Cognito's pre token generation trigger); machines keep their client's scopes.
VIEWERS, REVIEWERS, MARKETERS, ADMINS = "viewers", "reviewers", "marketers", "admins"
GROUP_SCOPES: dict[str, frozenset[str]] = {
    VIEWERS: frozenset({CATALOG_READ}),
    REVIEWERS: frozenset({CATALOG_READ, JUDGE, REVIEW}),
    MARKETERS: frozenset({CATALOG_READ, JUDGE, REVIEW, CATALOG_WRITE}),
    ADMINS: frozenset({CATALOG_READ, JUDGE, REVIEW, CATALOG_WRITE, MODELS_ADMIN}),
}
PUBLIC = None  # routes protected by their own signatures, not by a token

# The rule, first match wins: (method or "*", API Gateway path pattern, scope). "*" in a path matches
# anything, "/" included. Routes other engineers add fall under the same lines.
ROUTE_SCOPES: tuple[tuple[str, str, str | None], ...] = (
    ("*", "/webhooks/*", PUBLIC),
    ("*", "/training-files*", MODELS_ADMIN),
    ("*", "/fine-tuning/*", MODELS_ADMIN),
    ("*", "/golden-sets*", MODELS_ADMIN),
    ("*", "/judges*", MODELS_ADMIN),
    ("*", "/evaluations*", MODELS_ADMIN),
    ("POST", "/comments/judge", JUDGE),
    ("POST", "/instagram-posts/*/comments/fetch", JUDGE),
    ("GET", "/instagram-posts/*/comments", REVIEW),
    ("*", "/comments/*/review", REVIEW),
    ("GET", "/comments/review-queue", REVIEW),
    ("*", "/reviews/*", REVIEW),
    ("GET", "*", CATALOG_READ),
    ("*", "*", CATALOG_WRITE),
)


def scopes_of_groups(groups: list[str] | tuple[str, ...]) -> frozenset[str]:
    """The product scopes a person in ``groups`` may hold (unknown groups grant nothing)."""
    return frozenset().union(*(GROUP_SCOPES.get(group, frozenset()) for group in groups))


def scopes_to_suppress(requested: list[str] | tuple[str, ...], groups: list[str] | tuple[str, ...]) -> list[str]:
    """The requested product scopes (``shop/...``) that ``groups`` do not grant, in request order.

    Scopes of other resource servers (``openid``, ``email``, ``aws.cognito.signin.user.admin``) are
    Cognito's own and stay as they are.
    """
    allowed = scopes_of_groups(groups)
    prefix = f"{RESOURCE_SERVER}/"
    return [scope for scope in dict.fromkeys(requested) if scope.startswith(prefix) and scope not in allowed]


def required_scope(method: str, path: str) -> str | None:
    """The scope a route demands, or ``None`` for a public (signature-protected) webhook."""
    for rule_method, pattern, scope in ROUTE_SCOPES:
        if rule_method in ("*", method.upper()) and fnmatchcase(path, pattern):
            return scope
    raise AssertionError("the last rule matches every route")  # pragma: no cover


def openapi_security_schemes(issuer: str, name: str = "ShopJwt") -> dict[str, Any]:
    """The OpenAPI ``components.securitySchemes`` entry for the API's JWT (Cognito or another issuer).

    Cognito's token endpoint is ``<domain>/oauth2/token``; with another issuer, OpenID Connect discovery
    at ``<issuer>/.well-known/openid-configuration`` tells clients where to get a token.
    """
    return {
        name: {
            "type": "openIdConnect",
            "openIdConnectUrl": f"{issuer.rstrip('/')}/.well-known/openid-configuration",
            "description": "A JWT access token (Authorization: Bearer ...) carrying the route's scope: "
            + "; ".join(f"{scope}: {text}" for scope, text in SCOPES.items()),
        }
    }


def openapi_security(method: str, path: str, name: str = "ShopJwt") -> list[dict[str, list[str]]]:
    """The OpenAPI ``security`` of one operation (empty for the webhooks)."""
    scope = required_scope(method, path)
    return [] if scope is None else [{name: [scope]}]
