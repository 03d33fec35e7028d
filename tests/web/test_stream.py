"""The page's streams: resuming across a killed backend, the page's own reconnects after the
browser gives up, the heartbeat watchdog, a deleted session, the reference test page, and one
server connection per tab."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import os
import signal
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from desktop.supervisor import BackendSupervisor
from tests.server import Server
from tests.web.helpers import (
    TICKER,
    Dock,
    shown_lines,
    wait_for_line,
    wait_for_stream,
    wait_until,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Request

T = TypeVar("T")


class _BadGateway(http.server.BaseHTTPRequestHandler):
    """What a reverse proxy says while the backend behind it is down."""

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _answer(self, body: bool) -> None:
        payload = b'{"error": "the backend is down", "code": "bad_gateway"}'
        self.send_response(502)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def bad_gateway(port: int) -> Iterator[None]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _BadGateway)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def record_streams(page: Page) -> list[Request]:
    requests: list[Request] = []
    page.on("request", lambda r: requests.append(r) if "/events" in r.url else None)
    return requests


def ticking(dock: Dock, workdir: Path, page: Page) -> str:
    project = dock.project(str(workdir))
    session = dock.session(project["id"], TICKER, name="ticker")
    dock.open(page, project["id"], session["id"])
    wait_for_line(page, "tick 5")
    return str(session["id"])


def assert_dom_is_the_history(dock: Dock, page: Page, session_id: str) -> None:
    """Every stored line once, in order: nothing lost, nothing shown twice (in the terminal,
    whether the reconnect replayed what it missed or drew a snapshot)."""
    expected = dock.history_lines(session_id)
    assert expected[:3] == ["tick 1", "tick 2", "tick 3"]
    assert expected == [f"tick {n}" for n in range(1, len(expected) + 1)]
    wait_until(lambda: shown_lines(page) == expected, 5, "the page shows the stored history")


def assert_it_ran_on(dock: Dock, page: Page, session_id: str) -> None:
    """The session outlived its backend (the session host kept it): still running, new ticks
    shown live; stopped, the page shows exactly the stored history, the ticks printed while no
    backend was there included."""
    page.wait_for_selector("#session-badge:text-is('running')")
    shown = len(shown_lines(page))
    wait_until(lambda: len(shown_lines(page)) > shown + 3, 10, "new ticks arrive live")
    assert dock.client.post(f"/api/session/{session_id}/stop").status_code == 202
    page.wait_for_selector("#session-badge:text-matches('^stopped')")
    assert_dom_is_the_history(dock, page, session_id)


def resumes_from(request: Request, seen: int) -> bool:
    """A stream request of the page's own that resumes after ``seen``, still attached to the
    terminal's screen."""
    query = parse_qs(urlsplit(request.url).query)
    return query.get("lastEventId") == [str(seen)] and query.get("attach") == ["screen"]


def test_stream_resumes_after_the_backend_is_killed_and_restarted(
    dock: Dock, page: Page, workdir: Path
) -> None:
    session_id = ticking(dock, workdir, page)
    requests = record_streams(page)
    dock.server.stop(signal.SIGKILL)
    seen = page.evaluate("sessionDock.stream.lastEventId")
    wait_for_stream(page, "reconnecting")
    dock.server.start(dock.server.port)  # same port, same data: the session ran on meanwhile
    wait_for_stream(page, "connected")
    assert_it_ran_on(dock, page, session_id)
    # The browser reconnected by itself, naming the last event it had.
    resumed = [r for r in requests if r.all_headers().get("last-event-id") == str(seen)]
    assert resumed, [(r.url, r.all_headers()) for r in requests]


def test_page_reconnects_with_backoff_after_the_browser_gives_up(
    dock: Dock, page: Page, workdir: Path
) -> None:
    session_id = ticking(dock, workdir, page)
    requests = record_streams(page)
    port = dock.server.port
    dock.server.stop(signal.SIGKILL)
    with bad_gateway(port):
        # The browser's own retry gets a 502: EventSource closes for good, and the page takes over.
        wait_until(lambda: "reconnecting in" in page.inner_text("#stream-state"), 10)
        seen = page.evaluate("sessionDock.stream.lastEventId")
        refused = page.evaluate("sessionDock.stream.stats.refused")
        assert refused >= 1
    dock.server.start(port)
    wait_for_stream(page, "connected", timeout=15_000)
    assert_it_ran_on(dock, page, session_id)
    assert any(resumes_from(r, seen) for r in requests), [r.url for r in requests]
    assert page.evaluate("sessionDock.stream.stats.backoffReconnects") >= 1


def test_watchdog_replaces_a_stream_that_went_silent(dock: Dock, page: Page, workdir: Path) -> None:
    project = dock.project(str(workdir))
    session = dock.session(project["id"], "echo ready; sleep 60", name="quiet")
    dock.open(page, project["id"], session["id"])
    wait_for_line(page, "ready")
    # Two heartbeats in a row tell the page the server's interval (1 s in these tests).
    measured = wait_until(lambda: page.evaluate("sessionDock.stream.heartbeat.measured"), 5)
    assert 0.8 < measured < 2
    requests = record_streams(page)
    pid = dock.server.proc.pid if dock.server.proc else 0
    os.kill(pid, signal.SIGSTOP)  # the connection stays open and says nothing
    try:
        wait_until(lambda: page.evaluate("sessionDock.stream.stats.watchdogReopens"), 8)
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_for_stream(page, "connected")
    seen = page.evaluate("sessionDock.stream.lastEventId")
    assert any(resumes_from(r, seen) for r in requests), [r.url for r in requests]
    wait_until(lambda: dock.stream_count(session["id"]) == 1, 5, "the old stream is released")
    assert shown_lines(page) == ["ready"]


