"""Agent sessions in the real window, against a real backend child and the fake ``claude``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from desktop.agent import HIDE_DIFF, PROMPT_MARK, SHOW_DIFF
from desktop.app import DesktopApp
from desktop.supervisor import backend_command
from tests.claude import FAKE_CLAUDE, HISTORY_FIXTURES, history_file
from tests.desktop.ui.test_agent_view import link_block, link_point
from tests.desktop.ui.test_main_window import open_project, running_app, shown_text, wait_until

CONTINUE = "Continue this conversation… (Enter starts a new Claude session from here)"
SAMPLE_ID = "0b8f3c1e-7d2a-4c55-9e1b-3f6a2d9c8e71"  # the session id inside sample.jsonl


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[DesktopApp]:
    """The app, its backend running the fake claude, and one stored conversation of
    Claude Code in the project folder ``proj``."""
    home = tmp_path / "claude-home"
    project = tmp_path / "proj"
    project.mkdir()
    sample = (HISTORY_FIXTURES / "sample.jsonl").read_text().replace("{cwd}", str(project))
    history_file(home, project, SAMPLE_ID).write_text(sample)
    options = ["--claude-path", str(FAKE_CLAUDE), "--claude-home", str(home)]
    command = backend_command(tmp_path / "data", options)
    async with running_app(tmp_path / "data", command=command) as desktop:
        yield desktop


async def test_a_claude_session_shows_its_turn_its_tools_and_its_cost(
    app: DesktopApp, tmp_path: Path, qtbot: QtBot
) -> None:
    window = app.window
    await open_project(app, tmp_path / "proj")
    window.sessions.agent_button.click()
    await window.settle()
    session_id = window.current_session
    assert session_id is not None and window.sessions.row_text(session_id)[1] == "idle"
    await wait_until(window.prompt.isEnabled)
    assert window.prompt.placeholderText() == (
        "Message Claude and press Enter (while it works, prompts queue)"
    )
    qtbot.keyClicks(window.prompt, "tools fix the bug")
    qtbot.keyClick(window.prompt, Qt.Key.Key_Return)
    await wait_until(lambda: "turn: $0.04" in shown_text(app))
    lines = shown_text(app).splitlines()
    assert f"{PROMPT_MARK}tools fix the bug" in lines
    assert "I'll read the module first, then fix the off-by-one." in lines
    assert "● Read  app.py" in lines
    assert f"● Edit  app.py  +1 \N{MINUS SIGN}1  {SHOW_DIFF}" in lines
    assert f"● Write  NOTES.md  +3 \N{MINUS SIGN}0  {SHOW_DIFF}" in lines
    assert "● Bash  rm -f build/old.log" in lines
    assert "  ↳ Bash: cat: missing.txt: No such file or directory" in lines
    assert "turn: $0.04 · 476 tokens out · 12.3 s" in lines
    await wait_until(lambda: window.sessions.row_text(session_id)[1] == "idle · $0.04")
    # The edit's diff opens under it and closes again.
    document = window.output.current
    assert document is not None
    edit = link_block(document, "app.py")
    viewport = window.output.text.viewport()
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=link_point(window.output, edit))
    assert f"● Edit  app.py  +1 \N{MINUS SIGN}1  {HIDE_DIFF}" in shown_text(app)
    assert "      -    return sum(items[1:])\n      +    return sum(items)" in shown_text(app)
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=link_point(window.output, edit))
    assert "return sum(items)" not in shown_text(app)


async def test_prompts_sent_while_it_works_are_queued(
    app: DesktopApp, tmp_path: Path, qtbot: QtBot
) -> None:
    window = app.window
    await open_project(app, tmp_path / "proj")
    session_id = await window.new_agent_session()
    await window.settle()
    await wait_until(window.prompt.isEnabled)
    for prompt in ("wait one", "wait two", "wait three"):
        qtbot.keyClicks(window.prompt, prompt)
        qtbot.keyClick(window.prompt, Qt.Key.Key_Return)
    await window.settle()
    await wait_until(lambda: shown_text(app).count("turn: $") == 3)
    text = shown_text(app)
    assert f"{PROMPT_MARK}wait two  queued #1" in text
    assert text.index("wait one") < text.index("wait two") < text.index("wait three")
    assert window.sessions.row_text(session_id)[1].startswith("idle · $")


async def test_an_imported_conversation_is_shown_and_continued(
    app: DesktopApp, tmp_path: Path, qtbot: QtBot
) -> None:
    window = app.window
    await open_project(app, tmp_path / "proj")
    [imported] = [s for s in window.sessions.rows() if window.sessions.row_text(s)[1] == "imported"]
    window.sessions.select(imported)
    await window.settle()
    await wait_until(lambda: "Why does total() skip the first item?" in shown_text(app))
    assert window.prompt.isEnabled()
    assert window.prompt.placeholderText() == CONTINUE
    assert not window.sessions.stop_button.isEnabled()
    assert not window.sessions.interrupt_button.isEnabled()
    assert window.sessions.continue_button.isEnabled()
    qtbot.keyClicks(window.prompt, "go on")
    qtbot.keyClick(window.prompt, Qt.Key.Key_Return)
    await window.settle()
    continued = window.current_session
    assert continued is not None and continued != imported
    await wait_until(lambda: "This is turn 2 of our conversation." in shown_text(app))
    assert f"{PROMPT_MARK}go on" in shown_text(app)
    assert (window.sessions.session(continued) or {}).get("kind") == "claude"

    def states() -> list[str]:
        return sorted(window.sessions.row_text(s)[1].split(" ·")[0] for s in window.sessions.rows())

    await wait_until(lambda: states() == ["idle", "imported"])


async def test_stop_ends_an_idle_conversation_and_a_prompt_continues_it(
    app: DesktopApp, tmp_path: Path, qtbot: QtBot
) -> None:
    window = app.window
    await open_project(app, tmp_path / "proj")
    first = await window.new_agent_session()
    await window.settle()
    await window.api.send_prompt(first, "hello there")
    await wait_until(lambda: "This is turn 1 of our conversation." in shown_text(app))
    await wait_until(lambda: window.sessions.row_text(first)[1].startswith("idle · $"))
    assert not window.sessions.interrupt_button.isEnabled()  # no turn runs
    window.sessions.stop_button.click()
    await window.settle()
    await wait_until(lambda: window.sessions.row_text(first)[1].startswith("stopped · $"))
    assert window.session_status.text() == "stopped"
    assert window.sessions.continue_button.isEnabled()
    assert window.prompt.isEnabled()
    assert window.prompt.placeholderText() == CONTINUE
    qtbot.keyClicks(window.prompt, "and more")
    qtbot.keyClick(window.prompt, Qt.Key.Key_Return)
    await window.settle()
    assert window.current_session not in (None, first)
    await wait_until(lambda: "This is turn 2 of our conversation." in shown_text(app))


async def show_imported(app: DesktopApp, tmp_path: Path) -> str:
    window = app.window
    await open_project(app, tmp_path / "proj")
    [imported] = [s for s in window.sessions.rows() if window.sessions.row_text(s)[1] == "imported"]
    window.sessions.select(imported)
    await window.settle()
    await wait_until(lambda: "Why does total() skip the first item?" in shown_text(app))
    return imported


async def test_enter_twice_continues_an_imported_conversation_once(
    app: DesktopApp, tmp_path: Path, qtbot: QtBot
) -> None:
    window = app.window
    imported = await show_imported(app, tmp_path)
    qtbot.keyClicks(window.prompt, "go on")
    qtbot.keyClick(window.prompt, Qt.Key.Key_Return)
    assert not window.prompt.isEnabled()  # until the new session has the prompt
    qtbot.keyClicks(window.prompt, "go on")
    qtbot.keyClick(window.prompt, Qt.Key.Key_Return)
    await window.settle()
    continued = window.current_session
    assert continued not in (None, imported)
    assert sorted(window.sessions.rows()) == sorted([imported, continued])
    await wait_until(lambda: "This is turn 2 of our conversation." in shown_text(app))
    assert shown_text(app).count(f"{PROMPT_MARK}go on") == 1
    assert window.prompt.isEnabled()


async def test_a_prompt_that_could_not_continue_the_conversation_is_given_back(
    app: DesktopApp, tmp_path: Path, qtbot: QtBot
) -> None:
    window = app.window
    imported = await show_imported(app, tmp_path)
    window._refresh_timer.stop()  # the list keeps the session deleted behind its back
    await window.settle()
    await window.api.delete_session(imported)
    errors: list[str] = []
    window.error_shown.connect(errors.append)
    qtbot.keyClicks(window.prompt, "go on")
    qtbot.keyClick(window.prompt, Qt.Key.Key_Return)
    await window.settle()
    assert errors
    assert window.current_session == imported
    assert window.prompt.text() == "go on"
    assert window.prompt.isEnabled()


async def test_an_empty_line_is_no_prompt_for_claude(
    app: DesktopApp, tmp_path: Path, qtbot: QtBot
) -> None:
    window = app.window
    await open_project(app, tmp_path / "proj")
    await window.new_agent_session()
    await window.settle()
    await wait_until(window.prompt.isEnabled)
    errors: list[str] = []
    window.error_shown.connect(errors.append)
    qtbot.keyClick(window.prompt, Qt.Key.Key_Return)
    qtbot.keyClicks(window.prompt, "   ")
    qtbot.keyClick(window.prompt, Qt.Key.Key_Return)
    await window.settle()
    qtbot.keyClicks(window.prompt, "hello there")
    qtbot.keyClick(window.prompt, Qt.Key.Key_Return)
    await wait_until(lambda: "turn: $" in shown_text(app))
    text = shown_text(app)
    assert text.count(PROMPT_MARK) == 1 and f"{PROMPT_MARK}hello there" in text
    assert "This is turn 1 of our conversation." in text
    assert errors == []
