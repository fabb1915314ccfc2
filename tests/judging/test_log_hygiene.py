"""Comment text never reaches logs: not through a rejected queue message's validation error, not
through a database error's bound parameters."""

from __future__ import annotations

import json
import logging

import pytest
import sqlalchemy as sa

from infra.lambda_runtime import LocalContext
from tests.judging.test_judge_queue import batch

SECRET = "비밀후기-아무도-로그에서-보면-안-되는-문장"


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"comment": SECRET * 200}),  # too long
        json.dumps({"comment": SECRET, "unknown": SECRET}),  # an unknown key
        json.dumps({"comment": SECRET, "post_id": SECRET}),  # not an id
        json.dumps({"comment": SECRET + "\u0000"}),  # unstorable
    ],
    ids=["too-long", "unknown-key", "bad-post-id", "nul"],
)
def test_a_rejected_queue_message_is_logged_without_its_comment(
    body, queue_handler, chat, active_model, capsys, caplog
):
    with caplog.at_level(logging.DEBUG):
        answer = queue_handler(batch([body]), LocalContext())

    assert len(answer["batchItemFailures"]) == 1
    captured = capsys.readouterr()
    logged = captured.out + captured.err + caplog.text
    assert "Record processing exception" in logged or "invalid" in logged.lower()
    assert SECRET not in logged


def test_a_database_error_does_not_print_bound_parameters(db):
    from shop_marketing.db import get_engine

    with pytest.raises(sa.exc.DBAPIError) as raised, get_engine().connect() as connection:
        connection.execute(sa.text("SELECT CAST(:comment AS integer)"), {"comment": SECRET})

    assert SECRET not in str(raised.value)


def test_traces_keep_neither_responses_nor_error_messages():
    from infra.api_gateway import load_template

    variables = load_template()["Globals"]["Function"]["Environment"]["Variables"]

    assert variables["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"
    assert variables["POWERTOOLS_TRACER_CAPTURE_ERROR"] == "false"
