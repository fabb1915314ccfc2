"""Private internals of dependencies: each used in one module only, behind a version guard, with a public
fallback. An upgrade of pg8000, the openai SDK or Powertools fails here, loudly, until the module that leans
on its internals has been checked against the new release (and its VERIFIED_RELEASES updated)."""

from __future__ import annotations

import ast
from pathlib import Path

import openai
import pg8000
import pg8000.legacy
import pytest
import sqlalchemy as sa
from aws_lambda_powertools.shared.version import VERSION as POWERTOOLS_VERSION

from infra.openai_standin import CHAT_PATH, OpenAIStandIn, Recorded, Reply
from shop_marketing import http, openai_client, pg_driver
from tests.catalog.conftest import CatalogApi
from tests.support.settings import use_settings

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [*(ROOT / "shared").rglob("*.py"), *(ROOT / "functions").rglob("*.py"), *(ROOT / "infra").rglob("*.py")]
# Each dependency whose internals are used, and the one module allowed to use them.
GUARDED = {
    "pg8000": ROOT / "shared/shop_marketing/pg_driver.py",
    "openai": ROOT / "shared/shop_marketing/openai_client.py",
    "aws_lambda_powertools": ROOT / "shared/shop_marketing/http.py",
}
# Private names read off objects of those dependencies (not reachable through a module path).
PRIVATE_MEMBERS = {
    "_should_retry": "openai",
    "_parse_retry_after_header": "openai",
    "_static_routes": "aws_lambda_powertools",
    "_dynamic_routes": "aws_lambda_powertools",
    "_transaction_status": "pg8000",
    "_create_message": "pg8000",
    "convert_paramstyle": "pg8000",
}


def test_every_dependency_is_a_release_its_internals_were_verified_against():
    assert pg_driver.COMPATIBLE, f"pg8000 {pg8000.__version__}: check pg_driver.py against it, then VERIFIED_RELEASES"
    assert openai_client.BOUNDED_RETRY_FITS, (
        f"openai {openai.__version__}: check BoundedRetryOpenAI against it, then VERIFIED_RELEASES"
    )
    assert http.route_table_fits(http.create_http_app(), POWERTOOLS_VERSION), (
        f"Powertools {POWERTOOLS_VERSION}: check http._route_table against it, then POWERTOOLS_VERIFIED_RELEASES"
    )


def test_an_unverified_release_is_refused_by_each_guard():
    assert not pg_driver.internals_fit("1.32.0") and pg_driver.internals_fit(pg8000.__version__)
    assert not http.route_table_fits(http.create_http_app(), "3.38.0")
    assert not http.route_table_fits(object(), POWERTOOLS_VERSION)


def _dependency_aliases(tree: ast.Module) -> dict[str, str]:
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for name in node.names:
                root = name.name.split(".")[0]
                if root in GUARDED:
                    aliases[(name.asname or name.name).split(".")[0]] = root
    return aliases


def _private_uses(path: Path) -> set[str]:
    """Dependencies whose private names ``path`` reaches: ``from dep... import _x``, ``dep.mod._x``, or a
    private member known to be a dependency's."""
    tree = ast.parse(path.read_text(), str(path))
    aliases, used = _dependency_aliases(tree), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in GUARDED:
            if any(name.name.startswith("_") for name in node.names) or any(
                part.startswith("_") and not part.startswith("__") for part in node.module.split(".")
            ):
                used.add(node.module.split(".")[0])
        elif isinstance(node, ast.Attribute):
            chain, inner = [node.attr], node.value
            while isinstance(inner, ast.Attribute):
                chain.append(inner.attr)
                inner = inner.value
            if (
                isinstance(inner, ast.Name)
                and inner.id in aliases
                and any(part.startswith("_") and not part.startswith("__") for part in chain)
            ):
                used.add(aliases[inner.id])
            if node.attr in PRIVATE_MEMBERS and not (isinstance(inner, ast.Name) and inner.id in aliases):
                used.add(PRIVATE_MEMBERS[node.attr])
    return used


def test_no_private_name_of_a_dependency_outside_its_guarded_module():
    found = {}
    for path in SOURCES:
        for dependency in _private_uses(path):
            if GUARDED[dependency] != path:
                found.setdefault(dependency, []).append(str(path.relative_to(ROOT)))
    assert found == {}
    # The walk sees what it is meant to: each guarded module is found using its dependency's internals.
    assert all(dependency in _private_uses(path) for dependency, path in GUARDED.items())


def test_on_an_unverified_pg8000_the_engine_connects_with_pg8000s_own_connection(database_url, monkeypatch):
    from shop_marketing.config import get_settings
    from shop_marketing.db import build_engine

    monkeypatch.setattr(pg_driver, "COMPATIBLE", False)
    assert pg_driver.dbapi() is pg8000
    engine = build_engine(get_settings())
    try:
        with engine.begin() as connection:
            assert connection.execute(sa.text("select 1 + :n"), {"n": 1}).scalar() == 2
            dbapi_connection = connection.connection.dbapi_connection
            assert type(dbapi_connection) is pg8000.legacy.Connection
    finally:
        engine.dispose()


def _too_many_requests(request: Recorded, _) -> Reply:
    """Every request: 429 with a Retry-After longer than the client's bounded wait."""
    error = {"message": "Rate limit reached", "type": "requests", "param": None, "code": "rate_limit_exceeded"}
    return Reply(429, {"error": error}, headers={"retry-after": "1"})


@pytest.mark.parametrize(("fits", "requests"), [(True, 1), (False, 2)])
def test_the_bounded_retry_wait_applies_only_on_a_verified_openai(monkeypatch, fits, requests):
    standin = OpenAIStandIn().start()
    standin.on("POST", CHAT_PATH, _too_many_requests)
    try:
        monkeypatch.setattr(openai_client, "BOUNDED_RETRY_FITS", fits)
        use_settings(
            monkeypatch,
            OPENAI_BASE_URL=standin.base_url,
            OPENAI_MAX_RETRIES="1",
            OPENAI_MAX_RETRY_WAIT_SECONDS="0.5",
        )
        client = openai_client.get_openai_client()
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="gpt-6-luna", messages=[{"role": "user", "content": "hi"}])
        # Verified: a Retry-After past the bound is passed back at once. Unverified: the SDK's own retry.
        assert len(standin.requests_to("POST", CHAT_PATH)) == requests
    finally:
        standin.stop()
        openai_client.reset_openai_client()


def test_on_an_unverified_powertools_a_wrong_method_is_404(db, monkeypatch):
    api = CatalogApi()
    assert api("PATCH", "/stores/1").status == 405
    monkeypatch.setattr(http, "POWERTOOLS_VERIFIED_RELEASES", frozenset())
    wrong_method = api("PATCH", "/stores/1")
    assert wrong_method.status == 404 and wrong_method.json["error"]["code"] == "not_found"
