"""The application database role (docs/deploy-and-access.md "The database's roles"): rows yes, schema never.

The whole suite runs as the application role (tests/conftest.py: the master creates and migrates the
session's database, the tests sign in as a login role of the application group); these tests show
what that role is refused, and how the migration step makes it from its own secret.
"""

from __future__ import annotations

import json

import boto3
import pytest
import sqlalchemy as sa
from moto import mock_aws

from infra import embedded_postgres
from infra.migrations import migrate
from shop_marketing.config import Settings, get_settings
from shop_marketing.database_roles import (
    ApplicationRoleError,
    application_group,
    ensure_application_login,
    scram_verifier,
)
from shop_marketing.db import build_engine, dispose_engine
from tests.support.password_postgres import password_postgres, set_password

INSUFFICIENT_PRIVILEGE = "42501"


def sqlstate(error: sa.exc.DBAPIError) -> str:
    return error.orig.args[0]["C"]


def refused(engine: sa.Engine, statement: str) -> str:
    """The SQLSTATE the server answers ``statement`` with (nothing it did is kept)."""
    with pytest.raises(sa.exc.DBAPIError) as raised:
        with engine.begin() as connection:
            connection.execute(sa.text(statement))
    return sqlstate(raised.value)


@pytest.fixture
def as_application(database_url):
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    yield engine
    engine.dispose()


def test_the_suite_signs_in_as_the_application_role_not_the_master(as_application, master_database_url):
    with as_application.connect() as connection:
        user, superuser, database = connection.execute(
            sa.text("SELECT current_user, rolsuper, current_database() FROM pg_roles WHERE rolname = current_user")
        ).one()
        groups = connection.scalars(
            sa.text(
                "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
                "JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = current_user"
            )
        ).all()

    assert user != sa.make_url(master_database_url).username
    assert superuser is False
    assert groups == [application_group(database)]


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param("CREATE TABLE sneaky (id int)", id="create-table"),
        pytest.param("DROP TABLE naver_image_banners", id="drop-table"),
        pytest.param("ALTER TABLE naver_stores ADD COLUMN sneaky int", id="alter-table"),
        pytest.param("ALTER TABLE naver_stores DROP CONSTRAINT naver_stores_pkey", id="alter-constraint"),
        pytest.param("CREATE INDEX sneaky ON naver_stores (name)", id="create-index"),
        pytest.param("CREATE SCHEMA sneaky", id="create-schema"),
        pytest.param("CREATE TEMPORARY TABLE sneaky (id int)", id="create-temporary-table"),
        pytest.param("CREATE FUNCTION sneaky() RETURNS int LANGUAGE sql AS 'SELECT 1'", id="create-function"),
        pytest.param("TRUNCATE naver_stores CASCADE", id="truncate"),
        pytest.param("DELETE FROM alembic_version", id="rewrite-schema-version"),
        pytest.param("CREATE ROLE sneaky", id="create-role"),
    ],
)
def test_the_application_role_cannot_change_the_schema(as_application, statement):
    assert refused(as_application, statement) == INSUFFICIENT_PRIVILEGE


def test_the_application_role_cannot_create_a_database(database_url):
    engine = sa.create_engine(database_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        assert refused(engine, 'CREATE DATABASE "sneaky"') == INSUFFICIENT_PRIVILEGE
    finally:
        engine.dispose()


def test_the_application_role_reads_and_writes_rows_and_the_schema_stays(as_application, db):
    with as_application.begin() as connection:
        store = connection.scalar(
            sa.text("INSERT INTO naver_stores (name, naver_store_id) VALUES ('Sundae', 'sundae') RETURNING id")
        )
        connection.execute(sa.text("UPDATE naver_stores SET name = 'Sundae Closet' WHERE id = :id"), {"id": store})
        connection.execute(sa.text("SELECT * FROM naver_stores WHERE id = :id FOR UPDATE"), {"id": store})
    with as_application.begin() as connection:
        assert connection.scalar(sa.text("SELECT name FROM naver_stores")) == "Sundae Closet"
        connection.execute(sa.text("DELETE FROM naver_stores"))
        assert connection.scalar(sa.text("SELECT version_num FROM alembic_version")) == "0011_embedding_cache"
        assert connection.scalar(sa.text("SELECT count(*) FROM naver_stores")) == 0


def test_a_table_a_later_migration_creates_is_the_applications_to_use_at_once(as_application, master_engine):
    # Given a later migration, run by the master, that adds a table with an identity column
    with master_engine.begin() as connection:
        connection.execute(
            sa.text("CREATE TABLE later_feature (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text)")
        )
    try:
        # Then the application role may write its rows, but not change it
        with as_application.begin() as connection:
            assert connection.scalar(sa.text("INSERT INTO later_feature (note) VALUES ('x') RETURNING id")) == 1
        assert refused(as_application, "DROP TABLE later_feature") == INSUFFICIENT_PRIVILEGE
    finally:
        with master_engine.begin() as connection:
            connection.execute(sa.text("DROP TABLE later_feature"))


def test_the_stored_embeddings_a_later_migration_made_are_the_applications_to_read_and_add(as_application, db):
    # 0011_embedding_cache came after 0010 made the role: its table is granted by default privileges
    with as_application.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO stored_embeddings (endpoint, model, text_sha256, dimensions, vector) "
                "VALUES ('openai', 'text-embedding-3-small', :sha, 1, :vector) ON CONFLICT DO NOTHING"
            ),
            {"sha": "a" * 64, "vector": b"\x00\x00\x80\x3f"},
        )
        assert connection.scalar(sa.text("SELECT vector FROM stored_embeddings")) == b"\x00\x00\x80\x3f"
    assert refused(as_application, "TRUNCATE stored_embeddings") == INSUFFICIENT_PRIVILEGE
    assert refused(as_application, "ALTER TABLE stored_embeddings ADD COLUMN note text") == INSUFFICIENT_PRIVILEGE


