"""Migration 0005: the old active-model rows become judges, and judgements are keyed by judge."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from infra.migrations import migrate
from tests.foundation.test_migrations import empty_database  # noqa: F401 - the fixture


def test_old_active_models_become_judges_and_their_verdicts_follow(empty_database):  # noqa: F811
    config = Config(str(migrate.ALEMBIC_INI))
    engine = sa.create_engine(empty_database)
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0004_fine_tuning")
        # Given two models activated in turn, and judgements by them and by a JUDGE_MODEL override
        connection.execute(
            sa.text(
                "INSERT INTO judge_models (model, job_id, activated_at) VALUES "
                "('ft:old', 'ftjob-1', now() - interval '2 days'), ('ft:new', 'ftjob-2', now() - interval '1 day')"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO judgements (text_sha256, model, verdict, "
                "comment_tokens, prompt_tokens, completion_tokens) VALUES "
                "('a', 'ft:old', 'good', 1, 8, 1), ('a', 'ft:new', 'bad', 1, 8, 1), "
                "('b', 'gpt-override', 'good', 1, 8, 1)"
            )
        )
        connection.commit()

        command.upgrade(config, "0005_judges")
        connection.commit()

        judges = connection.execute(
            sa.text("SELECT name, style, status, source_job_id FROM judges ORDER BY name")
        ).all()
        keyed = connection.execute(
            sa.text(
                "SELECT judges.name, judgements.text_sha256 "
                "FROM judgements JOIN judges ON judges.id = judgements.judge_id ORDER BY 1, 2"
            )
        ).all()
        activations = connection.execute(sa.text("SELECT count(*) FROM judge_activations")).scalar()

        # And back down: the active judge is the active model again
        command.downgrade(config, "0004_fine_tuning")
        connection.commit()
        latest = connection.execute(
            sa.text("SELECT model FROM judge_models ORDER BY activated_at DESC LIMIT 1")
        ).scalar()
    engine.dispose()

    assert [tuple(row) for row in judges] == [
        ("ft:new", "fine_tuned", "active", "ftjob-2"),
        ("ft:old", "fine_tuned", "retired", "ftjob-1"),
        ("gpt-override", "fine_tuned", "candidate", None),
    ]
    assert [tuple(row) for row in keyed] == [("ft:new", "a"), ("ft:old", "a"), ("gpt-override", "b")]
    assert activations == 2
    assert latest == "ft:new"


def test_migration_0007_gives_every_judge_an_unknown_calendar_and_keeps_forced_labels_confident(empty_database):  # noqa: F811
    config = Config(str(migrate.ALEMBIC_INI))
    engine = sa.create_engine(empty_database)
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0006_instagram_banners")
        connection.execute(
            sa.text(
                "INSERT INTO training_files (openai_file_id, sha256, filename, bytes, examples, tokens, good_examples, "
                "bad_examples, estimated_training_tokens, source) "
                "VALUES ('local-1', 'a', 'f.jsonl', 1, 2, 2, 1, 1, 2, 'api')"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO judges "
                "(name, style, model, output, reasoning_effort, examples_file_id, example_count) VALUES "
                "('ft', 'fine_tuned', 'ft:gpt-4o-mini-2024-07-18:shop::a', 'label_token', NULL, NULL, NULL), "
                "('o4', 'prompted', 'o4-mini', 'structured', 'low', 1, 2)"
            )
        )
        connection.commit()

        command.upgrade(config, "0007_model_life_cycle")
        connection.commit()
        judges = connection.execute(
            sa.text("SELECT name, logprobs, model_status, model_shutdown_date, probe FROM judges ORDER BY name")
        ).all()
        refused = None
        try:
            with connection.begin_nested():
                connection.execute(sa.text("UPDATE judges SET model_status = 'gone'"))
        except (sa.exc.IntegrityError, sa.exc.ProgrammingError) as error:  # pg8000 names a check violation so
            refused = error

        command.downgrade(config, "0006_instagram_banners")
        connection.commit()
        columns = {column["name"] for column in sa.inspect(connection).get_columns("judges")}
    engine.dispose()

    assert [tuple(row) for row in judges] == [("ft", True, "unknown", None, None), ("o4", False, "unknown", None, None)]
    assert refused is not None
    assert not {"model_status", "model_shutdown_date", "logprobs", "probe", "predecessor_id"} & columns
