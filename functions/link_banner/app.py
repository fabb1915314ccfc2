"""Link or unlink banner: the Naver/Instagram catalog and the links between banners, products and posts.

Routes (docs/walkthrough.md "A walk through the seed scenario") parse and validate the request, call one
catalog service function in one transaction, and shape the answer. Errors are translated in shop_marketing.http.
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from shop_marketing.catalog import service as catalog
from shop_marketing.catalog.schemas import BannerOut, PostOut, ProductOut, StoreOut
from shop_marketing.config import load_or_exit
from shop_marketing.db import session_scope
from shop_marketing.http import Id, create_http_app, errors, json_response, success
from shop_marketing.models.base import StrictId
from shop_marketing.observability import CORRELATION_ID_PATH, logger, metrics, tracer
from shop_marketing.safe_json import StorableStr

load_or_exit(("database_url", "db_secret_arn"))
app = create_http_app()

Text = Annotated[StorableStr, Field(min_length=1, max_length=200)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class StoreIn(Body):
    name: Text
    naver_store_id: Annotated[StorableStr, Field(min_length=1, max_length=100)]


class ProductIn(Body):
    naver_product_no: Annotated[StorableStr, Field(min_length=1, max_length=100)]
    name: Annotated[StorableStr, Field(min_length=1, max_length=300)]


class BannerIn(Body):
    image_url: HttpUrl
    title: Annotated[StorableStr, Field(max_length=300)] | None = None


class PostIn(Body):
    instagram_media_id: Annotated[StorableStr, Field(min_length=1, max_length=100)]
    permalink: HttpUrl | None = None
    caption: Annotated[StorableStr, Field(max_length=2200)] | None = None


class ProductLinkIn(Body):
    product_id: StrictId


# --- answers, as /openapi.json documents them ----------------------------------------------------


GONE = success(None, 204, "Deleted")
# Lists answer at most this many (stores oldest first, posts newest first).
Limit = Annotated[int, Query(ge=1, le=200)]


class StoresOut(BaseModel):
    stores: list[StoreOut]


class PostsOut(BaseModel):
    posts: list[PostOut]


@app.post("/stores", responses=success(StoreOut, 201) | errors(409))
def create_store(store: StoreIn):
    with session_scope() as session:
        return json_response(201, catalog.create_store(session, **store.model_dump()))


@app.get("/stores", responses=success(StoresOut))
def list_stores(limit: Limit = 100):
    with session_scope() as session:
        return json_response(200, {"stores": catalog.list_stores(session, limit)})


@app.get("/stores/<store_id>", responses=success(StoreOut))
def get_store(store_id: Id):
    with session_scope() as session:
        return json_response(200, catalog.get_store(session, store_id))


@app.delete("/stores/<store_id>", responses=GONE)
def delete_store(store_id: Id):
    with session_scope() as session:
        catalog.delete_store(session, store_id)
    return json_response(204)


@app.post("/stores/<store_id>/products", responses=success(ProductOut, 201) | errors(409))
def create_product(store_id: Id, product: ProductIn):
    with session_scope() as session:
        return json_response(201, catalog.create_product(session, store_id, **product.model_dump()))


@app.delete("/products/<product_id>", responses=GONE)
def delete_product(product_id: Id):
    with session_scope() as session:
        catalog.delete_product(session, product_id)
    return json_response(204)


@app.post("/stores/<store_id>/banners", responses=success(BannerOut, 201))
def create_banner(store_id: Id, banner: BannerIn):
    with session_scope() as session:
        view = catalog.create_banner(session, store_id, image_url=str(banner.image_url), title=banner.title)
    return json_response(201, view)


@app.get("/banners/<banner_id>", responses=success(BannerOut))
def get_banner(banner_id: Id):
    with session_scope() as session:
        return json_response(200, catalog.banner_view(session, banner_id))


@app.delete("/banners/<banner_id>", responses=GONE)
def delete_banner(banner_id: Id):
    with session_scope() as session:
        catalog.delete_banner(session, banner_id)
    return json_response(204)


@app.post("/instagram-posts", responses=success(PostOut, 201) | errors(409))
def create_post(post: PostIn):
    with session_scope() as session:
        view = catalog.create_post(
            session,
            instagram_media_id=post.instagram_media_id,
            permalink=str(post.permalink) if post.permalink else None,
            caption=post.caption,
        )
    return json_response(201, view)


@app.get("/instagram-posts", responses=success(PostsOut))
def list_posts(limit: Limit = 50):
    with session_scope() as session:
        return json_response(200, {"posts": catalog.list_posts(session, limit)})


@app.delete("/instagram-posts/<post_id>", responses=GONE)
def delete_post(post_id: Id):
    with session_scope() as session:
        catalog.delete_post(session, post_id)
    return json_response(204)


@app.put("/banners/<banner_id>/product", responses=success(BannerOut) | errors(409))
def link_product(banner_id: Id, link: ProductLinkIn):
    with session_scope() as session:
        return json_response(200, catalog.link_banner_product(session, banner_id, link.product_id))


@app.delete("/banners/<banner_id>/product", responses=success(BannerOut))
def unlink_product(banner_id: Id):
    with session_scope() as session:
        return json_response(200, catalog.unlink_banner_product(session, banner_id))


@app.put("/banners/<banner_id>/instagram-posts/<post_id>", responses=success(BannerOut))
def link_post(banner_id: Id, post_id: Id):
    with session_scope() as session:
        return json_response(200, catalog.link_banner_post(session, banner_id, post_id))


@app.delete("/banners/<banner_id>/instagram-posts/<post_id>", responses=success(BannerOut))
def unlink_post(banner_id: Id, post_id: Id):
    with session_scope() as session:
        return json_response(200, catalog.unlink_banner_post(session, banner_id, post_id))


@logger.inject_lambda_context(correlation_id_path=CORRELATION_ID_PATH)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
