"""DB_SECRET_ARN (docs/configuration.md "Environment variables"): both secret shapes connect, and a rotated
password needs no restart.

Against a real PostgreSQL that checks passwords, with the secret in moto's Secrets Manager.
"""

from __future__ import annotations

import json

import boto3
import pg8000.dbapi
import pytest
import sqlalchemy as sa
from moto import mock_aws

from shop_marketing.config import ConfigurationError, Settings
from shop_marketing.db import build_engine, database_url
from tests.support.password_postgres import password_postgres, set_password


@pytest.fixture(scope="module")
def server():
    with password_postgres() as (port, admin_url):
        yield port, admin_url


@pytest.fixture
def secrets():
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


def new_secret(secrets, name: str, **values) -> str:
    return secrets.create_secret(Name=name, SecretString=json.dumps(values))["ARN"]


def current_user(engine: sa.Engine) -> str:
    with engine.connect() as connection:
        return connection.scalar(sa.text("SELECT current_user"))


def test_the_rds_managed_master_secret_connects_with_host_port_and_name_from_the_environment(server, secrets):
    # Given RDS's own master secret: username and password only
    port, admin_url = server
    set_password(admin_url, "shop_admin", "first-Password-1")
    arn = new_secret(secrets, "rds!db-1234", username="shop_admin", password="first-Password-1")

    # When a function connects with DB_HOST, DB_PORT and DB_NAME beside it
    engine = build_engine(
        Settings(db_secret_arn=arn, db_host="127.0.0.1", db_port=port, db_name="postgres", database_tls="off")
    )

    # Then it signs in as the secret's user
    assert current_user(engine) == "shop_admin"
    engine.dispose()


def test_a_secret_that_holds_the_server_too_connects(server, secrets):
    port, admin_url = server
    set_password(admin_url, "app_user", "app-Password-1")
    arn = new_secret(
        secrets, "full", username="app_user", password="app-Password-1", host="127.0.0.1", port=port, dbname="postgres"
    )

    engine = build_engine(Settings(db_secret_arn=arn, database_tls="off"))

    assert current_user(engine) == "app_user"
    engine.dispose()


def test_the_environment_wins_over_the_secrets_server(secrets):
    arn = new_secret(
        secrets, "instance", username="u", password="p", host="instance.internal", port=5432, dbname="shop"
    )

    url = database_url(Settings(db_secret_arn=arn, db_host="proxy.internal", db_port=6432))

    assert (url.host, url.port, url.database, url.username, url.password) == ("proxy.internal", 6432, "shop", "u", None)


def test_a_secret_without_a_host_and_no_db_host_fails_naming_the_variable(secrets):
    arn = new_secret(secrets, "rds!db-5678", username="u", password="p")

    with pytest.raises(ConfigurationError, match="DB_HOST must be set"):
        database_url(Settings(db_secret_arn=arn))


def test_a_rotated_password_is_picked_up_without_a_restart(server, secrets):
    # Given a warm function whose engine and cached secret hold the first password
    port, admin_url = server
    set_password(admin_url, "rotating", "before-Rotation-1")
    arn = new_secret(secrets, "rotating", username="rotating", password="before-Rotation-1")
    engine = build_engine(
        Settings(
            db_secret_arn=arn,
            db_host="127.0.0.1",
            db_port=port,
            db_name="postgres",
            database_tls="off",
            db_pool_size=1,
            db_max_overflow=2,
        )
    )
    held = engine.connect()
    assert held.scalar(sa.text("SELECT current_user")) == "rotating"

    # When Secrets Manager rotates it: the database's password changes, then the secret's
    set_password(admin_url, "rotating", "after-Rotation-2")
    secrets.put_secret_value(
        SecretId=arn, SecretString=json.dumps({"username": "rotating", "password": "after-Rotation-2"})
    )

    # Then the next new connection is refused the cached password, reads the secret again and signs in
    assert current_user(engine) == "rotating"
    held.close()
    engine.dispose()


def test_a_password_the_database_keeps_refusing_fails_after_one_new_read(server, secrets):
    port, admin_url = server
    set_password(admin_url, "refused", "the-Real-One-1")
    arn = new_secret(secrets, "refused", username="refused", password="not-the-real-one")
    engine = build_engine(
        Settings(db_secret_arn=arn, db_host="127.0.0.1", db_port=port, db_name="postgres", database_tls="off")
    )

    with pytest.raises(sa.exc.DBAPIError) as raised:
        engine.connect()

    assert isinstance(raised.value.orig, pg8000.dbapi.DatabaseError)
    assert raised.value.orig.args[0]["C"] == "28P01"
    engine.dispose()
