"""Shared fixtures: a real, migrated PostgreSQL database and clean tables for every test.

With DATABASE_URL set the tests use that server; without it they start an embedded one. Either way
the session works in a fresh database of its own, created and migrated here and dropped at the end.
"""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from infra import embedded_postgres
from infra.migrations.migrate import upgrade

# Handlers read their settings once; give them quiet, local defaults before anything imports them.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "shop-marketing-test")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "ShopMarketingTest")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_DEV", "false")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("OPENAI_API_KEY", "sk-test")


@pytest.fixture(scope="session")
def database_url():
    server = None
    server_url = os.environ.get("DATABASE_URL")
    if not server_url:
        server, server_url = embedded_postgres.start()
    url = embedded_postgres.create_database(server_url)
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        upgrade(connection)
        connection.commit()
    engine.dispose()
    os.environ["DATABASE_URL"] = url
    from shop_marketing.config import get_settings
    from shop_marketing.db import dispose_engine

    get_settings.cache_clear()
    dispose_engine()
    yield url
    dispose_engine()
    embedded_postgres.drop_database(server_url, url)
    os.environ["DATABASE_URL"] = server_url if server is None else ""
    if server is not None:
        server.cleanup()


@pytest.fixture
def db(database_url):
    """An engine on the test database; every table is emptied after the test."""
    from shop_marketing.db import get_engine
    from shop_marketing.models import Base

    engine = get_engine()
    yield engine
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def openai_standin(monkeypatch):
    """A loopback OpenAI stand-in; the real SDK is pointed at it through OPENAI_BASE_URL."""
    from shop_marketing.config import get_settings
    from shop_marketing.openai_client import reset_openai_client
    from tests.support.openai_standin import OpenAIStandIn

    standin = OpenAIStandIn().start()
    monkeypatch.setenv("OPENAI_BASE_URL", standin.base_url)
    get_settings.cache_clear()
    reset_openai_client()
    yield standin
    standin.stop()
    reset_openai_client()
    monkeypatch.undo()
    get_settings.cache_clear()
