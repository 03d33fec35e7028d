"""The real window against a server that streams chosen events and lists chosen sessions: what
the window makes of names, of a replay and of live news, and what it keeps in memory."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QLabel, QSystemTrayIcon
from pytestqt.qtbot import QtBot

from desktop.api import ApiClient
from desktop.app import StartupErrorDialog
from desktop.session_actions import trimmed_notice
from desktop.supervisor import BackendStartError
from desktop.ui.main_window import KEEP_DOCUMENTS, MainWindow
from desktop.ui.panels import ProjectsPanel
from tests.agent_events import SESSION, TOTALS, conversation
from tests.desktop.ui.test_agent_view import (
    Stored,
    agent_session,
    folded_chars,
    serving,
    wait_until,
)

AGENT_ID = "7f0c1d2e-0000-4000-8000-000000000001"
# An imported session is named after its first prompt: anything a user may type.
NAME = 'look at <img src="local.png"> & <b>this</b>'


@contextlib.asynccontextmanager
async def window_at(
    url: str, qtbot: QtBot, token: str = "token", **options: Any
) -> AsyncIterator[MainWindow]:
    """A shown main window on the backend at ``url``, shut down cleanly at the end."""
    api = ApiClient(url, token)
    window = MainWindow(api, token=token, **options)
    qtbot.addWidget(window)
    window.show()
    try:
        yield window
    finally:
        await window.shutdown()
        await api.aclose()


@contextlib.asynccontextmanager
async def served_window(qtbot: QtBot, events: Stored, **serve: Any) -> AsyncIterator[MainWindow]:
    """The window on project ``p1`` of a server with ``events`` (see ``serving``)."""
    async with serving(events, **serve) as url, window_at(url, qtbot) as window:
        await window.open_project("p1")
        yield window


def shown_as(rich_text: str) -> str:
    """What Qt shows of a tooltip (read as HTML, as Qt reads one that looks like HTML)."""
    document = QTextDocument()
    document.setHtml(rich_text)
    return document.toPlainText()


class RecordingTray(QSystemTrayIcon):
    """A tray icon that records its notifications: there is no system tray offscreen."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[tuple[str, str]] = []

    def showMessage(self, title: str, message: str, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        self.messages.append((title, message))


async def test_names_paths_and_messages_are_shown_as_text_not_html(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)  # the tray tells, then
    source = "/home/me/.claude/projects/<b>x</b>/7f0c.jsonl"
    imported = {**agent_session(SESSION, "imported", source=source, agentSessionId=AGENT_ID),
                "name": NAME, "workingDir": "/work/<i>app</i>"}  # fmt: skip
    running = {**agent_session("session-b", "running", state="working"), "name": NAME}
    sessions = [imported, running]
    async with served_window(qtbot, [], sessions=sessions) as window:
        tray = window.tray = RecordingTray()
        window.sessions.select(SESSION)
        await window.settle()
        window.set_backend_state("could not restart: <img src=x> failed")
        labels = {label.text(): label for label in window.findChildren(QLabel)}
        for text in (NAME, "— /work/<i>app</i>", "backend: could not restart: <img src=x> failed"):
            assert labels[text].textFormat() == Qt.TextFormat.PlainText, text
        item = window.sessions._item(SESSION)
        assert item is not None
        assert shown_as(item.toolTip(0)) == f"Claude Code conversation\nimported from {source}"
        # A notification: the name is its title (plain text), the body only our own words.
        running["agent"] = {**running["agent"], "state": "idle"}
        await window.refresh_sessions()
        await window.settle()
        assert tray.messages == [(NAME, "Claude finished its turn")]
    projects = ProjectsPanel()
    qtbot.addWidget(projects)
    projects.set_projects([{"id": "p1", "name": "app", "path": "/work/<img src=x>"}])
    assert shown_as(projects.list.item(0).toolTip()) == "/work/<img src=x>"
    dialog = StartupErrorDialog(BackendStartError("no data dir /work/<img src=x>"))
    qtbot.addWidget(dialog)
    assert dialog.message.textFormat() == Qt.TextFormat.PlainText


def ended_conversation() -> Stored:
    """A conversation that ended: long enough to be handed over in several pieces, the first
    of them ending while a turn works."""
    working = {"state": "working", "queued": 0, "agentSessionId": AGENT_ID}
    idle = {**working, "state": "idle"}
    long_answer = "\n".join(f"line {n}" for n in range(600))
    events: list[tuple[str, dict[str, Any]]] = [
        ("status", {"status": "running", "agent": idle}),
        ("prompt", {"command": "explain"}),
        ("status", {"status": "running", "agent": working}),
        ("output", {"type": "assistant", "content": long_answer}),
        ("status", {"status": "running", "agent": idle, "turn": {"costUsd": 0.0421},
                    "totals": TOTALS}),
        ("status", {"status": "exited", "exitCode": 0, "agent": idle}),
    ]  # fmt: skip
    return [(n, kind, {"sessionId": SESSION, **data}) for n, (kind, data) in enumerate(events, 1)]


async def test_a_replay_leaves_the_list_and_the_buttons_as_they_are(qtbot: QtBot) -> None:
    ended = {**agent_session(SESSION, "exited", agentSessionId=AGENT_ID, totals=TOTALS),
             "exitCode": 0}  # fmt: skip
    async with served_window(qtbot, ended_conversation(), sessions=[ended]) as window:

        def state() -> tuple[str, bool, bool, bool, bool]:
            panel = window.sessions
            row = panel.row_text(SESSION)[1]
            buttons = (panel.interrupt_button, panel.stop_button, panel.continue_button)
            return row, *(b.isEnabled() for b in buttons), window.prompt.isEnabled()

        window.sessions.select(SESSION)
        await window.settle()
        assert window.feed is not None
        seen: list[tuple[str, bool, str, bool]] = []
        # Connected after the window's own slot: it sees what each piece of the replay did.
        window.feed.agent_events_received.connect(lambda *_: seen.append(state()))
        await wait_until(lambda: "session exited" in window.output.text.toPlainText())
    assert len(seen) >= 2  # the replay came in pieces
    assert set(seen) == {("exited 0 · $0.04", False, False, True, True)}


async def test_live_news_updates_the_list_at_once(qtbot: QtBot) -> None:
    session = agent_session(SESSION, "running", agentSessionId=AGENT_ID)
    idle = {"state": "idle", "queued": 0, "agentSessionId": AGENT_ID}
    stored: Stored = [(1, "status", {"sessionId": SESSION, "status": "running", "agent": idle})]
    live: asyncio.Queue[tuple[int | None, str, dict[str, Any]]] = asyncio.Queue()
    async with served_window(qtbot, stored, sessions=[session], live=live) as window:
        window.sessions.select(SESSION)
        await window.settle()
        # The stream's `connected` came, and the list asked the (static) server once: the
        # live news comes after that answer.
        await wait_until(lambda: SESSION in window._replayed_through)
        await window.settle()
        working = {**idle, "state": "working", "queued": 1}
        live.put_nowait((2, "status", {"sessionId": SESSION, "status": "running",
                                       "agent": working}))  # fmt: skip
        await wait_until(lambda: window.sessions.row_text(SESSION)[1] == "working… · queued 1")
        assert window.sessions.interrupt_button.isEnabled()
        live.put_nowait((3, "status", {"sessionId": SESSION, "status": "running",
                                       "agent": idle, "totals": TOTALS}))  # fmt: skip
        await wait_until(lambda: window.sessions.row_text(SESSION)[1] == "idle · $0.04")
        assert not window.sessions.interrupt_button.isEnabled()
        assert window.sessions.stop_button.isEnabled()


def command_session(session_id: str) -> dict[str, Any]:
    return {
        "id": session_id, "projectId": "p1", "name": "sleep 300", "kind": "command",
        "argv": ["/bin/sh", "-c", "sleep 300"], "workingDir": "/work/app", "tty": False,
        "status": "running", "exitCode": None, "signal": None, "createdAt": 1795723060000,
        "endedAt": None, "lastEventId": 1, "pid": 4242, "agent": None, "foreground": None,
    }  # fmt: skip


@pytest.mark.parametrize("kind", ["claude", "command"])
async def test_an_ending_on_screen_is_labelled_with_its_signal_at_once(
    qtbot: QtBot, kind: str
) -> None:
    """The label comes from the status event itself, not from the next look at the list: the
    list (which still says "running") is asked only after the event was shown."""
    idle = {"state": "idle", "queued": 0, "agentSessionId": AGENT_ID}
    if kind == "claude":
        session = agent_session(SESSION, "running", agentSessionId=AGENT_ID)
        started: dict[str, Any] = {"status": "running", "agent": idle}
    else:
        session = command_session(SESSION)
        started = {"status": "running"}
    stored: Stored = [(1, "status", {"sessionId": SESSION, **started})]
    live: asyncio.Queue[tuple[int | None, str, dict[str, Any]]] = asyncio.Queue()
    async with served_window(qtbot, stored, sessions=[session], live=live) as window:
        window._refresh_timer.stop()
        window.sessions.select(SESSION)
        await window.settle()
        await wait_until(lambda: SESSION in window._replayed_through)
        await window.settle()
        assert window.session_status.text() == "running"
        assert window.feed is not None
        feed = window.feed
        arrived = feed.agent_events_received if kind == "claude" else feed.event_received
        seen: list[tuple[str, str]] = []
        # Connected after the window's own slot: what it showed as the event arrived.
        arrived.connect(
            lambda *_: seen.append(
                (window.session_status.text(), window.sessions.row_text(SESSION)[1])
            )
        )
        ended = {"status": "stopped", "exitCode": -9, "signal": "SIGKILL"}
        if kind == "claude":
            ended["agent"] = idle
        live.put_nowait((2, "status", {"sessionId": SESSION, **ended}))
        await wait_until(lambda: seen)
    assert seen[0] == ("stopped SIGKILL", "stopped SIGKILL")


async def test_a_conversation_that_cannot_be_continued_says_it_is_not_running(
    qtbot: QtBot,
) -> None:
    stopped = agent_session(SESSION, "stopped")  # ended before Claude Code named it
    async with served_window(qtbot, [], sessions=[stopped]) as window:
        assert window.prompt.placeholderText() == "Pick a session"
        window.sessions.select(SESSION)
        await window.settle()
        assert not window.prompt.isEnabled()
        assert window.prompt.placeholderText() == "The session is not running"
        assert not window.sessions.continue_button.isEnabled()


async def test_a_conversation_says_its_older_history_was_trimmed(qtbot: QtBot) -> None:
    session = agent_session(SESSION, "running", agentSessionId=AGENT_ID)
    idle = {"state": "idle", "queued": 0, "agentSessionId": AGENT_ID}
    stored: Stored = [(5, "status", {"sessionId": SESSION, "status": "running", "agent": idle})]
    live: asyncio.Queue[tuple[int | None, str, dict[str, Any]]] = asyncio.Queue()
    async with served_window(qtbot, stored, sessions=[session], live=live) as window:
        window.sessions.select(SESSION)
        await window.settle()
        await wait_until(lambda: SESSION in window._replayed_through)
        trimmed = {"sessionId": SESSION, "requestedAfter": 0, "firstAvailableId": 5}
        live.put_nowait((None, "history-trimmed", trimmed))  # a control event: no id
        notice = trimmed_notice(5)
        await wait_until(lambda: notice in window.output.text.toPlainText())
    assert notice == "… older output was trimmed; history resumes at event 5"


async def test_a_continuation_under_way_holds_only_its_own_prompt(qtbot: QtBot) -> None:
    """While a session that continues one conversation is being made, another conversation can
    be continued and another session typed into; the text that could not go out comes back only
    to the conversation it was for."""
    imported = agent_session("session-imported", "imported", agentSessionId=AGENT_ID)
    ended = agent_session("session-ended", "stopped", agentSessionId=AGENT_ID)
    command = {**command_session("session-command"), "createdAt": 1795723060001}
    release = asyncio.Event()
    asked: list[dict[str, Any]] = []

    async def create(request: web.Request) -> web.Response:
        asked.append(await request.json())
        await release.wait()  # held, as a slow backend would
        return web.json_response({"error": "no room for a session", "code": "busy"}, status=503)

    serve: dict[str, Any] = {"sessions": [imported, ended, command]}
    serve["routes"] = [("POST", "/api/sessions", create)]
    async with served_window(qtbot, [], **serve) as window:
        errors: list[str] = []
        window.error_shown.connect(errors.append)
        panel, prompt = window.sessions, window.prompt
        panel.select("session-imported")
        await window.settle()
        qtbot.keyClicks(prompt, "go on")
        qtbot.keyClick(prompt, Qt.Key.Key_Return)
        await wait_until(lambda: asked)
        assert asked == [{"kind": "claude", "resume": "session-imported"}]
        assert not prompt.isEnabled() and not panel.continue_button.isEnabled()
        # (Not settle(): the continuation is one of the window's tasks, and it is held.)
        panel.select("session-ended")  # another conversation: Continue and the prompt are its own
        await wait_until(lambda: window.current_session == "session-ended")
        assert panel.continue_button.isEnabled() and prompt.isEnabled()
        panel.select("session-command")
        await wait_until(lambda: window.current_session == "session-command")
        assert prompt.isEnabled()
        assert not release.is_set() and len(asked) == 1
        release.set()
        await wait_until(lambda: errors)
        await window.settle()
        assert prompt.text() == ""  # "go on" was not for this session
        panel.select("session-imported")
        await window.settle()
        assert prompt.isEnabled() and panel.continue_button.isEnabled()
        assert prompt.text() == "go on"


async def test_a_document_the_window_drops_frees_its_diffs(qtbot: QtBot) -> None:
    ids = [f"session-{n:04}" for n in range(KEEP_DOCUMENTS + 1)]
    sessions = [agent_session(session_id, "exited") for session_id in ids]
    async with served_window(qtbot, conversation(), sessions=sessions) as window:
        for session_id in ids:
            window.sessions.select(session_id)
            await window.settle()
            await wait_until(lambda: "malformed" in window.output.text.toPlainText())
        assert window.document(ids[0]) is None
        assert window.output.diffs.chars == KEEP_DOCUMENTS * folded_chars(conversation())
