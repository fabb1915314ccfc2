"""pg8000, made cheaper per statement.

Every request of a warm function pays the driver's own CPU and its round trips to PostgreSQL. These
pieces cut both without changing any answer:

- **Parameter style conversion, remembered.** pg8000 rewrites every statement's ``%s`` placeholders
  into ``$1, $2, ...`` by scanning the SQL character by character, on every execution. SQLAlchemy's
  pg8000 dialect uses the ``format`` style, for which the rewritten SQL depends only on the SQL text
  (the values pass through untouched), and SQLAlchemy sends the same few statement texts again and
  again. So the rewrite is remembered per (style, SQL) in a bounded cache for the styles whose values
  pass through (``format``, ``qmark``, ``numeric``); the others are rewritten as before.
- **Timestamps read with ``fromisoformat``.** pg8000 reads every ``timestamptz``/``timestamp`` value
  with ``datetime.strptime`` (tens of microseconds each, dozens per request). PostgreSQL's usual answer
  (``2026-11-27 14:55:00.123456+00``) is read with ``datetime.fromisoformat`` instead, which gives the
  identical value; any other shape (a ``+05:30`` offset, BC, years past 9999, ``infinity``, another
  ``DateStyle``) still goes to pg8000's own converter, so every value is what pg8000 made of it.
"""

from __future__ import annotations

import types
from datetime import datetime
from functools import lru_cache

import pg8000
import pg8000.converters
import pg8000.legacy

# Styles whose conversion returns the arguments unchanged: the converted SQL depends on the SQL alone.
_PASS_THROUGH_STYLES = frozenset({"format", "qmark", "numeric"})
STATEMENT_CACHE_SIZE = 1024

_original_convert_paramstyle = pg8000.legacy.convert_paramstyle


@lru_cache(maxsize=STATEMENT_CACHE_SIZE)
def _converted_sql(style: str, query: str) -> str:
    statement, _ = _original_convert_paramstyle(style, query, ())
    return statement


def convert_paramstyle(style, query, args):
    """pg8000's ``convert_paramstyle``, remembering the rewritten SQL for the pass-through styles."""
    if style in _PASS_THROUGH_STYLES and type(query) is str:
        return _converted_sql(style, query), args
    return _original_convert_paramstyle(style, query, args)


def install_statement_cache() -> None:
    """Make pg8000's legacy cursor (the one SQLAlchemy uses) convert through the cache."""
    pg8000.legacy.convert_paramstyle = convert_paramstyle


# --- timestamps ------------------------------------------------------------------------------------

_pg8000_timestamptz_in = pg8000.converters.PG_TYPES[pg8000.converters.TIMESTAMPTZ]
_pg8000_timestamp_in = pg8000.converters.PG_TYPES[pg8000.converters.TIMESTAMP]
_fromisoformat = datetime.fromisoformat


def timestamptz_in(data: str):
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


def timestamp_in(data: str):
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


class Connection(pg8000.legacy.Connection):
    """pg8000's legacy connection (the one SQLAlchemy's dialect drives), with the faster converters."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.register_in_adapter(pg8000.converters.TIMESTAMPTZ, timestamptz_in)
        self.register_in_adapter(pg8000.converters.TIMESTAMP, timestamp_in)


def connect(*args, **kwargs) -> Connection:
    """``pg8000.connect``, making a :class:`Connection`."""
    return Connection(*args, **kwargs)


def dbapi() -> types.ModuleType:
    """pg8000 as a DB-API module whose ``connect`` makes a :class:`Connection`: give it to
    ``create_engine(module=...)``. Everything else (exceptions, type objects, paramstyle) is pg8000's."""
    module = types.ModuleType("shop_marketing.pg_driver.dbapi", "pg8000, connecting with pg_driver.Connection")

    def __getattr__(name: str):
        return getattr(pg8000, name)

    module.__getattr__ = __getattr__
    module.connect = connect
    return module
