"""Catalog rules: stores, products, banners, Instagram posts, and the links between them.

Every function takes a session and returns plain dicts ready for JSON. Duplicates are prevented by
the database's unique constraints with ``INSERT ... ON CONFLICT``, so concurrent identical requests
give one row and a clean 409, never a 500. Deletes are single statements; the database cascades.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, selectinload

from ..errors import Duplicate, NotFound, StoreMismatch
from ..models import InstagramPost, NaverImageBanner, NaverProduct, NaverStore, banner_instagram_posts

def _store_view(store: NaverStore, products: int = 0, banners: int = 0) -> dict[str, Any]:
    return {
        "id": store.id,
        "naver_store_id": store.naver_store_id,
        "name": store.name,
        "created_at": store.created_at.isoformat(),
        "product_count": products,
        "banner_count": banners,
    }


def _product_view(product: NaverProduct) -> dict[str, Any]:
    return {
        "id": product.id,
        "store_id": product.store_id,
        "naver_product_no": product.naver_product_no,
        "name": product.name,
        "created_at": product.created_at.isoformat(),
    }


def _post_view(post: InstagramPost) -> dict[str, Any]:
    return {
        "id": post.id,
        "instagram_media_id": post.instagram_media_id,
        "permalink": post.permalink,
        "caption": post.caption,
        "created_at": post.created_at.isoformat(),
    }


def _banner_view(banner: NaverImageBanner) -> dict[str, Any]:
    return {
        "id": banner.id,
        "store_id": banner.store_id,
        "image_url": banner.image_url,
        "title": banner.title,
        "product": _product_view(banner.product) if banner.product else None,
        "instagram_posts": [_post_view(post) for post in banner.instagram_posts],
        "created_at": banner.created_at.isoformat(),
    }


def _insert_unique(session: Session, model: type, values: dict[str, Any], unique: list[str]):
    """Insert a row unless one with the same unique key exists; returns (row, created)."""
    created = session.scalar(
        insert(model).values(**values).on_conflict_do_nothing(index_elements=unique).returning(model)
    )
    if created is not None:
        return created, True
    existing = session.scalar(select(model).filter_by(**{name: values[name] for name in unique}))
    return existing, False


def _get(session: Session, model: type, id_: int, label: str, *, lock: bool = False):
    statement = select(model).where(model.id == id_)
    if lock:
        # FOR KEY SHARE: the row cannot be deleted until this transaction ends, yet others may read it.
        statement = statement.with_for_update(key_share=True)
    row = session.scalar(statement)
    if row is None:
        raise NotFound(f"{label} {id_} does not exist.")
    return row


# --- stores -------------------------------------------------------------------------------------


def create_store(session: Session, *, naver_store_id: str, name: str) -> dict[str, Any]:
    store, created = _insert_unique(
        session, NaverStore, {"naver_store_id": naver_store_id, "name": name}, ["naver_store_id"]
    )
    if not created:
        raise Duplicate(f"A store with naver_store_id {naver_store_id!r} exists already.", existing_id=store.id)
    return _store_view(store)


def get_store(session: Session, store_id: int) -> dict[str, Any]:
    store = _get(session, NaverStore, store_id, "Store")
    products = select(func.count()).where(NaverProduct.store_id == store_id).scalar_subquery()
    banners = select(func.count()).where(NaverImageBanner.store_id == store_id).scalar_subquery()
    product_count, banner_count = session.execute(select(products, banners)).one()
    return _store_view(store, product_count, banner_count)


def delete_store(session: Session, store_id: int) -> None:
    """The database removes the store's products, banners and their links; posts stay."""
    _delete_one(session, NaverStore, store_id, "Store")


def _delete_one(session: Session, model: type, id_: int, label: str) -> None:
    deleted = session.scalar(delete(model).where(model.id == id_).returning(model.id))
    if deleted is None:
        raise NotFound(f"{label} {id_} does not exist.")


# --- products -----------------------------------------------------------------------------------