def test_deleted_session_is_gone_for_good(dock: Dock, page: Page, workdir: Path) -> None:
    project = dock.project(str(workdir))
    session = dock.session(project["id"])
    dock.open(page, project["id"], session["id"])
    dock.client.delete(f"/api/session/{session['id']}")
    page.wait_for_selector("#stream-state[data-state='gone']")
    assert "no longer exists" in page.inner_text("#stream-state")
    assert dock.stream_count(session["id"]) == 0


def test_reference_test_page_connects_sends_and_disconnects(
    dock: Dock, page: Page, workdir: Path
) -> None:
    project = dock.project(str(workdir))
    session = dock.session(project["id"])
    page.goto(dock.server.url + "/test-sse.html")
    page.fill("#sessionId", session["id"])
    page.click("#connect")
    page.wait_for_selector("#events [data-type='connected']")
    assert dock.stream_count(session["id"]) == 1
    page.fill("#command", "echo sse-$((6 * 7))")
    page.click("#send")
    sent = page.wait_for_selector("#events [data-type='command-sent']")
    assert sent is not None and '"accepted": true' in sent.inner_text()
    outputs = page.locator("#events [data-type='output']")
    # The output itself: the terminal's echo of the command line says "$((6 * 7))".
    wait_until(lambda: any("sse-42" in text for text in outputs.all_inner_texts()), 5)
    assert page.locator("#events [data-type='connected']").count() == 1
    page.wait_for_selector("#events [data-type='prompt']:has-text('echo sse-')")
    page.click("#disconnect")
    page.wait_for_selector("#events [data-type='disconnected']")
    wait_until(lambda: dock.stream_count(session["id"]) == 0, 5, "the stream is released")
    page.click("#clear")
    assert page.locator("#events .event").count() == 0


def test_the_page_knows_every_control_event_the_backend_sends(dock: Dock, page: Page) -> None:
    """A control event the backend adds is one the page must handle (or skip) knowingly."""
    from backend.protocol.events import CONTROL_EVENTS

    page.goto(dock.server.url + "/")
    page.wait_for_selector("#app", state="visible")
    known = page.evaluate("SessionEventStream.CONTROL_EVENTS")
    assert sorted(known) == sorted(CONTROL_EVENTS)


def test_each_tab_holds_one_stream_and_closing_it_releases_it(dock: Dock, workdir: Path) -> None:
    project = dock.project(str(workdir))
    session = dock.session(project["id"])
    # Chromium opens at most 6 HTTP/1.1 connections per host within one profile, shared by all
    # its tabs: ten tabs of one context would leave four streams (and the pages' own requests)
    # waiting. A browser context is a profile of its own, with its own connections, so ten
    # contexts with one tab each stand for ten people watching the same session.
    pages = [dock.new_page() for _ in range(10)]
    for page in pages:  # all ten load at once
        page.goto(f"{dock.server.url}/#/p/{project['id']}/s/{session['id']}", wait_until="commit")
    for page in pages:
        # Ten pages starting at once (xterm.js and a WebGL context each, rendered in software
        # here) share two cores: CI once saw one take more than the usual 10 s.
        wait_for_stream(page, "connected", timeout=40_000)
    wait_until(lambda: dock.stream_count(session["id"]) == 10, 5, "ten streams")
    for page in pages[:4]:
        page.close()
    wait_until(lambda: dock.stream_count(session["id"]) == 6, 5, "six streams")
    for page in pages[4:]:
        page.close()
    wait_until(lambda: dock.stream_count(session["id"]) == 0, 5, "no stream")


class _AppBackend:
    """The desktop app's backend as the app runs it (``BackendSupervisor``), on a thread with
    an event loop of its own, since the browser tests are synchronous."""

    def __init__(self, data_dir: Path) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.supervisor = BackendSupervisor(data_dir, backoff_initial=0.2, backoff_max=1.0)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(30)

    def close(self) -> None:
        self.run(self.supervisor.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def test_a_tab_on_the_desktops_backend_recovers_when_the_app_restarts_it(
    browser: Browser, tmp_path: Path, workdir: Path
) -> None:
    backend = _AppBackend(tmp_path / "data")
    try:
        first = backend.run(backend.supervisor.start())
        served = Server(tmp_path / "data", token=first.token, ready={"url": first.url})
        with served.client() as client:
            dock = Dock(browser, served, client)
            try:
                page = dock.new_page()
                session_id = ticking(dock, workdir, page)
                os.kill(first.pid, signal.SIGKILL)
                wait_for_stream(page, "reconnecting")
                # Nobody touches the page: the app restarts its backend, on the same port.
                wait_for_stream(page, "connected", timeout=20_000)
                again = backend.supervisor.ready
                assert again is not None and again.pid != first.pid and again.url == first.url
                assert_it_ran_on(dock, page, session_id)
                # And the page goes on with the new backend: its list shows a new session (the
                # page's own refresh), which opens live.
                project = dock.project(str(workdir))
                fresh = dock.session(project["id"], "echo after-the-restart; sleep 30")
                page.click(f"#sessions [data-id='{fresh['id']}']")
                wait_for_line(page, "after-the-restart")
            finally:
                dock.close()
        assert dock.page_errors == [], dock.page_errors
    finally:
        backend.close()
