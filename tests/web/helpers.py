"""What the browser tests share: launching pages signed in, making sessions, reading the DOM."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from desktop.ansi import AnsiRenderer, plain_text
from tests.server import Server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1280, "height": 760}
COOKIE = "sessiondock_token"
TICKER = "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.05; done"

T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout: float = 10.0, message: str = "") -> T:
    """Poll ``check`` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s: {message or check}")
        time.sleep(0.05)


def pumped(page: Page, check: Callable[[], T], timeout: float = 5.0, message: str = "") -> T:
    """wait_until for what Playwright's own callbacks (route handlers) make true: they run only
    while Playwright waits on the page."""

    def pump() -> T:
        page.wait_for_timeout(20)
        return check()

    return wait_until(pump, timeout, message)


class Dock:
    """One backend seen through the API (``client``) and through signed-in browser pages."""

    def __init__(self, browser: Browser, server: Server, client: httpx.Client) -> None:
        self.browser = browser
        self.server = server
        self.client = client
        self.contexts: list[BrowserContext] = []
        self.page_errors: list[str] = []

    def new_context(self, *, signed_in: bool = True) -> BrowserContext:
        """A browser context is a profile of its own: its own cookies and connection pool."""
        context = self.browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(10_000)
        if signed_in:
            context.add_cookies(
                [{"name": COOKIE, "value": self.server.token, "url": self.server.url + "/"}]
            )
        self.contexts.append(context)
        return context

    def new_page(self, *, signed_in: bool = True) -> Page:
        page = self.new_context(signed_in=signed_in).new_page()
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()
        self.contexts.clear()

    # The API

    def project(self, path: str) -> dict[str, Any]:
        response = self.client.post("/api/projects", json={"path": path})
        assert response.status_code in (200, 201), response.text
        return dict(response.json())

    def session(self, project_id: str, command: str | None = None, **body: Any) -> dict[str, Any]:
        if command is not None:
            body = {"kind": "command", "argv": ["/bin/sh", "-c", command], **body}
        response = self.client.post("/api/sessions", json={"projectId": project_id, **body})
        assert response.status_code == 201, response.text
        return dict(response.json())

    def history(self, session_id: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        after = 0
        while True:
            page = self.client.get(
                f"/api/session/{session_id}/history", params={"after": after, "limit": 10_000}
            ).json()
            events += page["events"]
            after = page["nextAfter"]
            if not page["hasMore"]:
                return events

    def history_lines(self, session_id: str) -> list[str]:
        """The session's stored output as the desktop renderer shows it."""
        output = "".join(
            e["data"]["content"] for e in self.history(session_id) if e["type"] == "output"
        )
        update = AnsiRenderer().feed(output)
        lines = [plain_text(line) for line in update.finished]
        return [*lines, plain_text(update.partial)] if update.partial else lines

    def stream_count(self, session_id: str) -> int:
        metrics = self.client.get("/api/debug/metrics").json()
        return int(metrics["sse"]["sessions"].get(session_id, 0))

    # The page

    def open(self, page: Page, project_id: str, session_id: str | None = None) -> None:
        """Show a project (and a session) by its address, and wait for the stream."""
        route = f"#/p/{project_id}" + (f"/s/{session_id}" if session_id else "")
        page.goto(f"{self.server.url}/{route}")
        page.wait_for_selector(f"#projects [data-id='{project_id}'][aria-current='true']")
        if session_id:
            wait_for_stream(page, "connected")


def wait_for_stream(page: Page, state: str, timeout: float = 10_000) -> None:
    page.wait_for_selector(f"#stream-state[data-state='{state}']", timeout=timeout)


def dom_lines(page: Page) -> list[str]:
    """The text of the output's lines in the DOM (without the empty line being typed): the view
    of sessions without a terminal (``"tty": false``)."""
    lines: list[str] = page.evaluate(
        "Array.from(document.querySelectorAll('#output-host .output .l'), e => e.textContent)"
    )
    return lines[:-1] if lines and lines[-1] == "" else lines


# The terminal on screen (terminal.js) as text: its scrollback and screen, or its screen only.
TERM_LINES = """(screenOnly) => {
  const view = sessionDock.currentView();
  if (!view || !view.terminal) return null;
  const buffer = view.output.term.buffer.active;
  const start = screenOnly ? buffer.baseY : 0;
  const lines = [];
  for (let y = start; y < buffer.length; y++) lines.push(buffer.getLine(y).translateToString(true));
  return lines;
}"""


def term_lines(page: Page, *, screen: bool = False) -> list[str]:
    """The lines of the terminal on screen (xterm.js's buffer), trailing spaces and the blank
    lines after the last one that says something left out; ``screen``: its visible rows only."""
    lines: list[str] | None = page.evaluate(TERM_LINES, screen)
    assert lines is not None, "no terminal on screen"
    lines = [line.rstrip() for line in lines]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def shown_lines(page: Page) -> list[str]:
    """The session's output as the page shows it: a terminal's lines, or the DOM's."""
    if page.evaluate("Boolean(sessionDock.currentView()?.terminal)"):
        return term_lines(page)
    return dom_lines(page)


def wait_for_line(page: Page, text: str, timeout: float = 10.0) -> list[str]:
    """Wait until a line of the session on screen is ``text``; its lines."""
    return wait_until(lambda: text in (lines := shown_lines(page)) and lines, timeout, repr(text))
