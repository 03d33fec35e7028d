"""Interactive Claude sessions in the real window: permission cards answered with the keyboard
and the mouse, questions, plans, the mode switcher, interrupt, streamed text, what needs you
(the list, the title) and notifications on a real session bus, against a real backend child
running the fake ``claude``."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from desktop.agent import PROMPT_MARK
from desktop.app import DesktopApp
from desktop.supervisor import backend_command
from desktop.ui.approval_card import ApprovalCard
from tests.claude import FAKE_CLAUDE, FIXTURES, fake_answers
from tests.desktop.ui.test_main_window import open_project, running_app, shown_text, wait_until

FAKE_NOTIFICATIONS = FIXTURES / "fake_notifications"


@pytest.fixture
def fake_log(tmp_path: Path) -> Path:
    return tmp_path / "fake-claude.log"


@pytest.fixture
async def app(
    tmp_path: Path, fake_log: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[DesktopApp]:
    (tmp_path / "proj").mkdir()
    monkeypatch.setenv("FAKE_CLAUDE_LOG", str(fake_log))  # the backend child passes it on
    monkeypatch.setenv("FAKE_CLAUDE_DELTA_SECONDS", "0.03")
    options = ["--claude-path", str(FAKE_CLAUDE), "--claude-home", str(tmp_path / "home")]
    command = backend_command(tmp_path / "data", options)
    async with running_app(tmp_path / "data", command=command) as desktop:
        yield desktop


async def claude_session(app: DesktopApp, tmp_path: Path) -> str:
    window = app.window
    await open_project(app, tmp_path / "proj")
    session_id = await window.new_agent_session()
    await window.settle()
    await wait_until(window.prompt.isEnabled)
    return session_id


def send(qtbot: QtBot, app: DesktopApp, text: str) -> None:
    qtbot.keyClicks(app.window.prompt, text)
    qtbot.keyClick(app.window.prompt, Qt.Key.Key_Return)


async def card(app: DesktopApp, count: int = 1) -> ApprovalCard:
    """The first open card, once ``count`` are shown."""
    pane = app.window.approvals
    await wait_until(lambda: len(pane.cards) >= count and pane.isVisible())
    first = pane.first()
    assert first is not None
    return first


async def test_a_command_is_allowed_with_the_keyboard(
    app: DesktopApp, tmp_path: Path, qtbot: QtBot, fake_log: Path
) -> None:
    window = app.window
    session_id = await claude_session(app, tmp_path)
    send(qtbot, app, "ask to clean")
    shown = await card(app)
    assert shown.about.title == "Claude wants to run a command"
    await wait_until(shown.hasFocus)  # it took the keys: the prompt was empty
    # The list says so, and the title counts it.
    await wait_until(lambda: window.sessions.row_text(session_id)[1].startswith("needs you"))
    await wait_until(lambda: window.windowTitle().startswith("(1) "))
    assert "? Claude wants to run a command" in shown_text(app)
    assert "  $ rm -rf build" in shown_text(app)
    qtbot.keyClick(shown, Qt.Key.Key_Y)
    await wait_until(lambda: "  ↳ Allowed" in shown_text(app))
    await wait_until(lambda: "Done asking about: ask to clean" in shown_text(app))
    assert not window.approvals.isVisible()
    assert fake_answers(fake_log)[0]["response"]["behavior"] == "allow"
    await wait_until(lambda: not window.windowTitle().startswith("("))
    await wait_until(lambda: window.sessions.row_text(session_id)[1].startswith("idle"))


async def test_a_deny_carries_its_message(
    app: DesktopApp, tmp_path: Path, qtbot: QtBot, fake_log: Path
) -> None:
    await claude_session(app, tmp_path)
    send(qtbot, app, "ask to clean")
    shown = await card(app)
    assert shown.message is not None
    qtbot.mouseClick(shown.message, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(shown.message, "Keep the build folder")
    qtbot.keyClick(shown.message, Qt.Key.Key_Return)
    await wait_until(lambda: "  ↳ Denied: Keep the build folder" in shown_text(app))
    assert fake_answers(fake_log)[0]["response"]["message"] == "Keep the build folder"


async def test_two_questions_are_answered(
    app: DesktopApp, tmp_path: Path, qtbot: QtBot, fake_log: Path
) -> None:
    await claude_session(app, tmp_path)
    send(qtbot, app, "question time")
    shown = await card(app)
    assert shown.about.title == "Claude has questions for you"
    (database, _), (features, other) = shown.choices
    # A radio button or a check box takes a click on its box or its words, not beyond them.
    for button in (database[1], features[0], features[2]):  # PostgreSQL; Search, Sync
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton, pos=QPoint(6, button.height() // 2))
    qtbot.mouseClick(other, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(other, "Undo")
    qtbot.mouseClick(shown.primary, Qt.MouseButton.LeftButton)
    await wait_until(lambda: "Thanks, going with your answers." in shown_text(app))
    assert fake_answers(fake_log)[0]["response"]["updatedInput"]["answers"] == {
        "Which database should I use?": "PostgreSQL",
        "Which features do you want?": "Search, Sync, Undo",
    }


async def test_the_mode_switches_and_an_approved_plan_accepts_edits(
    app: DesktopApp, tmp_path: Path, qtbot: QtBot
) -> None:
    window = app.window
    session_id = await claude_session(app, tmp_path)
    combo = window.agent_mode
    await wait_until(combo.isVisible)
    assert combo.currentData() == "default"
    combo.setFocus()
    for _ in range(2):  # Ask before edits → Accept edits → Plan
        qtbot.keyClick(combo, Qt.Key.Key_Down)
    await window.settle()
    agent = lambda: app.window.sessions.session(session_id)  # noqa: E731
    await wait_until(lambda: window._modes.get(session_id) == "plan")
    send(qtbot, app, "plan the flag")
    shown = await card(app)
    assert shown.about.title == "Claude's plan"
    qtbot.mouseClick(shown.primary, Qt.MouseButton.LeftButton)  # Approve
    await wait_until(lambda: "mode: accept edits" in shown_text(app))
    await wait_until(lambda: combo.currentData() == "acceptEdits")
    assert agent() is not None


async def test_interrupt_withdraws_the_open_cards(
    app: DesktopApp, tmp_path: Path, qtbot: QtBot
) -> None:
    window = app.window
    await claude_session(app, tmp_path)
    send(qtbot, app, "parallel work")
    await card(app, 2)
    await wait_until(window.sessions.interrupt_button.isEnabled)
    qtbot.mouseClick(window.sessions.interrupt_button, Qt.MouseButton.LeftButton)
    await wait_until(lambda: shown_text(app).count("↳ Withdrawn by Claude") == 2)
    await wait_until(lambda: not window.approvals.isVisible())
    # The turn's end comes after the withdrawals (its own event, maybe its own commit).
    await wait_until(lambda: "turn interrupted" in shown_text(app))


async def test_text_streams_in_and_lands_once(
    app: DesktopApp, tmp_path: Path, qtbot: QtBot
) -> None:
    await claude_session(app, tmp_path)
    document = app.window.output.current
    assert document is not None
    streamed: list[str] = []
    original = document.stream_delta

    def keep(message_id: str, text: str) -> None:
        original(message_id, text)
        streamed.append(document.document.toPlainText())

    document.stream_delta = keep  # type: ignore[method-assign]
    send(qtbot, app, "tell me a story")
    final = "You said: tell me a story. This is turn 1 of our conversation."
    await wait_until(lambda: "turn: $" in shown_text(app))
    assert streamed and any("You said: tell" in text and final not in text for text in streamed)
    assert shown_text(app).count(final) == 1
    assert document.streaming_text is None


@pytest.fixture
def session_bus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A session bus of the test's own, with a notification service on it; the log of the
    notifications it got."""
    daemon = shutil.which("dbus-daemon")
    if daemon is None:
        pytest.skip("dbus-daemon is not installed (scripts/test.sh installs it)")
    started = subprocess.run(
        [daemon, "--session", "--fork", "--print-address=1", "--print-pid=1"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    address, pid = started.stdout.split()
    env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": address, "QT_QPA_PLATFORM": "offscreen"}
    log = tmp_path / "notifications.log"
    server = subprocess.Popen(
        [sys.executable, str(FAKE_NOTIFICATIONS), str(log)],
        env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
        yield log
    finally:
        server.terminate()
        server.wait(5)
        if server.stdout is not None:
            server.stdout.close()
        os.kill(int(pid), signal.SIGTERM)


def notifications(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


async def test_a_notification_on_the_session_bus_when_you_look_elsewhere(
    session_bus: Path, app: DesktopApp, tmp_path: Path, qtbot: QtBot
) -> None:
    window = app.window
    asker = await claude_session(app, tmp_path)
    shown = await window.new_agent_session()  # on screen from now on
    await window.settle()
    assert window.current_session == shown
    await window.api.send_prompt(asker, "ask to clean")
    await wait_until(lambda: notifications(session_bus), timeout=15)
    (told,) = notifications(session_bus)
    assert (told["app"], told["summary"]) == ("SessionDock", "Claude wants to use Bash")
    assert told["body"] == "Claude" and told["actions"] == ["default", "Open"]
    await wait_until(lambda: window.notifier.sent)  # the service's answer is in
    assert window.notifier.sent[-1][2] == "dbus"
    # Its click (the service's ActionInvoked signal) shows that session, its card open.
    subprocess.run(
        ["dbus-send", "--session", "--type=signal", "/org/freedesktop/Notifications",
         "org.freedesktop.Notifications.ActionInvoked", f"uint32:{told['id']}", "string:default"],
        check=True, env=os.environ,
    )  # fmt: skip
    await wait_until(lambda: window.current_session == asker)
    opened = await card(app)
    window.activateWindow()
    await wait_until(window.isActiveWindow)
    qtbot.keyClick(opened, Qt.Key.Key_Y)  # looking at it: its turn's end is no news
    await wait_until(lambda: "Done asking about: ask to clean" in shown_text(app))
    await wait_until(lambda: window.sessions.row_text(asker)[1].startswith("idle"))
    await window.refresh_sessions()
    await window.settle()
    assert len(notifications(session_bus)) == 1
    # The session on screen, but the window not focused (another one is): told.
    elsewhere = QWidget()
    qtbot.addWidget(elsewhere)
    elsewhere.show()
    elsewhere.activateWindow()
    await wait_until(lambda: not window.isActiveWindow())
    await window.api.send_prompt(asker, "ask to clean again")
    await wait_until(lambda: len(notifications(session_bus)) == 2, timeout=15)
    assert notifications(session_bus)[1]["summary"] == "Claude wants to use Bash"
    # Turned off in the settings, it says nothing more.
    window.settings.set_notifications(False)
    await window.api.send_prompt(shown, "ask again")
    await wait_until(lambda: window.sessions.row_text(shown)[1].startswith("needs you"), 15)
    await window.refresh_sessions()
    await window.settle()
    assert len(notifications(session_bus)) == 2


async def test_slash_commands_complete_in_the_prompt(
    app: DesktopApp, tmp_path: Path, qtbot: QtBot
) -> None:
    window = app.window
    session_id = await claude_session(app, tmp_path)
    send(qtbot, app, "hello")
    await wait_until(lambda: "turn: $" in shown_text(app))
    await window.refresh_sessions()  # the list brings agent.commands
    await wait_until(lambda: window.prompt.commands.rowCount() == 3)
    assert window.sessions.session(session_id) is not None
    window.prompt.setFocus()
    qtbot.keyClicks(window.prompt, "/rev")
    completer = window.prompt.completer()
    await wait_until(lambda: completer.popup().isVisible())
    assert completer.currentCompletion() == "/review"
    shown = completer.popup().model().index(0, 0).data()
    assert shown == "/review [path] — Review the changes on this branch (project)"
    # Down picks the completion, Enter takes it and sends it, as Claude Code's own prompt does.
    qtbot.keyClick(completer.popup(), Qt.Key.Key_Down)
    qtbot.keyClick(completer.popup(), Qt.Key.Key_Return)
    await wait_until(lambda: f"{PROMPT_MARK}/review" in shown_text(app))
