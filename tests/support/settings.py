"""Tests that change the configuration: the settings and the OpenAI client follow the environment."""

from __future__ import annotations


def use_settings(monkeypatch, **values: str) -> None:
    """Set environment variables and make the settings and the OpenAI client follow them."""
    from shop_marketing.config import get_settings
    from shop_marketing.openai_client import reset_openai_client

    for name, value in values.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    reset_openai_client()
