"""The database: one SQLAlchemy engine per execution environment, on pg8000.

- Lambda-sized pool with pre-ping, so a connection the server dropped while the environment was
  frozen is replaced on checkout instead of failing the request. pg8000 reports a dropped connection
  in several ways (a bare ``ConnectionResetError``, "network error", the server's own ``57P01``
  "terminating connection"); :func:`is_disconnect` knows them all, so the pool discards such a
  connection, and :class:`DatabaseUnavailable` (503) tells the HTTP edge it may retry the request.
- A commit whose answer is lost is settled, not guessed: the transaction id is read before
  ``COMMIT`` and, if the connection drops then, its fate is asked of the server on a fresh
  connection (``pg_xact_status``), so a committed write is answered as committed.
- Bound parameters (comment text, training data) never appear in error messages (``hide_parameters``).
- Connect timeout and a server-side statement timeout.
- TLS to RDS verified against the RDS CA bundle shipped in this package (pg8000 alone neither
  insists on TLS nor checks the certificate).
- Credentials from ``DATABASE_URL`` or from the RDS secret (``DB_SECRET_ARN``, cached).
"""

from __future__ import annotations

import ssl
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files

from sqlalchemy import URL, Engine, create_engine, event, exc, make_url, text
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.orm import Session, sessionmaker

from .config import Settings, get_settings
from .errors import DatabaseUnavailable
from .observability import logger

RDS_CA_BUNDLE = files(__package__).joinpath("certs/rds-global-bundle.pem")

# SQLSTATEs of a server that is going away: admin shutdown (pg_terminate_backend, failover), crash
# shutdown, and "cannot connect now" (starting up or shutting down).
DISCONNECT_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})
DISCONNECT_MESSAGES = ("network error", "connection is closed", "unexpected eof", "server closed the connection")
RETRY_AFTER_SECONDS = 2

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
    engine = create_engine(
        database_url(settings),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_pre_ping=True,
        pool_recycle=300,
        pool_timeout=settings.db_connect_timeout_seconds,
        connect_args=connect_args,
        # Statements carry comment text and training data: never print them in an error.
        hide_parameters=True,
    )
    event.listen(engine, "handle_error", _recognise_disconnects)
    return engine


def is_disconnect(error: BaseException | None) -> bool:
    """Whether ``error`` (or the driver error SQLAlchemy wrapped in it) says the connection is gone."""
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    for candidate in (error, getattr(error, "orig", None)):
        if candidate is None:
            continue
        if isinstance(candidate, (ConnectionError, TimeoutError, EOFError, struct.error, ssl.SSLError)):
            return True  # ConnectionResetError, BrokenPipeError, a socket timeout, a truncated reply
        arguments = getattr(candidate, "args", ())
        if arguments and isinstance(arguments[0], dict) and arguments[0].get("C") in DISCONNECT_SQLSTATES:
            return True  # pg8000's DatabaseError carries the server's fields: C is the SQLSTATE
        if type(candidate).__module__.startswith("pg8000") and any(
            message in str(candidate).lower() for message in DISCONNECT_MESSAGES
        ):
            return True
    return False


def _recognise_disconnects(context: ExceptionContext) -> None:
    """SQLAlchemy's pg8000 dialect misses some disconnects; mark them so the pool discards the
    connection (also during pre-ping, which then connects afresh instead of failing). And keep the
    server's error free of values: it quotes them (``invalid input syntax ...: "<the comment>"``)."""
    if not context.is_disconnect and is_disconnect(context.original_exception):
        context.is_disconnect = True
    if _without_values(context.original_exception) and context.sqlalchemy_exception is not None:
        original = context.original_exception
        # SQLAlchemy formatted the driver's error into its own message already: format it again.
        context.sqlalchemy_exception.args = (
            f"({type(original).__module__}.{type(original).__name__}) {original}",
        )


# Fields of a PostgreSQL error that never quote data: severity, SQLSTATE, constraint, table, column...
SAFE_ERROR_FIELDS = frozenset({"S", "V", "C", "n", "t", "c", "s", "d", "F", "L", "R"})


def _without_values(error: BaseException) -> bool:
    """Drop the message parts of a pg8000 server error that may quote a value (its message past the
    first colon, its detail and its context), keeping what identifies the error."""
    arguments = getattr(error, "args", ())
    if not arguments or not isinstance(arguments[0], dict):
        return False
    fields = arguments[0]
    message = str(fields.get("M", ""))
    safe = {key: value for key, value in fields.items() if key in SAFE_ERROR_FIELDS}
    safe["M"] = message.split(":", 1)[0]
    error.args = (safe, *arguments[1:])
    return True


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
    """One transaction: committed when the block ends, rolled back if it raises.

    A dropped connection raises :class:`DatabaseUnavailable` (nothing committed); a connection
    dropped during ``COMMIT`` is settled with the server before anything is answered.
    """
    get_engine()
    assert _sessions is not None
    session = _sessions()
    try:
        try:
            yield session
            session.flush()
            xid = session.scalar(text("SELECT pg_current_xact_id_if_assigned()::text"))
        except BaseException:
            session.rollback()
            raise
        try:
            session.commit()
        except Exception as error:
            if not is_disconnect(error):
                raise
            if xid is None or not _committed(xid):
                raise DatabaseUnavailable(
                    "The database connection was lost; nothing was saved. Try again.", retry_after=RETRY_AFTER_SECONDS
                ) from error
            logger.warning("commit answer lost; the server confirms it committed", extra={"xid": xid})
    except Exception as error:
        if isinstance(error, DatabaseUnavailable):
            raise
        # A dropped connection, a server that cannot be reached, or a pool with no free connection.
        if is_disconnect(error) or isinstance(error, (exc.OperationalError, exc.InterfaceError, exc.TimeoutError)):
            raise DatabaseUnavailable(
                "The database connection was lost; nothing was saved. Try again.", retry_after=RETRY_AFTER_SECONDS
            ) from error
        raise
    finally:
        session.close()


def _committed(xid: str) -> bool:
    """Ask the server, on a fresh connection, whether transaction ``xid`` committed."""
    assert _engine is not None
    for _ in range(2):  # the pool's first connection may be another dropped one
        try:
            with _engine.connect() as connection:
                status = connection.scalar(text("SELECT pg_xact_status(CAST(:xid AS xid8))"), {"xid": xid})
            return status == "committed"
        except exc.DBAPIError as error:
            if not is_disconnect(error):
                raise
    raise DatabaseUnavailable(
        "The database connection was lost while saving, and the outcome could not be confirmed. Try again.",
        retry_after=RETRY_AFTER_SECONDS,
    )


def dispose_engine() -> None:
    """Forget the engine (tests and the migration step use this when the URL changes)."""
    global _engine, _sessions
    with _lock:
        if _engine is not None:
            _engine.dispose()
        _engine = None
        _sessions = None
