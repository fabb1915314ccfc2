"""pg8000, made cheaper per statement.

Every request of a warm function pays the driver's own CPU and its round trips to PostgreSQL. These
pieces cut both without changing any answer:

- **Parameter style conversion, remembered.** pg8000 rewrites every statement's ``%s`` placeholders
  into ``$1, $2, ...`` by scanning the SQL character by character, on every execution. SQLAlchemy's
  pg8000 dialect uses the ``format`` style, for which the rewritten SQL depends only on the SQL text
  (the values pass through untouched), and SQLAlchemy sends the same few statement texts again and
  again. So the rewrite is remembered per (style, SQL) in a bounded cache for the styles whose values
  pass through (``format``, ``qmark``, ``numeric``); the others are rewritten as before. pg8000's
  legacy cursor looks the function up in its module on every call, so the cached one is put there
  (:func:`install_statement_cache`); it returns exactly what pg8000's own returns, and raises where
  it raises (an error is never cached).
- **Timestamps read with ``fromisoformat``.** pg8000 reads every ``timestamptz``/``timestamp`` value
  with ``datetime.strptime`` (tens of microseconds each, dozens per request). PostgreSQL's usual answer
  (``2026-11-27 14:55:00.123456+00``) is read with ``datetime.fromisoformat`` instead, which gives the
  identical value; any other shape (a ``+05:30`` offset, BC, years past 9999, ``infinity``, another
  ``DateStyle``) still goes to pg8000's own converter, so every value is what pg8000 made of it.
- **One round trip per statement.** pg8000 sends a statement with parameters as three exchanges, each
  waiting for the server (Parse+Sync; Describe+Sync; Bind+Execute+Sync). :class:`Connection` sends
  Parse, Bind, Describe (portal), Execute and Sync together and reads the one answer. The server
  handles the messages in the same order either way; the row description still arrives before the
  rows, so they are converted as before; an error still arrives before ReadyForQuery and is raised as
  the same pg8000 error, leaving the transaction in the same state. COPY keeps pg8000's exchange.
- **BEGIN rides with the first statement.** pg8000's legacy cursor sends ``begin transaction`` as a
  query of its own, and waits, before a transaction's first statement. :class:`Connection` holds it
  back and writes it just before that statement, in the same flush, reading its answer first. With
  parameters it goes in the statement's own extended-query block (no Sync between them): had BEGIN
  failed, the server would skip the statement too, so nothing runs outside the transaction. A
  statement without parameters is a simple query; there BEGIN is a simple query written just before
  it (BEGIN on a session that is not in a transaction fails only when the session is going away).
  A transaction that ran no statement sends nothing at all, not even its COMMIT or ROLLBACK.

All of it leans on pg8000's internals (``core._create_message``, ``_write``, ``_flush``, ``_read``, the
connection's ``_sock`` and ``_transaction_status``, ``legacy.convert_paramstyle``), and this module is the
only place that does. They are used only on the pg8000 releases they were verified against
(:data:`VERIFIED_RELEASES`) and only while every internal is there (:data:`COMPATIBLE`); on any other
release the engine connects with pg8000's own public ``connect`` and says so in one log line, slower but
correct. ``tests/foundation/test_private_apis.py`` fails on an upgrade until the release is verified.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import pg8000
import pg8000.converters
import pg8000.core
import pg8000.dbapi
import pg8000.legacy
from pg8000.exceptions import InterfaceError

# pg8000 releases (major.minor) whose internals this module was read against and tested with.
VERIFIED_RELEASES = frozenset({"1.31"})
# The internals used, by module: each must be there for the fast path to be taken.
INTERNALS = {
    pg8000.core: (
        "_create_message",
        "_write",
        "_flush",
        "_read",
        "ci_unpack",
        "i_pack",
        "H_pack",
        "Context",
        "DESCRIBE",
        "EXECUTE",
        "PORTAL",
        "QUERY",
        "PARSE",
        "BIND",
        "SYNC_MSG",
        "READY_FOR_QUERY",
        "IN_TRANSACTION",
        "IN_FAILED_TRANSACTION",
    ),
    pg8000.legacy: ("convert_paramstyle", "Connection"),
    pg8000.dbapi: ("convert_paramstyle",),
    pg8000.converters: ("PG_TYPES", "TIMESTAMPTZ", "TIMESTAMP", "make_params"),
}


def internals_fit(release: str) -> bool:
    """Whether pg8000 ``release`` is one this module was verified against, with every internal present."""
    if ".".join(release.split(".")[:2]) not in VERIFIED_RELEASES:
        return False
    return all(hasattr(module, name) for module, names in INTERNALS.items() for name in names)


PG8000_RELEASE = pg8000.__version__
COMPATIBLE = internals_fit(PG8000_RELEASE)

# Styles whose conversion returns the arguments unchanged: the converted SQL depends on the SQL alone.
_PASS_THROUGH_STYLES = frozenset({"format", "qmark", "numeric"})
STATEMENT_CACHE_SIZE = 1024

# The one pg8000.legacy imports; None on a release without it (then COMPATIBLE is False and it is never called).
_original_convert_paramstyle: Callable[[str, Any, Any], tuple[str, Any]] | None = getattr(
    pg8000.dbapi, "convert_paramstyle", None
)


def _convert(style: str, query: Any, args: Any) -> tuple[str, Any]:
    if _original_convert_paramstyle is None:
        raise RuntimeError("pg8000 has no convert_paramstyle: the statement cache is never installed then")
    return _original_convert_paramstyle(style, query, args)


@lru_cache(maxsize=STATEMENT_CACHE_SIZE)
def _converted_sql(style: str, query: str) -> str:
    statement, _ = _convert(style, query, ())
    return statement


def convert_paramstyle(style: str, query: Any, args: Any) -> tuple[str, Any]:
    """pg8000's ``convert_paramstyle``, remembering the rewritten SQL for the pass-through styles."""
    if style in _PASS_THROUGH_STYLES and type(query) is str:
        return _converted_sql(style, query), args
    return _convert(style, query, args)


