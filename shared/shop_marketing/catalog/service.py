"""Catalog rules: stores, products, banners, Instagram posts, and the links between them.

Every function takes a session and returns plain dicts ready for JSON. Duplicates are prevented by
the database's unique constraints with ``INSERT ... ON CONFLICT``, so concurrent identical requests
give one row and a clean 409, never a 500. Deletes are single statements; the database cascades.

Each route makes the fewest round trips its contract allows: a banner is read in one statement (its
product and posts joined), a link or unlink checks both ends and writes in one statement, then reads
the banner. Rows that must not be deleted meanwhile are locked ``FOR KEY SHARE``: a delete waits,
while concurrent links of the same banner or post (which take the same lock) do not wait for each other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    CTE,
    BindParameter,
    CursorResult,
    Delete,
    Row,
    Select,
    Table,
    bindparam,
    delete,
    func,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.orm import Session

from ..errors import Duplicate, NotFound, StoreMismatch
from ..models import InstagramPost, NaverImageBanner, NaverProduct, NaverStore, banner_instagram_posts
from ..models.base import IdMixin

# The link's insert or delete, made from the banner's and the other end's CTEs (see _both_ends).
_Write = Callable[[CTE, CTE], Insert | Delete]


def _store_view(store: NaverStore, products: int = 0, banners: int = 0) -> dict[str, Any]:
    return {
        "id": store.id,
        "naver_store_id": store.naver_store_id,
        "name": store.name,
        "created_at": store.created_at.isoformat(),
        "product_count": products,
        "banner_count": banners,
    }


def _product_view(product: Any) -> dict[str, Any]:
    return {
        "id": product.id,
        "store_id": product.store_id,
        "naver_product_no": product.naver_product_no,
        "name": product.name,
        "created_at": product.created_at.isoformat(),
    }


def _post_view(post: Any) -> dict[str, Any]:
    return {
        "id": post.id,
        "instagram_media_id": post.instagram_media_id,
        "permalink": post.permalink,
        "caption": post.caption,
        "created_at": post.created_at.isoformat(),
    }


# A declarative model's __table__ is its Table (SQLAlchemy types it as any FromClause).
_BANNERS = cast(Table, NaverImageBanner.__table__)
_PRODUCTS = cast(Table, NaverProduct.__table__)
_POSTS = cast(Table, InstagramPost.__table__)
_LINKS = banner_instagram_posts

# The banner, its product and its posts in one statement: one row per post (one row if it has none).
_BANNER_ROWS = (
    select(
        _BANNERS.c.id,
        _BANNERS.c.store_id,
        _BANNERS.c.image_url,
        _BANNERS.c.title,
        _BANNERS.c.created_at,
        *(column.label(f"product_{column.name}") for column in _PRODUCTS.c),
        *(column.label(f"post_{column.name}") for column in _POSTS.c),
    )
    .select_from(
        _BANNERS.outerjoin(_PRODUCTS, _PRODUCTS.c.id == _BANNERS.c.product_id)
        .outerjoin(_LINKS, _LINKS.c.banner_id == _BANNERS.c.id)
        .outerjoin(_POSTS, _POSTS.c.id == _LINKS.c.post_id)
    )
    .where(_BANNERS.c.id == bindparam("banner_id"))
    .order_by(_POSTS.c.id)
)


def _prefixed(row: Any, prefix: str, table: Table) -> dict[str, Any]:
    return {column.name: row[f"{prefix}_{column.name}"] for column in table.c}


def _banner_view(rows: Sequence[Any]) -> dict[str, Any]:
    banner = rows[0]
    product = _Row(_prefixed(banner, "product", _PRODUCTS)) if banner["product_id"] is not None else None
    return {
        "id": banner["id"],
        "store_id": banner["store_id"],
        "image_url": banner["image_url"],
        "title": banner["title"],
        "product": _product_view(product) if product else None,
        "instagram_posts": [
            _post_view(_Row(_prefixed(row, "post", _POSTS))) for row in rows if row["post_id"] is not None
        ],
        "created_at": banner["created_at"].isoformat(),
    }


class _Row(dict[str, Any]):
    """A dict read by attribute, so the row views serve ORM objects and joined rows alike."""

    __getattr__ = dict.__getitem__


def _insert_unique[Model: IdMixin](
    session: Session, model: type[Model], values: dict[str, Any], unique: list[str]
) -> tuple[Model, bool]:
    """Insert a row unless one with the same unique key exists; returns (row, created)."""
    while True:
        created = session.scalar(
            insert(model).values(**values).on_conflict_do_nothing(index_elements=unique).returning(model)
        )
        if created is not None:
            return created, True
        existing = session.scalar(select(model).filter_by(**{name: values[name] for name in unique}))
        if existing is not None:
            return existing, False
        # The row the insert met was deleted since (by another transaction): insert again.


def _get[Model: IdMixin](session: Session, model: type[Model], id_: int, label: str, *, lock: bool = False) -> Model:
    statement = select(model).where(model.id == id_)
    if lock:
        # FOR KEY SHARE: the row cannot be deleted until this transaction ends; others may read it and
        # take the same lock (``key_share=True`` alone renders FOR NO KEY UPDATE, which conflicts with itself).
        statement = statement.with_for_update(read=True, key_share=True)
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


def list_stores(session: Session, limit: int) -> list[dict[str, Any]]:
    """The stores, oldest first, each with its counts (two grouped subqueries, one statement)."""
    products = select(NaverProduct.store_id, func.count().label("n")).group_by(NaverProduct.store_id).subquery()
    banners = select(NaverImageBanner.store_id, func.count().label("n")).group_by(NaverImageBanner.store_id).subquery()
    rows = session.execute(
        select(NaverStore, func.coalesce(products.c.n, 0), func.coalesce(banners.c.n, 0))
        .outerjoin(products, products.c.store_id == NaverStore.id)
        .outerjoin(banners, banners.c.store_id == NaverStore.id)
        .order_by(NaverStore.id)
        .limit(limit)
    ).all()
    return [_store_view(store, product_count, banner_count) for store, product_count, banner_count in rows]


def delete_store(session: Session, store_id: int) -> None:
    """The database removes the store's products, banners and their links; posts stay."""
    _delete_one(session, NaverStore, store_id, "Store")


