"""Secret settings: a plain value locally, a Secrets Manager secret in AWS (``<NAME>_SECRET_ARN``).

The secret is read through Powertools parameters and cached for five minutes, so a rotated secret is
picked up without a redeploy and a warm function does not call Secrets Manager per request.
"""

from __future__ import annotations

from .config import Settings

SECRET_MAX_AGE_SECONDS = 300
# The value template.yaml gives a secret it creates before its real value can exist (a webhook's
# signing secret needs the API's URL first). Until an operator puts the real one in, it counts as not
# set: never a key anyone could sign with, a token to match, or a credential to send.
UNSET = "unset"


def secret_setting(settings: Settings, name: str, arn_name: str | None = None) -> str | None:
    """The value of the setting ``name``: itself when set, else the secret its ARN setting names
    (``arn_name``, by default ``name_secret_arn``), else None."""
    value: str | None = getattr(settings, name)
    if value:
        return value
    arn = getattr(settings, arn_name or f"{name}_secret_arn")
    if not arn:
        return None
    from aws_lambda_powertools.utilities import parameters

    secret = parameters.get_secret(arn, max_age=SECRET_MAX_AGE_SECONDS)
    value = secret.strip() if isinstance(secret, str) else ""
    return None if not value or value == UNSET else value
