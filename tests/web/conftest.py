"""Browser tests: the real backend, the real page, in a real headless Chromium.

Playwright's sync API runs its own event loop; every test here is a plain (sync) function, so it
never meets pytest-asyncio's loop. The browser lives for one test module, so an async test of
another module never runs while Playwright's loop is alive.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.server import Server
from tests.web.helpers import CHROMIUM_ARGS, Dock

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


def _missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install playwright)"
    if shutil.which("chromium") is None:
        return "Chromium is not installed (apt-get install chromium)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _missing()
    if reason is None:
        return
    here = str(__file__).rsplit("/", 1)[0]
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def dock(browser: Browser, server: Server) -> Iterator[Dock]:
    """The backend, an API client and signed-in pages; page errors fail the test."""
    with server.client() as client:
        dock = Dock(browser, server, client)
        try:
            yield dock
        finally:
            dock.close()
    assert dock.page_errors == [], dock.page_errors


@pytest.fixture
def page(dock: Dock) -> Page:
    return dock.new_page()
