"""The catalog's answers as pydantic models: what the OpenAPI description says each route returns.

The banner view is shared: the banner-images route answers with the same banners.
"""

from __future__ import annotations

from pydantic import BaseModel


class StoreOut(BaseModel):
    id: int
    naver_store_id: str
    name: str
    created_at: str
    product_count: int
    banner_count: int


class ProductOut(BaseModel):
    id: int
    store_id: int
    naver_product_no: str
    name: str
    created_at: str


class PostOut(BaseModel):
    id: int
    instagram_media_id: str
    permalink: str | None
    caption: str | None
    created_at: str


class BannerOut(BaseModel):
    id: int
    store_id: int
    image_url: str
    title: str | None
    product: ProductOut | None
    instagram_posts: list[PostOut]
    created_at: str
