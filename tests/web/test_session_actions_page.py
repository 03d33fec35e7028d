"""Interrupt, Stop and Continue in the page, scenario by scenario: the table of
tests/session_scenarios.py, which the desktop app runs too (tests/desktop/ui/
test_session_actions_window.py). A real backend with the fake `claude`, a real Chromium.

In the page a shell or a command is a terminal: what the table types into the prompt line is
typed into the terminal, and Ctrl-C is pressed there. Those keys go to /input, which stores no
``prompt`` event (the desktop app's prompt line does): the outcome is read without them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from desktop.session_actions import status_label
from tests.claude import FAKE_CLAUDE
from tests.server import Server, running_server
from tests.session_scenarios import (
    SCENARIOS,
    SERVER_OPTIONS,
    SHELL_ENV,
    Outcome,
    Scenario,
    check,
    met,
    store_imported,
)
from tests.web.helpers import Dock, wait_for_stream, wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Page

BUTTONS = {
    "interrupt": "#interrupt-session",
    "stop": "#stop-session",
    "continue": "#continue-session",
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    args = ["--heartbeat-interval", "1", "--claude-path", str(FAKE_CLAUDE), *SERVER_OPTIONS]
    with running_server(tmp_path / "data", *args, env=SHELL_ENV) as srv:
        yield srv


class PageRun:
    """One scenario's steps, done in the page as a user does them."""

    def __init__(self, dock: Dock, page: Page, workdir: Path) -> None:
        self.dock = dock
        self.page = page
        self.workdir = workdir
        self.original = ""

    def shown(self) -> str | None:
        address = str(self.page.evaluate("location.hash"))
        return address.rsplit("/s/", 1)[1] if "/s/" in address else None

    def session(self, session_id: str) -> dict[str, Any]:
        response = self.dock.client.get(f"/api/session/{session_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def terminal(self) -> bool:
        return bool(self.page.evaluate("Boolean(sessionDock.currentView()?.terminal)"))

    def step(self, verb: str, argument: Any) -> None:
        page = self.page
        if verb == "start":
            self.start(str(argument))
        elif verb == "type" and self.terminal():
            page.locator("#output-host .xterm").click()
            page.keyboard.type(str(argument))
            page.keyboard.press("Enter")
        elif verb == "type":
            page.wait_for_selector("#prompt:enabled")
            page.fill("#prompt", str(argument))
            page.press("#prompt", "Enter")
        elif verb == "ctrl-c" and self.terminal():
            page.keyboard.press("Control+c")
        elif verb == "ctrl-c":
            page.press("#prompt", "Control+c")
        elif verb == "click":
            page.click(f"{BUTTONS[argument]}:enabled")
        elif verb == "answer":
            button, question = argument
            page.wait_for_selector("#confirm[open]")
            assert page.inner_text("#confirm-text") == question
            assert page.evaluate("document.activeElement.id") == "confirm-cancel"  # the default
            page.click("#confirm-yes" if button == "Stop" else "#confirm-cancel")
            page.wait_for_selector("#confirm", state="hidden")
        elif verb == "wait":
            wait_until(lambda: self.met(str(argument)), 15, argument)
        elif verb == "pause":
            page.wait_for_timeout(float(argument) * 1000)
        else:
            raise AssertionError(f"unknown step {verb}")

    def met(self, condition: str) -> bool:
        shown = self.shown()
        if shown is None:
            return False
        return met(condition, self.session(shown), self.dock.history(shown))

    def start(self, what: str) -> None:
        page = self.page
        if what == "imported":
            store_imported(self.dock.server.claude_home, self.workdir)
        project = self.dock.project(str(self.workdir))
        self.dock.open(page, project["id"])
        if what == "shell":
            page.click("#new-shell")
        elif what == "claude":
            page.click("#new-claude")
        elif what == "imported":
            page.click("#sessions .item:has(.badge.imported)")
        else:
            page.fill("#command", what.removeprefix("command:"))
            page.press("#command", "Enter")
        self.original = wait_until(self.shown, 10, "a session on screen")
        wait_for_stream(page, "connected")

    def buttons(self) -> frozenset[str]:
        return frozenset(a for a, selector in BUTTONS.items() if self.page.is_enabled(selector))

    def finish(self, scenario: Scenario) -> None:
        page = self.page
        shown = self.shown()
        assert shown is not None
        original = self.session(self.original)
        check(typed_keys(scenario.original, original), original, self.dock.history(self.original))
        expected = scenario.original
        if scenario.continued is not None:
            assert shown != self.original
            expected = scenario.continued
            continued = self.session(shown)
            assert continued["kind"] == "claude"
            check(expected, continued, self.dock.history(shown))
            row = page.locator(f"#sessions [data-id='{self.original}'] .badge")
            wait_until(lambda: row.inner_text() == status_label(original), 5, "the list's label")
        else:
            assert shown == self.original
        label = status_label(self.session(shown))
        assert label in expected.labels
        wait_until(lambda: page.inner_text("#session-badge") == label, 5, "the shown label")
        wait_until(lambda: self.buttons() == scenario.buttons, 5, "the buttons offered")
        assert page.is_hidden("#confirm")


def typed_keys(outcome: Outcome, session: dict[str, Any]) -> Outcome:
    """The outcome of a terminal session whose lines were typed as keys: no ``prompt`` events."""
    if session["kind"] not in ("shell", "command") or not session.get("tty"):
        return outcome
    return replace(outcome, events=[event for event in outcome.events if event != "prompt"])


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name.replace(" ", "-"))
def test_session_actions(dock: Dock, page: Page, workdir: Path, scenario: Scenario) -> None:
    run = PageRun(dock, page, workdir)
    for verb, argument in scenario.steps:
        run.step(verb, argument)
    run.finish(scenario)
