"""The database: one SQLAlchemy engine per execution environment, on pg8000.

- pg8000 through :mod:`.pg_driver`: each statement in one round trip, ``BEGIN`` sent with a
  transaction's first statement, and less CPU per statement (see there).
- Lambda-sized pool. A connection that sat idle in the pool longer than ``DB_PING_AFTER_IDLE_SECONDS``
  (1 s; a frozen execution environment is idle far longer) is pinged before use, so a connection the
  server dropped meanwhile is replaced on checkout instead of failing the request; one used a moment
  ago is not pinged, which saves a round trip per request. pg8000 reports a dropped connection in
  several ways (a bare ``ConnectionResetError``, "network error", the server's own ``57P01``
  "terminating connection"); :func:`is_disconnect` knows them all, so the pool discards such a
  connection, and :class:`DatabaseUnavailable` (503) tells the HTTP edge it may retry the request.
- A commit whose answer is lost is settled, not guessed: the id of a transaction that wrote is read
  before ``COMMIT`` and, if the connection drops then, its fate is asked of the server on a fresh
  connection (``pg_xact_status``), so a committed write is answered as committed. A transaction that
  only read (plain ``SELECT``, row locks included) has nothing to settle and skips that query; a
  session that ran nothing never takes a connection.
- Bound parameters (comment text, training data) never appear in error messages (``hide_parameters``).
- Connect timeout and a server-side statement timeout.
- TLS to RDS verified against the CA bundle shipped in this package: the RDS roots of the database's
  region (the one its RDS host name names, else ``AWS_REGION``; every region's when no root names
  it), and Amazon Trust Services' roots that sign RDS Proxy's certificates (pg8000 alone neither
  insists on TLS nor checks the certificate).
  ``DATABASE_TLS=off`` (the default with ``DATABASE_URL``) is plain TCP: no TLS is negotiated, not
  even the SSLRequest pg8000 would otherwise send on every connection.
- Credentials from ``DATABASE_URL`` or from the RDS secret (``DB_SECRET_ARN``, cached): the RDS-managed
  master secret (``username``, ``password``; the server from ``DB_HOST``, ``DB_PORT``, ``DB_NAME``) or
  one that also holds ``host``, ``port``, ``dbname``. Each new connection takes the cached password;
  when the server refuses it (rotated), the secret is read again once and the connection retried, so
  a rotation needs no restart.
"""

from __future__ import annotations

import re
import ssl
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import pg8000.dbapi
from sqlalchemy import URL, Engine, create_engine, event, exc, make_url, text
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.orm import Session, sessionmaker

from . import pg_driver
from .config import ConfigurationError, Settings, get_settings
from .database_tls import database_region, verified_tls_context
from .errors import DatabaseUnavailable
from .observability import logger

# SQLSTATEs of a server that is going away: admin shutdown (pg_terminate_backend, failover), crash
# shutdown, and "cannot connect now" (starting up or shutting down).
DISCONNECT_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})
DISCONNECT_MESSAGES = ("network error", "connection is closed", "unexpected eof", "server closed the connection")
RETRY_AFTER_SECONDS = 2

_lock = threading.Lock()
_engine: Engine | None = None
_sessions: sessionmaker[Session] | None = None


# PostgreSQL's SQLSTATEs for a refused sign-in: wrong password, and no entry for this user.
AUTHENTICATION_FAILED = frozenset({"28P01", "28000"})
SECRET_MAX_AGE_SECONDS = 300


