"""The seed's database requirements, end to end through the HTTP API on a real PostgreSQL."""

import sqlalchemy as sa
from sqlalchemy import event


def count(db, sql, **params):
    with db.connect() as connection:
        return connection.scalar(sa.text(sql), params)


def test_banner_linked_to_a_product_and_posts_is_unlinked_and_deleted_without_touching_them(api, db):
    # Given a store with a product and a banner, and three Instagram posts
    store = api.store()
    product = api.product(store["id"])
    banner = api.banner(store["id"])
    posts = [api.post(f"ig-{n}") for n in range(3)]

    # When the banner is linked to the product and to every post
    linked = api("PUT", f"/banners/{banner['id']}/product", json={"product_id": product["id"]})
    for post in posts:
        linked = api("PUT", f"/banners/{banner['id']}/instagram-posts/{post['id']}")

    # Then the banner view shows both links
    assert linked.status == 200
    assert linked.json["product"]["id"] == product["id"]
    assert [p["id"] for p in linked.json["instagram_posts"]] == [p["id"] for p in posts]

    # When the product link is cut, the product row stays
    unlinked = api("DELETE", f"/banners/{banner['id']}/product")
    assert unlinked.status == 200 and unlinked.json["product"] is None
    assert count(db, "SELECT count(*) FROM naver_products WHERE id = :id", id=product["id"]) == 1

    # When one post is unlinked, the post stays and the other links stay
    after = api("DELETE", f"/banners/{banner['id']}/instagram-posts/{posts[0]['id']}")
    assert [p["id"] for p in after.json["instagram_posts"]] == [posts[1]["id"], posts[2]["id"]]
    assert count(db, "SELECT count(*) FROM instagram_posts") == 3

    # When the banner is deleted, its product and posts are untouched and only its links go
    api("PUT", f"/banners/{banner['id']}/product", json={"product_id": product["id"]})
    assert api("DELETE", f"/banners/{banner['id']}").status == 204
    assert api("GET", f"/banners/{banner['id']}").status == 404
    assert count(db, "SELECT count(*) FROM naver_products") == 1
    assert count(db, "SELECT count(*) FROM instagram_posts") == 3
    assert count(db, "SELECT count(*) FROM banner_instagram_posts") == 0


def test_deleting_a_product_leaves_its_banners_in_their_store_with_no_product(api, db):
    store = api.store()
    product = api.product(store["id"])
    banners = [api.banner(store["id"], title=f"b{n}") for n in range(2)]
    for banner in banners:
        api("PUT", f"/banners/{banner['id']}/product", json={"product_id": product["id"]})

    assert api("DELETE", f"/products/{product['id']}").status == 204

    for banner in banners:
        view = api("GET", f"/banners/{banner['id']}")
        assert view.status == 200
        assert view.json["product"] is None
        assert view.json["store_id"] == store["id"]
    assert api("GET", f"/stores/{store['id']}").json["banner_count"] == 2


def test_deleting_a_post_removes_only_its_links(api, db):
    store = api.store()
    banners = [api.banner(store["id"], title=f"b{n}") for n in range(2)]
    post, other = api.post("ig-1"), api.post("ig-2")
    for banner in banners:
        api("PUT", f"/banners/{banner['id']}/instagram-posts/{post['id']}")
        api("PUT", f"/banners/{banner['id']}/instagram-posts/{other['id']}")

    assert api("DELETE", f"/instagram-posts/{post['id']}").status == 204

    for banner in banners:
        view = api("GET", f"/banners/{banner['id']}")
        assert view.status == 200
        assert [p["id"] for p in view.json["instagram_posts"]] == [other["id"]]


def test_deleting_a_store_removes_its_products_banners_and_links_but_no_post(api, db):
    store, other_store = api.store("s-1"), api.store("s-2")
    product = api.product(store["id"])
    kept_product = api.product(other_store["id"])
    banner = api.banner(store["id"])
    kept_banner = api.banner(other_store["id"])
    post = api.post()
    api("PUT", f"/banners/{banner['id']}/product", json={"product_id": product["id"]})
    api("PUT", f"/banners/{banner['id']}/instagram-posts/{post['id']}")
    api("PUT", f"/banners/{kept_banner['id']}/instagram-posts/{post['id']}")

    assert api("DELETE", f"/stores/{store['id']}").status == 204

    assert api("GET", f"/stores/{store['id']}").status == 404
    assert count(db, "SELECT count(*) FROM naver_products") == 1
    assert count(db, "SELECT id FROM naver_products") == kept_product["id"]
    assert count(db, "SELECT count(*) FROM naver_image_banners") == 1
    assert count(db, "SELECT count(*) FROM instagram_posts") == 1
    assert count(db, "SELECT count(*) FROM banner_instagram_posts") == 1
    assert api("GET", f"/banners/{kept_banner['id']}").json["instagram_posts"][0]["id"] == post["id"]


def test_store_view_counts_its_products_and_banners(api):
    store = api.store()
    api.product(store["id"], "P-1")
    api.product(store["id"], "P-2")
    api.banner(store["id"])

    view = api("GET", f"/stores/{store['id']}")

    assert view.status == 200
    assert view.json["product_count"] == 2
    assert view.json["banner_count"] == 1
    assert view.json["naver_store_id"] == "store-1"


def test_deleting_a_banner_with_many_links_issues_one_delete(api, db):
    store = api.store()
    banner = api.banner(store["id"])
    for n in range(25):
        post = api.post(f"ig-{n}")
        api("PUT", f"/banners/{banner['id']}/instagram-posts/{post['id']}")
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db, "before_cursor_execute", record)
    try:
        assert api("DELETE", f"/banners/{banner['id']}").status == 204
    finally:
        event.remove(db, "before_cursor_execute", record)

    deletes = [s for s in statements if s.lstrip().upper().startswith("DELETE")]
    assert len(deletes) == 1, statements
    assert "naver_image_banners" in deletes[0]
    assert count(db, "SELECT count(*) FROM banner_instagram_posts") == 0
    assert count(db, "SELECT count(*) FROM instagram_posts") == 25


def test_linking_twice_leaves_one_link(api, db):
    store = api.store()
    banner = api.banner(store["id"])
    post = api.post()

    first = api("PUT", f"/banners/{banner['id']}/instagram-posts/{post['id']}")
    second = api("PUT", f"/banners/{banner['id']}/instagram-posts/{post['id']}")

    assert first.status == second.status == 200
    assert len(second.json["instagram_posts"]) == 1
    assert count(db, "SELECT count(*) FROM banner_instagram_posts") == 1


def test_unlinking_what_is_not_linked_is_not_an_error(api):
    store = api.store()
    banner = api.banner(store["id"])
    post = api.post()

    result = api("DELETE", f"/banners/{banner['id']}/instagram-posts/{post['id']}")

    assert result.status == 200
    assert result.json["instagram_posts"] == []
