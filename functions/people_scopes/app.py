"""Cognito's pre token generation trigger (event version 2): a person's token carries only their groups' scopes.

Cognito calls it when a person signs in (hosted sign-in, SRP, a new-password challenge) and when their
tokens are refreshed, with the person's groups (``request.groupConfiguration.groupsToOverride``) and the
scopes their app client asked for (``request.scopes``). The answer suppresses from the access token
every ``shop/`` scope those groups do not grant (shop_marketing.access.GROUP_SCOPES); a person in no
group gets no product scope at all. Machines (client credentials) never pass through here.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from shop_marketing.access import scopes_to_suppress
from shop_marketing.observability import logger


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = event.get("request") or {}
    groups = (request.get("groupConfiguration") or {}).get("groupsToOverride") or []
    suppressed = scopes_to_suppress(request.get("scopes") or [], groups)
    event["response"] = {"claimsAndScopeOverrideDetails": {"accessTokenGeneration": {"scopesToSuppress": suppressed}}}
    logger.info(
        "scopes by group",
        extra={"trigger": event.get("triggerSource"), "groups": groups, "suppressed": suppressed},
    )
    return event
