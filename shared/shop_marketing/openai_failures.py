"""How a failed OpenAI call becomes a domain error (after the SDK's own bounded retries).

Rate limits and outages are 503 with ``Retry-After``, timeouts 504, replies the SDK cannot parse 502,
and a request OpenAI refuses (4xx) is 422 ``openai_rejected`` carrying OpenAI's own message.
Imported only by the functions that call OpenAI.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import openai

from .config import Settings
from .errors import DomainError, UpstreamBadReply, UpstreamError, UpstreamTimeout

# When OpenAI says nothing about when to come back.
DEFAULT_RETRY_AFTER_SECONDS = 10
MAX_RETRY_AFTER_SECONDS = 3_600


class OpenAIRejected(DomainError):
    status = 422
    code = "openai_rejected"


def openai_call_budget(settings: Settings) -> float:
    """Seconds one OpenAI call may take with all its retries (plus a margin for their back-off)."""
    return settings.openai_timeout_seconds * (settings.openai_max_retries + 1) + 1


def retry_after_seconds(headers: Mapping[str, str]) -> int:
    """Seconds from OpenAI's ``retry-after-ms`` / ``retry-after`` header, else a default."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            seconds = float(headers.get(name, "")) * scale
        except ValueError:  # absent, or an HTTP date: fall back to the next source
            continue
        if math.isfinite(seconds):
            return min(MAX_RETRY_AFTER_SECONDS, max(1, math.ceil(seconds)))
    return DEFAULT_RETRY_AFTER_SECONDS


@contextmanager
def openai_failures_as_domain_errors(action: str, *, rejected: type[DomainError] | None = None) -> Iterator[None]:
    """Translate the SDK's exceptions raised in the block; ``action`` names the call in messages.

    ``rejected`` is the error for a request OpenAI refuses (4xx): by default 422 ``openai_rejected``
    (the caller's data was refused); a caller whose input cannot be at fault passes a 502.
    """
    try:
        yield
    except openai.APITimeoutError:
        raise UpstreamTimeout(f"OpenAI did not answer in time ({action}).") from None
    except openai.APIConnectionError:
        raise UpstreamError(
            f"OpenAI could not be reached ({action}).", retry_after=DEFAULT_RETRY_AFTER_SECONDS
        ) from None
    except openai.APIResponseValidationError:
        raise UpstreamBadReply(f"OpenAI's reply could not be read ({action}).") from None
    except (openai.RateLimitError, openai.InternalServerError) as error:
        raise UpstreamError(
            f"OpenAI is unavailable ({action}, HTTP {error.status_code}).",
            retry_after=retry_after_seconds(error.response.headers),
        ) from None
    except (openai.AuthenticationError, openai.PermissionDeniedError):
        # Our key, not the caller's request: a bad gateway until an operator fixes it.
        raise UpstreamBadReply(f"OpenAI refused this service's credentials ({action}).") from None
    except openai.APIStatusError as error:
        raise (rejected or OpenAIRejected)(
            f"OpenAI rejected the request ({action}): {_openai_message(error)}", openai_status=error.status_code
        ) from None
    except json.JSONDecodeError:  # a 2xx whose JSON body is broken
        raise UpstreamBadReply(f"OpenAI's reply could not be read ({action}).") from None


def _openai_message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        message = body.get("message") or (body.get("error") or {}).get("message")
        if isinstance(message, str):
            return message
    return str(error.message)
