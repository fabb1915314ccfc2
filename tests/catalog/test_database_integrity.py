"""Integrity lives in the database: even SQL that bypasses the service cannot break the rules."""

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError

FOREIGN_KEY_VIOLATION = "23503"


def execute(db, sql, **params):
    with db.begin() as connection:
        return connection.execute(sa.text(sql), params)


@pytest.fixture
def two_stores(db):
    with db.begin() as connection:
        rows = connection.execute(
            sa.text("INSERT INTO naver_stores (naver_store_id, name) VALUES ('a', 'A'), ('b', 'B') RETURNING id")
        )
        first, second = (row[0] for row in rows)
        product = connection.scalar(
            sa.text("INSERT INTO naver_products (store_id, naver_product_no, name) VALUES (:s, 'P', 'p') RETURNING id"),
            {"s": second},
        )
    return first, second, product


def test_a_banner_cannot_point_at_a_product_of_another_store(db, two_stores):
    first, _, foreign_product = two_stores

    with pytest.raises(DBAPIError, match="fk_naver_image_banners_store_product") as raised:
        execute(
            db,
            "INSERT INTO naver_image_banners (store_id, product_id, image_url) VALUES (:s, :p, 'https://x/y.png')",
            s=first,
            p=foreign_product,
        )
    assert raised.value.orig.args[0]["C"] == FOREIGN_KEY_VIOLATION


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO naver_stores (naver_store_id, name) VALUES ('a', 'again')",
        "INSERT INTO instagram_posts (instagram_media_id) VALUES ('m'), ('m')",
    ],
)
def test_duplicates_are_impossible(db, two_stores, sql):
    with pytest.raises(IntegrityError):
        execute(db, sql)


def test_a_duplicate_link_is_impossible(db, two_stores):
    first, _, _ = two_stores
    execute(db, "INSERT INTO instagram_posts (instagram_media_id) VALUES ('m')")
    execute(db, "INSERT INTO naver_image_banners (store_id, image_url) VALUES (:s, 'https://x/y.png')", s=first)

    with pytest.raises(IntegrityError):
        execute(
            db,
            "INSERT INTO banner_instagram_posts (banner_id, post_id) "
            "SELECT b.id, p.id FROM naver_image_banners b, instagram_posts p UNION ALL "
            "SELECT b.id, p.id FROM naver_image_banners b, instagram_posts p",
        )


def test_deleting_a_product_in_sql_keeps_the_banner_and_its_store(db, two_stores):
    _, second, product = two_stores
    banner = execute(
        db,
        "INSERT INTO naver_image_banners (store_id, product_id, image_url) VALUES (:s, :p, 'https://x') RETURNING id",
        s=second,
        p=product,
    ).scalar()

    execute(db, "DELETE FROM naver_products WHERE id = :p", p=product)

    row = execute(db, "SELECT store_id, product_id FROM naver_image_banners WHERE id = :b", b=banner).one()
    assert row == (second, None)
