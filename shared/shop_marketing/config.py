"""Configuration, read from the environment once per execution environment and validated.

Every function calls :func:`get_settings` while it starts. A missing or malformed variable raises
:class:`ConfigurationError` whose message is one line naming the variable; :func:`load_or_exit`
turns that into a single log line and a clean exit instead of a stack trace.
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, Json, ValidationError, field_validator, model_validator


class ConfigurationError(RuntimeError):
    """A setting is missing or wrong; the message is one line naming the variable."""


class JudgeEndpoint(BaseModel):
    """One OpenAI-compatible endpoint a judge may call: its base URL and where its key comes from
    (a Secrets Manager secret in AWS, or an environment variable locally)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: AnyHttpUrl
    api_key_secret_arn: str | None = None
    api_key_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")] | None = None

    @model_validator(mode="after")
    def _one_key_source(self) -> JudgeEndpoint:
        if (self.api_key_secret_arn is None) == (self.api_key_env is None):
            raise ValueError("give exactly one of api_key_secret_arn or api_key_env")
        return self


EndpointName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


class Settings(BaseModel):
    """Environment variables, by their lower-cased names."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    database_url: str | None = None
    db_secret_arn: str | None = None
    # Where the secret's server is when the secret does not say (the RDS-managed master secret holds only
    # username and password), or another way to it (RDS Proxy): these win over the secret's own values.
    db_host: str | None = None
    db_port: int | None = Field(default=None, ge=1, le=65535)
    db_name: str | None = None
    # The migration step only: the application role's secret (username, password; completed with the
    # server's host, port and dbname), whose role it creates and the other functions sign in as.
    db_application_secret_arn: str | None = None
    # "auto": verified TLS for the RDS secret, plain for an explicit DATABASE_URL (local servers).
    database_tls: Literal["auto", "verify", "off"] = "auto"
    db_connect_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    db_statement_timeout_ms: int = Field(default=10_000, gt=0, le=900_000)
    db_pool_size: int = Field(default=1, ge=1, le=20)
    db_max_overflow: int = Field(default=4, ge=0, le=50)
    # A pooled connection idle longer than this is pinged before use (a frozen Lambda environment is
    # idle far longer); one used just now is not.
    db_ping_after_idle_seconds: float = Field(default=1.0, ge=0, le=300)

    openai_api_key: str | None = None
    openai_api_key_secret_arn: str | None = None
    openai_base_url: str | None = None
    openai_timeout_seconds: float = Field(default=10.0, gt=0, le=25)
    openai_max_retries: int = Field(default=2, ge=0, le=5)
    # A server asking for a longer pause than this before a retry gets no retry (503 + Retry-After).
    openai_max_retry_wait_seconds: float = Field(default=2.0, ge=0, le=60)
    openai_webhook_secret: str | None = None
    openai_webhook_secret_arn: str | None = None

    judge_model: str | None = None
    # More endpoints than ``openai``, as JSON: {"name": {"base_url": ..., "api_key_secret_arn" | "api_key_env": ...}}.
    judge_endpoints: Json[dict[EndpointName, JudgeEndpoint]] | None = None
    judge_fallback: str | None = None
    promotion_f1_tolerance: float = Field(default=0.01, ge=0, le=1)
    promotion_min_precision: float = Field(default=0.90, ge=0, le=1)
    # A judge whose model shuts down within this many days is ``retiring`` (and the alarm's threshold).
    model_retirement_warning_days: int = Field(default=60, ge=0, le=3650)
    evaluation_queue_url: str | None = None
    evaluation_concurrency: int = Field(default=4, ge=1, le=32)
    # An example whose judging keeps failing after this many deliveries counts as an error.
    evaluation_max_attempts: int = Field(default=3, ge=1, le=10)
    judge_concurrency: int = Field(default=4, ge=1, le=32)
    active_model_ttl_seconds: float = Field(default=60.0, ge=0, le=3600)

    training_bucket: str | None = None
    base_model: str = "gpt-4o-mini-2024-07-18"
    training_token_limit: int = Field(default=65_536, gt=0)

    # Comments to judge go on this SQS queue (message body = the POST /comments/judge body).
    judge_queue_url: str | None = None

    # Instagram: webhook signing secret and verify token, Graph API token, the shop's own account.
    instagram_app_secret: str | None = None
    instagram_app_secret_secret_arn: str | None = None
    instagram_verify_token: str | None = None
    instagram_verify_token_secret_arn: str | None = None
    instagram_access_token: str | None = None
    instagram_access_token_secret_arn: str | None = None
    instagram_graph_url: str = Field(default="https://graph.facebook.com/v23.0", pattern=r"^https?://[^\s/]+(/\S*)?$")
    instagram_account_id: str | None = Field(default=None, pattern=r"^[0-9]{1,30}$")
    instagram_timeout_seconds: float = Field(default=8.0, gt=0, le=25)
    # The schedule fetches the comments of posts registered within this many days (at most this many posts).
    instagram_recent_post_days: int = Field(default=14, ge=1, le=365)
    instagram_recent_post_limit: int = Field(default=25, ge=1, le=500)

    # Banner images: the bucket (AWS) or a local directory, and the public base URL of the images.
    banner_images_bucket: str | None = None
    banner_images_dir: str | None = None
    banner_images_base_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    banner_image_width: int = Field(default=1200, ge=320, le=4096)
    banner_image_height: int = Field(default=628, ge=240, le=4096)

    @field_validator("instagram_graph_url")
    @classmethod
    def _graph_over_https(cls, url: str) -> str:
        if not _graph_url_allowed(url):
            raise ValueError("must be https (plain http only to a loopback host: the local run's stand-in)")
        return url

    @model_validator(mode="after")
    def _database_is_reachable(self) -> Settings:
        if not self.database_url and not self.db_secret_arn:
            raise ValueError("DATABASE_URL or DB_SECRET_ARN must be set")
        if self.database_url and not self.database_url.startswith("postgresql+pg8000://"):
            raise ValueError("DATABASE_URL must start with postgresql+pg8000://")
        if self.judge_endpoints and "openai" in self.judge_endpoints:
            raise ValueError(
                "JUDGE_ENDPOINTS: 'openai' is the default endpoint (OPENAI_BASE_URL); name yours otherwise"
            )
        return self

    def endpoint_names(self) -> list[str]:
        return ["openai", *sorted(self.judge_endpoints or {})]

    def require(self, *names: str) -> None:
        """Fail with one line if none of the given settings is set (any one of them suffices)."""
        if not any(getattr(self, name) for name in names):
            wanted = " or ".join(name.upper() for name in names)
            raise ConfigurationError(f"configuration: {wanted} must be set")


LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def _graph_url_allowed(url: str) -> bool:
    """The Graph API is reached over https; http only to a loopback stand-in (the local run, tests)."""
    parts = urlsplit(url)
    return parts.scheme == "https" or (parts.scheme == "http" and (parts.hostname or "") in LOOPBACK_HOSTS)


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    # The variable's name as it is set; inside a JSON value (JUDGE_ENDPOINTS) the keys as written.
    parts = [str(part) for part in first["loc"]]
    where = ".".join([parts[0].upper(), *parts[1:]]) if parts else ""
    message = first["msg"].removeprefix("Value error, ")
    return f"configuration: {where}: {message}" if where else f"configuration: {message}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The validated settings of this execution environment (read once)."""
    names = Settings.model_fields.keys()
    values = {name: os.environ[name.upper()] for name in names if os.environ.get(name.upper(), "") != ""}
    try:
        return Settings.model_validate(values)
    except ValidationError as error:
        raise ConfigurationError(_describe(error)) from None


def load_or_exit(*required: tuple[str, ...]) -> Settings:
    """Settings for a function's start: on a bad setting, print one line and exit.

    Each positional argument is a group of setting names of which at least one must be set.
    """
    try:
        settings = get_settings()
        for group in required:
            settings.require(*group)
        return settings
    except ConfigurationError as error:
        print(str(error), file=sys.stderr)
        raise SystemExit(1) from None
