"""Search (Ctrl+K) and Export… in the real window, against a real backend child: the dialog's
results follow the words typed, grouped by project and session; a hit opens its session at its
event with the words selected; a session saves as each format."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from desktop.app import DesktopApp
from desktop.supervisor import backend_command
from desktop.ui.search_dialog import HIT_ROLE
from tests.claude import FAKE_CLAUDE
from tests.desktop.ui.test_main_window import open_project, running_app, wait_until


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[DesktopApp]:
    options = ["--claude-path", str(FAKE_CLAUDE), "--claude-home", str(tmp_path / "home")]
    async with running_app(
        tmp_path / "data", command=backend_command(tmp_path / "data", options)
    ) as desktop:
        yield desktop


async def hits_for(app: DesktopApp, q: str, count: int = 1) -> list[dict[str, Any]]:
    """The backend's hits for ``q`` once it has ``count`` (the index follows the store)."""
    async with asyncio.timeout(10):
        while len(found := (await app.window.api.search(q))["hits"]) < count:
            await asyncio.sleep(0.05)
    return list(found)


def shown_hits(app: DesktopApp) -> list[tuple[str, str, dict[str, Any]]]:
    """The dialog's hits: (project, session, hit), in the order shown."""
    tree = app.window.search_dialog.results
    shown = []
    for p in range(tree.topLevelItemCount()):
        project = tree.topLevelItem(p)
        assert project is not None
        for s in range(project.childCount()):
            session = project.child(s)
            assert session is not None
            for h in range(session.childCount()):
                item = session.child(h)
                assert item is not None
                shown.append((project.text(0), session.text(0), item.data(0, HIT_ROLE)))
    return shown


async def test_a_conversation_hit_opens_at_its_event_with_the_words_selected(
    app: DesktopApp, tmp_path: Path, qtbot: QtBot
) -> None:
    window = app.window
    project_id = await open_project(app, tmp_path / "proj")
    session_id = await window.new_agent_session()
    for text in ("first question about pelicans", "tools please", "then about zebras"):
        await window.api.send_prompt(session_id, text)
    await hits_for(app, "zebras", 2)
    shell = await window.new_session("echo 'a pelican in the shell'", tty=False)
    await hits_for(app, "pelican", 3)
    # Ctrl+K, the words, the results by project and session.
    qtbot.keyClick(window, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    dialog = window.search_dialog
    await wait_until(dialog.isVisible)
    qtbot.keyClicks(dialog.field, '"about pelicans"')
    await wait_until(lambda: len(shown_hits(app)) == 2)
    project_name = window.projects.names()[project_id]
    session_name = (window.sessions.session(session_id) or {})["name"]
    shown = shown_hits(app)
    assert {(p, s, hit["sessionId"]) for p, s, hit in shown} == {
        (project_name, session_name, session_id)
    }
    answer = shown[0][2]
    assert answer["snippet"].startswith("You said: first question about pelicans")
    # Enter opens the one marked (the first); the arrows move the mark.
    qtbot.keyClick(dialog.field, Qt.Key.Key_Down)
    qtbot.keyClick(dialog.field, Qt.Key.Key_Up)
    qtbot.keyClick(dialog.field, Qt.Key.Key_Return)
    await wait_until(lambda: not dialog.isVisible())
    await wait_until(lambda: window.output.text.textCursor().selectedText() != "")
    assert window.current_session == session_id
    cursor = window.output.text.textCursor()
    assert cursor.selectedText().lower() == "about pelicans"
    block = cursor.block()
    assert "first question about pelicans" in block.text()
    # The answer's rows, not the prompt's (which holds the words too): the hit's event.
    assert "You said" in block.text()
    # A shell session's hit: its lines, the words selected.
    qtbot.keyClick(window, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    dialog.field.clear()
    qtbot.keyClicks(dialog.field, "in the shell")
    await wait_until(lambda: len(shown_hits(app)) == 1)
    assert shown_hits(app)[0][2]["sessionId"] == shell
    qtbot.keyClick(dialog.field, Qt.Key.Key_Return)
    await wait_until(lambda: window.current_session == shell)
    await wait_until(lambda: window.output.text.textCursor().selectedText() == "in the shell")
    # Nothing to look up: said in the dialog, nothing listed.
    window.open_search()
    dialog.field.clear()
    qtbot.keyClicks(dialog.field, "ab")
    await wait_until(lambda: "three characters in a row" in dialog.status.text())
    assert shown_hits(app) == []
    dialog.hide()
    QApplication.processEvents()


async def test_ctrl_k_is_the_apps_even_in_a_terminal(
    app: DesktopApp, tmp_path: Path, qtbot: QtBot
) -> None:
    window = app.window
    await open_project(app, tmp_path / "proj")
    await window.new_session("echo 'terminal words here'; sleep 30")
    await hits_for(app, "terminal words")
    await wait_until(lambda: window.views.currentWidget() is window.terminal_pane)
    window.terminal.setFocus()
    await wait_until(window.terminal.hasFocus)
    qtbot.keyClick(window.terminal, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    await wait_until(window.search_dialog.isVisible)
    qtbot.keyClicks(window.search_dialog.field, "words here")
    await wait_until(lambda: len(shown_hits(app)) == 1)
    qtbot.keyClick(window.search_dialog.field, Qt.Key.Key_Return)
    bar = window.terminal_pane.find_bar
    await wait_until(lambda: bar.isVisible() and bar.status.text() == "1 of 1")
    assert bar.field.text() == "words here"  # the words as typed, found as they are


async def test_a_session_is_exported_as_each_format(app: DesktopApp, tmp_path: Path) -> None:
    window = app.window
    await open_project(app, tmp_path / "proj")
    session_id = await window.new_session("printf 'exported line\\n'", tty=False)
    await wait_until(lambda: (window.sessions.session(session_id) or {}).get("status") == "exited")
    for fmt in ("cast", "md", "txt", "jsonl"):
        target = tmp_path / f"out.{fmt}"
        written = await window.export_session(session_id, fmt, target)
        assert written == target.stat().st_size > 0
        text = target.read_text()
        assert "exported line" in text, fmt
        assert not (tmp_path / f"out.{fmt}.part").exists()
    header = json.loads((tmp_path / "out.cast").read_text().splitlines()[0])
    assert header["version"] == 2