def install_statement_cache() -> None:
    """Make pg8000's legacy cursor (the one SQLAlchemy uses) convert through the cache (a verified
    pg8000 only)."""
    if COMPATIBLE:
        pg8000.legacy.convert_paramstyle = convert_paramstyle


# --- timestamps ------------------------------------------------------------------------------------

_pg8000_timestamptz_in: Callable[[str], Any] = pg8000.converters.PG_TYPES.get(
    getattr(pg8000.converters, "TIMESTAMPTZ", None)
)
_pg8000_timestamp_in: Callable[[str], Any] = pg8000.converters.PG_TYPES.get(
    getattr(pg8000.converters, "TIMESTAMP", None)
)
_fromisoformat = datetime.fromisoformat


def timestamptz_in(data: str) -> Any:
    """A ``timestamptz`` as pg8000 reads it, through ``fromisoformat`` where that gives the same value.

    PostgreSQL (``DateStyle`` ISO) sends ``2026-11-27 14:55:00.123456+00``: a four-digit year and a
    whole-hour offset ``+HH``, which pg8000 reads with ``strptime`` into a ``datetime`` whose tzinfo is
    a ``datetime.timezone``, exactly what ``fromisoformat`` makes. Everything else (``+05:30``, which
    pg8000 reads through dateutil; an offset with seconds; BC; years past 9999; ``infinity``) is left
    to pg8000's own converter.
    """
    if len(data) >= 22 and data[-3] in "+-" and data[4] == "-":
        try:
            return _fromisoformat(data)
        except ValueError:
            pass
    return _pg8000_timestamptz_in(data)


