"""SnapStart: the hooks registered by every function drop what restored copies must not share."""

from __future__ import annotations

import json
import time

import boto3
import pytest
import sqlalchemy as sa
from moto import mock_aws

from tests.support.lambda_invoke import call_http, handler_of


def _backend_alive(db, pid: int) -> bool:
    with db.connect() as connection:
        return bool(
            connection.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}).scalar()
        )


def _wait_until_gone(db, pid: int) -> bool:
    # The server ends a backend shortly after its client says goodbye; wait for that, not for a time.
    for _ in range(200):
        if not _backend_alive(db, pid):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("hooks", ["run_before_snapshot", "run_after_restore"])
def test_the_hooks_close_connections_and_forget_clients_and_secrets(db, monkeypatch, hooks):
    from aws_lambda_powertools.utilities import parameters
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

    from shop_marketing import db as database
    from shop_marketing import lifecycle
    from shop_marketing.openai_client import get_openai_client

    # Given a function that served a request: a pooled database connection, an OpenAI client, a secret
    handler = handler_of("link_banner")
    assert call_http(handler, "POST", "/stores", json={"name": "Snap", "naver_store_id": "snap"}).status == 201
    engine = database.get_engine()
    with engine.connect() as connection:
        pid = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar()
    client = get_openai_client()
    with mock_aws():
        arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="db", SecretString=json.dumps({"password": "first"})
        )["ARN"]
        assert parameters.get_secret(arn, transform="json", max_age=300) == {"password": "first"}
        assert "secrets" in DEFAULT_PROVIDERS

        # When the runtime runs the hooks (as before a snapshot, or after a restore)
        getattr(lifecycle, hooks)()

        # Then nothing of it is left to be shared: the connection is closed at the server, the OpenAI
        # client is closed and forgotten, the secret and its boto3 client are forgotten
        assert _wait_until_gone(db, pid)
        assert database._engine is None  # noqa: SLF001 - the module's own state
        assert client.is_closed()
        assert get_openai_client() is not client
        assert DEFAULT_PROVIDERS == {}
        boto3.client("secretsmanager", region_name="us-east-1").put_secret_value(
            SecretId=arn, SecretString=json.dumps({"password": "rotated"})
        )
        assert parameters.get_secret(arn, transform="json", max_age=300) == {"password": "rotated"}

    # And the next request opens what it needs again
    assert call_http(handler, "GET", "/stores/1").json["naver_store_id"] == "snap"


def test_every_function_registers_the_hooks_where_the_runtime_finds_them():
    from shop_marketing import lifecycle

    for function in ("link_banner", "judge_comment", "upload_training_file", "fine_tuning_jobs"):
        handler_of(function)
    before = [func for func, _, _ in lifecycle.get_before_snapshot()]
    after = [func for func, _, _ in lifecycle.get_after_restore()]

    assert lifecycle.forget_connections_and_secrets in before
    assert lifecycle.prime_shared_state in before
    # primed first, then forgotten: the runtime runs before-snapshot hooks last-registered first
    assert before.index(lifecycle.prime_shared_state) > before.index(lifecycle.forget_connections_and_secrets)
    assert after[:2] == [lifecycle.forget_connections_and_secrets, lifecycle.reseed_random]


def test_restored_copies_draw_different_random_numbers(monkeypatch):
    import random

    from shop_marketing import lifecycle

    # Given two copies restored from one snapshot: the same generator state
    state = random.getstate()
    lifecycle.run_after_restore()
    first = random.random()
    random.setstate(state)
    lifecycle.run_after_restore()
    second = random.random()

    assert first != second


def test_priming_before_the_snapshot_loads_the_encoding_once_for_every_copy():
    from shop_marketing import lifecycle, tokens

    tokens._encoding = None  # noqa: SLF001 - as a fresh environment has it
    lifecycle.prime_shared_state()

    assert tokens._encoding is not None  # noqa: SLF001
    assert tokens.count_tokens("너무 맘에드는 옷입니다! 근데 사장님 순대국 좋아하세요?") == 21
