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
def lean(master_database_url):
    # The driver's own tests make scratch tables: the master's to do, not the application role's.
    connection = connect(master_database_url)
    yield connection
    connection.close()


@pytest.fixture
def plain(master_database_url):
    connection = connect(master_database_url, pg8000.legacy.Connection)
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

TIME_ZONES = [
    "UTC",
    "Asia/Seoul",
    "America/New_York",
    "Asia/Kolkata",
    "America/St_Johns",
    "Asia/Kathmandu",
    "Europe/Amsterdam",
    "Pacific/Chatham",
]
MOMENTS = [
    "2026-11-27 14:55:00.123456+00",
    "2026-11-27 14:55:00.12+00",
    "2026-11-27 14:55:00+00",
    "2026-03-29 01:30:00.5+00",
    "2000-02-29 23:59:59.999999+00",
    "1970-01-01 00:00:00+00",
    "1937-06-30 12:00:00+00",
    "1900-01-01 00:00:00+00",
    "1850-06-01 08:00:00+00",
    "0001-01-01 00:00:00+00",
    "0044-03-15 12:00:00+00 BC",
    "9999-12-31 23:59:59.999999+00",
    "10000-01-01 00:00:00+00",
    "294276-12-31 23:59:59+00",
    "infinity",
    "-infinity",
]


def _texts_and_values(connection, cast: str, time_zone: str, date_style: str = "ISO, MDY"):
    cursor = connection.cursor()
    cursor.execute(f"SET TimeZone TO '{time_zone}'")
    cursor.execute(f"SET DateStyle TO '{date_style}'")
    cursor.execute(f"SELECT moment::{cast}::text, moment::{cast} FROM unnest(%s::text[]) AS m(moment)", (MOMENTS,))
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

    assert calls == [
        "0044-03-15 12:00:00+00 BC",
        "10000-01-01 00:00:00+00",
        "294276-12-31 23:59:59+00",
        "infinity",
        "-infinity",
    ]
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


# --- one round trip per statement, BEGIN riding with the first ----------------------------------


class FlushCounter:
    """Counts the flushes of a connection's socket: each is one request the server answers."""

    def __init__(self, connection):
        self.count = 0
        sock = connection._sock
        original = sock.flush

        def flush():
            self.count += 1
            return original()

        self._sock, self._original = sock, original
        sock.flush = flush

    def take(self) -> int:
        count, self.count = self.count, 0
        return count


def _outcome(cursor, sql, args=None):
    """What a statement gives a DB-API user: rows, rowcount and column names, or the error."""
    try:
        if args is None:
            cursor.execute(sql)
        else:
            cursor.execute(sql, args)
    except Exception as error:  # noqa: BLE001 - the error is the outcome compared
        fields = error.args[0] if error.args else None
        if isinstance(fields, dict) and fields.get("s", "").startswith("pg_temp_"):
            fields = {**fields, "s": "pg_temp"}  # each session has a temporary schema of its own
        return ("error", type(error), fields)
    rows = cursor.fetchall() if cursor.description else None
    columns = [column[:2] for column in cursor.description] if cursor.description else None
    return ("ok", rows, cursor.rowcount, columns)


