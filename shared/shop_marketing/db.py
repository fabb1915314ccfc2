"""The database: one SQLAlchemy engine per execution environment, on pg8000.

- Lambda-sized pool with pre-ping, so a connection the server dropped while the environment was
  frozen is replaced on checkout instead of failing the request.
- Connect timeout and a server-side statement timeout.
- TLS to RDS verified against the RDS CA bundle shipped in this package (pg8000 alone neither
  insists on TLS nor checks the certificate).
- Credentials from ``DATABASE_URL`` or from the RDS secret (``DB_SECRET_ARN``, cached).
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files

from sqlalchemy import URL, Engine, create_engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from .config import Settings, get_settings

RDS_CA_BUNDLE = files(__package__).joinpath("certs/rds-global-bundle.pem")

_lock = threading.Lock()
_engine: Engine | None = None
_sessions: sessionmaker[Session] | None = None


def verified_tls_context() -> ssl.SSLContext:
    """TLS that accepts only a server certificate issued by an RDS CA for the host dialled."""
    context = ssl.create_default_context(cafile=str(RDS_CA_BUNDLE))
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def database_url(settings: Settings) -> URL:
    if settings.database_url:
        return make_url(settings.database_url)
    from aws_lambda_powertools.utilities import parameters

    secret = parameters.get_secret(settings.db_secret_arn, transform="json", max_age=300)
    return URL.create(
        "postgresql+pg8000",
        username=secret["username"],
        password=secret["password"],
        host=secret["host"],
        port=int(secret.get("port", 5432)),
        database=secret.get("dbname", "postgres"),
    )


def build_engine(settings: Settings) -> Engine:
    tls = settings.database_tls
    if tls == "auto":
        tls = "off" if settings.database_url else "verify"
    connect_args: dict[str, object] = {
        # pg8000's timeout is a socket timeout: it bounds connecting and any single read.
        "timeout": settings.db_connect_timeout_seconds + settings.db_statement_timeout_ms / 1000,
        "startup_params": {"statement_timeout": str(settings.db_statement_timeout_ms)},
    }
    if tls == "verify":
        connect_args["ssl_context"] = verified_tls_context()
    return create_engine(
        database_url(settings),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_pre_ping=True,
        pool_recycle=300,
        pool_timeout=settings.db_connect_timeout_seconds,
        connect_args=connect_args,
    )


def get_engine() -> Engine:
    global _engine, _sessions
    if _engine is None:
        with _lock:
            if _engine is None:
                engine = build_engine(get_settings())
                _sessions = sessionmaker(engine, expire_on_commit=False)
                _engine = engine
    return _engine


@contextmanager
def session_scope() -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back if it raises."""
    get_engine()
    assert _sessions is not None
    with _sessions.begin() as session:
        yield session


def dispose_engine() -> None:
    """Forget the engine (tests and the migration step use this when the URL changes)."""
    global _engine, _sessions
    with _lock:
        if _engine is not None:
            _engine.dispose()
        _engine = None
        _sessions = None
