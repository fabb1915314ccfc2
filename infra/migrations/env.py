"""Runs migrations online, on the engine the functions use, under an advisory lock so two
deployments migrating at once take turns instead of colliding."""

from alembic import context
from sqlalchemy import text

from shop_marketing.config import get_settings
from shop_marketing.db import build_engine
from shop_marketing.models import Base

MIGRATION_LOCK = 7_402_118_305  # any fixed bigint; identifies "schema migration" among advisory locks


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    engine = None
    if connection is None:
        engine = build_engine(get_settings())
        connection = engine.connect()
    try:
        context.configure(connection=connection, target_metadata=Base.metadata, transaction_per_migration=False)
        with context.begin_transaction():
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            context.run_migrations()
    finally:
        if engine is not None:
            connection.close()
            engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run against a database")
run_migrations_online()