SCENARIO = [
    ("CREATE TEMP TABLE t (id int PRIMARY KEY, name text NOT NULL, at timestamptz DEFAULT now())", None),
    ("INSERT INTO t (id, name) VALUES (%s, %s), (%s, %s) RETURNING id, name", (1, "a", 2, "b")),
    ("UPDATE t SET name = name || %s WHERE id >= %s", ("!", 1)),
    ("SELECT id, name FROM t WHERE id = %s", (3,)),
    ("SELECT id, name FROM t ORDER BY id", ()),
    ("SELECT %s::int AS n, %s::text AS s, %s::numeric AS d", (7, None, "1.50")),
    ("DELETE FROM t WHERE id = %s", (2,)),
    ("COMMIT", None),
    ("SELECT id, name FROM t ORDER BY id", None),
    ("INSERT INTO t (id, name) VALUES (%s, %s)", (1, "duplicate")),  # unique violation
    ("SELECT 1", None),  # in the failed transaction
    ("COMMIT", None),  # of a failed transaction: pg8000 says so, and the server rolled it back
    ("SELECT id, name FROM t ORDER BY id", ()),
    ("INSERT INTO t (id, name) VALUES (%s, %s)", (1, "duplicate")),
    ("ROLLBACK", None),
    ("SELEC id FROM t WHERE id = %s", (1,)),  # syntax error, the transaction's first statement
    ("ROLLBACK", None),
    ("SELECT id FROM t WHERE id = %s::int", ("not a number",)),  # invalid input for a type
    ("ROLLBACK", None),
    ("SELECT id FROM t WHERE name = %s", ("a!",)),  # usable again
    ("SELECT 1/0", None),  # a failing simple query, the first after BEGIN
    ("ROLLBACK", None),
    ("", None),  # the pool's ping is an empty query
    ("SELECT count(*) FROM t", ()),
]


def _run_scenario(connection):
    cursor = connection.cursor()
    trace = []
    for sql, args in SCENARIO:
        if sql in ("COMMIT", "ROLLBACK"):
            end = connection.commit if sql == "COMMIT" else connection.rollback
            try:
                end()
                trace.append((sql, "ok", connection._transaction_status))
            except Exception as error:  # noqa: BLE001 - the error is the outcome compared
                trace.append((sql, type(error), str(error), connection._transaction_status))
        else:
            trace.append((sql, _outcome(cursor, sql, args), connection._transaction_status))
    connection.rollback()
    return trace


def test_every_statement_answers_as_pg8000s_own_connection(lean, plain):
    lean_trace, plain_trace = _run_scenario(lean), _run_scenario(plain)

    assert lean_trace == plain_trace
    outcomes = [step[1] for step in plain_trace if step[0] not in ("COMMIT", "ROLLBACK")]
    codes = [outcome[2]["C"] for outcome in outcomes if outcome[0] == "error"]
    assert codes == ["23505", "25P02", "23505", "42601", "22P02", "22012"]  # the errors happened, on both
    errors = [outcome[1] for outcome in outcomes if outcome[0] == "error"]
    assert errors[:3] == [pg8000.dbapi.IntegrityError, pg8000.dbapi.ProgrammingError, pg8000.dbapi.IntegrityError]
    failed_commit = [step for step in lean_trace if step[0] == "COMMIT"][1]
    assert failed_commit[1:] == (pg8000.dbapi.InterfaceError, "in failed transaction block", pg8000.core.IDLE)


def test_a_statement_is_one_round_trip_and_begin_rides_with_the_first(lean):
    flushes = FlushCounter(lean)
    cursor = lean.cursor()

    cursor.execute("SELECT %s::int", (1,))  # BEGIN + the statement
    assert flushes.take() == 1
    assert lean._transaction_status == pg8000.core.IN_TRANSACTION
    cursor.execute("SELECT %s::int", (2,))
    assert flushes.take() == 1
    lean.commit()
    assert flushes.take() == 1
    cursor.execute("SELECT 3")  # a simple query: BEGIN rides with it too
    assert flushes.take() == 1
    assert lean._transaction_status == pg8000.core.IN_TRANSACTION
    lean.rollback()
    assert flushes.take() == 1
    assert lean._transaction_status == pg8000.core.IDLE


