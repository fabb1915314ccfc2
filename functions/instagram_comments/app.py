"""Instagram comments in: Meta's webhook, fetching a post's comments, and the schedule that fetches.

Declared as two functions in template.yaml, each with only the secrets it reads:
- the webhook (``GET``/``POST /webhooks/instagram``): the subscription handshake, and signed ``comments``
  deliveries stored and queued for judging — no authorizer, the signature protects it;
- the fetcher (``POST /instagram-posts/{post_id}/comments/fetch`` and the EventBridge schedule): every
  page of a post's comments from the Graph API, the new ones queued for judging.
"""

from __future__ import annotations

import base64
from typing import Literal

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from shop_marketing.config import get_settings, load_or_exit
from shop_marketing.http import Id, create_http_app, errors, json_response, success
from shop_marketing.instagram import service as instagram
from shop_marketing.observability import CORRELATION_ID_PATH, logger, metrics, tracer
from shop_marketing.schedules import is_schedule

# Instagram settings are checked when they are needed: the webhook answers 401 and a fetch 503
# (naming the variable) until they are set.
load_or_exit(("database_url", "db_secret_arn"))
app = create_http_app()


class RefusedOut(BaseModel):
    """A comment Instagram's limits refuse (not stored, not judged): its id as sent, and why."""

    instagram_comment_id: str | None
    reason: Literal["malformed_id", "malformed_media_id", "no_media", "no_text", "too_long", "unstorable_text"]
    message: str


class DeliveryOut(BaseModel):
    received: int
    new: int
    queued: int
    refused: list[RefusedOut] = Field(max_length=100, description="at most the first 100 refused comments")


class FetchOut(BaseModel):
    fetched: int
    new: int
    queued: int
    refused: list[RefusedOut] = Field(max_length=100, description="at most the first 100 refused comments")


CHALLENGE: dict[int, OpenAPIResponse] = {
    200: {"description": "The hub.challenge, as plain text", "content": {"text/plain": {"schema": {"type": "string"}}}}
}


@app.get("/webhooks/instagram", responses=CHALLENGE | errors(403))
def verify_subscription():
    challenge = instagram.handshake(app.current_event.query_string_parameters or {}, get_settings())
    return Response(status_code=200, content_type=content_types.TEXT_PLAIN, body=challenge)


# A delivery as Meta sends it; X-Hub-Signature-256 over its bytes is checked before anything reads it.
DELIVERY_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "Instagram's webhook delivery: comments of the account's media",
                    "properties": {
                        "object": {"type": "string", "const": "instagram"},
                        "entry": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "id": {"type": "string"},
                                    "time": {"type": "integer"},
                                    "changes": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {"field": {"type": "string"}, "value": {"type": "object"}},
                                        },
                                    },
                                },
                            },
                        },
                    },
                }
            }
        },
    }
}


@app.post("/webhooks/instagram", responses=success(DeliveryOut) | errors(401), openapi_extensions=DELIVERY_BODY)
def receive_comments():
    event = app.current_event
    # The signature covers the bytes Meta sent: use them exactly, never a re-serialised body.
    raw = base64.b64decode(event.body or "") if event.is_base64_encoded else (event.body or "").encode("utf-8")
    return json_response(200, instagram.receive_delivery(raw, dict(event.headers), settings=get_settings()))


@app.post("/instagram-posts/<post_id>/comments/fetch", responses=success(FetchOut) | errors(502, 504))
def fetch_comments(post_id: Id):
    settings = get_settings()
    result = instagram.fetch_post_comments(post_id, graph=instagram.graph_client(settings), settings=settings)
    return json_response(200, result)


@logger.inject_lambda_context(correlation_id_path=CORRELATION_ID_PATH)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    if is_schedule(event):
        settings = get_settings()
        return instagram.fetch_recent_posts(graph=instagram.graph_client(settings), settings=settings)
    return app.resolve(event, context)
