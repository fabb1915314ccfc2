"""Applies the alembic migrations beside this file.

- ``python -m infra.migrations.migrate`` (the local run and operators): upgrades the database the settings name.
- ``lambda_handler``: the CloudFormation custom resource in template.yaml, so every deployment
  migrates the database before the functions that need the new schema are used.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from alembic import command
from alembic.config import Config

ALEMBIC_INI = Path(__file__).with_name("alembic.ini")


def upgrade(connection=None) -> None:
    """Upgrade to the newest schema, on ``connection`` or on the configured database."""
    config = Config(str(ALEMBIC_INI))
    if connection is not None:
        config.attributes["connection"] = connection
    command.upgrade(config, "heads")


def _respond(event: dict, context, status: str, reason: str = "") -> None:
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:1000] or f"see log stream {getattr(context, 'log_stream_name', '')}",
            "PhysicalResourceId": event.get("PhysicalResourceId") or "database-schema",
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
        }
    ).encode()
    request = urllib.request.Request(
        event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
    )
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - CloudFormation's pre-signed https URL
        pass


def lambda_handler(event: dict, context) -> None:
    from shop_marketing.observability import logger

    try:
        if event["RequestType"] in ("Create", "Update"):
            upgrade()
            logger.info("database schema is up to date")
        # Delete: the data outlives the stack; nothing to undo.
        _respond(event, context, "SUCCESS")
    except Exception as error:  # noqa: BLE001 - CloudFormation must hear of any failure, or it waits an hour
        logger.exception("migration failed")
        _respond(event, context, "FAILED", f"migration failed: {error}")


if __name__ == "__main__":
    upgrade()
    print("database schema is up to date")