def create_product(session: Session, store_id: int, *, naver_product_no: str, name: str) -> dict[str, Any]:
    _get(session, NaverStore, store_id, "Store", lock=True)
    product, created = _insert_unique(
        session,
        NaverProduct,
        {"store_id": store_id, "naver_product_no": naver_product_no, "name": name},
        ["store_id", "naver_product_no"],
    )
    if not created:
        raise Duplicate(
            f"Store {store_id} already has product number {naver_product_no!r}.", existing_id=product.id
        )
    return _product_view(product)


def delete_product(session: Session, product_id: int) -> None:
    """Banners that pointed at the product stay, with no product (ON DELETE SET NULL (product_id))."""
    _delete_one(session, NaverProduct, product_id, "Product")


# --- banners ------------------------------------------------------------------------------------


def create_banner(session: Session, store_id: int, *, image_url: str, title: str | None) -> dict[str, Any]:
    _get(session, NaverStore, store_id, "Store", lock=True)
    banner = NaverImageBanner(store_id=store_id, image_url=image_url, title=title)
    session.add(banner)
    session.flush()
    return banner_view(session, banner.id)


def banner_view(session: Session, banner_id: int) -> dict[str, Any]:
    banner = session.scalar(
        select(NaverImageBanner)
        .where(NaverImageBanner.id == banner_id)
        .options(selectinload(NaverImageBanner.product), selectinload(NaverImageBanner.instagram_posts))
        .execution_options(populate_existing=True)
    )
    if banner is None:
        raise NotFound(f"Banner {banner_id} does not exist.")
    return _banner_view(banner)


def delete_banner(session: Session, banner_id: int) -> None:
    """One DELETE: the database drops the banner's links; its product and posts are untouched."""
    _delete_one(session, NaverImageBanner, banner_id, "Banner")


# --- Instagram posts ----------------------------------------------------------------------------


def create_post(
    session: Session, *, instagram_media_id: str, permalink: str | None, caption: str | None
) -> dict[str, Any]:
    post, created = _insert_unique(
        session,
        InstagramPost,
        {"instagram_media_id": instagram_media_id, "permalink": permalink, "caption": caption},
        ["instagram_media_id"],
    )
    if not created:
        raise Duplicate(f"Instagram media {instagram_media_id!r} is registered already.", existing_id=post.id)
    return _post_view(post)


def delete_post(session: Session, post_id: int) -> None:
    """Banners stay; the database drops only the post's links."""
    _delete_one(session, InstagramPost, post_id, "Instagram post")


# --- links --------------------------------------------------------------------------------------


def link_banner_product(session: Session, banner_id: int, product_id: int) -> dict[str, Any]:
    banner = _get(session, NaverImageBanner, banner_id, "Banner", lock=True)
    product = _get(session, NaverProduct, product_id, "Product", lock=True)
    if product.store_id != banner.store_id:
        raise StoreMismatch(
            f"Product {product_id} belongs to store {product.store_id}, banner {banner_id} to store {banner.store_id}."
        )
    banner.product_id = product_id
    session.flush()
    return banner_view(session, banner_id)


def unlink_banner_product(session: Session, banner_id: int) -> dict[str, Any]:
    banner = _get(session, NaverImageBanner, banner_id, "Banner", lock=True)
    banner.product_id = None
    session.flush()
    return banner_view(session, banner_id)


def link_banner_post(session: Session, banner_id: int, post_id: int) -> dict[str, Any]:
    _get(session, NaverImageBanner, banner_id, "Banner", lock=True)
    _get(session, InstagramPost, post_id, "Instagram post", lock=True)
    # Linking twice leaves one link: the primary key (banner_id, post_id) absorbs the repeat. The
    # row locks above keep both ends from being deleted before this transaction commits.
    session.execute(
        insert(banner_instagram_posts).values(banner_id=banner_id, post_id=post_id).on_conflict_do_nothing()
    )
    return banner_view(session, banner_id)


def unlink_banner_post(session: Session, banner_id: int, post_id: int) -> dict[str, Any]:
    _get(session, NaverImageBanner, banner_id, "Banner")
    _get(session, InstagramPost, post_id, "Instagram post")
    session.execute(
        delete(banner_instagram_posts).where(
            banner_instagram_posts.c.banner_id == banner_id, banner_instagram_posts.c.post_id == post_id
        )
    )
    return banner_view(session, banner_id)
