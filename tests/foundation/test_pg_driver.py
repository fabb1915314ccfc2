"""The leaner pg8000 connection (shop_marketing.pg_driver), against the real server: the same values,
the same errors, the same state after an error, and fewer round trips."""

from __future__ import annotations

import pg8000.converters
import pg8000.dbapi
import pg8000.legacy
import pytest
import sqlalchemy as sa

from shop_marketing import pg_driver

# pg8000's own fallback (dateutil) warns about the zone abbreviations of the non-ISO date styles.
pytestmark = pytest.mark.filterwarnings("ignore::dateutil.parser.UnknownTimezoneWarning")


def connect(database_url: str, connection_class=pg_driver.Connection):
    """A connection of ``connection_class`` to the test database, as SQLAlchemy's dialect would dial it."""
    url = sa.make_url(database_url)
    arguments = url.translate_connect_args(username="user")
    arguments.update(url.query)
    if "port" in arguments:
        arguments["port"] = int(arguments["port"])
    return connection_class(**arguments)


@pytest.fixture
def lean(database_url):
    connection = connect(database_url)
    yield connection
    connection.close()


@pytest.fixture
def plain(database_url):
    connection = connect(database_url, pg8000.legacy.Connection)
    yield connection
    connection.close()


# --- parameter style conversion ------------------------------------------------------------------

STATEMENTS = [
    ("format", "SELECT %s, '%%s', %s::text -- %s\n WHERE x = %s", (1, "a", None, 2)),
    ("format", "SELECT $$ %s $$, E'\\' %s', \"a%%b\" FROM t WHERE a = %s", (5,)),
    ("qmark", "SELECT ?, '?', ? -- ?\n", (1, 2)),
    ("numeric", "SELECT :1, :2, x::text, ':3'", (1, 2)),
    ("named", "SELECT :a, :b, :a, x::int", {"a": 1, "b": 2}),
    ("pyformat", "SELECT %(a)s, %(b)s, %(a)s", {"a": 1, "b": 2}),
]


@pytest.mark.parametrize("style,sql,args", STATEMENTS)
def test_the_remembered_conversion_is_pg8000s_own(style, sql, args):
    expected = pg8000.dbapi.convert_paramstyle(style, sql, args)

    first = pg_driver.convert_paramstyle(style, sql, args)
    again = pg_driver.convert_paramstyle(style, sql, args)

    assert first == expected and again == expected


def test_the_conversion_is_remembered_per_statement_and_values_still_pass_through():
    sql = "SELECT %s + %s AS remembered_sum"
    pg_driver._converted_sql.cache_clear()

    statement, values = pg_driver.convert_paramstyle("format", sql, (1, 2))
    _, other_values = pg_driver.convert_paramstyle("format", sql, (3, 4))

    assert statement == "SELECT $1 + $2 AS remembered_sum"
    assert (values, other_values) == ((1, 2), (3, 4))
    assert pg_driver._converted_sql.cache_info().hits == 1


def test_a_statement_pg8000_refuses_is_still_refused():
    with pytest.raises(pg8000.dbapi.InterfaceError, match="Only %s and %% are supported"):
        pg_driver.convert_paramstyle("format", "SELECT 5 %d", (1,))


def test_the_legacy_cursor_converts_through_the_cache(lean):
    pg_driver.install_statement_cache()
    pg_driver._converted_sql.cache_clear()
    cursor = lean.cursor()

    for value in (1, 2):
        cursor.execute("SELECT %s::int + 1 AS through_the_cache", (value,))
        assert cursor.fetchone() == [value + 1]

    assert pg_driver._converted_sql.cache_info().misses == 1
    assert pg_driver._converted_sql.cache_info().hits == 1
    lean.rollback()


# --- timestamps ----------------------------------------------------------------------------------

TIME_ZONES = ["UTC", "Asia/Seoul", "America/New_York", "Asia/Kolkata", "America/St_Johns", "Asia/Kathmandu",
              "Europe/Amsterdam", "Pacific/Chatham"]
MOMENTS = [
    "2026-11-27 14:55:00.123456+00", "2026-11-27 14:55:00.12+00", "2026-11-27 14:55:00+00",
    "2026-03-29 01:30:00.5+00", "2000-02-29 23:59:59.999999+00", "1970-01-01 00:00:00+00",
    "1937-06-30 12:00:00+00", "1900-01-01 00:00:00+00", "1850-06-01 08:00:00+00",
    "0001-01-01 00:00:00+00", "0044-03-15 12:00:00+00 BC", "9999-12-31 23:59:59.999999+00",
    "10000-01-01 00:00:00+00", "294276-12-31 23:59:59+00", "infinity", "-infinity",
]


def _texts_and_values(connection, cast: str, time_zone: str, date_style: str = "ISO, MDY"):
    cursor = connection.cursor()
    cursor.execute(f"SET TimeZone TO '{time_zone}'")
    cursor.execute(f"SET DateStyle TO '{date_style}'")
    cursor.execute(
        f"SELECT moment::{cast}::text, moment::{cast} FROM unnest(%s::text[]) AS m(moment)", (MOMENTS,)
    )
    rows = cursor.fetchall()
    connection.rollback()
    return rows


def _same(left, right) -> bool:
    return type(left) is type(right) and repr(left) == repr(right) and left == right


@pytest.mark.parametrize("time_zone", TIME_ZONES)
def test_timestamptz_values_are_exactly_pg8000s(lean, time_zone):
    rows = _texts_and_values(lean, "timestamptz", time_zone)

    assert len(rows) == len(MOMENTS)
    for text, value in rows:
        expected = pg8000.converters.timestamptz_in(text)
        assert _same(pg_driver.timestamptz_in(text), expected), text
        assert _same(value, expected), text  # what the connection reads is the same


def test_timestamptz_in_the_other_date_styles_is_exactly_pg8000s(lean):
    for date_style in ("SQL, DMY", "Postgres, MDY", "German"):
        for text, value in _texts_and_values(lean, "timestamptz", "Asia/Seoul", date_style):
            assert _same(value, pg8000.converters.timestamptz_in(text)), text


def test_the_fast_path_reads_the_usual_server_answer_without_strptime(lean, monkeypatch):
    calls = []
    original = pg_driver._pg8000_timestamptz_in
    monkeypatch.setattr(pg_driver, "_pg8000_timestamptz_in", lambda data: calls.append(data) or original(data))

    rows = _texts_and_values(lean, "timestamptz", "UTC")

    assert calls == ["0044-03-15 12:00:00+00 BC", "10000-01-01 00:00:00+00", "294276-12-31 23:59:59+00",
                     "infinity", "-infinity"]
    assert rows[0][1] == pg8000.converters.timestamptz_in("2026-11-27 14:55:00.123456+00")


@pytest.mark.parametrize("time_zone", ["UTC", "Asia/Kolkata"])
def test_timestamp_values_are_exactly_pg8000s(lean, time_zone):
    for date_style in ("ISO, MDY", "SQL, DMY", "Postgres, MDY", "German"):
        rows = _texts_and_values(lean, "timestamp", time_zone, date_style)

        assert len(rows) == len(MOMENTS)
        for text, value in rows:
            expected = pg8000.converters.timestamp_in(text)
            assert _same(pg_driver.timestamp_in(text), expected), text
            assert _same(value, expected), text