def test_the_first_statement_runs_inside_the_transaction_begin_opened(lean, master_database_url):
    cursor = lean.cursor()
    cursor.execute("CREATE TABLE pipelined_begin (id int)", ())
    lean.commit()
    try:
        cursor.execute("INSERT INTO pipelined_begin VALUES (%s)", (1,))  # BEGIN rides with this
        cursor.execute("SELECT pg_current_xact_id_if_assigned()::text", ())
        assert cursor.fetchone()[0] is not None
        lean.rollback()

        cursor.execute("SELECT count(*) FROM pipelined_begin")
        assert cursor.fetchone() == [0]  # the insert was rolled back with its transaction
        lean.rollback()
    finally:
        cursor.execute("DROP TABLE pipelined_begin")
        lean.commit()


def test_a_failing_first_statement_leaves_the_transaction_failed_as_before(lean, plain):
    for connection in (lean, plain):
        cursor = connection.cursor()
        with pytest.raises(pg8000.dbapi.ProgrammingError) as raised:
            cursor.execute("SELECT %s::int", ("x",))
        assert raised.value.args[0]["C"] == "22P02"
        assert connection._transaction_status == pg8000.core.IN_FAILED_TRANSACTION
        with pytest.raises(pg8000.dbapi.ProgrammingError) as aborted:
            cursor.execute("SELECT %s::int", (1,))
        assert aborted.value.args[0]["C"] == "25P02"
        connection.rollback()
        cursor.execute("SELECT %s::int", (1,))
        assert cursor.fetchone() == [1]
        connection.rollback()


def test_a_transaction_that_ran_nothing_costs_no_round_trip(lean):
    flushes = FlushCounter(lean)
    cursor = lean.cursor()
    with pytest.raises(pg8000.dbapi.InterfaceError):
        cursor.execute("SELECT %d", (1,))  # refused before anything is sent, after BEGIN was asked for

    lean.rollback()

    assert flushes.take() == 0
    cursor.execute("SELECT %s::int", (5,))
    assert cursor.fetchone() == [5]
    assert flushes.take() == 1
    lean.rollback()


def test_autocommit_statements_send_no_begin(lean):
    lean.autocommit = True
    flushes = FlushCounter(lean)
    cursor = lean.cursor()

    cursor.execute("SELECT %s::int", (1,))

    assert flushes.take() == 1
    assert lean._transaction_status == pg8000.core.IDLE
    lean.autocommit = False


def test_copy_keeps_pg8000s_own_exchange(lean, plain):
    import io

    for connection in (lean, plain):
        cursor = connection.cursor()
        cursor.execute("CREATE TEMP TABLE c (id int, name text)")
        cursor.execute("COPY c FROM STDIN WITH (FORMAT csv)", stream=io.StringIO("1,a\n2,b\n"))
        out = io.StringIO()
        cursor.execute("COPY (SELECT * FROM c ORDER BY id) TO STDOUT WITH (FORMAT csv)", stream=out)
        assert out.getvalue() == "1,a\n2,b\n"
        connection.rollback()


@pytest.mark.parametrize("connection_class", [pg_driver.Connection, pg8000.legacy.Connection])
def test_a_closed_connection_says_so(database_url, connection_class):
    connection = connect(database_url, connection_class)
    cursor = connection.cursor()
    connection.close()

    with pytest.raises(pg8000.dbapi.InterfaceError, match="connection is closed"):
        cursor.execute("SELECT %s::int", (1,))
    with pytest.raises(pg8000.dbapi.InterfaceError, match="connection is closed"):
        connection.commit()
    connection.rollback()  # not in a transaction: nothing to do, as pg8000 does


@pytest.mark.parametrize("connection_class", [pg_driver.Connection, pg8000.legacy.Connection])
def test_a_connection_closed_inside_a_transaction_says_so(database_url, connection_class):
    connection = connect(database_url, connection_class)
    cursor = connection.cursor()
    cursor.execute("SELECT %s::int", (1,))
    connection.close()

    with pytest.raises(pg8000.dbapi.InterfaceError, match="connection is closed"):
        cursor.execute("SELECT %s::int", (1,))
    with pytest.raises(pg8000.dbapi.InterfaceError, match="connection is closed"):
        connection.rollback()