class SecretCredentials:
    """The database user and password from ``DB_SECRET_ARN``: cached, read again on demand."""

    def __init__(self, secret_arn: str):
        self.secret_arn = secret_arn

    def _read(self, force: bool) -> dict[str, Any]:
        from aws_lambda_powertools.utilities import parameters

        secret = parameters.get_secret(
            self.secret_arn, transform="json", max_age=SECRET_MAX_AGE_SECONDS, force_fetch=force
        )
        if not isinstance(secret, dict) or not secret.get("username") or not secret.get("password"):
            raise ConfigurationError("configuration: DB_SECRET_ARN: the secret must hold username and password")
        return secret

    def secret(self, *, force: bool = False) -> dict[str, Any]:
        return self._read(force)

    @classmethod
    def of(cls, settings: Settings) -> SecretCredentials:
        """The credentials of ``DB_SECRET_ARN``, which must be set when ``DATABASE_URL`` is not."""
        if not settings.db_secret_arn:
            raise ConfigurationError("configuration: DATABASE_URL or DB_SECRET_ARN must be set")
        return cls(settings.db_secret_arn)

    def login(self, *, force: bool = False) -> dict[str, str]:
        secret = self._read(force)
        return {"user": secret["username"], "password": secret["password"]}


def database_url(settings: Settings) -> URL:
    """Where to connect: ``DATABASE_URL``, or the secret's server (``DB_HOST``/``DB_PORT``/``DB_NAME`` first).

    From a secret the URL holds no password: each connection takes the current one (see
    :func:`connect_with_current_password`).
    """
    if settings.database_url:
        return make_url(settings.database_url)
    secret = SecretCredentials.of(settings).secret()
    host = settings.db_host or secret.get("host")
    if not host:
        raise ConfigurationError("configuration: DB_HOST must be set: the database secret holds no host")
    return URL.create(
        "postgresql+pg8000",
        username=secret["username"],
        host=host,
        port=settings.db_port or int(secret.get("port") or 5432),
        database=settings.db_name or secret.get("dbname") or "postgres",
    )


def _authentication_failed(error: Exception) -> bool:
    details = error.args[0] if error.args else None
    return isinstance(details, dict) and details.get("C") in AUTHENTICATION_FAILED


def connect_with_current_password(engine: Engine, credentials: SecretCredentials) -> None:
    """Every new connection signs in with the secret's password; a refused one re-reads it once."""

    @event.listens_for(engine, "do_connect")
    def _connect(dialect: Any, connection_record: Any, cargs: list[Any], cparams: dict[str, Any]) -> Any:
        try:
            return dialect.connect(*cargs, **{**cparams, **credentials.login()})
        except pg8000.dbapi.DatabaseError as error:
            if not _authentication_failed(error):
                raise
        from .observability import logger

        logger.info("database refused the cached password; reading the secret again (rotated)")
        return dialect.connect(*cargs, **{**cparams, **credentials.login(force=True)})


def build_engine(settings: Settings) -> Engine:
    pg_driver.install_statement_cache()
    tls = settings.database_tls
    if tls == "auto":
        tls = "off" if settings.database_url else "verify"
    connect_args: dict[str, object] = {
        # pg8000's timeout is a socket timeout: it bounds connecting and any single read.
        "timeout": settings.db_connect_timeout_seconds + settings.db_statement_timeout_ms / 1000,
        "startup_params": {"statement_timeout": str(settings.db_statement_timeout_ms)},
    }
    # pg8000 takes a missing ssl_context as "TLS if the server offers it": every connection would then
    # build a default context (the system's CA store) and spend a round trip on an SSLRequest.
    url = database_url(settings)
    connect_args["ssl_context"] = verified_tls_context(database_region(url.host)) if tls == "verify" else False
    engine = create_engine(
        url,
        # pg8000, connecting with the leaner connection of :mod:`.pg_driver`.
        module=pg_driver.dbapi(),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_recycle=300,
        pool_timeout=settings.db_connect_timeout_seconds,
        connect_args=connect_args,
        # Statements carry comment text and training data: never print them in an error.
        hide_parameters=True,
    )
    event.listen(engine, "handle_error", _recognise_disconnects)
    ping_after_idle(engine, settings.db_ping_after_idle_seconds)
    _track_writes(engine)
    if not settings.database_url:
        connect_with_current_password(engine, SecretCredentials.of(settings))
    return engine


_IDLE_SINCE = "shop_marketing.idle_since"  # in a connection's info: when it went back to the pool


