"""The review console in a real browser: Debian's chromium driven by Playwright, against the local run.

The local run (``python -m infra.local_api``) is started once for the module on the test database with
no OpenAI key, so it serves against the project's OpenAI stand-in; the data the page shows is made
through the API first (tests/console/seed.py). Each test opens a fresh browser context at a phone
(390 × 844) and a laptop (1440 × 900) size, fails on any JavaScript error or console error, and keeps a
screenshot under .local/console/ for a person to look at.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from infra.api_gateway import ROOT
from tests.console.seed import INSTAGRAM_APP_SECRET, Seeded, seed
from tests.support.local_run import serving
from tests.support.network import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "laptop": {"width": 1440, "height": 900}}
SCREENSHOTS = ROOT / ".local" / "console"


def empty_tables(database_url: str) -> None:
    """Every table emptied, as the master (TRUNCATE is not the application role's)."""
    from shop_marketing.models import Base

    engine = sa.create_engine(database_url)
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@contextmanager
def running_local_api(database_url: str, banner_dir: Path, **settings: str) -> Iterator[str]:
    """`python -m infra.local_api` on a free port, on the test database, with no OpenAI key."""
    port = free_port()
    removed = (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "EVALUATION_QUEUE_URL",
        "JUDGE_QUEUE_URL",
        "LOCAL_AUTH",
        "JUDGE_MODEL",
        "ACTIVE_MODEL_TTL_SECONDS",
    )
    environment = {k: v for k, v in os.environ.items() if k not in removed}
    environment |= {
        "DATABASE_URL": database_url,
        "BANNER_IMAGES_DIR": str(banner_dir),
        "BANNER_IMAGES_BASE_URL": f"http://127.0.0.1:{port}/banner-images",
        **settings,
    }
    with serving([sys.executable, "-m", "infra.local_api", "--port", str(port)], ROOT, environment) as lines:
        assert any(line.startswith("review console: ") for line in lines)
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def local_run(database_url, master_database_url, tmp_path_factory) -> Iterator[str]:
    """The local run as `make local` serves it: every route open, the console without sign-in."""
    empty_tables(master_database_url)
    try:
        with running_local_api(
            database_url, tmp_path_factory.mktemp("banner-images"), INSTAGRAM_APP_SECRET=INSTAGRAM_APP_SECRET
        ) as base:
            yield base
    finally:
        empty_tables(master_database_url)


@pytest.fixture(scope="module")
def seeded(local_run) -> Seeded:
    return seed(local_run)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "Debian's chromium is needed: apt-get install -y chromium chromium-driver"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Console:
    """One browser page on the console, recording every JavaScript and console error."""

    def __init__(self, page, base: str, viewport: str):
        self.page = page
        self.base = base
        self.viewport = viewport
        self.errors: list[str] = []
        self.allowed_errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        page.on("console", lambda message: message.type == "error" and self.errors.append(f"console: {message.text}"))

    def open(self, hash_: str = "") -> None:
        if self.page.url.startswith(self.base):  # the same document may only change its hash
            self.page.evaluate("delete document.body.dataset.ready")
        self.page.goto(f"{self.base}/console/{hash_}")
        self.wait_until_ready()

    def wait_until_ready(self) -> None:
        self.page.wait_for_function("document.body.dataset.ready !== undefined")

    def go(self, hash_: str) -> None:
        """Follow an in-page link (no reload)."""
        self.page.evaluate("delete document.body.dataset.ready")
        self.page.evaluate("hash => { location.hash = hash; }", hash_)
        self.wait_until_ready()

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}-{self.viewport}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def fits_the_screen(self) -> bool:
        return self.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.fixture(params=sorted(VIEWPORTS))
def console(request, browser, local_run) -> Iterator[Console]:
    context = browser.new_context(viewport=VIEWPORTS[request.param], device_scale_factor=1)
    page = context.new_page()
    console = Console(page, local_run, request.param)
    try:
        yield console
    finally:
        context.close()
    unexpected = [error for error in console.errors if not any(allowed in error for allowed in console.allowed_errors)]
    assert unexpected == [], unexpected
