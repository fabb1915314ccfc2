"""Banner images (docs/instagram-and-banners.md "Banner images"): a post's best good comments become banners
of a store.

1. In one short transaction: the post, the store and the product (when given) are checked, and the
   post's comments labelled ``good`` are read (a review's label, else the latest verdict), best first,
   one per author, leaving out the shop's own and those with nothing the font can draw.
2. Each chosen comment gets an image key derived from what the image shows; only images whose key the
   store does not have yet are rendered and stored (object writes are idempotent by key).
3. In a second transaction, under a per-store lock: a banner per image key — found again, or created
   with its ``banner_images`` row (unique ``(store_id, image_key)``) — linked to the post and product.

The same request again renders nothing, writes nothing new and answers the same banners.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from ..catalog.service import banner_view
from ..errors import DomainError, NotFound, StoreMismatch
from ..hashing import text_sha256
from ..models import MAX_ID, InstagramPost, NaverImageBanner, NaverProduct, NaverStore, banner_instagram_posts
from ..models.banner_images import BannerImage
from ..models.base import IdMixin
from ..models.reviews import InstagramComment, good_comments_of_post
from .render import LAYOUT_VERSION, BannerRenderer
from .storage import ImageStore
from .text import ELLIPSIS, clusters, drawable_text

SessionFactory = Callable[[], AbstractContextManager[Session]]
IMAGE_KEY = re.compile(r"^[0-9a-f]{64}\.png$")
# Namespace of the per-store advisory lock taken while banners are found or created.
LOCK_NAMESPACE = 0x42414E  # "BAN"
TITLE_CLUSTERS = 60
# At most this many good comments are read to choose from (one per author, drawable).
CANDIDATE_LIMIT = 500
# A post's banners listed at most (newest first).
BANNERS_SHOWN = 100


class NotEnoughGoodComments(DomainError):
    status = 409
    code = "not_enough_good_comments"


class BannerImagesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store_id: Annotated[int, Field(ge=1, le=MAX_ID, strict=True)]
    product_id: Annotated[int, Field(ge=1, le=MAX_ID, strict=True)] | None = None
    count: Annotated[int, Field(ge=1, le=10, strict=True)] = 3


@dataclass(frozen=True)
class Chosen:
    comment_id: int
    text: str  # as drawn
    handle: str
    image_key: str


def image_key(text: str, handle: str, store_name: str, width: int, height: int) -> str:
    """The key of the image showing exactly this: same content, same key, one object."""
    content = json.dumps([LAYOUT_VERSION, width, height, text, handle, store_name], ensure_ascii=False)
    return text_sha256(content) + ".png"


def _title(text_: str, handle: str) -> str:
    parts = clusters(text_.replace("\n", " "))
    shown = "".join(parts[:TITLE_CLUSTERS]) + (ELLIPSIS if len(parts) > TITLE_CLUSTERS else "")
    return f"{handle} — {shown}"[:300]


def _check_request(session: Session, post_id: int, request: BannerImagesRequest) -> tuple[InstagramPost, NaverStore]:
    post = session.get(InstagramPost, post_id)
    if post is None:
        raise NotFound(f"Instagram post {post_id} does not exist.")
    store = session.get(NaverStore, request.store_id)
    if store is None:
        raise NotFound(f"Store {request.store_id} does not exist.")
    if request.product_id is not None:
        product = session.get(NaverProduct, request.product_id)
        if product is None:
            raise NotFound(f"Product {request.product_id} does not exist.")
        if product.store_id != store.id:
            raise StoreMismatch(f"Product {product.id} belongs to store {product.store_id}, not store {store.id}.")
    return post, store


def choose_comments(
    session: Session, post_id: int, count: int, store_name: str, renderer: BannerRenderer
) -> list[Chosen]:
    """The post's best comments labelled good (reviewed good first, then most confident), one per
    author, drawable."""
    # Good by label: a reviewer's label wins over the judge's verdict, both ways.
    query = select(
        InstagramComment.id, InstagramComment.text, InstagramComment.author_id, InstagramComment.author_username
    )
    rows = session.execute(
        good_comments_of_post(query, post_id).where(~InstagramComment.by_shop).limit(CANDIDATE_LIMIT)
    ).all()
    chosen: list[Chosen] = []
    authors: set[str] = set()
    for row in rows:
        author = row.author_id or (row.author_username and f"@{row.author_username}") or f"comment:{row.id}"
        drawn = drawable_text(row.text)
        if author in authors or not drawn:
            continue
        authors.add(author)
        handle = f"@{row.author_username}" if row.author_username else "Instagram"
        key = image_key(drawn, handle, store_name, renderer.width, renderer.height)
        chosen.append(Chosen(comment_id=row.id, text=drawn, handle=handle, image_key=key))
    if len(chosen) < count:
        raise NotEnoughGoodComments(
            f"Instagram post {post_id} has {len(chosen)} usable good comment(s) (one per author); {count} wanted.",
            available=len(chosen),
            requested=count,
        )
    return chosen[:count]


def _existing_keys(session: Session, store_id: int, keys: list[str]) -> set[str]:
    found = session.scalars(
        select(BannerImage.image_key).where(BannerImage.store_id == store_id, BannerImage.image_key.in_(keys))
    )
    return set(found)


def _lock_for_share(session: Session, model: type[IdMixin], id_: int, label: str) -> None:
    if session.scalar(select(model.id).where(model.id == id_).with_for_update(key_share=True)) is None:
        raise NotFound(f"{label} {id_} does not exist.")


def _banner_for(
    session: Session, post_id: int, request: BannerImagesRequest, item: Chosen, url: str
) -> tuple[int, bool]:
    existing = session.scalar(
        select(BannerImage.banner_id).where(
            BannerImage.store_id == request.store_id, BannerImage.image_key == item.image_key
        )
    )
    created = existing is None
    if existing is None:
        banner = NaverImageBanner(
            store_id=request.store_id,
            product_id=request.product_id,
            image_url=url,
            title=_title(item.text, item.handle),
        )
        session.add(banner)
        session.flush()
        session.add(
            BannerImage(
                banner_id=banner.id,
                store_id=request.store_id,
                image_key=item.image_key,
                comment_id=item.comment_id,
                post_id=post_id,
            )
        )
        banner_id = banner.id
    else:
        banner_id = existing
        if request.product_id is not None:
            session.get_one(NaverImageBanner, banner_id).product_id = request.product_id
    session.execute(
        insert(banner_instagram_posts).values(banner_id=banner_id, post_id=post_id).on_conflict_do_nothing()
    )
    return banner_id, created


def post_banners(session: Session, post_id: int, limit: int = BANNERS_SHOWN) -> list[dict[str, Any]]:
    """The banners linked to the post, newest first (404 for an unknown post)."""
    if session.get(InstagramPost, post_id) is None:
        raise NotFound(f"Instagram post {post_id} does not exist.")
    banner_ids = session.scalars(
        select(banner_instagram_posts.c.banner_id)
        .where(banner_instagram_posts.c.post_id == post_id)
        .order_by(banner_instagram_posts.c.banner_id.desc())
        .limit(limit)
    ).all()
    return [banner_view(session, banner_id) for banner_id in banner_ids]


def create_banner_images(
    post_id: int,
    request: BannerImagesRequest,
    *,
    sessions: SessionFactory,
    renderer: BannerRenderer,
    store: ImageStore,
) -> tuple[list[dict[str, Any]], bool]:
    """The banners for the post's best good comments, and whether any was created by this call."""
    with sessions() as session:
        _, naver_store = _check_request(session, post_id, request)
        chosen = choose_comments(session, post_id, request.count, naver_store.name, renderer)
        present = _existing_keys(session, request.store_id, [item.image_key for item in chosen])

    for item in chosen:
        if item.image_key not in present:
            store.put(item.image_key, renderer.render(item.text, item.handle, naver_store.name).png)

    with sessions() as session:
        # Serialise banner creation per store: two identical requests make one set of banners.
        session.execute(
            text("SELECT pg_advisory_xact_lock(:namespace, :store)"),
            {"namespace": LOCK_NAMESPACE, "store": request.store_id % 2**31},
        )
        _lock_for_share(session, NaverStore, request.store_id, "Store")
        _lock_for_share(session, InstagramPost, post_id, "Instagram post")
        if request.product_id is not None:
            _lock_for_share(session, NaverProduct, request.product_id, "Product")
        results = [_banner_for(session, post_id, request, item, store.url(item.image_key)) for item in chosen]
        session.flush()
        views = [banner_view(session, banner_id) for banner_id, _ in results]
    return views, any(created for _, created in results)
