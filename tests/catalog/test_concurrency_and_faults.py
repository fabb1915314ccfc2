"""Concurrent identical requests, and connections lost while the execution environment was frozen."""

import time
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa


def run_concurrently(call, times=8):
    with ThreadPoolExecutor(max_workers=times) as pool:
        return list(pool.map(lambda _: call(), range(times)))


def test_concurrent_identical_store_creations_make_one_store_and_clean_409s(api, db):
    results = run_concurrently(lambda: api("POST", "/stores", json={"name": "S", "naver_store_id": "race"}))

    statuses = sorted(result.status for result in results)
    assert statuses.count(201) == 1
    assert statuses.count(409) == len(results) - 1
    created_id = next(r.json["id"] for r in results if r.status == 201)
    assert {r.json["error"]["existing_id"] for r in results if r.status == 409} == {created_id}
    with db.connect() as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM naver_stores")) == 1


def test_concurrent_identical_links_make_one_link(api, db):
    store = api.store()
    banner = api.banner(store["id"])
    post = api.post()

    results = run_concurrently(lambda: api("PUT", f"/banners/{banner['id']}/instagram-posts/{post['id']}"))

    assert {result.status for result in results} == {200}
    with db.connect() as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM banner_instagram_posts")) == 1


def _kill_every_pooled_connection(db) -> int:
    """The server drops every connection the function's pool holds, as after a failover or idle reap."""
    killer = sa.create_engine(db.url, poolclass=sa.pool.NullPool)
    others = "datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
    with killer.connect() as connection:
        killed = connection.scalar(
            sa.text(f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE {others}")
        )
        # pg_terminate_backend only signals; wait until those backends are really gone, as they would
        # be long before a frozen execution environment thaws.
        for _ in range(100):
            if connection.scalar(sa.text(f"SELECT count(*) FROM pg_stat_activity WHERE {others}")) == 0:
                break
            time.sleep(0.05)
    killer.dispose()
    return killed


def test_a_connection_killed_on_the_server_between_invocations_does_not_fail_the_next(
    api, db, idle_between_invocations
):
    store = api.store()
    assert api("GET", f"/stores/{store['id']}").status == 200

    assert _kill_every_pooled_connection(db) >= 1

    assert api("GET", f"/stores/{store['id']}").status == 200


def test_a_write_after_a_connection_was_killed_between_invocations_is_saved(api, db, idle_between_invocations):
    # A POST is not retried: only the ping on checkout keeps it from meeting the dead connection.
    store = api.store()
    assert api("GET", f"/stores/{store['id']}").status == 200

    assert _kill_every_pooled_connection(db) >= 1

    created = api("POST", "/stores", json={"name": "After", "naver_store_id": "after-thaw"})
    assert created.status == 201, created.body
    with db.connect() as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM naver_stores")) == 2