def timestamp_in(data: str) -> Any:
    """A ``timestamp`` as pg8000 reads it: ``fromisoformat`` for ``2026-11-27 14:55:00[.ffffff]``,
    pg8000's own converter for anything else (BC, years past 9999, ``infinity``)."""
    if len(data) >= 19 and data[4] == "-":
        try:
            value = _fromisoformat(data)
        except ValueError:
            pass
        else:
            if value.tzinfo is None:
                return value
    return _pg8000_timestamp_in(data)


# --- the connection --------------------------------------------------------------------------------


# Messages of PostgreSQL's extended query protocol, as pg8000 writes them (without its Flush after each).
_UNNAMED = b"\x00"
_BEGIN = "begin transaction"  # what pg8000's legacy cursor sends before a transaction's first statement
if COMPATIBLE:
    _DESCRIBE_PORTAL = pg8000.core._create_message(pg8000.core.DESCRIBE, pg8000.core.PORTAL + _UNNAMED)
    _EXECUTE = pg8000.core._create_message(pg8000.core.EXECUTE, _UNNAMED + pg8000.core.i_pack(0))
    _SYNC = pg8000.core.SYNC_MSG


class Connection(pg8000.legacy.Connection):  # type: ignore[misc]  # pg8000 is untyped: its Connection is Any
    """pg8000's legacy connection (the one SQLAlchemy's dialect drives), with the faster timestamp
    converters, each statement in one round trip, and ``BEGIN`` riding with the first statement."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._begin_pending = False
        super().__init__(*args, **kwargs)
        self.register_in_adapter(pg8000.converters.TIMESTAMPTZ, timestamptz_in)
        self.register_in_adapter(pg8000.converters.TIMESTAMP, timestamp_in)

    def close(self) -> None:
        """Close the connection. One the server or the network already dropped is closed all the same: pg8000
        cannot send its goodbye on the dead socket and raises, which SQLAlchemy's pool would log as an error
        with a traceback for every connection a failover or a restart dropped (the drop itself is logged
        once, by the HTTP edge)."""
        try:
            super().close()
        except InterfaceError as error:
            if not isinstance(error.__cause__, OSError):
                raise

    @property
    def _in_transaction(self) -> bool:
        # A BEGIN written but not yet sent counts: the cursor must not ask for another.
        return self._begin_pending or self._transaction_status in (
            pg8000.core.IN_TRANSACTION,
            pg8000.core.IN_FAILED_TRANSACTION,
        )

    def commit(self) -> None:
        if self._ran_nothing():
            self._begin_pending = False  # the transaction ran nothing: nothing to commit
            return
        super().commit()

    def rollback(self) -> None:
        if self._ran_nothing():
            self._begin_pending = False  # the transaction ran nothing: nothing to roll back
            return
        super().rollback()

    def _ran_nothing(self) -> bool:
        """A BEGIN is waiting for a statement that never came (on a connection that is still open)."""
        return (
            self._begin_pending
            and self._sock is not None
            and self._transaction_status not in (pg8000.core.IN_TRANSACTION, pg8000.core.IN_FAILED_TRANSACTION)
        )

    def execute_simple(self, statement: str) -> Any:
        if statement == _BEGIN and not self._in_transaction and self._sock is not None:
            self._begin_pending = True  # sent with the next statement
            return pg8000.core.Context(statement)
        if not self._begin_pending:
            return super().execute_simple(statement)
        # BEGIN and the statement as two simple queries, written together, answered in order.
        begin, context = pg8000.core.Context(_BEGIN), pg8000.core.Context(statement)
        self._write_all(self._query(_BEGIN) + self._query(statement))
        self._begin_pending = False
        self._read_answer(begin)
        self._read_answer(context)
        for answered in (begin, context):
            if answered.error is not None:
                raise answered.error
        return context

    def execute_unnamed(
        self, statement: str, vals: Sequence[Any] = (), oids: Sequence[int] = (), stream: Any = None
    ) -> Any:
        if stream is not None:  # COPY: pg8000's own exchange
            if self._begin_pending:
                self._begin_pending = False
                super().execute_simple(_BEGIN)
            return super().execute_unnamed(statement, vals=vals, oids=oids, stream=stream)
        context = pg8000.core.Context(statement)
        params = pg8000.converters.make_params(self.py_types, vals)
        message = bytearray()
        if self._begin_pending:
            # BEGIN in the same extended-query block (no Sync between): if it failed, the server would
            # skip the statement too, so the statement never runs outside the transaction.
            message += self._parse(_BEGIN, ()) + self._bind(()) + _EXECUTE
        message += self._parse(statement, oids) + self._bind(params) + _DESCRIBE_PORTAL + _EXECUTE + _SYNC
        self._write_all(message)
        self._begin_pending = False
        self._read_answer(context)
        if context.error is not None:
            raise context.error
        return context

    def _query(self, sql: str) -> bytes:
        message: bytes = pg8000.core._create_message(pg8000.core.QUERY, sql.encode(self._client_encoding) + _UNNAMED)
        return message

    def _parse(self, statement: str, oids: Sequence[int]) -> bytes:
        data = bytearray(_UNNAMED)
        data += statement.encode(self._client_encoding) + _UNNAMED
        data += pg8000.core.H_pack(len(oids))
        for oid in oids:
            data += pg8000.core.i_pack(0 if oid == -1 else oid)
        message: bytes = pg8000.core._create_message(pg8000.core.PARSE, bytes(data))
        return message

    def _bind(self, params: Sequence[str | None]) -> bytes:
        # Unnamed portal and statement, text parameters, text results: as pg8000's send_BIND.
        data = bytearray(_UNNAMED + _UNNAMED + pg8000.core.H_pack(0) + pg8000.core.H_pack(len(params)))
        encoding = self._client_encoding
        for value in params:
            if value is None:
                data += pg8000.core.i_pack(-1)
            else:
                encoded = value.encode(encoding)
                data += pg8000.core.i_pack(len(encoded))
                data += encoded
        data += pg8000.core.H_pack(0)
        message: bytes = pg8000.core._create_message(pg8000.core.BIND, bytes(data))
        return message

    def _write_all(self, message: bytes | bytearray) -> None:
        """Write the messages and flush once: one round trip."""
        sock = self._sock
        if sock is None:
            raise InterfaceError("connection is closed")
        try:
            pg8000.core._write(sock, message)
        except ValueError as error:
            if str(error) == "write to closed file":
                raise InterfaceError("connection is closed") from error
            raise
        pg8000.core._flush(sock)

    def _read_answer(self, context: Any) -> None:
        """Read one answer up to its ReadyForQuery; the server's error stays in ``context.error``."""
        read, sock, handlers = pg8000.core._read, self._sock, self.message_types
        code = None
        while code != pg8000.core.READY_FOR_QUERY:
            code, length = pg8000.core.ci_unpack(read(sock, 5))
            handlers[code](read(sock, length - 4), context)


def connect(*args: Any, **kwargs: Any) -> Connection:
    """``pg8000.connect``, making a :class:`Connection`."""
    return Connection(*args, **kwargs)


def dbapi() -> types.ModuleType:
    """pg8000 as a DB-API module whose ``connect`` makes a :class:`Connection`: give it to
    ``create_engine(module=...)``. Everything else (exceptions, type objects, paramstyle) is pg8000's.
    On a pg8000 release this module was not verified against: pg8000 itself, its public path."""
    if not COMPATIBLE:
        from .observability import logger

        logger.warning(
            "pg8000 %s is not a release pg_driver was verified against; using pg8000's own connection", PG8000_RELEASE
        )
        public: types.ModuleType = pg8000
        return public
    module = types.ModuleType("shop_marketing.pg_driver.dbapi", "pg8000, connecting with pg_driver.Connection")

    def __getattr__(name: str) -> Any:
        return getattr(pg8000, name)

    vars(module).update(__getattr__=__getattr__, connect=connect)
    return module
