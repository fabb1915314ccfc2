"""An embedded PostgreSQL for local runs and tests when DATABASE_URL is unset.

pgserver ships PostgreSQL's binaries in its wheel: no install step, no root, no Docker. It listens on
a unix socket inside its data directory, which pg8000 reaches through ``unix_sock``.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

import sqlalchemy as sa

from shop_marketing.database_roles import application_group


def start(data_dir: Path | None = None, *, keep: bool = False):
    """Start (or reuse) a server; returns ``(server, url)``. ``keep`` leaves its data after stop."""
    from pgserver.postgres_server import get_server

    directory = data_dir or Path(tempfile.mkdtemp(prefix="shop-marketing-pg-"))
    directory.mkdir(parents=True, exist_ok=True)
    server = get_server(directory, cleanup_mode="stop" if keep else "delete")
    socket_dir = sa.make_url(server.get_uri()).query["host"]
    url = f"postgresql+pg8000://postgres@/postgres?unix_sock={socket_dir}/.s.PGSQL.5432"
    return server, url


def create_database(server_url: str, name: str | None = None) -> str:
    """Create an empty database on the server (if missing) and return its URL."""
    name = name or f"test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        exists = connection.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name})
        if not exists:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, url: str) -> None:
    name = sa.make_url(url).database
    if name is None:
        raise ValueError(f"{url!r} names no database to drop")
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        # The database's own application group role (migration 0010) goes with it: role names are the server's.
        connection.execute(sa.text(f'DROP ROLE IF EXISTS "{application_group(name)}"'))
    admin.dispose()
