"""Configuration is validated once at start; a bad setting is one clear line naming the variable."""

import os
import subprocess
import sys

import pytest

from infra.api_gateway import ROOT
from shop_marketing.config import ConfigurationError, Settings, get_settings


@pytest.fixture
def environment(monkeypatch):
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_missing_database_setting_names_both_variables(environment):
    with pytest.raises(ConfigurationError) as raised:
        get_settings()

    assert str(raised.value) == "configuration: DATABASE_URL or DB_SECRET_ARN must be set"


@pytest.mark.parametrize(
    ("name", "value"),
    [("DB_POOL_SIZE", "many"), ("OPENAI_TIMEOUT_SECONDS", "90"), ("DATABASE_TLS", "sometimes")],
)
def test_a_malformed_setting_is_named(environment, name, value):
    environment.setenv("DATABASE_URL", "postgresql+pg8000://u@localhost/db")
    environment.setenv(name, value)

    with pytest.raises(ConfigurationError) as raised:
        get_settings()

    message = str(raised.value)
    assert message.startswith(f"configuration: {name}:")
    assert "\n" not in message


def test_a_database_url_for_another_driver_is_refused(environment):
    environment.setenv("DATABASE_URL", "postgresql://u@localhost/db")

    with pytest.raises(ConfigurationError, match="DATABASE_URL must start with postgresql\\+pg8000://"):
        get_settings()


def test_settings_are_read_once(environment):
    environment.setenv("DATABASE_URL", "postgresql+pg8000://u@localhost/db")
    first = get_settings()
    environment.setenv("DATABASE_URL", "postgresql+pg8000://changed@localhost/db")

    assert get_settings() is first


def test_a_function_started_without_its_settings_exits_with_one_line_and_no_traceback():
    environment = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DB_SECRET_ARN"}}
    code = "from infra.local_api import load_handler, ROOT;load_handler(ROOT / 'functions' / 'link_banner')"

    finished = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True)

    assert finished.returncode == 1
    assert finished.stderr.strip() == "configuration: DATABASE_URL or DB_SECRET_ARN must be set"
