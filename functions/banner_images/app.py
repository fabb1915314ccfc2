"""Banner images: ``POST /instagram-posts/{post_id}/banner-images`` turns a post's best good comments
into banner images of a store (201 when any banner was created, 200 when all existed already);
``GET`` on the same path lists the banners linked to the post (what the review console shows).
"""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from shop_marketing.banners import service as banners
from shop_marketing.banners.render import BannerRenderer
from shop_marketing.banners.storage import ImageStore, image_store
from shop_marketing.catalog.schemas import BannerOut
from shop_marketing.config import get_settings, load_or_exit
from shop_marketing.db import session_scope
from shop_marketing.http import Id, create_http_app, errors, json_response, success
from shop_marketing.observability import CORRELATION_ID_PATH, logger, metrics, tracer

load_or_exit(("database_url", "db_secret_arn"))
app = create_http_app()


@cache
def renderer() -> BannerRenderer:
    settings = get_settings()
    return BannerRenderer(settings.banner_image_width, settings.banner_image_height)


@cache
def images() -> ImageStore:
    return image_store(get_settings())


class BannersOut(BaseModel):
    banners: list[BannerOut]


@app.post(
    "/instagram-posts/<post_id>/banner-images",
    responses=success(BannersOut, 201) | success(BannersOut, 200, "The same banners as before") | errors(409),
)
def create_banner_images(post_id: Id, request: banners.BannerImagesRequest):
    views, created = banners.create_banner_images(
        post_id, request, sessions=session_scope, renderer=renderer(), store=images()
    )
    return json_response(201 if created else 200, {"banners": views})


@app.get(
    "/instagram-posts/<post_id>/banner-images",
    responses=success(BannersOut, 200, "The banners linked to the post, newest first"),
)
def list_banner_images(post_id: Id):
    with session_scope() as session:
        return json_response(200, {"banners": banners.post_banners(session, post_id)})


@logger.inject_lambda_context(correlation_id_path=CORRELATION_ID_PATH)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
