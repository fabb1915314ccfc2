"""Shared fixtures: a real, migrated PostgreSQL database and clean tables for every test.

With DATABASE_URL set the tests use that server; without it they start an embedded one. Either way
the session works in a fresh database of its own, created and migrated here and dropped at the end.
"""

from __future__ import annotations

import os
import secrets
import uuid

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
def database_server_url():
    """The server's URL as its master user (DATABASE_URL, or an embedded server started here)."""
    server = None
    server_url = os.environ.get("DATABASE_URL")
    if not server_url:
        server, server_url = embedded_postgres.start()
    yield server_url
    os.environ["DATABASE_URL"] = server_url if server is None else ""
    if server is not None:
        server.cleanup()


@pytest.fixture(scope="session")
def login_roles(database_server_url):
    """Login roles the session made; dropped last, once the database that used them is gone."""
    roles: list[str] = []
    yield roles
    admin = sa.create_engine(database_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        for role in roles:
            connection.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
    admin.dispose()


@pytest.fixture(scope="session")
def master_database_url(database_server_url, login_roles):
    """The session's database, created and migrated by the master user, as the migration step does."""
    url = embedded_postgres.create_database(database_server_url)
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        upgrade(connection)
        connection.commit()
    engine.dispose()
    yield url
    embedded_postgres.drop_database(database_server_url, url)


@pytest.fixture(scope="session")
def database_url(master_database_url, login_roles):
    """The session's database as the functions reach it: signed in as the application role.

    Like the migration step in AWS, the master makes a login role of the application group (a name of
    this session's own: roles belong to the whole server, which other runs may share); every product
    test then runs with only the rows, never the schema.
    """
    from shop_marketing.config import get_settings
    from shop_marketing.database_roles import ensure_application_login
    from shop_marketing.db import dispose_engine

    role, password = f"app_{uuid.uuid4().hex[:12]}", secrets.token_urlsafe(24)
    master = sa.create_engine(master_database_url)
    with master.begin() as connection:
        ensure_application_login(connection, role, password)
    master.dispose()
    url = sa.make_url(master_database_url).set(username=role, password=password).render_as_string(hide_password=False)
    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
    dispose_engine()
    login_roles.append(role)
    yield url
    dispose_engine()


@pytest.fixture(scope="session")
def master_engine(master_database_url):
    """The master user's engine on the session's database: for what only the migration step may do."""
    engine = sa.create_engine(master_database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def db(database_url, master_engine):
    """An engine on the test database (the application role's); every table is emptied after the test."""
    from shop_marketing.db import get_engine
    from shop_marketing.models import Base

    engine = get_engine()
    yield engine
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    # TRUNCATE is not the application's to run: the master empties the tables.
    with master_engine.begin() as connection:
        connection.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def openai_standin(monkeypatch):
    """A loopback OpenAI stand-in; the real SDK is pointed at it through OPENAI_BASE_URL."""
    from infra.openai_standin import OpenAIStandIn
    from shop_marketing.config import get_settings
    from shop_marketing.openai_client import reset_openai_client

    standin = OpenAIStandIn().start()
    monkeypatch.setenv("OPENAI_BASE_URL", standin.base_url)
    get_settings.cache_clear()
    reset_openai_client()
    yield standin
    standin.stop()
    reset_openai_client()
    monkeypatch.undo()
    get_settings.cache_clear()
