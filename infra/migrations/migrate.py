"""Applies the alembic migrations beside this file.

- ``python -m infra.migrations.migrate`` (the local run and operators): upgrades the database the settings name.
- ``lambda_handler``: the CloudFormation custom resource in template.yaml, so every deployment
  migrates the database before the functions that need the new schema are used, then makes the
  application role of ``DB_APPLICATION_SECRET_ARN`` able to sign in (the functions' role: rows, no
  schema). This step alone holds the master credentials. crhelper answers
  CloudFormation whatever happens: SUCCESS, FAILED with the error, and FAILED just before the function
  would time out, so a stack never waits an hour for a migration that cannot finish.
"""

from __future__ import annotations

from pathlib import Path

from crhelper import CfnResource

ALEMBIC_INI = Path(__file__).with_name("alembic.ini")
PHYSICAL_ID = "database-schema"

_helper: CfnResource | None = None


def upgrade(connection=None) -> None:
    """Upgrade to the newest schema, on ``connection`` or on the configured database."""
    from alembic import command
    from alembic.config import Config

    config = Config(str(ALEMBIC_INI))
    if connection is not None:
        config.attributes["connection"] = connection
    command.upgrade(config, "heads")


SECRET_SERVER_KEYS = ("engine", "host", "port", "dbname")


def provision_application_role(settings=None) -> str | None:
    """Make the application secret's role able to sign in, with row access only; returns its name.

    Runs as the master user, after the migrations. The secret (``DB_APPLICATION_SECRET_ARN``) is read
    afresh (a rotation may have changed it) and completed with the server the master reached — engine,
    host, port, dbname: the shape Secrets Manager's PostgreSQL rotation expects — when it lacks them.
    Without ``DB_APPLICATION_SECRET_ARN`` (the local run) there is nothing to do.
    """
    import json

    from aws_lambda_powertools.utilities import parameters

    from shop_marketing.config import ConfigurationError, get_settings
    from shop_marketing.database_roles import ensure_application_login
    from shop_marketing.db import build_engine

    settings = settings or get_settings()
    arn = settings.db_application_secret_arn
    if not arn:
        return None
    secret = parameters.get_secret(arn, transform="json", force_fetch=True)
    if not isinstance(secret, dict) or not secret.get("username") or not secret.get("password"):
        raise ConfigurationError("configuration: DB_APPLICATION_SECRET_ARN: the secret must hold username and password")
    engine = build_engine(settings)
    try:
        with engine.begin() as connection:
            ensure_application_login(connection, secret["username"], secret["password"])
        server = {
            "engine": "postgres",
            "host": engine.url.host,
            "port": engine.url.port or 5432,
            "dbname": engine.url.database,
        }
    finally:
        engine.dispose()
    if any(secret.get(key) != value for key, value in server.items()):
        import boto3

        boto3.client("secretsmanager").put_secret_value(SecretId=arn, SecretString=json.dumps({**secret, **server}))
    return secret["username"]


def migrate(event: dict, context) -> str:
    from shop_marketing.observability import logger

    try:
        upgrade()
        application_role = provision_application_role()
    except Exception as error:  # noqa: BLE001 - CloudFormation shows this reason to whoever deploys
        raise RuntimeError(f"migration failed: {error}") from error
    logger.info(
        "database schema is up to date",
        extra={"request_type": event["RequestType"], "application_role": application_role},
    )
    return PHYSICAL_ID


def keep_data(event: dict, context) -> str:
    # The data outlives the stack; nothing to undo.
    return event.get("PhysicalResourceId") or PHYSICAL_ID


def custom_resource() -> CfnResource:
    """The crhelper resource, built at the first invocation (Lambda has set AWS_REGION by then).

    A failure while it is built is reported to CloudFormation by crhelper at that invocation.
    """
    global _helper
    if _helper is None:
        helper = CfnResource(json_logging=False, log_level="INFO", boto_level="ERROR", sleep_on_delete=0)
        helper.create(migrate)
        helper.update(migrate)
        helper.delete(keep_data)
        _helper = helper
    return _helper


def lambda_handler(event: dict, context) -> None:
    try:
        from shop_marketing.observability import logger
    except ImportError:  # a broken layer: crhelper still answers, with the migration's own error
        pass
    else:
        # CloudFormation's request id ties this deployment's log lines together.
        logger.set_correlation_id(event.get("RequestId"))
    custom_resource()(event, context)


if __name__ == "__main__":
    upgrade()
    print("database schema is up to date")
