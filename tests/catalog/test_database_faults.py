"""Database connections dropped between and during requests (pg_terminate_backend, as a failover or
a restart does): no idempotent request fails, and no answer disagrees with what was committed."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

OTHERS = "datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"


def terminate(url, where: str) -> int:
    """Terminate the matching backends and wait until they are gone."""
    killer = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with killer.connect() as connection:
        killed = connection.scalar(
            sa.text(f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE {where}")
        )
        for _ in range(200):
            if connection.scalar(sa.text(f"SELECT count(*) FROM pg_stat_activity WHERE {where}")) == 0:
                break
            time.sleep(0.02)
    killer.dispose()
    return killed


def rows(db, sql: str) -> int:
    with db.connect() as connection:
        return connection.scalar(sa.text(sql))


@pytest.fixture
def kill_on_statement(db):
    """Terminates the backend of the next statement matching a text, just before it runs."""
    armed: dict[str, object] = {}

    def before(connection, cursor, statement, parameters, context, executemany):
        needle = armed.get("needle")
        if needle and needle in statement:
            armed.pop("needle")
            pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            armed["killed"] = terminate(db.url, f"pid = {pid}")

    sa.event.listen(db, "before_cursor_execute", before)

    def arm(needle: str) -> dict[str, object]:
        armed["needle"] = needle
        return armed

    yield arm
    sa.event.remove(db, "before_cursor_execute", before)


def test_every_pooled_connection_killed_between_requests_costs_no_request(api, db, idle_between_invocations):
    store = api.store()
    # Fill the pool (1 + 4 overflow) with open connections, then drop them all on the server.
    held = [db.connect() for _ in range(5)]
    for connection in held:
        connection.exec_driver_sql("SELECT 1")
    for connection in held:
        connection.close()
    assert terminate(db.url, OTHERS) >= 1

    statuses = [api("GET", f"/stores/{store['id']}").status for _ in range(20)]

    assert statuses == [200] * 20


@pytest.mark.parametrize(
    "method,path,needle",
    [
        ("GET", "/stores/{store}", "FROM naver_stores"),
        ("GET", "/banners/{banner}", "FROM naver_image_banners"),
        ("PUT", "/banners/{banner}/instagram-posts/{post}", "banner_instagram_posts"),
        ("DELETE", "/banners/{banner}/instagram-posts/{post}", "banner_instagram_posts"),
        ("PUT", "/banners/{banner}/product", "UPDATE naver_image_banners"),
    ],
)
def test_a_connection_killed_during_an_idempotent_request_is_retried_on_a_fresh_one(
    api, db, kill_on_statement, method, path, needle
):
    store = api.store()
    product = api.product(store["id"])
    banner = api.banner(store["id"])
    post = api.post()
    target = path.format(store=store["id"], banner=banner["id"], post=post["id"])
    body = {"product_id": product["id"]} if target.endswith("/product") else None

    armed = kill_on_statement(needle)
    result = api(method, target, json=body)

    assert armed.get("killed") == 1, "the fault was not injected"
    assert result.status == 200, result.body
    if method == "PUT" and body:
        assert rows(db, "SELECT product_id FROM naver_image_banners") == product["id"]
    if method == "PUT" and body is None:
        assert rows(db, "SELECT count(*) FROM banner_instagram_posts") == 1


def test_a_write_killed_before_commit_answers_503_and_saved_nothing(api, db, kill_on_statement):
    armed = kill_on_statement("INSERT INTO naver_stores")

    result = api("POST", "/stores", json={"name": "S", "naver_store_id": "killed"})

    assert armed.get("killed") == 1
    assert result.status == 503
    assert result.json["error"]["code"] == "database_unavailable"
    assert "Retry-After" in result.headers
    assert rows(db, "SELECT count(*) FROM naver_stores") == 0


def test_a_commit_whose_answer_is_lost_is_answered_as_committed(api, db, monkeypatch):
    # The server commits, then the connection drops before its answer arrives.
    dialect = db.dialect
    original = dialect.do_commit
    lost = []

    def commit_then_lose_the_answer(dbapi_connection):
        original(dbapi_connection)
        if not lost:
            lost.append(True)
            dbapi_connection.close()
            raise ConnectionResetError(104, "Connection reset by peer")

    monkeypatch.setattr(dialect, "do_commit", commit_then_lose_the_answer)

    result = api("POST", "/stores", json={"name": "S", "naver_store_id": "lost-answer"})

    assert lost == [True]
    assert result.status == 201, result.body
    assert rows(db, "SELECT count(*) FROM naver_stores") == 1
    assert rows(db, "SELECT id FROM naver_stores") == result.json["id"]


def test_a_commit_that_failed_with_the_connection_is_answered_as_not_saved(api, db, monkeypatch):
    dialect = db.dialect
    original_commit = dialect.do_commit
    failed = []

    def lose_the_connection_instead_of_committing(dbapi_connection):
        if not failed:
            failed.append(True)
            dbapi_connection.close()
            raise ConnectionResetError(104, "Connection reset by peer")
        original_commit(dbapi_connection)

    monkeypatch.setattr(dialect, "do_commit", lose_the_connection_instead_of_committing)

    result = api("POST", "/stores", json={"name": "S", "naver_store_id": "not-saved"})

    assert failed == [True]
    assert result.status == 503, result.body
    assert rows(db, "SELECT count(*) FROM naver_stores") == 0


def test_a_burst_with_connections_killed_throughout_fails_no_idempotent_request_and_never_lies(api, db):
    store = api.store()
    banner = api.banner(store["id"])
    posts = [api.post(f"ig-{n}") for n in range(10)]
    stop = threading.Event()
    kills = []

    def killer():
        # Bounded: at most 40 rounds, a pause between them so each request sees at most one drop.
        for _ in range(40):
            if stop.is_set():
                break
            kills.append(terminate(db.url, OTHERS))
            time.sleep(0.15)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:

        def request(n: int):
            post = posts[n % len(posts)]
            if n % 3 == 0:
                return "GET", api("GET", f"/banners/{banner['id']}")
            if n % 3 == 1:
                return "PUT", api("PUT", f"/banners/{banner['id']}/instagram-posts/{post['id']}")
            return "POST", api("POST", "/stores", json={"name": "S", "naver_store_id": f"burst-{n}"})

        # One invocation at a time, as in one Lambda execution environment; the kills run beside it.
        results = [request(n) for n in range(60)]
    finally:
        stop.set()
        thread.join()

    assert sum(kills) >= 1
    idempotent = [result for method, result in results if method != "POST"]
    assert [result.status for result in idempotent if result.status != 200] == []
    # Every store a POST answered 201 for exists; every one it answered 503 for does not.
    with db.connect() as connection:
        stored = set(connection.scalars(sa.text("SELECT naver_store_id FROM naver_stores")))
    for n, (method, result) in enumerate(results):
        if method == "POST":
            assert result.status in (201, 503), result.body
            assert (f"burst-{n}" in stored) == (result.status == 201)


# --- what a dropped connection leaves in the logs -------------------------------------------------


@pytest.fixture
def log_lines():
    """What is logged while the test runs: the functions' Powertools lines, and any record another library
    (SQLAlchemy's pool, pg8000) sends to the root logger, as Lambda's runtime would print it."""
    import io
    import logging

    from shop_marketing.observability import logger

    ours, theirs = io.StringIO(), io.StringIO()
    previous = logger.registered_handler.setStream(ours)
    plain = logging.StreamHandler(theirs)
    plain.addFilter(lambda record: record.name != logger.name)  # ours reach the root too: counted once
    logging.getLogger().addHandler(plain)
    yield lambda: [line for line in (ours.getvalue() + theirs.getvalue()).splitlines() if line.strip()]
    logging.getLogger().removeHandler(plain)
    logger.registered_handler.setStream(previous)


def json_lines(lines: list[str]) -> list[dict]:
    import json

    parsed = []
    for line in lines:
        assert line.startswith("{"), f"not a JSON log line: {line}"
        parsed.append(json.loads(line))
    return parsed


def test_connections_dropped_between_requests_leave_no_traceback_in_the_logs(
    api, db, idle_between_invocations, log_lines
):
    store = api.store()
    held = [db.connect() for _ in range(5)]
    for connection in held:
        connection.exec_driver_sql("SELECT 1")
    for connection in held:
        connection.close()
    assert terminate(db.url, OTHERS) >= 1

    assert [api("GET", f"/stores/{store['id']}").status for _ in range(5)] == [200] * 5
    assert not any("Traceback" in line for line in log_lines())
    json_lines(log_lines())


def test_a_connection_dropped_during_a_request_is_one_json_log_line(api, db, kill_on_statement, log_lines):
    store = api.store()
    before = len(log_lines())
    armed = kill_on_statement("FROM naver_stores")

    assert api("GET", f"/stores/{store['id']}").status == 200
    assert armed.get("killed") == 1
    logged = json_lines(log_lines()[before:])
    assert [line["message"] for line in logged if "database" in line["message"]] == [
        "database connection lost; retrying the request once"
    ]


def test_a_write_answered_503_on_a_dropped_connection_is_one_json_log_line(api, db, kill_on_statement, log_lines):
    armed = kill_on_statement("INSERT INTO naver_stores")

    assert api("POST", "/stores", json={"name": "S", "naver_store_id": "dropped"}).status == 503
    assert armed.get("killed") == 1
    logged = json_lines(log_lines())
    drops = [line for line in logged if "database" in line["message"]]
    assert [(line["level"], line["message"]) for line in drops] == [
        ("WARNING", "database connection lost; answered 503")
    ]
    assert drops[0]["method"] == "POST" and drops[0]["cause"] == "InterfaceError"
    assert "nothing was saved" in drops[0]["detail"]
