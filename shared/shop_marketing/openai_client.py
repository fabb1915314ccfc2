"""The OpenAI adapter: one client per execution environment.

The key comes from ``OPENAI_API_KEY`` or, in AWS, from the Secrets Manager secret named by
``OPENAI_API_KEY_SECRET_ARN`` (cached by Powertools parameters). ``OPENAI_BASE_URL`` is honoured, so
tests and demos point the real SDK at a local server. The timeout stays well under API Gateway's 29 s
and retries are bounded, in number and in how long they may wait. Imported only by the functions that call OpenAI.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import httpx2
import openai
from openai import OpenAI

from .config import ConfigurationError, get_settings

# The bounded wait overrides the SDK's private ``_should_retry`` and reads ``_parse_retry_after_header``:
# the only use of the SDK's internals, taken only on the releases (major.minor) it was verified against and
# while both are there. Otherwise the SDK's own retries apply (public behaviour: a long Retry-After is
# waited out), and the client says so once. tests/foundation/test_private_apis.py fails on an upgrade.
VERIFIED_RELEASES = frozenset({"3.57"})
BOUNDED_RETRY_FITS = ".".join(openai.__version__.split(".")[:2]) in VERIFIED_RELEASES and all(
    callable(getattr(OpenAI, name, None)) for name in ("_should_retry", "_parse_retry_after_header")
)

_lock = threading.Lock()
_client: OpenAI | None = None
# Clients of the other endpoints of JUDGE_ENDPOINTS, by name.
_endpoint_clients: dict[str, OpenAI] = {}


class BoundedRetryOpenAI(OpenAI):
    """The SDK's client, except that it never sleeps longer than ``max_retry_wait`` before a retry.

    The SDK honours a server's ``Retry-After`` of up to two minutes, which would outlive a function
    behind API Gateway's 29 s. A longer wait is passed back to our caller instead (503 with the same
    ``Retry-After``), who can come back then.
    """

    def __init__(self, *, max_retry_wait: float = 2.0, **options: Any):
        super().__init__(**options)
        self.max_retry_wait = max_retry_wait
        if not BOUNDED_RETRY_FITS:
            from .observability import logger

            logger.warning(
                "openai %s is not a release the bounded retry wait was verified against; the SDK's own retries apply",
                openai.__version__,
            )

    def copy(self, *args: Any, **kwargs: Any) -> BoundedRetryOpenAI:
        """``with_options``: the SDK rebuilds the client from its own arguments; keep ours too."""
        copied = super().copy(*args, **kwargs)
        copied.max_retry_wait = self.max_retry_wait
        return copied

    with_options = copy

    def _should_retry(self, response: httpx2.Response) -> bool:
        if BOUNDED_RETRY_FITS:
            wait = self._parse_retry_after_header(response.headers)
            if wait is not None and wait > self.max_retry_wait:
                return False
        return super()._should_retry(response)


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
                _client = BoundedRetryOpenAI(
                    max_retry_wait=settings.openai_max_retry_wait_seconds,
                    api_key=_api_key(),
                    base_url=settings.openai_base_url,
                    timeout=settings.openai_timeout_seconds,
                    max_retries=settings.openai_max_retries,
                )
    return _client


def get_endpoint_client(name: str) -> OpenAI:
    """The client of a judge's endpoint: ``openai`` (the default client), or one of ``JUDGE_ENDPOINTS``."""
    if name == "openai":
        return get_openai_client()
    with _lock:
        client = _endpoint_clients.get(name)
        if client is None:
            settings = get_settings()
            endpoint = (settings.judge_endpoints or {}).get(name)
            if endpoint is None:
                raise ConfigurationError(f"configuration: JUDGE_ENDPOINTS has no endpoint named {name!r}")
            client = BoundedRetryOpenAI(
                max_retry_wait=settings.openai_max_retry_wait_seconds,
                api_key=_endpoint_key(endpoint.api_key_env, endpoint.api_key_secret_arn, name),
                base_url=str(endpoint.base_url),
                timeout=settings.openai_timeout_seconds,
                max_retries=settings.openai_max_retries,
            )
            _endpoint_clients[name] = client
    return client


def _endpoint_key(variable: str | None, secret_arn: str | None, name: str) -> str:
    if secret_arn:
        from aws_lambda_powertools.utilities import parameters

        return parameters.get_secret(secret_arn, max_age=300)
    key = os.environ.get(variable or "", "")
    if not key:
        raise ConfigurationError(f"configuration: {variable} (the key of judge endpoint {name!r}) must be set")
    return key


def reset_openai_client() -> None:
    """Forget the clients (tests use this when they point OPENAI_BASE_URL elsewhere)."""
    global _client
    with _lock:
        if _client is not None:
            _client.close()
        _client = None
        for client in _endpoint_clients.values():
            client.close()
        _endpoint_clients.clear()
