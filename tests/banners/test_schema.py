"""The banner_images table: migration 0006 and the model agree; the database keeps one banner per image."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

TABLES = {"banner_images", "instagram_comments"}


def test_migration_and_models_agree(db):
    from shop_marketing.models import Base

    def only_ours(obj, name, type_, reflected, compare_to) -> bool:
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return table is None or table.name in TABLES

    with db.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_object": only_ours, "compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_one_banner_per_image_key_in_a_store_and_the_links_it_keeps(db):
    with db.begin() as connection:

        def insert(query, **values):
            return connection.execute(sa.text(query + " RETURNING id"), values).scalar()

        store = insert("INSERT INTO naver_stores (naver_store_id, name) VALUES ('s', 'S')")
        post = insert("INSERT INTO instagram_posts (instagram_media_id) VALUES ('m')")
        comment = insert(
            "INSERT INTO instagram_comments (instagram_comment_id, post_id, text, text_sha256) "
            "VALUES ('c', :p, 't', 'x')",
            p=post,
        )
        first = insert("INSERT INTO naver_image_banners (store_id, image_url) VALUES (:s, 'u')", s=store)
        second = insert("INSERT INTO naver_image_banners (store_id, image_url) VALUES (:s, 'u')", s=store)
        insert(
            "INSERT INTO banner_images (banner_id, store_id, image_key, comment_id, post_id) "
            "VALUES (:b, :s, 'k.png', :c, :p)",
            b=first,
            s=store,
            c=comment,
            p=post,
        )

    with pytest.raises(sa.exc.IntegrityError, match="uq_banner_images_store_id_image_key"), db.begin() as connection:
        connection.execute(
            sa.text("INSERT INTO banner_images (banner_id, store_id, image_key) VALUES (:b, :s, 'k.png')"),
            {"b": second, "s": store},
        )

    with db.begin() as connection:
        # Deleting the comment and the post only cuts the links; deleting the banner removes its image row.
        connection.execute(sa.text("DELETE FROM instagram_comments"))
        connection.execute(sa.text("DELETE FROM instagram_posts"))
        assert connection.execute(sa.text("SELECT comment_id, post_id FROM banner_images")).all() == [(None, None)]
        connection.execute(sa.text("DELETE FROM naver_image_banners WHERE id = :b"), {"b": first})
        assert connection.scalar(sa.text("SELECT count(*) FROM banner_images")) == 0
