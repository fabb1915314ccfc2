"""A PostgreSQL of the test's own that checks passwords (scram-sha-256) on a loopback TCP port.

The suite's usual servers trust every local connection, so a password there proves nothing. This one
is built from pgserver's PostgreSQL binaries: initdb with password authentication for TCP, started on a
free port, stopped at the end. As root, PostgreSQL runs as pgserver's unprivileged system user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from tests.support.network import free_port


@contextmanager
def password_postgres() -> Iterator[tuple[int, str]]:
    """Yields ``(port, admin_url)``; the admin signs in over the unix socket (trusted).

    The cluster lives in a directory of its own right under the system's temporary directory (not
    pytest's, whose parents other tests may lock down while the server runs) and is removed after.
    """
    from pgserver._commands import initdb, pg_ctl
    from pgserver.utils import ensure_user_exists

    run_as: dict[str, str] = {}
    directory = Path(tempfile.mkdtemp(prefix="shop-marketing-password-pg-"))
    if os.geteuid() == 0:
        user = ensure_user_exists("pgserver")
        os.chown(directory, user.pw_uid, user.pw_gid)
        run_as = {"user": pwd.getpwuid(user.pw_uid).pw_name}
    pgdata = directory / "data"
    initdb(
        ["--auth-host=scram-sha-256", "--auth-local=trust", "--encoding=utf8", "-U", "postgres"],
        pgdata=pgdata,
        **run_as,
    )
    port = free_port()
    pg_ctl(
        ["-w", "-o", f"-h 127.0.0.1 -p {port} -k {directory}", "-l", str(directory / "log"), "start"],
        pgdata=pgdata,
        **run_as,
    )
    try:
        yield port, f"postgresql+pg8000://postgres@/postgres?unix_sock={directory}/.s.PGSQL.{port}"
    finally:
        pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=pgdata, **run_as)
        shutil.rmtree(directory, ignore_errors=True)


def set_password(admin_url: str, role: str, password: str) -> None:
    """Create ``role`` (if missing) able to sign in with ``password``: the rotation's database half."""
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        exists = connection.scalar(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role})
        verb = "ALTER" if exists else "CREATE"
        literal = connection.scalar(sa.text("SELECT quote_literal(:password)"), {"password": password})
        connection.execute(sa.text(f'{verb} ROLE "{role}" LOGIN PASSWORD {literal}'))
    engine.dispose()
