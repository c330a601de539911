"""Browser checks: Debian's Chromium driven by Playwright, and screenshots kept as artifacts.

Playwright never downloads a browser here: it starts the Chromium at ``HOURCAST_CHROMIUM``
(default ``/usr/bin/chromium``, which ``make test`` installs when it is missing). Each test
gets a fresh browser context (no cookies, no storage) and a :class:`Screenshots` that writes
PNG files to ``HOURCAST_BROWSER_ARTIFACTS`` (default ``.hourcast/test-artifacts/browser/``);
a failing test also leaves a screenshot of the page as it was then.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
from playwright.sync_api import (
    Browser,
    Page,
    StorageState,
    ViewportSize,
    expect,
    sync_playwright,
)

from tests.conftest import ROOT

CHROMIUM = Path(os.environ.get("HOURCAST_CHROMIUM", "/usr/bin/chromium"))
# No background traffic: on a machine without internet, Chromium's own connections (updates,
# sync, field trials) are refused, many at a time. Playwright gives it a new empty profile.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Generous: the UIs run beside a busy test suite on two cores.
TIMEOUT_MS = 90_000
VIEWPORT: ViewportSize = {"width": 1400, "height": 900}

_failed = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """Remember on the test item whether its call failed (the page fixture reads it)."""
    report = yield
    if call.when == "call":
        item.stash[_failed] = call.excinfo is not None
    return report


class Screenshots:
    """Numbered PNG files of one test's page: ``<test>-01-<what>.png``."""

    def __init__(self, folder: Path, test_name: str) -> None:
        self.folder = folder
        self.prefix = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
        self.taken: list[Path] = []

    def take(self, page: Page, what: str, *, full_page: bool = False) -> Path:
        path = self.folder / f"{self.prefix}-{len(self.taken) + 1:02d}-{what}.png"
        page.screenshot(path=str(path), full_page=full_page)
        self.taken.append(path)
        return path


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where the screenshots go; emptied of the last session's PNG files.

    Only files older than this process go: under pytest-xdist another worker may already
    have saved this session's screenshots there.
    """
    default = ROOT / ".hourcast" / "test-artifacts" / "browser"
    folder = Path(os.environ.get("HOURCAST_BROWSER_ARTIFACTS") or default)
    folder.mkdir(parents=True, exist_ok=True)
    started = psutil.Process().create_time()
    for old in folder.glob("*.png"):
        if old.stat().st_mtime < started:
            old.unlink(missing_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium for one test module."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: `make test` installs Debian's chromium "
            "(apt-get install chromium), or set HOURCAST_CHROMIUM to a Chromium binary",
            pytrace=False,
        )
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def screenshots(request: pytest.FixtureRequest, artifacts_dir: Path) -> Screenshots:
    return Screenshots(artifacts_dir, request.node.name)


@contextmanager
def open_page(
    browser: Browser,
    request: pytest.FixtureRequest,
    screenshots: Screenshots,
    storage_state: StorageState | None = None,
) -> Iterator[Page]:
    """A page in a new browser context; a screenshot of it is kept if the test fails."""
    context = browser.new_context(viewport=VIEWPORT, storage_state=storage_state)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        yield page
        if request.node.stash.get(_failed, False):
            screenshots.take(page, "at-failure", full_page=True)
    finally:
        context.close()


@pytest.fixture
def page(
    browser: Browser, request: pytest.FixtureRequest, screenshots: Screenshots
) -> Iterator[Page]:
    """A page of a new browser context: no cookies, no storage."""
    with open_page(browser, request, screenshots) as page:
        yield page
