"""Shared fixtures: a real, migrated PostgreSQL database and clean tables for every test.

With DATABASE_URL set the tests use that server; without it they start an embedded one. Either way
the session works in a fresh database of its own, created and migrated here and dropped at the end.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from infra import embedded_postgres
from infra.migrations.migrate import upgrade
from tests.support.network import free_port

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


TEAM_FOLDER = Path(__file__).resolve().parents[2] / "shared"


@dataclass
class OpenAIMock:
    """The request-validating mock generated from OpenAI's published API description."""

    base_url: str
    log: Path

    def log_lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()


@pytest.fixture(scope="session")
def openai_mock(tmp_path_factory):
    """Starts ../shared/tools/openai-mock (Prism, installed from the npm registry on first use)."""
    script = TEAM_FOLDER / "tools" / "openai-mock"
    if not script.exists():
        pytest.fail(f"the team folder's OpenAI mock is missing: {script}")
    port = free_port()
    directory = Path(os.environ.get("OPENAI_MOCK_DIR") or Path.home() / ".cache" / "shop-marketing" / "openai-mock")
    if (directory / "node_modules").is_dir():
        # Prism is installed: run it from a directory of this session, so that concurrent test
        # sessions do not share (and overwrite) one prism.log and one prism.pid.
        session_directory = tmp_path_factory.mktemp("openai-mock")
        (session_directory / "node_modules").symlink_to(directory / "node_modules")
        directory = session_directory
    environment = {**os.environ, "PORT": str(port), "OPENAI_MOCK_DIR": str(directory)}
    subprocess.run(["bash", str(script)], env=environment, check=True, timeout=540, capture_output=True)
    pid = int((directory / "prism.pid").read_text())
    try:
        yield OpenAIMock(base_url=f"http://127.0.0.1:{port}", log=directory / "prism.log")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