def test_the_scram_verifier_is_postgresql_s_own_form():
    # RFC 7677's test vector: user "user", password "pencil", this salt and 4096 iterations.
    import base64

    verifier = scram_verifier("pencil", salt=base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ=="))

    assert verifier == (
        "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
        "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
    )


# --- The migration step, against a server that checks passwords, with the secrets in moto ---------


@pytest.fixture(scope="module")
def password_server():
    with password_postgres() as (port, admin_url):
        set_password(admin_url, "postgres", "master-Password-1")
        database_url = embedded_postgres.create_database(admin_url, "shop")
        yield port, admin_url, database_url


@pytest.fixture
def deployment(password_server, monkeypatch):
    """The migration function's environment in AWS: the master secret and the application secret."""
    port, admin_url, _ = password_server
    with mock_aws():
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        master = secrets.create_secret(
            Name="rds!db-1", SecretString=json.dumps({"username": "postgres", "password": "master-Password-1"})
        )["ARN"]
        # As CloudFormation makes it: a generated password beside the role's name, nothing else yet.
        application = secrets.create_secret(
            Name="shop-application",
            SecretString=json.dumps({"username": "shop_app", "password": "Generated0Password0Of0Forty0Characters00"}),
        )["ARN"]
        for name, value in {
            "DB_SECRET_ARN": master,
            "DB_HOST": "127.0.0.1",
            "DB_PORT": str(port),
            "DB_NAME": "shop",
            "DATABASE_TLS": "off",
            "DB_APPLICATION_SECRET_ARN": application,
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("DATABASE_URL")
        get_settings.cache_clear()
        dispose_engine()
        yield secrets, application
    monkeypatch.undo()
    get_settings.cache_clear()
    dispose_engine()


def function_engine(secrets, application_arn: str) -> sa.Engine:
    """An engine as every other function builds it (another process: no cached secret): DB_SECRET_ARN
    is the application secret."""
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()
    return build_engine(Settings(db_secret_arn=application_arn, database_tls="off"))


def test_the_migration_step_makes_the_application_role_from_its_secret_and_completes_the_secret(
    deployment, password_server
):
    secrets, application = deployment
    port = password_server[0]

    migrate.migrate({"RequestType": "Create"}, None)

    # The secret now says where the server is, in the shape Secrets Manager's PostgreSQL rotation expects
    stored = json.loads(secrets.get_secret_value(SecretId=application)["SecretString"])
    assert stored == {
        "username": "shop_app",
        "password": "Generated0Password0Of0Forty0Characters00",
        "engine": "postgres",
        "host": "127.0.0.1",
        "port": port,
        "dbname": "shop",
    }
    # and a function signs in with it, over password authentication, as the application role
    engine = function_engine(secrets, application)
    with engine.connect() as connection:
        assert connection.scalar(sa.text("SELECT current_user")) == "shop_app"
        assert connection.scalar(sa.text("SELECT count(*) FROM naver_stores")) == 0
    assert refused(engine, "DROP TABLE naver_stores") == INSUFFICIENT_PRIVILEGE
    engine.dispose()


def test_a_rotated_application_password_is_set_again_by_the_next_deployment(deployment):
    secrets, application = deployment
    migrate.migrate({"RequestType": "Create"}, None)
    rotated = json.loads(secrets.get_secret_value(SecretId=application)["SecretString"]) | {
        "password": "Rotated0Password0Two"
    }
    secrets.put_secret_value(SecretId=application, SecretString=json.dumps(rotated))

    migrate.migrate({"RequestType": "Update"}, None)

    engine = function_engine(secrets, application)
    with engine.connect() as connection:
        assert connection.scalar(sa.text("SELECT current_user")) == "shop_app"
    engine.dispose()


def test_an_application_secret_naming_the_master_is_refused(deployment, password_server):
    secrets, application = deployment
    secrets.put_secret_value(SecretId=application, SecretString=json.dumps({"username": "postgres", "password": "x"}))

    with pytest.raises(RuntimeError, match="master's powers"):
        migrate.migrate({"RequestType": "Update"}, None)


def test_the_master_itself_is_never_made_the_application_role(master_database_url):
    engine = sa.create_engine(master_database_url)
    with engine.begin() as connection, pytest.raises(ApplicationRoleError):
        ensure_application_login(connection, sa.make_url(master_database_url).username, "whatever")
    engine.dispose()
