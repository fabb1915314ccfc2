"""The judging tables: the migrations and the ORM models describe the same schema."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

JUDGING_TABLES = {
    "instagram_comments",
    "judgements",
    "judges",
    "judge_activations",
    "golden_sets",
    "golden_examples",
    "evaluations",
    "evaluation_items",
    "training_examples",
    "judge_classifiers",
    "stored_embeddings",
}


def only_judging(obj, name, type_, reflected, compare_to) -> bool:
    table = obj if type_ == "table" else getattr(obj, "table", None)
    return table is None or table.name in JUDGING_TABLES


def test_migration_and_models_agree_on_the_judging_tables(db):
    from shop_marketing.models import Base

    with db.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"include_object": only_judging, "compare_type": True},
        )
        differences = compare_metadata(context, Base.metadata)

    assert differences == []


def test_constraint_names_follow_the_naming_convention(db):
    from shop_marketing.models import Base

    declared = set()
    for table in JUDGING_TABLES:
        declared |= {c.name for c in Base.metadata.tables[table].constraints}
        declared |= {index.name for index in Base.metadata.tables[table].indexes}
    with db.connect() as connection:
        in_database = set(
            connection.scalars(
                sa.text(
                    "SELECT conname FROM pg_constraint WHERE conrelid::regclass::text = ANY(:tables) "
                    "UNION SELECT indexname FROM pg_indexes WHERE tablename = ANY(:tables)"
                ),
                {"tables": sorted(JUDGING_TABLES)},
            )
        )

    assert declared <= in_database
    assert "uq_judgements_judge_id_text_sha256" in in_database
    assert "uq_judges_one_active" in in_database
    assert "fk_instagram_comments_post_id" in in_database
