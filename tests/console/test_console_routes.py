"""The list routes the review console needs beside the product's: GET /stores, GET /instagram-posts and
GET /instagram-posts/{post_id}/banner-images (the banners linked to a post), on real PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

from tests.support.lambda_invoke import call_http, handler_of


def _insert(db, query: str, **values) -> int:
    with db.begin() as connection:
        return connection.execute(sa.text(query + " RETURNING id"), values).scalar()


def test_stores_are_listed_oldest_first_with_their_counts(db):
    catalog = handler_of("link_banner")
    assert call_http(catalog, "GET", "/stores").json == {"stores": []}
    first = _insert(db, "INSERT INTO naver_stores (naver_store_id, name) VALUES ('a', '첫 가게')")
    second = _insert(db, "INSERT INTO naver_stores (naver_store_id, name) VALUES ('b', 'Second')")
    _insert(db, "INSERT INTO naver_products (store_id, naver_product_no, name) VALUES (:s, '1', 'p')", s=second)
    _insert(
        db, "INSERT INTO naver_image_banners (store_id, image_url) VALUES (:s, 'https://x.example/1.png')", s=second
    )
    _insert(
        db, "INSERT INTO naver_image_banners (store_id, image_url) VALUES (:s, 'https://x.example/2.png')", s=second
    )

    stores = call_http(catalog, "GET", "/stores").json["stores"]

    assert [(s["id"], s["name"], s["product_count"], s["banner_count"]) for s in stores] == [
        (first, "첫 가게", 0, 0),
        (second, "Second", 1, 2),
    ]
    assert [s["id"] for s in call_http(catalog, "GET", "/stores", query="limit=1").json["stores"]] == [first]


def test_posts_are_listed_newest_first(db):
    catalog = handler_of("link_banner")
    older = _insert(db, "INSERT INTO instagram_posts (instagram_media_id, caption) VALUES ('m1', '봄 신상')")
    newer = _insert(db, "INSERT INTO instagram_posts (instagram_media_id) VALUES ('m2')")

    posts = call_http(catalog, "GET", "/instagram-posts").json["posts"]

    assert [(p["id"], p["caption"]) for p in posts] == [(newer, None), (older, "봄 신상")]


def test_list_limits_outside_1_to_200_are_refused(db):
    catalog = handler_of("link_banner")
    for path, query in (
        ("/stores", "limit=0"),
        ("/stores", "limit=201"),
        ("/instagram-posts", "limit=x"),
        ("/instagram-posts", "limit=true"),
    ):
        result = call_http(catalog, "GET", path, query=query)
        assert result.status == 422, (path, query)
        assert "error" in result.json


def test_a_posts_banners_are_those_linked_to_it_newest_first(db):
    banners = handler_of("banner_images")
    store = _insert(db, "INSERT INTO naver_stores (naver_store_id, name) VALUES ('s', 'S')")
    post = _insert(db, "INSERT INTO instagram_posts (instagram_media_id) VALUES ('m')")
    other_post = _insert(db, "INSERT INTO instagram_posts (instagram_media_id) VALUES ('o')")
    linked = [
        _insert(
            db,
            "INSERT INTO naver_image_banners (store_id, image_url) VALUES (:s, :u)",
            s=store,
            u=f"https://x.example/{n}.png",
        )
        for n in range(2)
    ]
    _insert(
        db, "INSERT INTO naver_image_banners (store_id, image_url) VALUES (:s, 'https://x.example/other.png')", s=store
    )
    with db.begin() as connection:
        for banner in linked:
            connection.execute(
                sa.text("INSERT INTO banner_instagram_posts (banner_id, post_id) VALUES (:b, :p)"),
                {"b": banner, "p": post},
            )

    answer = call_http(banners, "GET", f"/instagram-posts/{post}/banner-images")

    assert answer.status == 200
    assert [b["id"] for b in answer.json["banners"]] == linked[::-1]
    assert answer.json["banners"][0]["instagram_posts"][0]["id"] == post
    assert call_http(banners, "GET", f"/instagram-posts/{other_post}/banner-images").json == {"banners": []}


def test_the_banners_of_an_unknown_post_are_a_404(db):
    result = call_http(handler_of("banner_images"), "GET", "/instagram-posts/999/banner-images")

    assert result.status == 404
    assert result.json["error"] == {"code": "not_found", "message": "Instagram post 999 does not exist."}
