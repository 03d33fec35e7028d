"""Interrupt, Stop and Continue in the desktop app, scenario by scenario: the table of
tests/session_scenarios.py, which the web page runs too (tests/web/test_session_actions_page.py).
The real window, its own backend child with the fake `claude`, offscreen."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QPushButton
from pytestqt.qtbot import QtBot

from desktop.app import DesktopApp
from desktop.session_actions import status_label
from desktop.supervisor import backend_command
from desktop.ui.panels import INTERRUPT_MODIFIER
from tests.claude import FAKE_CLAUDE
from tests.desktop.ui.test_main_window import open_project, running_app, wait_until
from tests.session_scenarios import (
    SCENARIOS,
    SERVER_OPTIONS,
    SHELL_ENV,
    Scenario,
    check,
    met,
    store_imported,
)


@pytest.fixture
async def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[DesktopApp]:
    for name, value in SHELL_ENV.items():
        monkeypatch.setenv(name, value)  # the backend child's environment
    options = [
        *SERVER_OPTIONS,
        "--claude-path",
        str(FAKE_CLAUDE),
        "--claude-home",
        str(tmp_path / "claude-home"),
    ]
    command = backend_command(tmp_path / "data", options)
    async with running_app(tmp_path / "data", command=command) as desktop:
        yield desktop


class WindowRun:
    """One scenario's steps, done in the window as a user does them."""

    def __init__(self, app: DesktopApp, qtbot: QtBot, tmp_path: Path) -> None:
        self.app = app
        self.window = app.window
        self.qtbot = qtbot
        self.tmp_path = tmp_path
        self.workdir = tmp_path / "proj"
        self.original = ""
        self.errors: list[str] = []
        self.window.error_shown.connect(self.errors.append)
        panel = self.window.sessions
        self.buttons = {
            "interrupt": panel.interrupt_button,
            "stop": panel.stop_button,
            "continue": panel.continue_button,
        }

    async def history(self, session_id: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        after = 0
        while True:
            page = await self.window.api.history(session_id, after=after, limit=10_000)
            events += page["events"]
            after = page["nextAfter"]
            if not page["hasMore"]:
                return events

    async def step(self, verb: str, argument: Any) -> None:
        window, qtbot = self.window, self.qtbot
        if verb == "start":
            await self.start(str(argument))
        elif verb == "type":
            await wait_until(window.prompt.isEnabled)
            qtbot.keyClicks(window.prompt, str(argument))
            qtbot.keyClick(window.prompt, Qt.Key.Key_Return)
        elif verb == "ctrl-c":
            qtbot.keyClick(window.prompt, Qt.Key.Key_C, INTERRUPT_MODIFIER)
        elif verb == "click":
            button = self.buttons[argument]
            await wait_until(button.isEnabled)
            qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        elif verb == "answer":
            await self.answer(*argument)
        elif verb == "wait":
            async with asyncio.timeout(15):
                while not await self.met(str(argument)):
                    await asyncio.sleep(0.05)
        elif verb == "pause":
            await asyncio.sleep(float(argument))
        else:
            raise AssertionError(f"unknown step {verb}")

    async def answer(self, button: str, question: str) -> None:
        actions = self.window.session_actions
        await wait_until(lambda: actions.current is not None)
        box = actions.current
        assert box is not None and box.isVisible()
        assert box.text() == question
        cancel = box.button(QMessageBox.StandardButton.Cancel)
        assert box.defaultButton() is cancel and box.escapeButton() is cancel
        [stop] = [b for b in box.buttons() if b.text() == "Stop"]
        clicked = cancel if button == "Cancel" else stop
        assert isinstance(clicked, QPushButton)
        self.qtbot.mouseClick(clicked, Qt.MouseButton.LeftButton)
        await wait_until(lambda: actions.current is None)

    async def met(self, condition: str) -> bool:
        shown = self.window.current_session
        if shown is None:
            return False
        return met(condition, await self.window.api.get_session(shown), await self.history(shown))

    async def start(self, what: str) -> None:
        window = self.window
        if what == "imported":
            store_imported(self.tmp_path / "claude-home", self.workdir)
        await open_project(self.app, self.workdir)
        panel = window.sessions
        if what == "shell":
            self.qtbot.mouseClick(panel.shell_button, Qt.MouseButton.LeftButton)
        elif what == "claude":
            self.qtbot.mouseClick(panel.agent_button, Qt.MouseButton.LeftButton)
        elif what == "imported":

            def imported() -> str | None:
                rows = [s for s in panel.rows() if panel.row_text(s)[1] == "imported"]
                return rows[0] if rows else None

            await wait_until(imported)
            panel.select(str(imported()))
        else:
            panel.command_line.setText(what.removeprefix("command:"))
            self.qtbot.mouseClick(panel.command_button, Qt.MouseButton.LeftButton)
        await window.settle()
        await wait_until(lambda: window.current_session is not None)
        self.original = str(window.current_session)

    async def finish(self, scenario: Scenario) -> None:
        window = self.window
        shown = window.current_session
        assert shown is not None
        original = await window.api.get_session(self.original)
        check(scenario.original, original, await self.history(self.original))
        expected = scenario.original
        if scenario.continued is not None:
            assert shown != self.original
            expected = scenario.continued
            continued = await window.api.get_session(shown)
            assert continued["kind"] == "claude"
            check(expected, continued, await self.history(shown))
            await wait_until(
                lambda: (
                    window.sessions.row_text(self.original)[1].split(" · ")[0]
                    == status_label(original)
                )
            )
        else:
            assert shown == self.original
        label = status_label(await window.api.get_session(shown))
        assert label in expected.labels
        await wait_until(lambda: window.session_status.text() == label, timeout=5)
        await wait_until(lambda: self.enabled() == scenario.buttons, timeout=5)
        assert window.session_actions.current is None
        await window.settle()
        assert self.errors == []

    def enabled(self) -> frozenset[str]:
        return frozenset(action for action, b in self.buttons.items() if b.isEnabled())


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name.replace(" ", "-"))
async def test_session_actions(
    app: DesktopApp, qtbot: QtBot, tmp_path: Path, scenario: Scenario
) -> None:
    run = WindowRun(app, qtbot, tmp_path)
    for verb, argument in scenario.steps:
        await run.step(verb, argument)
    await run.finish(scenario)
