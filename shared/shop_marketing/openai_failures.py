"""How a failed OpenAI call becomes a domain error (after the SDK's own bounded retries).

Rate limits and outages are 503 with ``Retry-After``, timeouts 504, replies the SDK cannot parse 502,
and a request OpenAI refuses (4xx) is 422 ``openai_rejected`` carrying OpenAI's own message.
Imported only by the functions that call OpenAI.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import openai

from .config import Settings
from .errors import DomainError, UpstreamBadReply, UpstreamError, UpstreamTimeout

DEFAULT_RETRY_AFTER_SECONDS = 30


class OpenAIRejected(DomainError):
    status = 422
    code = "openai_rejected"


def openai_call_budget(settings: Settings) -> float:
    """Seconds one OpenAI call may take with all its retries (plus a margin for their back-off)."""
    return settings.openai_timeout_seconds * (settings.openai_max_retries + 1) + 1


def _retry_after(error: openai.APIStatusError) -> int:
    value = error.response.headers.get("retry-after", "")
    try:
        return max(1, int(float(value)))
    except ValueError:
        return DEFAULT_RETRY_AFTER_SECONDS


@contextmanager
def openai_failures_as_domain_errors(action: str) -> Iterator[None]:
    """Translate the SDK's exceptions raised in the block; ``action`` names the call in messages."""
    try:
        yield
    except openai.APITimeoutError:
        raise UpstreamTimeout(f"OpenAI did not answer in time ({action}).") from None
    except openai.APIConnectionError:
        raise UpstreamError(f"OpenAI could not be reached ({action}).", retry_after=DEFAULT_RETRY_AFTER_SECONDS) from None
    except openai.APIResponseValidationError:
        raise UpstreamBadReply(f"OpenAI's reply could not be read ({action}).") from None
    except (openai.RateLimitError, openai.InternalServerError) as error:
        raise UpstreamError(f"OpenAI is unavailable ({action}).", retry_after=_retry_after(error)) from None
    except (openai.AuthenticationError, openai.PermissionDeniedError):
        # Our key, not the caller's request: retrying will not help until it is fixed.
        raise UpstreamError(f"OpenAI refused this service's credentials ({action}).") from None
    except openai.APIStatusError as error:
        raise OpenAIRejected(
            f"OpenAI rejected the request ({action}): {_openai_message(error)}", openai_status=error.status_code
        ) from None


def _openai_message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        message = body.get("message") or (body.get("error") or {}).get("message")
        if isinstance(message, str):
            return message
    return str(error.message)
