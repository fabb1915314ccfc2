"""Publishes the review console to the stack's console bucket: ``python -m infra.publish_console --stack NAME``.

The page (console/), its font (the banner images' NanumSquareR) and a ``config.json`` made from the
stack's outputs — where the API is, and the user pool's hosted sign-in page and people client that
the page signs people in with (authorization code with PKCE) — then a CloudFront invalidation so the
new files are served at once. With an issuer of your own (AuthIssuerUrl), give ``--sign-in-url`` and
``--client-id``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from infra.local_api import CONSOLE_DIR, CONSOLE_FONTS, CONSOLE_TYPES, sign_in_scopes

SIGN_IN_SCOPES = sign_in_scopes()
# The page and its configuration are read again on every load; the rest may be cached a little.
NO_CACHE = "no-cache"
SHORT_CACHE = "public, max-age=300"


def console_files() -> dict[str, Path]:
    """Object key → file: the page's own files and its font."""
    files = {path.name: path for path in sorted(CONSOLE_DIR.iterdir()) if path.suffix in CONSOLE_TYPES}
    files["fonts/NanumSquareR.ttf"] = CONSOLE_FONTS / "NanumSquareR.ttf"
    files["fonts/OFL.txt"] = CONSOLE_FONTS / "OFL.txt"
    return files


def config_from_outputs(
    outputs: dict[str, str], *, sign_in_url: str | None = None, client_id: str | None = None
) -> dict[str, Any]:
    """The console's config.json from the stack's outputs (or the issuer given instead)."""
    sign_in_url = sign_in_url or outputs.get("SignInUrl")
    client_id = client_id or outputs.get("PeopleClientId")
    if not sign_in_url or not client_id:
        raise SystemExit(
            "The stack has no user pool of its own: give --sign-in-url and --client-id of your issuer's people client."
        )
    return {
        "api_url": outputs["ApiUrl"].rstrip("/"),
        "auth": {"domain": sign_in_url.rstrip("/"), "client_id": client_id, "scopes": SIGN_IN_SCOPES},
    }


def publish(
    s3: Any, bucket: str, config: dict[str, Any], *, cloudfront: Any = None, distribution_id: str | None = None
) -> list[str]:
    """Uploads the console and its config; returns the keys written."""
    written = []
    for key, path in console_files().items():
        kind = CONSOLE_TYPES.get(path.suffix, "text/plain; charset=utf-8")
        cache = NO_CACHE if path.suffix == ".html" else SHORT_CACHE
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType=kind, CacheControl=cache)
        written.append(key)
    s3.put_object(
        Bucket=bucket,
        Key="config.json",
        Body=json.dumps(config).encode(),
        ContentType=CONSOLE_TYPES[".json"],
        CacheControl=NO_CACHE,
    )
    written.append("config.json")
    if cloudfront is not None and distribution_id:
        cloudfront.create_invalidation(
            DistributionId=distribution_id,
            InvalidationBatch={
                "Paths": {"Quantity": 1, "Items": ["/*"]},
                "CallerReference": f"console-{time.time_ns()}",
            },
        )
    return written


def main(argv: list[str] | None = None) -> None:
    import boto3

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, help="the deployed stack's name")
    parser.add_argument("--sign-in-url", help="hosted sign-in base URL, when the stack uses another issuer")
    parser.add_argument("--client-id", help="the people client's id, when the stack uses another issuer")
    arguments = parser.parse_args(argv)
    stack = boto3.client("cloudformation").describe_stacks(StackName=arguments.stack)["Stacks"][0]
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
    config = config_from_outputs(outputs, sign_in_url=arguments.sign_in_url, client_id=arguments.client_id)
    publish(
        boto3.client("s3"),
        outputs["ConsoleBucketName"],
        config,
        cloudfront=boto3.client("cloudfront"),
        distribution_id=outputs["ConsoleDistributionId"],
    )
    print(f"review console published: {outputs['ConsoleUrl']}")


if __name__ == "__main__":
    main()
