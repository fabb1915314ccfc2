"""What a request pays the database beyond its own statements: the transaction id only when the
transaction wrote, no connection for a session that ran nothing, and a ping only for a connection
that sat idle."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from shop_marketing.config import Settings
from shop_marketing.db import build_engine, is_disconnect, is_plain_read, session_scope

XID_QUERY = "pg_current_xact_id_if_assigned"


@pytest.fixture
def statements(db):
    """The statements the engine runs, in order, and how many connections the pool hands out."""
    seen: dict[str, list] = {"sql": [], "checkouts": []}

    def record(connection, cursor, statement, parameters, context, executemany):
        seen["sql"].append(statement)

    def checkout(*_):
        seen["checkouts"].append(1)

    sa.event.listen(db, "before_cursor_execute", record)
    sa.event.listen(db.pool, "checkout", checkout)
    yield seen
    sa.event.remove(db, "before_cursor_execute", record)
    sa.event.remove(db.pool, "checkout", checkout)


def _xid_queries(seen) -> int:
    return sum(XID_QUERY in sql for sql in seen["sql"])


@pytest.fixture
def store(api):
    return api.store()


def test_a_session_that_only_reads_does_not_ask_for_its_transaction_id(store, statements):
    with session_scope() as session:
        assert (
            session.scalar(sa.text("SELECT name FROM naver_stores WHERE id = :id"), {"id": store["id"]})
            == store["name"]
        )
        session.execute(sa.text("SELECT id FROM naver_stores WHERE id = :id FOR KEY SHARE"), {"id": store["id"]})

    assert _xid_queries(statements) == 0
    assert len(statements["sql"]) == 2


def test_a_session_that_wrote_asks_for_its_transaction_id_before_commit(store, statements, db):
    with session_scope() as session:
        session.scalar(sa.text("SELECT name FROM naver_stores WHERE id = :id"), {"id": store["id"]})
        session.execute(sa.text("UPDATE naver_stores SET name = 'Renamed' WHERE id = :id"), {"id": store["id"]})

    assert _xid_queries(statements) == 1
    assert XID_QUERY in statements["sql"][-1]
    with db.connect() as connection:
        assert connection.scalar(sa.text("SELECT name FROM naver_stores")) == "Renamed"


def test_a_statement_with_a_cte_counts_as_a_write(store, statements):
    with session_scope() as session:
        session.execute(sa.text("WITH s AS (SELECT id FROM naver_stores) SELECT count(*) FROM s"))

    assert _xid_queries(statements) == 1


def test_a_write_on_the_same_pooled_connection_does_not_mark_the_next_transaction(store, statements):
    with session_scope() as session:
        session.execute(sa.text("UPDATE naver_stores SET name = 'Again' WHERE id = :id"), {"id": store["id"]})
    with session_scope() as session:
        session.scalar(sa.text("SELECT name FROM naver_stores WHERE id = :id"), {"id": store["id"]})

    assert _xid_queries(statements) == 1
    assert XID_QUERY not in statements["sql"][-1]


def test_a_session_that_ran_nothing_takes_no_connection(statements):
    with session_scope():
        pass

    assert statements["sql"] == []
    assert statements["checkouts"] == []


@pytest.mark.parametrize(
    "statement,read",
    [
        ("SELECT 1", True),
        ("select id FROM t", True),
        ("  \n\tSELECT id FROM t", True),
        ("-- a comment\nSELECT id FROM t", True),
        ("/* a comment */ SELECT(1)", True),
        ("SELECT id FROM t WHERE id = %s FOR UPDATE", True),
        ("SELECT id FROM t FOR KEY SHARE OF t", True),
        ("SELECT pg_advisory_xact_lock(%s, %s)", True),
        ("SELECT * INTO copy_of_t FROM t", False),
        ("WITH d AS (DELETE FROM t RETURNING id) SELECT id FROM d", False),
        ("INSERT INTO t VALUES (1)", False),
        ("UPDATE t SET a = 1", False),
        ("DELETE FROM t", False),
        ("selection_of_things()", False),
        ("(SELECT 1)", False),
        ("/* unterminated SELECT", False),
        ("", False),
    ],
)
def test_what_counts_as_a_plain_read(statement, read):
    assert is_plain_read(statement) is read


# --- the idle ping ---------------------------------------------------------------------------------


@pytest.fixture
def pool(database_url):
    """``pool(ping_after_idle_seconds)``: an engine of one connection and the statements it sends;
    disposed when the test ends."""
    engines = []

    def make(ping_after_idle_seconds: float):
        engine = build_engine(
            Settings(
                database_url=database_url,
                database_tls="off",
                db_pool_size=1,
                db_max_overflow=0,
                db_ping_after_idle_seconds=ping_after_idle_seconds,
            )
        )
        engines.append(engine)
        sent: list[str] = []

        @sa.event.listens_for(engine.pool, "connect")
        def _record_what_is_sent(dbapi_connection, _record):
            # Every statement a pg8000 connection sends goes through one of these two.
            simple, unnamed = dbapi_connection.execute_simple, dbapi_connection.execute_unnamed

            def execute_simple(statement):
                sent.append(statement)
                return simple(statement)

            def execute_unnamed(statement, *args, **kwargs):
                sent.append(statement)
                return unnamed(statement, *args, **kwargs)

            dbapi_connection.execute_simple, dbapi_connection.execute_unnamed = execute_simple, execute_unnamed

        return engine, sent

    yield make
    for engine in engines:
        engine.dispose()


def _backend_pid(engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(sa.text("SELECT pg_backend_pid()"))


def _terminate(database_url: str, pid: int) -> None:
    killer = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    with killer.connect() as connection:
        assert connection.scalar(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        for _ in range(200):
            if not connection.scalar(sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}):
                break
            time.sleep(0.02)
    killer.dispose()


PING = ";"  # SQLAlchemy's ping for pg8000: an empty query


def test_a_connection_used_just_now_is_not_pinged(pool):
    engine, sent = pool(ping_after_idle_seconds=300)
    first = _backend_pid(engine)
    second = _backend_pid(engine)

    assert first == second  # the pooled connection, reused
    assert sent.count(PING) == 0
    assert sent.count("SELECT pg_backend_pid()") == 2


def test_a_connection_idle_past_the_threshold_is_pinged(pool):
    engine, sent = pool(ping_after_idle_seconds=0)
    first = _backend_pid(engine)  # a new connection: not pinged
    assert sent.count(PING) == 0

    second = _backend_pid(engine)

    assert first == second
    assert sent.count(PING) == 1


def test_a_connection_the_server_dropped_while_idle_is_pinged_and_replaced(pool, database_url):
    engine, sent = pool(ping_after_idle_seconds=0)
    dropped = _backend_pid(engine)
    _terminate(database_url, dropped)

    replacement = _backend_pid(engine)  # no error: the ping found it gone, the pool connected anew

    assert replacement != dropped
    assert sent.count(PING) == 1


def test_a_connection_the_server_dropped_a_moment_ago_is_not_pinged_and_fails_as_a_disconnect(pool, database_url):
    # The other side of the trade: within the threshold the pool trusts the connection; the request
    # fails as a dropped connection (503, and an idempotent request is retried on a new one).
    engine, sent = pool(ping_after_idle_seconds=300)
    dropped = _backend_pid(engine)
    _terminate(database_url, dropped)

    # pg8000 reports it as a driver error, or (a reset met on a read) as the bare socket error
    with pytest.raises((sa.exc.DBAPIError, ConnectionError)) as raised:
        _backend_pid(engine)

    assert is_disconnect(raised.value)
    assert sent.count(PING) == 0
    assert _backend_pid(engine) != dropped  # the pool discarded it
