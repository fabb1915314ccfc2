"""The comment_reviews table: migration 0009 and the models agree; the database keeps one review per comment."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

TABLES = {"comment_reviews", "judgements"}


def test_migration_and_models_agree(db):
    from shop_marketing.models import Base

    def only_ours(obj, name, type_, reflected, compare_to) -> bool:
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return table is None or table.name in TABLES

    with db.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_object": only_ours, "compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_one_review_per_comment_a_known_label_and_the_review_goes_with_its_comment(db, shop):
    comment = shop.comment(shop.post(), "좋아요")
    with db.begin() as connection:
        connection.execute(
            sa.text("INSERT INTO comment_reviews (comment_id, label, reviewer) VALUES (:c, 'good', 'a')"),
            {"c": comment},
        )

    with pytest.raises(sa.exc.IntegrityError, match="uq_comment_reviews_comment_id"), db.begin() as connection:
        connection.execute(
            sa.text("INSERT INTO comment_reviews (comment_id, label, reviewer) VALUES (:c, 'bad', 'b')"), {"c": comment}
        )
    with pytest.raises(sa.exc.DBAPIError, match="ck_comment_reviews_label"), db.begin() as connection:
        connection.execute(sa.text("UPDATE comment_reviews SET label = 'meh'"))

    with db.begin() as connection:
        connection.execute(sa.text("DELETE FROM instagram_comments"))
        assert connection.scalar(sa.text("SELECT count(*) FROM comment_reviews")) == 0
