"""The OpenAI adapter: one client per execution environment.

The key comes from ``OPENAI_API_KEY`` or, in AWS, from the Secrets Manager secret named by
``OPENAI_API_KEY_SECRET_ARN`` (cached by Powertools parameters). ``OPENAI_BASE_URL`` is honoured, so
tests and demos point the real SDK at a local server. The timeout stays well under API Gateway's 29 s
and retries are bounded. Imported only by the functions that call OpenAI.
"""

from __future__ import annotations

import threading

from openai import OpenAI

from .config import ConfigurationError, get_settings

_lock = threading.Lock()
_client: OpenAI | None = None


def _api_key() -> str:
    settings = get_settings()
    if settings.openai_api_key:
        return settings.openai_api_key
    if settings.openai_api_key_secret_arn:
        from aws_lambda_powertools.utilities import parameters

        return parameters.get_secret(settings.openai_api_key_secret_arn, max_age=300)
    raise ConfigurationError("configuration: OPENAI_API_KEY or OPENAI_API_KEY_SECRET_ARN must be set")


def get_openai_client() -> OpenAI:
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                settings = get_settings()
                _client = OpenAI(
                    api_key=_api_key(),
                    base_url=settings.openai_base_url,
                    timeout=settings.openai_timeout_seconds,
                    max_retries=settings.openai_max_retries,
                )
    return _client


def reset_openai_client() -> None:
    """Forget the client (tests use this when they point OPENAI_BASE_URL elsewhere)."""
    global _client
    with _lock:
        if _client is not None:
            _client.close()
        _client = None
