"""Judging comments of one post at once: each judgement keeps the post from being deleted, and none
waits for another (a fresh judgement holds its transaction across the OpenAI call)."""

from __future__ import annotations

import sqlalchemy as sa

from shop_marketing.judging.judge import _lock_post
from tests.catalog.test_locks_and_round_trips import _open_transaction, _run_until_done_or_blocked


def test_two_judgements_of_one_post_do_not_wait_for_each_other(db, post_id):
    # Given a judgement of a comment on the post whose transaction is still open (its OpenAI call)
    first, _ = _open_transaction(db)
    _lock_post(first, post_id)
    second, second_pid = _open_transaction(db)
    try:
        # When another comment of the same post is judged
        outcome = _run_until_done_or_blocked(db, lambda: _lock_post(second, post_id), {"pid": second_pid})
        # Then it goes ahead: both hold FOR KEY SHARE on the post, which do not conflict
        assert outcome == "done"
    finally:
        first.rollback()
        second.rollback()
        first.close()
        second.close()


def test_deleting_the_post_waits_for_a_judgement_in_progress(db, post_id):
    first, _ = _open_transaction(db)
    _lock_post(first, post_id)
    deleter, deleter_pid = _open_transaction(db)
    try:
        outcome = _run_until_done_or_blocked(
            db,
            lambda: deleter.execute(sa.text("DELETE FROM instagram_posts WHERE id = :id"), {"id": post_id}),
            {"pid": deleter_pid},
        )
        assert outcome == "blocked"
    finally:
        first.rollback()
        deleter.rollback()
        first.close()
        deleter.close()