def _delete_one(session: Session, model: type[IdMixin], id_: int, label: str) -> None:
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
        raise Duplicate(f"Store {store_id} already has product number {naver_product_no!r}.", existing_id=product.id)
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
    rows = session.execute(_BANNER_ROWS, {"banner_id": banner_id}).mappings().all()
    if not rows:
        raise NotFound(f"Banner {banner_id} does not exist.")
    return _banner_view(rows)


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


def list_posts(session: Session, limit: int) -> list[dict[str, Any]]:
    """The newest Instagram posts first."""
    posts = session.scalars(select(InstagramPost).order_by(InstagramPost.id.desc()).limit(limit))
    return [_post_view(post) for post in posts]


def delete_post(session: Session, post_id: int) -> None:
    """Banners stay; the database drops only the post's links."""
    _delete_one(session, InstagramPost, post_id, "Instagram post")


# --- links --------------------------------------------------------------------------------------


def _link_post(banner: CTE, post: CTE) -> Insert:
    # Linking twice leaves one link: the primary key (banner_id, post_id) absorbs the repeat.
    return (
        insert(_LINKS)
        .from_select(["banner_id", "post_id"], select(banner.c.id, post.c.id).select_from(banner.join(post, true())))
        .on_conflict_do_nothing()
    )


def _unlink_post(banner: CTE, post: CTE) -> Delete:
    return delete(_LINKS).where(_LINKS.c.banner_id == bindparam("banner_id"), _LINKS.c.post_id == bindparam("other_id"))


@cache
def _both_ends_statement(other: Table, lock: bool, write: _Write | None) -> Select[Any, Any, Any, Any]:
    """The statement of :func:`_both_ends`, built once per kind (its ids are parameters), so a request
    pays neither for building it nor for compiling it."""
    ends: list[CTE] = []
    ids: tuple[tuple[Table, BindParameter[Any]], ...] = (
        (_BANNERS, bindparam("banner_id")),
        (other, bindparam("other_id")),
    )
    for table, id_ in ids:
        end = select(table.c.id, table.c.store_id if "store_id" in table.c else literal(None).label("store_id"))
        end = end.where(table.c.id == id_)
        ends.append((end.with_for_update(read=True, key_share=True) if lock else end).cte())
    banner, other_end = ends
    statement = select(
        select(banner.c.id).scalar_subquery().label("banner"),
        select(banner.c.store_id).scalar_subquery().label("banner_store"),
        select(other_end.c.id).scalar_subquery().label("other"),
        select(other_end.c.store_id).scalar_subquery().label("other_store"),
    )
    if write is not None:
        statement = statement.add_cte(write(banner, other_end).cte("write"))
    return statement


def _both_ends(
    session: Session,
    banner_id: int,
    other: Table,
    other_id: int,
    other_label: str,
    *,
    lock: bool,
    write: _Write | None = None,
) -> Row[Any, Any, Any, Any]:
    """Check (and lock, ``FOR KEY SHARE``) the banner and the other end in one statement, running
    ``write`` in it too.

    ``write`` makes a data-modifying statement (the link's insert or delete) that runs as part of the
    same statement; it changes nothing when either end is missing, and then the caller's 404 rolls it back.
    """
    found = session.execute(
        _both_ends_statement(other, lock, write), {"banner_id": banner_id, "other_id": other_id}
    ).one()
    if found.banner is None:
        raise NotFound(f"Banner {banner_id} does not exist.")
    if found.other is None:
        raise NotFound(f"{other_label} {other_id} does not exist.")
    return found


def link_banner_product(session: Session, banner_id: int, product_id: int) -> dict[str, Any]:
    found = _both_ends(session, banner_id, _PRODUCTS, product_id, "Product", lock=True)
    if found.other_store != found.banner_store:
        raise StoreMismatch(
            f"Product {product_id} belongs to store {found.other_store}, "
            f"banner {banner_id} to store {found.banner_store}."
        )
    session.execute(update(_BANNERS).where(_BANNERS.c.id == banner_id).values(product_id=product_id))
    return banner_view(session, banner_id)


def unlink_banner_product(session: Session, banner_id: int) -> dict[str, Any]:
    # The update locks the banner row itself; no banner, no row.
    unlinked = cast(
        CursorResult[Any], session.execute(update(_BANNERS).where(_BANNERS.c.id == banner_id).values(product_id=None))
    )
    if unlinked.rowcount == 0:
        raise NotFound(f"Banner {banner_id} does not exist.")
    return banner_view(session, banner_id)


def link_banner_post(session: Session, banner_id: int, post_id: int) -> dict[str, Any]:
    # Both ends are locked FOR KEY SHARE, so neither can be deleted before this transaction commits.
    _both_ends(session, banner_id, _POSTS, post_id, "Instagram post", lock=True, write=_link_post)
    return banner_view(session, banner_id)


def unlink_banner_post(session: Session, banner_id: int, post_id: int) -> dict[str, Any]:
    _both_ends(session, banner_id, _POSTS, post_id, "Instagram post", lock=False, write=_unlink_post)
    return banner_view(session, banner_id)
