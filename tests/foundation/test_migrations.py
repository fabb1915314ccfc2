"""Migrations: applied by the tests and the local run, and in AWS by the template's custom resource."""

import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from infra import embedded_postgres
from infra.lambda_runtime import LocalContext
from infra.migrations import migrate
from shop_marketing.config import get_settings
from shop_marketing.db import dispose_engine
from tests.support.tls import self_signed_certificate


@pytest.fixture
def empty_database(database_server_url, monkeypatch):
    # Created and migrated by the master user, as the migration step does in AWS.
    server_url = database_server_url
    url = embedded_postgres.create_database(server_url)
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    monkeypatch.undo()
    get_settings.cache_clear()
    dispose_engine()
    embedded_postgres.drop_database(server_url, url)


def tables(url):
    engine = sa.create_engine(url)
    names = set(sa.inspect(engine).get_table_names())
    engine.dispose()
    return names


@pytest.fixture
def cloudformation(tmp_path, monkeypatch):
    """A loopback stand-in for CloudFormation's pre-signed https response URL; records what it is told.

    Its certificate is self-signed; SSL_CERT_FILE makes it the one CA the response's TLS trusts.
    """
    replies = []

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self):
            replies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    cert, key = self_signed_certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    server = HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}/response?X-Amz-Signature=abc", replies
    server.shutdown()
    server.server_close()


def custom_resource_event(request_type, response_url):
    return {
        "RequestType": request_type,
        "ResponseURL": response_url,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/shop/1",
        "RequestId": "req-1",
        "LogicalResourceId": "DatabaseSchema",
        "ResourceType": "Custom::DatabaseSchema",
        "ResourceProperties": {"MigrationsVersion": "3"},
    }


def test_the_deployment_step_migrates_a_new_database_and_tells_cloudformation(empty_database, cloudformation):
    response_url, replies = cloudformation

    migrate.lambda_handler(custom_resource_event("Create", response_url), LocalContext())

    assert replies[0]["Status"] == "SUCCESS", replies[0]["Reason"]
    assert replies[0]["PhysicalResourceId"] == "database-schema"
    assert {"naver_stores", "banner_instagram_posts", "judges", "alembic_version"} <= tables(empty_database)


def test_a_failed_migration_is_reported_to_cloudformation_not_left_hanging(cloudformation, monkeypatch):
    response_url, replies = cloudformation
    monkeypatch.setenv("DATABASE_URL", "postgresql+pg8000://nobody@127.0.0.1:1/none")
    monkeypatch.setenv("DB_CONNECT_TIMEOUT_SECONDS", "1")
    get_settings.cache_clear()
    try:
        migrate.lambda_handler(custom_resource_event("Update", response_url), LocalContext())
    finally:
        get_settings.cache_clear()

    assert replies[0]["Status"] == "FAILED"
    assert replies[0]["Reason"].startswith("migration failed:")


def test_stack_deletion_keeps_the_data(database_url, cloudformation):
    response_url, replies = cloudformation

    migrate.lambda_handler(custom_resource_event("Delete", response_url), LocalContext())

    assert replies[0]["Status"] == "SUCCESS"
    assert "naver_stores" in tables(database_url)


def test_every_migration_downgrades_and_upgrades_again(empty_database):
    config = Config(str(migrate.ALEMBIC_INI))
    engine = sa.create_engine(empty_database)
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")
        command.downgrade(config, "base")
        connection.commit()
    assert tables(empty_database) == {"alembic_version"}
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")
        connection.commit()
    engine.dispose()
    assert "naver_image_banners" in tables(empty_database)


def test_the_migrations_create_every_table_the_models_declare(database_url):
    from shop_marketing.models import Base

    assert set(Base.metadata.tables) <= tables(database_url)
    # One line of history: every deployment migrates to the same single head.
    assert ScriptDirectory.from_config(Config(str(migrate.ALEMBIC_INI))).get_heads() == ["0011_embedding_cache"]


def test_a_migration_that_would_outlive_the_function_is_reported_failed_before_it_times_out(
    cloudformation, monkeypatch
):
    # Given a migration that cannot finish (a lock it waits for) in a function with little time left
    response_url, replies = cloudformation
    released = threading.Event()
    monkeypatch.setattr(migrate, "upgrade", lambda connection=None: released.wait(120))
    context = LocalContext(timeout_seconds=2.0)
    invocation = threading.Thread(
        target=migrate.lambda_handler, args=(custom_resource_event("Update", response_url), context)
    )

    # When CloudFormation invokes the custom resource
    invocation.start()
    deadline = time.monotonic() + 60
    while not replies and time.monotonic() < deadline:
        time.sleep(0.05)
    released.set()
    invocation.join(60)

    # Then CloudFormation heard FAILED before Lambda would have killed the function
    assert replies[0]["Status"] == "FAILED"
    assert replies[0]["Reason"] == "Execution timed out"
    assert replies[0]["LogicalResourceId"] == "DatabaseSchema"