def ping_after_idle(engine: Engine, idle_seconds: float) -> None:
    """Ping a pooled connection before use only when it sat idle longer than ``idle_seconds``.

    A connection returned to the pool a moment ago is as alive as it was then, and a ping costs a
    round trip on every checkout; one that sat idle (a frozen Lambda environment, a failover, the
    server's idle reaping) is pinged, and a ping that finds it gone makes the pool replace it (and
    every other connection pooled before then) with a new one. A new connection is not pinged.
    """

    @event.listens_for(engine, "checkin")
    def _idle_from_now(dbapi_connection: Any, connection_record: Any) -> None:
        connection_record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, connection_record: Any, connection_proxy: Any) -> None:
        idle_since = connection_record.info.pop(_IDLE_SINCE, None)
        if idle_since is None or time.monotonic() - idle_since <= idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            if is_disconnect(error):
                raise exc.InvalidatePoolError(f"the pooled connection was gone: {type(error).__name__}") from error
            raise


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
    connection (the idle ping of :func:`ping_after_idle` asks :func:`is_disconnect` itself). And keep the
    server's error free of values: it quotes them (``invalid input syntax ...: "<the comment>"``)."""
    if not context.is_disconnect and is_disconnect(context.original_exception):
        context.is_disconnect = True
    if _without_values(context.original_exception) and context.sqlalchemy_exception is not None:
        original = context.original_exception
        # SQLAlchemy formatted the driver's error into its own message already: format it again.
        context.sqlalchemy_exception.args = (f"({type(original).__module__}.{type(original).__name__}) {original}",)


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
                sessions = sessionmaker(engine, expire_on_commit=False)
                event.listen(sessions, "after_begin", _remember_connection)
                _sessions = sessions
                _engine = engine
    return _engine


# --- which transactions wrote ----------------------------------------------------------------------

_WROTE = "shop_marketing.wrote"  # in a connection's info: a statement other than a plain SELECT ran
_SESSION_CONNECTION = "shop_marketing.connection"  # in a session's info: its connection, once it has one
# Whitespace and comments before a statement's first word.
_LEADING = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.DOTALL)
_INTO = re.compile(r"\binto\b", re.IGNORECASE)


@lru_cache(maxsize=1024)
def is_plain_read(statement: str) -> bool:
    """Whether a statement only reads: it starts with SELECT (row locks such as ``FOR UPDATE`` or
    ``FOR KEY SHARE`` included) and says no INTO. Anything else counts as a write, ``WITH ...``
    included: a data-modifying CTE writes. (A SELECT of a function that writes would be misjudged;
    this product writes only with INSERT, UPDATE and DELETE.)"""
    leading = _LEADING.match(statement)  # matches every string (possibly empty), so never None
    start = leading.end() if leading else 0
    word = statement[start : start + 7]
    return word[:6].lower() == "select" and not (word[6:].isalnum() or word[6:] == "_") and not _INTO.search(statement)


def _track_writes(engine: Engine) -> None:
    """Mark, per connection and transaction, whether anything but a plain read ran."""

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.info[_WROTE] = False

    @event.listens_for(engine, "before_cursor_execute")
    def _before_execute(
        connection: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        if not is_plain_read(statement):
            connection.info[_WROTE] = True


def _remember_connection(session: Session, transaction: Any, connection: Any) -> None:
    session.info[_SESSION_CONNECTION] = connection


def _wrote(session: Session) -> bool:
    """Whether the session's transaction ran a statement that may have written (when in doubt, yes)."""
    connection = session.info.get(_SESSION_CONNECTION)
    if connection is None:
        return False  # the session never reached the database
    try:
        return bool(connection.info.get(_WROTE, True))
    except exc.SQLAlchemyError:
        return True


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
            # Only a transaction that wrote needs its id to settle a lost COMMIT answer; one that
            # only read has nothing to settle (and one that ran nothing has no connection to ask on).
            xid = session.scalar(text("SELECT pg_current_xact_id_if_assigned()::text")) if _wrote(session) else None
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
                status: str | None = connection.scalar(text("SELECT pg_xact_status(CAST(:xid AS xid8))"), {"xid": xid})
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
