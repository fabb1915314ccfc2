"""The database's roles: the application role every function signs in as, and what it may do.

Only the migration step signs in with the master credentials (docs/deploy-and-access.md "The database's
roles"). The schema's migration ``0010_application_role`` creates, per database, a group role ``<database>_application``
(no login) that may read and write the product's rows and nothing else:

- ``SELECT, INSERT, UPDATE, DELETE`` on the tables of schema ``public`` and the use of their identity
  sequences, today's tables and, by default privileges, those later migrations create;
- only ``SELECT`` on ``alembic_version`` (the schema's version is the migration step's to write);
- no ``CREATE`` on the schema or the database, no ``TEMPORARY``, no ``TRUNCATE``, ``REFERENCES`` or
  ``TRIGGER``, owns nothing (so it can neither ``ALTER`` nor ``DROP``); ``CONNECT`` to this database
  only, whose ``PUBLIC`` privileges are revoked.

The migration step then makes the login role named by the application secret (its ``username`` and
``password``) a member of that group: :func:`ensure_application_login`. The password is sent as a
SCRAM-SHA-256 verifier, so the clear text never reaches the server (nor its statement log).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from sqlalchemy import Connection, text

GROUP_SUFFIX = "_application"
TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
SEQUENCE_PRIVILEGES = "USAGE, SELECT, UPDATE"
SCRAM_ITERATIONS = 4096  # PostgreSQL's own default (scram_iterations)
PROTECTED_TABLES = ("alembic_version",)


class ApplicationRoleError(RuntimeError):
    """The application secret names a role that must not be the application's (the master, a superuser)."""


def application_group(database: str) -> str:
    """The group role of ``database``'s application (role names are at most 63 bytes)."""
    return database[: 63 - len(GROUP_SUFFIX)] + GROUP_SUFFIX


def _run(connection: Connection, template: str, *arguments: str) -> None:
    """Run a statement whose identifiers and literals PostgreSQL's own ``format`` quotes (%I, %L)."""
    placeholders = "".join(f", CAST(:a{index} AS text)" for index in range(len(arguments)))
    statement = connection.scalar(
        text(f"SELECT format(CAST(:template AS text){placeholders})"),
        {"template": template, **{f"a{index}": value for index, value in enumerate(arguments)}},
    )
    connection.execute(text(statement.replace(":", r"\:")))


def _current_database(connection: Connection) -> str:
    return str(connection.scalar(text("SELECT current_database()")))


def grant_table_access(connection: Connection, group: str) -> None:
    """Row access to every table and sequence of ``public``, now and for tables created later."""
    _run(connection, "GRANT USAGE ON SCHEMA public TO %I", group)
    _run(connection, f"GRANT {TABLE_PRIVILEGES} ON ALL TABLES IN SCHEMA public TO %I", group)
    _run(connection, f"GRANT {SEQUENCE_PRIVILEGES} ON ALL SEQUENCES IN SCHEMA public TO %I", group)
    # Tables later migrations create (as this same migrating role) are granted as they are created.
    _run(connection, f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT {TABLE_PRIVILEGES} ON TABLES TO %I", group)
    _run(connection, f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT {SEQUENCE_PRIVILEGES} ON SEQUENCES TO %I", group)
    for table in PROTECTED_TABLES:
        exists = connection.scalar(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": f"public.{table}"})
        if exists:
            _run(connection, "REVOKE INSERT, UPDATE, DELETE ON public.%I FROM %I", table, group)


def create_application_group(connection: Connection) -> str:
    """Create this database's application group (if missing), grant it row access, close the rest."""
    database = _current_database(connection)
    group = application_group(database)
    exists = connection.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :group"), {"group": group})
    if not exists:
        _run(connection, "CREATE ROLE %I NOLOGIN NOINHERIT", group)
    # Nobody but those granted connects to the product's database or makes objects in it.
    _run(connection, "REVOKE ALL ON DATABASE %I FROM PUBLIC", database)
    _run(connection, "REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    _run(connection, "GRANT CONNECT ON DATABASE %I TO %I", database, group)
    grant_table_access(connection, group)
    return group


def drop_application_group(connection: Connection) -> None:
    """Undo :func:`create_application_group` (the login roles stay, with nothing left to use)."""
    database = _current_database(connection)
    group = application_group(database)
    if connection.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :group"), {"group": group}):
        # Its privileges and default privileges in this database; it owns nothing.
        _run(connection, "DROP OWNED BY %I", group)
        _run(connection, "REVOKE ALL ON DATABASE %I FROM %I", database, group)
        _run(connection, "DROP ROLE %I", group)
    _run(connection, "GRANT CONNECT, TEMPORARY ON DATABASE %I TO PUBLIC", database)


def scram_verifier(password: str, *, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS) -> str:
    """PostgreSQL's stored form of a SCRAM-SHA-256 password (RFC 5802/7677), made on this side."""
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    stored_key = hashlib.sha256(hmac.new(salted, b"Client Key", "sha256").digest()).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = base64.b64encode
    return f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}${b64(stored_key).decode()}:{b64(server_key).decode()}"


def ensure_application_login(connection: Connection, username: str, password: str) -> str:
    """Create or update the login role ``username`` (``password``) as a member of the application group.

    Run by the migration step as the master user, after the migrations; returns the group's name.
    """
    database = _current_database(connection)
    group = application_group(database)
    if not connection.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :group"), {"group": group}):
        raise ApplicationRoleError(f"the database {database!r} has no role {group!r}: run the migrations first")
    current = connection.scalar(text("SELECT current_user"))
    existing = connection.execute(
        text("SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = :name"), {"name": username}
    ).first()
    if username == current or (existing is not None and existing.rolsuper):
        raise ApplicationRoleError(
            f"the application secret names {username!r}, a role with the master's powers; name a role of its own"
        )
    # SASLprep leaves printable ASCII as it is; any other password goes as text for the server to hash.
    secret = scram_verifier(password) if password.isascii() and password.isprintable() else password
    verb = "ALTER" if existing is not None else "CREATE"
    _run(connection, f"{verb} ROLE %I WITH LOGIN INHERIT NOCREATEDB NOCREATEROLE PASSWORD %L", username, secret)
    _run(connection, "GRANT %I TO %I", group, username)
    return group
