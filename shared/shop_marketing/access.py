"""Who may call which route: the product's OAuth scopes and the one rule that assigns them.

In AWS an HTTP API JWT authorizer checks every route but the webhooks (product.md "Access"); the scopes
each route demands are written in template.yaml, and a test holds the template to :data:`ROUTE_SCOPES`.
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
