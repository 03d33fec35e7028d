"""The real window against a real backend child: what a user does, checked on screen."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import shiboken6
from PySide6.QtCore import QObject, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from desktop.ansi import palette_rgb
from desktop.app import DesktopApp
from desktop.session_actions import quit_question as quit_text
from desktop.supervisor import BackendSupervisor
from desktop.ui.actions import QUIT_COUNT_TIMEOUT
from desktop.ui.panels import INTERRUPT_MODIFIER

FAST_RESTART = {"backoff_initial": 0.2, "backoff_max": 1.0}


async def wait_until(predicate: Callable[[], object], timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running_app(data_dir: Path, **supervisor_options: Any) -> AsyncIterator[DesktopApp]:
    """The app with its backend up; at the end it shuts down and its window is deleted.

    Not qtbot.addWidget(): pytest-qt closes and deletes its widgets before fixtures are torn
    down, and the app's own shutdown still needs the window's parts."""
    desktop = DesktopApp(data_dir, supervisor_options={**FAST_RESTART, **supervisor_options})
    run = asyncio.ensure_future(desktop.run())
    await wait_until(lambda: "running" in desktop.window.backend_label.text() or run.done())
    await desktop.window.settle()
    yield desktop
    desktop.quit()  # no question, whatever the test left running
    assert await asyncio.wait_for(run, 10) == 0
    shiboken6.delete(desktop.window)  # now, not whenever the garbage collector gets to it


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[DesktopApp]:
    async with running_app(tmp_path / "data") as desktop:
        yield desktop


def backend_pid(app: DesktopApp) -> int:
    assert app.supervisor is not None and app.supervisor.ready is not None
    return app.supervisor.ready.pid


def shown_text(app: DesktopApp) -> str:
    """What the session on screen shows: a terminal's scrollback and screen, or the lines of a
    session on pipes (or an agent's)."""
    window = app.window
    if window.views.currentWidget() is window.terminal_pane:
        screen = window.terminal.session_screen
        return screen.contents() if screen is not None else ""
    return window.output.text.toPlainText()


async def open_project(app: DesktopApp, folder: Path) -> str:
    folder.mkdir(exist_ok=True)
    project_id = await app.window.add_project(str(folder))
    await app.window.settle()
    assert app.window.current_project == project_id
    return project_id


async def test_type_into_a_shell_on_pipes_and_see_the_answer(
    app: DesktopApp, tmp_path: Path, qtbot: QtBot
) -> None:
    """A shell on pipes has the line box (a terminal session has a terminal: see
    test_terminal_widget.py)."""
    window = app.window
    await open_project(app, tmp_path / "proj")
    await window.new_session(tty=False)
    await window.settle()
    await wait_until(lambda: window.prompt.isEnabled())
    assert window.prompt.isVisible() and window.views.currentWidget() is window.output
    assert window.current_session is not None
    qtbot.keyClicks(window.prompt, "echo hel''lo")  # the echo of the typed line says hel''lo
    qtbot.keyClick(window.prompt, Qt.Key.Key_Return)
    await wait_until(lambda: "\nhello" in shown_text(app))
    assert window.prompt.text() == ""
    # Up brings the line back.
    qtbot.keyClick(window.prompt, Qt.Key.Key_Up)
    assert window.prompt.text() == "echo hel''lo"
    assert window.stream_label.text() == "stream: connected"


async def test_colors_render_as_colors(app: DesktopApp, tmp_path: Path) -> None:
    window = app.window
    await open_project(app, tmp_path / "proj")
    script = r"printf 'plain \033[31mred\033[0m \033[1;38;2;10;200;30mgreen\033[0m\n'"
    await window.new_session(command=script, tty=False)  # lines (a terminal's: elsewhere)
    await window.settle()
    await wait_until(lambda: "plain red green" in shown_text(app))
    document = window.output.text.document()

    def color_at(word: str) -> tuple[int, int, int]:
        cursor = document.find(word)
        assert not cursor.isNull()
        cursor.setPosition(cursor.selectionStart() + 1)
        color = cursor.charFormat().foreground().color()
        return color.red(), color.green(), color.blue()

    assert color_at("red") == palette_rgb(1)
    assert color_at("green") == (10, 200, 30)
    cursor = document.find("green")
    cursor.setPosition(cursor.selectionStart() + 1)
    assert cursor.charFormat().fontWeight() > 400  # bold
    assert "\x1b" not in shown_text(app)


async def test_progress_bar_redraws_in_place(app: DesktopApp, tmp_path: Path) -> None:
    await open_project(app, tmp_path / "proj")
    script = r"for p in 10 50 100; do printf '\r[%3d%%]' $p; sleep 0.05; done; printf ' done\n'"
    await app.window.new_session(command=script)
    await app.window.settle()
    await wait_until(lambda: "done" in shown_text(app))
    assert "[100%] done" in shown_text(app)
    assert "[ 10%]" not in shown_text(app) and "[ 50%]" not in shown_text(app)


async def test_resume_after_the_backend_dies(app: DesktopApp, tmp_path: Path) -> None:
    window = app.window
    await open_project(app, tmp_path / "proj")
    ticker = "i=0; while [ $i -lt 400 ]; do i=$((i+1)); echo tick-$i; sleep 0.01; done"
    session_id = await window.new_session(command=ticker)
    await window.settle()
    await wait_until(lambda: "tick-50\n" in shown_text(app))
    first_pid = backend_pid(app)
    os.kill(first_pid, signal.SIGKILL)
    # The supervisor restarts it; the session ran on in the session host meanwhile, and the
    # stream comes back and runs to the session's end.
    await wait_until(lambda: app.supervisor is not None and app.supervisor.ready is not None
                     and app.supervisor.ready.pid != first_pid, timeout=20)  # fmt: skip
    await window.settle()
    await wait_until(
        lambda: (window.sessions.session(session_id) or {}).get("status") == "exited", timeout=20
    )
    history = []
    after = 0
    while True:
        page = await window.api.history(session_id, after=after, limit=10_000)
        history.extend(page["events"])
        after = page["nextAfter"]
        if not page["hasMore"]:
            break
    stored = "".join(e["data"]["content"] for e in history if e["type"] == "output")
    await wait_until(lambda: stored.replace("\r\n", "\n").strip() in shown_text(app))
    lines = [line for line in shown_text(app).splitlines() if line.startswith("tick-")]
    assert lines == [f"tick-{i}" for i in range(1, 401)]  # all of them, no gap, none twice


async def test_each_project_shows_only_its_own_sessions(app: DesktopApp, tmp_path: Path) -> None:
    window = app.window
    first = await open_project(app, tmp_path / "first")
    a = await window.new_session(command="echo a")
    second = await open_project(app, tmp_path / "second")
    b = await window.new_session(command="echo b")
    c = await window.new_session(command="echo c")
    await window.settle()
    assert sorted(window.sessions.rows()) == sorted([b, c])
    window.projects.select(first)
    await window.settle()
    assert window.sessions.rows() == [a]
    window.projects.select(second)
    await window.settle()
    assert sorted(window.sessions.rows()) == sorted([b, c])
    await wait_until(lambda: window.sessions.row_text(b)[1] == "exited 0")


async def test_switching_back_resumes_instead_of_reloading(app: DesktopApp, tmp_path: Path) -> None:
    window = app.window
    await open_project(app, tmp_path / "proj")
    talker = await window.new_session(
        command="for i in 1 2 3; do echo one-$i; done; sleep 2; echo later"
    )
    await window.settle()
    await wait_until(lambda: "one-3" in shown_text(app))
    kept = window.terminal_screen(talker)
    other = await window.new_session(command="echo other")
    await window.settle()
    await wait_until(lambda: "other" in shown_text(app))
    window.sessions.select(talker)
    await window.settle()
    assert window.terminal_screen(talker) is kept  # the same screen, not a reload
    await wait_until(lambda: "later" in shown_text(app))
    assert shown_text(app).count("one-1") == 1
    assert window.feed is not None and window.feed.session_id == talker
    assert other != talker


async def test_a_session_ending_off_screen_gets_a_badge(app: DesktopApp, tmp_path: Path) -> None:
    window = app.window
    await open_project(app, tmp_path / "proj")
    background = await window.new_session(command="sleep 1; exit 3")
    await window.new_session(command="sleep 30")  # now on screen
    await window.settle()
    await wait_until(lambda: window.sessions.has_badge(background), timeout=10)
    assert window.sessions.row_text(background)[1] == "failed 3"
    assert window.sessions.row_text(background)[0].startswith("●")
    window.sessions.select(background)
    await window.settle()
    assert not window.sessions.has_badge(background)


def gone(pid: int) -> bool:
    return not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


async def quit_question(app: DesktopApp) -> QMessageBox:
    actions = app.window.session_actions
    await wait_until(lambda: actions.current is not None and actions.current.isVisible())
    assert actions.current is not None
    return actions.current


async def test_quitting_while_sessions_run_asks_first(tmp_path: Path, qtbot: QtBot) -> None:
    desktop = DesktopApp(tmp_path / "data")
    qtbot.addWidget(desktop.window)
    run = asyncio.ensure_future(desktop.run())
    await wait_until(lambda: "running" in desktop.window.backend_label.text())
    pid = backend_pid(desktop)
    window = desktop.window
    await open_project(desktop, tmp_path / "proj")
    session_id = await window.new_session(command="sleep 300")
    await window.new_session()  # a shell
    await window.new_session(command="true")  # ended: nothing to stop
    session = await window.api.get_session(session_id)

    closed: list[bool] = []
    window.closed.connect(lambda: closed.append(True))
    window.close()
    box = await quit_question(desktop)
    assert box.text() == quit_text(2)
    assert [b.text() for b in box.buttons()] == ["Stop and quit", "Keep running", "Cancel"]
    cancel = box.button(QMessageBox.StandardButton.Cancel)
    assert box.defaultButton() is cancel and box.escapeButton() is cancel
    qtbot.mouseClick(cancel, Qt.MouseButton.LeftButton)
    # The question's task is done once the answer was acted on: a Quit would have closed the
    # window by then.
    await wait_until(lambda: window.session_actions.current is None)
    await window.settle()
    assert closed == [] and window.isVisible() and not run.done()
    assert (await window.api.get_session(session_id))["status"] == "running"

    window.close()  # asked again, and this time the answer is Stop and quit
    box = await quit_question(desktop)
    [quit_button] = [b for b in box.buttons() if b.text() == "Stop and quit"]
    qtbot.mouseClick(quit_button, Qt.MouseButton.LeftButton)
    assert await asyncio.wait_for(run, 10) == 0
    assert gone(pid) and gone(session["pid"])


async def test_keep_running_on_quit_and_the_next_app_shows_the_session_live(
    tmp_path: Path, qtbot: QtBot
) -> None:
    desktop = DesktopApp(tmp_path / "data")
    qtbot.addWidget(desktop.window)
    run = asyncio.ensure_future(desktop.run())
    await wait_until(lambda: "running" in desktop.window.backend_label.text())
    pid = backend_pid(desktop)
    await open_project(desktop, tmp_path / "proj")
    ticker = "i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.1; done"
    session_id = await desktop.window.new_session(command=ticker, tty=False)
    desktop.window.close()
    box = await quit_question(desktop)
    assert box.text() == quit_text(1)
    [keep] = [b for b in box.buttons() if b.text() == "Keep running"]
    qtbot.mouseClick(keep, Qt.MouseButton.LeftButton)
    assert await asyncio.wait_for(run, 10) == 0
    try:
        await asyncio.sleep(0.5)  # the app's pipes are closed: the backend runs on
        assert not gone(pid)
        # The next app attaches to it (through server.json) and shows the session, live.
        second = DesktopApp(tmp_path / "data")
        qtbot.addWidget(second.window)
        run_second = asyncio.ensure_future(second.run())
        await wait_until(lambda: "attached" in second.window.backend_label.text())
        assert second.supervisor is None
        await open_project(second, tmp_path / "proj")
        await second.window.show_session(session_id)
        await second.window.settle()
        await wait_until(lambda: "tick-" in shown_text(second))
        shown = int(shown_text(second).split("tick-")[-1].split()[0])
        await wait_until(lambda: f"tick-{shown + 5}" in shown_text(second))  # still ticking
        assert (await second.window.api.get_session(session_id))["status"] == "running"
        second.window.close()  # attached: quitting stops nothing, asks nothing
        assert await asyncio.wait_for(run_second, 10) == 0
        assert not gone(pid)
    finally:
        os.kill(pid, signal.SIGTERM)  # as `sessiondock stop` does
        async with asyncio.timeout(10):
            while not gone(pid):
                await asyncio.sleep(0.05)
    assert "the app has gone; running on" in (tmp_path / "data" / "backend.log").read_text()


async def test_quitting_while_the_backend_does_not_answer_asks_nothing(
    tmp_path: Path, qtbot: QtBot
) -> None:
    """A backend that cannot say what runs (here: stopped with SIGSTOP) does not hold the quit
    up for longer than QUIT_COUNT_TIMEOUT, nor asks about sessions it cannot count."""
    desktop = DesktopApp(tmp_path / "data")
    qtbot.addWidget(desktop.window)
    run = asyncio.ensure_future(desktop.run())
    await wait_until(lambda: "running" in desktop.window.backend_label.text())
    pid = backend_pid(desktop)
    window = desktop.window
    await open_project(desktop, tmp_path / "proj")
    await window.new_session(command="sleep 300")  # a backend that answered would be asked about
    await window.settle()
    asked: list[QMessageBox] = []
    window.session_actions.question_asked.connect(asked.append)
    loop = asyncio.get_running_loop()
    closed: list[float] = []
    window.closed.connect(lambda: closed.append(loop.time()))
    os.kill(pid, signal.SIGSTOP)
    try:
        started = loop.time()
        window.close()
        await wait_until(lambda: closed, timeout=QUIT_COUNT_TIMEOUT + 5)  # not the 20 s limit
        assert closed[0] - started >= QUIT_COUNT_TIMEOUT - 0.1
        assert asked == [] and window.session_actions.current is None
    finally:
        os.kill(pid, signal.SIGCONT)  # and the quit stops it as usual
    assert await asyncio.wait_for(run, 10) == 0
    assert gone(pid)


async def test_quitting_with_nothing_running_asks_nothing(app: DesktopApp, tmp_path: Path) -> None:
    window = app.window
    await open_project(app, tmp_path / "proj")
    session_id = await window.new_session(command="sleep 300")
    await window.api.stop(session_id)
    while (await window.api.get_session(session_id))["status"] == "running":
        await asyncio.sleep(0.02)
    closed: list[bool] = []
    window.closed.connect(lambda: closed.append(True))
    window.close()
    await wait_until(lambda: closed)
    assert window.session_actions.current is None


async def test_startup_failure_shows_the_backend_words(tmp_path: Path, qtbot: QtBot) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    desktop = DesktopApp(blocker / "data")
    qtbot.addWidget(desktop.window)
    run = asyncio.ensure_future(desktop.run())
    await wait_until(lambda: desktop.error_dialog is not None and desktop.error_dialog.isVisible())
    dialog = desktop.error_dialog
    assert dialog is not None
    assert "data dir" in dialog.details.toPlainText()
    dialog.retry_button.click()  # same problem again: the dialog comes back
    await wait_until(
        lambda: desktop.error_dialog is not None and desktop.error_dialog is not dialog
    )
    assert desktop.error_dialog is not None
    desktop.error_dialog.quit_button.click()
    assert await asyncio.wait_for(run, 10) == 1
    assert isinstance(desktop.supervisor, BackendSupervisor)


async def test_attaches_to_a_backend_already_serving_the_data_dir(
    tmp_path: Path, qtbot: QtBot
) -> None:
    from tests.server import running_server

    with running_server(tmp_path / "data") as server:
        desktop = DesktopApp(tmp_path / "data")
        qtbot.addWidget(desktop.window)
        run = asyncio.ensure_future(desktop.run())
        await wait_until(lambda: "attached" in desktop.window.backend_label.text())
        await open_project(desktop, tmp_path / "proj")
        session_id = await desktop.window.new_session(command="echo from-the-shared-backend")
        await desktop.window.settle()
        await wait_until(lambda: "from-the-shared-backend" in shown_text(desktop))
        assert desktop.supervisor is None  # it started no backend of its own
        # Quitting stops nothing here, so it asks nothing, whatever runs.
        sleeper = await desktop.window.new_session(command="sleep 300")
        desktop.window.close()
        assert await asyncio.wait_for(run, 10) == 0
        assert desktop.window.session_actions.current is None
        with server.client() as client:  # the backend it attached to goes on
            assert client.get(f"/api/session/{session_id}").status_code == 200
            assert client.get(f"/api/session/{sleeper}").json()["status"] == "running"


async def test_find_and_save(app: DesktopApp, tmp_path: Path) -> None:
    window = app.window
    await open_project(app, tmp_path / "proj")
    await window.new_session(
        command="printf 'alpha\\nneedle one\\nbeta\\nneedle two\\n'", tty=False
    )
    await window.settle()
    await wait_until(lambda: "needle two" in shown_text(app))
    bar = window.output.find_bar
    bar.open_bar()
    bar.field.setText("needle")
    assert bar.find_text(backwards=False)
    first = window.output.text.textCursor().blockNumber()
    assert bar.find_text(backwards=False)
    second = window.output.text.textCursor().blockNumber()
    assert (first, second) == (1, 3)
    assert bar.find_text(backwards=False)  # wraps around
    assert window.output.text.textCursor().blockNumber() == 1
    bar.field.setText("nowhere")
    assert not bar.find_text(backwards=False)
    assert bar.status.text() == "not found"
    assert window.output.current is not None
    assert window.output.current.plain_text().splitlines()[:4] == [
        "alpha", "needle one", "beta", "needle two",
    ]  # fmt: skip


async def test_the_terminal_follows_the_view_size(app: DesktopApp, tmp_path: Path) -> None:
    window = app.window
    await open_project(app, tmp_path / "proj")
    session_id = await window.new_session()
    await window.settle()
    await wait_until(lambda: shown_text(app).strip())
    window.resize(900, 500)
    await asyncio.sleep(0.4)  # the resize is sent after a short pause
    await window.settle()
    cols, rows = window.terminal.cells()
    await window.api.send_prompt(session_id, "stty size")
    await wait_until(lambda: f"\n{rows} {cols}" in shown_text(app))
    window.resize(1300, 800)
    await asyncio.sleep(0.4)
    await window.settle()
    wider = window.terminal.cells()
    assert wider[0] > cols
    await window.api.send_prompt(session_id, "stty size")
    await wait_until(lambda: f"\n{wider[1]} {wider[0]}" in shown_text(app))


async def test_a_flood_is_drawn_in_pieces_and_skips_what_cannot_be_drawn(
    tmp_path: Path, qtbot: QtBot
) -> None:
    from desktop.settings import AppSettings

    AppSettings().set_scrollback(1000)
    desktop = DesktopApp(tmp_path / "data", supervisor_options=FAST_RESTART)
    qtbot.addWidget(desktop.window)
    run = asyncio.ensure_future(desktop.run())
    try:
        await wait_until(lambda: "running" in desktop.window.backend_label.text())
        window = desktop.window
        await open_project(desktop, tmp_path / "proj")
        await window.new_session(command="seq 1 300000", tty=False)  # lines, not a terminal
        await window.settle()
        try:
            await wait_until(lambda: "\n300000" in shown_text(desktop), timeout=30)
        except TimeoutError:
            raise AssertionError(shown_text(desktop)[-300:]) from None
        text = shown_text(desktop)
        assert "lines not shown here" in text  # said, not silently lost
        assert window.output.text.document().blockCount() <= 1001  # the scrollback holds
        # After the last skip, the newest output is shown whole and in order. (A line cut by a
        # skip shows as the fragment that was on screen, just before the notice.)
        tail = text.rsplit("lines not shown here", 1)[1].splitlines()[1:]
        numbers = [int(line) for line in tail if line]
        assert numbers == list(range(numbers[0], 300001))
    finally:
        desktop.window.close()
        assert await asyncio.wait_for(run, 10) == 0


async def test_an_ending_that_comes_as_replay_still_reaches_the_list(
    app: DesktopApp, tmp_path: Path
) -> None:
    """A session that ended while it was not on screen: its end arrives in the replay when it
    is shown again, and the list takes it without waiting for the periodic refresh."""
    window = app.window
    window._refresh_timer.timeout.disconnect()  # no periodic refresh in this test
    await open_project(app, tmp_path / "proj")
    waiting = await window.new_session(command="read x; echo got $x", name="waiting")
    await window.settle()
    await window.new_session(command="sleep 30", name="other")  # now on screen instead
    await window.settle()
    await window.api.send_prompt(waiting, "hi")
    await wait_until(lambda: window.sessions.row_text(waiting)[1] == "running")
    while (await window.api.get_session(waiting))["status"] == "running":
        await asyncio.sleep(0.02)
    window.sessions.select(waiting)
    await window.settle()
    await wait_until(lambda: window.sessions.row_text(waiting)[1] == "exited 0")
    assert not window.sessions.stop_button.isEnabled()
    await window.settle()


async def test_delete_asks_first(app: DesktopApp, tmp_path: Path, qtbot: QtBot) -> None:
    window = app.window
    await open_project(app, tmp_path / "proj")
    session_id = await window.new_session(command="sleep 300", name='the "long" job')
    await window.settle()
    actions = window.session_actions
    for answer in (QMessageBox.StandardButton.Cancel, "Delete"):
        qtbot.mouseClick(window.sessions.delete_button, Qt.MouseButton.LeftButton)
        await wait_until(lambda: actions.current is not None)
        box = actions.current
        assert box is not None
        assert box.text() == (
            'Delete the session "the "long" job" and its history? '
            "It is still running; it will be stopped."
        )
        cancel = box.button(QMessageBox.StandardButton.Cancel)
        assert box.defaultButton() is cancel
        [delete] = [b for b in box.buttons() if b.text() == "Delete"]
        qtbot.mouseClick(cancel if answer != "Delete" else delete, Qt.MouseButton.LeftButton)
        await window.settle()
        if answer != "Delete":
            assert (await window.api.get_session(session_id))["status"] == "running"
    assert session_id not in window.sessions.rows()
    assert session_id not in [s["id"] for s in await window.api.list_sessions()]


async def test_removing_a_project_asks_first(app: DesktopApp, tmp_path: Path, qtbot: QtBot) -> None:
    window = app.window
    project_id = await open_project(app, tmp_path / "proj")
    sleeper = await window.new_session(command="sleep 300")
    await window.new_session(command="true")
    await window.settle()
    actions = window.session_actions
    question = (
        'Remove the project "proj"? Its 2 sessions and their history will be deleted; 1 of them '
        "is still running and will be stopped. Its folder is left as it is."
    )
    for answer in ("Cancel", "Remove"):
        qtbot.mouseClick(window.projects.remove_button, Qt.MouseButton.LeftButton)
        await wait_until(lambda: actions.current is not None)
        box = actions.current
        assert box is not None
        assert box.text() == question
        cancel = box.button(QMessageBox.StandardButton.Cancel)
        assert box.defaultButton() is cancel and box.escapeButton() is cancel
        [remove] = [b for b in box.buttons() if b.text() == "Remove"]
        qtbot.mouseClick(cancel if answer == "Cancel" else remove, Qt.MouseButton.LeftButton)
        await window.settle()
        if answer == "Cancel":
            assert [p["id"] for p in await window.api.list_projects()] == [project_id]
            assert (await window.api.get_session(sleeper))["status"] == "running"
    assert await window.api.list_projects() == []
    assert window.projects.list.count() == 0
    assert window.current_project is None


async def test_ctrl_c_copies_a_selection_and_else_interrupts(
    app: DesktopApp, tmp_path: Path, qtbot: QtBot
) -> None:
    """In the line box (sessions on pipes, conversations); a terminal takes Ctrl-C itself
    (test_terminal_widget.py)."""
    window = app.window
    await open_project(app, tmp_path / "proj")
    # A program that says when SIGINT reaches it, and goes on.
    script = "trap 'echo got-SIGINT' INT; echo ready; while :; do sleep 0.05; done"
    session_id = await window.new_session(command=script, tty=False)
    await window.settle()
    await wait_until(lambda: "ready" in shown_text(app))
    interrupts: list[bool] = []
    window.prompt.interrupt_requested.connect(lambda: interrupts.append(True))
    clipboard = QApplication.clipboard()
    clipboard.clear()
    # With text selected, Ctrl-C is the field's own: it copies, and interrupts nothing.
    qtbot.keyClicks(window.prompt, "echo hi")
    window.prompt.selectAll()
    qtbot.keyClick(window.prompt, Qt.Key.Key_C, INTERRUPT_MODIFIER)
    assert clipboard.text() == "echo hi"
    assert window.prompt.text() == "echo hi"
    await window.settle()
    await asyncio.sleep(0.3)
    assert interrupts == [] and "got-SIGINT" not in shown_text(app)
    # With nothing selected, it interrupts the program.
    window.prompt.clear()
    qtbot.keyClick(window.prompt, Qt.Key.Key_C, INTERRUPT_MODIFIER)
    assert interrupts == [True]
    await wait_until(lambda: "got-SIGINT" in shown_text(app))
    assert (await window.api.get_session(session_id))["status"] == "running"


class _Browser(QObject):
    """Stands in for the desktop's browser: Qt hands it the URLs the app opens."""

    def __init__(self) -> None:
        super().__init__()
        self.opened: list[str] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.opened.append(url.toString())


def _signs_in(link: str, base: str) -> bool:
    with httpx.Client(follow_redirects=True, timeout=10) as browser:
        page = browser.get(link)
        return (
            page.status_code == 200
            and str(page.url) == f"{base}/"
            and (browser.get(f"{base}/api/projects").status_code == 200)
        )


async def test_open_in_browser_and_copy_link_sign_in_once_without_the_token(
    app: DesktopApp,
) -> None:
    window = app.window
    assert app.supervisor is not None and app.supervisor.ready is not None
    base, token = app.supervisor.ready.url, app.supervisor.ready.token
    assert f"running at {base}" in window.backend_label.text()  # where the backend listens
    browser = _Browser()
    QDesktopServices.setUrlHandler("http", browser, "open")
    try:
        action = next(a for a in window.menuBar().actions()[0].menu().actions()
                      if a.text() == "Open in browser")  # fmt: skip
        action.trigger()
        await window.settle()
    finally:
        QDesktopServices.unsetUrlHandler("http")
    assert len(browser.opened) == 1
    link = browser.opened[0]
    assert link.startswith(f"{base}/login/") and token not in link
    assert _signs_in(link, base)
    assert not _signs_in(link, base)  # once only

    await window.copy_browser_link()
    copied = QApplication.clipboard().text()
    assert copied.startswith(f"{base}/login/") and copied != link and token not in copied
    assert _signs_in(copied, base)
