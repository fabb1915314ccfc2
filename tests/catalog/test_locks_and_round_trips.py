"""Links of one banner run side by side, deletes still wait for them, and each route's round trips."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from shop_marketing.catalog import service as catalog


def _open_transaction(db):
    """A session whose transaction stays open (and holds its locks) until the test ends it."""
    session = Session(db)
    pid = session.execute(sa.text("SELECT pg_backend_pid()")).scalar()
    return session, pid


def _run_until_done_or_blocked(db, work, pid_holder):
    """Run ``work`` in a thread; return "done", or "blocked" once PostgreSQL shows it waiting on a lock."""
    outcome = {}

    def run():
        try:
            outcome["result"] = work()
        except Exception as error:  # noqa: BLE001 - reported to the test below
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    with db.connect() as observer:
        while True:
            thread.join(0.05)
            if not thread.is_alive():
                if "error" in outcome:
                    raise outcome["error"]
                return "done"
            if "pid" in pid_holder:
                blockers = observer.execute(
                    sa.text("SELECT pg_blocking_pids(:pid)"), {"pid": pid_holder["pid"]}
                ).scalar()
                if blockers:
                    return "blocked"


def _second_while_the_first_is_open(db, first_work, second_work) -> str:
    """``first_work`` in a transaction left open, then ``second_work`` in another: "done" or "blocked"."""
    first, _ = _open_transaction(db)
    second, second_pid = _open_transaction(db)
    try:
        first_work(first)
        return _run_until_done_or_blocked(db, lambda: second_work(second), {"pid": second_pid})
    finally:
        for session in (first, second):
            session.rollback()
            session.close()


@pytest.fixture
def banner_with_posts(api):
    store = api.store()
    return api.banner(store["id"])["id"], api.post("ig-1")["id"], api.post("ig-2")["id"], store["id"]


def test_two_links_of_one_banner_do_not_wait_for_each_other(db, banner_with_posts):
    banner, first_post, second_post, _ = banner_with_posts

    # A link of the banner whose transaction has not ended, and another link of it to another post
    outcome = _second_while_the_first_is_open(
        db,
        lambda first: catalog.link_banner_post(first, banner, first_post),
        lambda second: catalog.link_banner_post(second, banner, second_post),
    )

    assert outcome == "done"  # both hold FOR KEY SHARE, which do not conflict


def test_deleting_a_banner_waits_for_a_link_in_progress(db, banner_with_posts):
    banner, post, _, _ = banner_with_posts

    outcome = _second_while_the_first_is_open(
        db,
        lambda linking: catalog.link_banner_post(linking, banner, post),
        lambda deleting: catalog.delete_banner(deleting, banner),
    )

    assert outcome == "blocked"


def test_linking_a_product_and_a_post_to_one_banner_at_once_neither_waits(db, api, banner_with_posts):
    banner, post, _, store = banner_with_posts
    product = api.product(store)["id"]

    outcome = _second_while_the_first_is_open(
        db,
        lambda first: catalog.link_banner_post(first, banner, post),
        lambda second: catalog.link_banner_product(second, banner, product),
    )

    assert outcome == "done"


def _statements(db, work) -> int:
    executed = []

    def count(*_):
        executed.append(1)

    event.listen(db, "before_cursor_execute", count)
    try:
        with Session(db) as session, session.begin():
            work(session)
    finally:
        event.remove(db, "before_cursor_execute", count)
    return len(executed)


def test_each_route_makes_the_fewest_statements(db, api, banner_with_posts):
    banner, post, other_post, store = banner_with_posts
    product = api.product(store)["id"]
    api("PUT", f"/banners/{banner}/instagram-posts/{other_post}")

    assert _statements(db, lambda s: catalog.banner_view(s, banner)) == 1
    assert _statements(db, lambda s: catalog.link_banner_post(s, banner, post)) == 2
    assert _statements(db, lambda s: catalog.unlink_banner_post(s, banner, post)) == 2
    assert _statements(db, lambda s: catalog.link_banner_product(s, banner, product)) == 3
    assert _statements(db, lambda s: catalog.unlink_banner_product(s, banner)) == 2


def test_the_one_statement_banner_view_is_the_contract_view(api, banner_with_posts):
    banner, post, other_post, store = banner_with_posts
    product = api.product(store)
    api("PUT", f"/banners/{banner}/product", json={"product_id": product["id"]})
    linked = [api("PUT", f"/banners/{banner}/instagram-posts/{p}").json for p in (other_post, post)][-1]

    view = api("GET", f"/banners/{banner}").json

    assert view == linked
    assert view["product"] == product
    assert [p["id"] for p in view["instagram_posts"]] == sorted([post, other_post])
    assert set(view["instagram_posts"][0]) == {"id", "instagram_media_id", "permalink", "caption", "created_at"}
