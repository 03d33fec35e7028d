"""The terminal widget in the real window, against a real backend child and real programs in a
PTY, driven with keyboard, wheel and input-method events only; what it shows is checked
against the backend's own screen (``GET /screen``)."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import (
    QAccessible,
    QClipboard,
    QColor,
    QInputMethodEvent,
    QMouseEvent,
    QPalette,
    QWheelEvent,
)
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from desktop.app import DesktopApp
from desktop.sse_client import Event
from desktop.terminal_screen import TerminalScreen
from desktop.ui.terminal_view import LIGHT_PALETTE, TerminalView
from tests.desktop.ui.test_main_window import app, open_project, wait_until
from vtengine.emulator import Emulator

__all__ = ["app"]  # the fixture

pytestmark = pytest.mark.slow


async def start_shell(app: DesktopApp, folder: Path) -> str:
    window = app.window
    await open_project(app, folder)
    window.sessions.shell_button.click()
    await window.settle()
    await wait_until(lambda: window.terminal.session_screen is not None)
    assert window.current_session is not None
    await wait_until(lambda: shown(app).strip())  # the shell's prompt
    return window.current_session


def shown(app: DesktopApp) -> str:
    screen = app.window.terminal.session_screen
    return screen.text() if screen is not None else ""


async def backend_screen(app: DesktopApp, session_id: str) -> str:
    return str((await app.window.api.screen(session_id))["content"])


async def same_as_backend(app: DesktopApp, session_id: str, timeout: float = 10.0) -> None:
    """The widget's screen settles on exactly the backend's (both follow the same stream)."""
    expected = await backend_screen(app, session_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while shown(app) != expected and loop.time() < deadline:
        await asyncio.sleep(0.05)
        expected = await backend_screen(app, session_id)
    assert shown(app) == expected


def foreground_is(app: DesktopApp, session_id: str, name: str) -> bool:
    """Whether the backend last reported ``name`` in the terminal's foreground (the list
    refreshes every two seconds)."""
    app.window._spawn(app.window.refresh_sessions())
    foreground = (app.window.sessions.session(session_id) or {}).get("foreground")
    return isinstance(foreground, dict) and foreground.get("name") == name


def turn_wheel(widget: QWidget, notches: int) -> None:
    """Notches of a mouse wheel over ``widget``: up when positive."""
    wheel = QWheelEvent(
        QPointF(10, 10), QPointF(10, 10), QPoint(0, 0), QPoint(0, 120 * notches),
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase, False,
    )  # fmt: skip
    QApplication.sendEvent(widget, wheel)


def type_line(qtbot: QtBot, widget: object, text: str) -> None:
    qtbot.keyClicks(widget, text)
    qtbot.keyClick(widget, Qt.Key.Key_Return)


async def test_a_shell_takes_keys_and_shows_the_answer(
    app: DesktopApp, tmp_path: Path, qtbot: QtBot
) -> None:
    session_id = await start_shell(app, tmp_path / "proj")
    window = app.window
    assert not window.prompt.isVisible()  # the terminal takes the keys itself
    assert window.terminal.hasFocus()
    type_line(qtbot, window.terminal, "echo hel''lo")
    await wait_until(lambda: "\nhello" in shown(app))
    await same_as_backend(app, session_id)


async def test_colors_and_styles_are_painted(app: DesktopApp, tmp_path: Path, qtbot: QtBot) -> None:
    session_id = await start_shell(app, tmp_path / "proj")
    terminal = app.window.terminal
    type_line(
        qtbot,
        terminal,
        r"printf 'plain \033[31mred\033[0m \033[1;38;2;10;200;30mgreen\033[0m "
        r"\033[48;5;21m  \033[0m|\033[7minv\033[0m\n'",
    )
    await wait_until(lambda: "\nplain red green   |inv" in shown(app))
    await same_as_backend(app, session_id)
    await wait_until(lambda: not terminal.frame_pending())
    screen = terminal.session_screen
    assert screen is not None
    y = shown(app).split("\n").index("plain red green   |inv")
    image = terminal.grab().toImage()
    palette = screen.render.colors().palette

    def pixels(x: int, cells: int) -> set[tuple[int, int, int]]:
        found = set()
        for px in range(x * terminal.cell_width, (x + cells) * terminal.cell_width):
            for py in range(y * terminal.cell_height, (y + 1) * terminal.cell_height):
                color = image.pixelColor(px, py)
                found.add((color.red(), color.green(), color.blue()))
        return found

    # "red": the glyphs in the theme's red (the desktop's palette is light here)
    red = LIGHT_PALETTE[1] if terminal.palette().base().color().lightness() > 128 else palette[1]
    assert red in pixels(6, 3)
    assert (10, 200, 30) in pixels(10, 5)  # "green": truecolor
    assert pixels(16, 2) == {palette[21]}  # two cells of 256-colour background, nothing else
    # Inverse: the default colours swapped, a block of the text colour with the glyphs cut out.
    text_color = terminal.palette().color(QPalette.ColorRole.Text)
    inverse = pixels(19, 3)
    assert (text_color.red(), text_color.green(), text_color.blue()) in inverse
    assert red not in pixels(0, 5) and (10, 200, 30) not in pixels(0, 5)


async def test_vim_edits_and_saves_a_file(app: DesktopApp, tmp_path: Path, qtbot: QtBot) -> None:
    if shutil.which("vim") is None:
        pytest.skip("vim is not installed (scripts/test.sh installs it as root)")
    session_id = await start_shell(app, tmp_path / "proj")
    terminal = app.window.terminal
    type_line(qtbot, terminal, "vim -u NONE notes.txt")
    await wait_until(lambda: "notes.txt" in shown(app) and "~" in shown(app))
    qtbot.keyClicks(terminal, "ifirst")
    qtbot.keyClick(terminal, Qt.Key.Key_Escape)
    qtbot.keyClick(terminal, Qt.Key.Key_O, Qt.KeyboardModifier.ShiftModifier)  # a line above
    qtbot.keyClicks(terminal, "zeroth")
    qtbot.keyClick(terminal, Qt.Key.Key_Escape)
    # Arrow keys, in vim's application cursor mode: down to "first", to its end, append.
    qtbot.keyClick(terminal, Qt.Key.Key_Down)
    qtbot.keyClick(terminal, Qt.Key.Key_End)
    qtbot.keyClicks(terminal, "a!")
    qtbot.keyClick(terminal, Qt.Key.Key_Escape)
    await wait_until(lambda: "first!" in shown(app))
    await same_as_backend(app, session_id)
    type_line(qtbot, terminal, ":wq")
    await wait_until(lambda: (tmp_path / "proj" / "notes.txt").exists())
    screen = app.window.terminal.session_screen
    assert screen is not None
    await wait_until(lambda: not screen.emulator.alt_screen)
    assert (tmp_path / "proj" / "notes.txt").read_text() == "zeroth\nfirst!\n"


async def test_ctrl_c_interrupts_the_program(app: DesktopApp, tmp_path: Path, qtbot: QtBot) -> None:
    session_id = await start_shell(app, tmp_path / "proj")
    window = app.window
    terminal = window.terminal
    type_line(qtbot, terminal, "sleep 100; echo sleep-ended-$?")
    await wait_until(
        lambda: (
            (window.sessions.session(session_id) or {}).get("foreground") is not None
            or "sleep 100" in shown(app)
        )
    )
    await window.settle()
    qtbot.keyClick(terminal, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    await wait_until(lambda: "^C" in shown(app))
    # Ctrl+C went to the program (not the window's copy or the session list): the shell is back.
    type_line(qtbot, terminal, "echo back-$((1+1))")
    await wait_until(lambda: "back-2" in shown(app))
    # The rest of the line did not run (what the screen shows of the command itself may wrap).
    assert not re.search(r"^sleep-ended-\d+$", shown(app), re.MULTILINE)


async def test_top_quits_on_q(app: DesktopApp, tmp_path: Path, qtbot: QtBot) -> None:
    if shutil.which("top") is None:
        pytest.skip("top is not installed (scripts/test.sh installs procps as root)")
    session_id = await start_shell(app, tmp_path / "proj")
    terminal = app.window.terminal
    type_line(qtbot, terminal, "top")
    await wait_until(lambda: "load average" in shown(app))
    qtbot.keyClick(terminal, Qt.Key.Key_Q)
    await wait_until(lambda: "load average" not in shown(app))
    type_line(qtbot, terminal, "echo top-ended")
    await wait_until(lambda: "\ntop-ended" in shown(app))
    await same_as_backend(app, session_id)


async def test_an_input_method_commit_is_typed(
    app: DesktopApp, tmp_path: Path, qtbot: QtBot
) -> None:
    session_id = await start_shell(app, tmp_path / "proj")
    terminal = app.window.terminal
    qtbot.keyClicks(terminal, "echo ")
    event = QInputMethodEvent()
    event.setCommitString("日本語")
    QApplication.sendEvent(terminal, event)
    qtbot.keyClick(terminal, Qt.Key.Key_Return)
    await wait_until(lambda: "\n日本語" in shown(app))
    await same_as_backend(app, session_id)


async def test_a_paste_into_cat_is_bracketed_when_asked(
    app: DesktopApp, tmp_path: Path, qtbot: QtBot
) -> None:
    session_id = await start_shell(app, tmp_path / "proj")
    terminal = app.window.terminal
    out = tmp_path / "pasted.bin"
    # cat -v shows the markers. The program asks for bracketed paste first, as editors do (and
    # only once it runs: keys typed ahead would meet the terminal settings of bash's prompt).
    type_line(qtbot, terminal, f"printf '\\033[?2004h'; cat -v > {out}")
    await wait_until(lambda: foreground_is(app, session_id, "cat"), timeout=15)
    screen = terminal.session_screen
    assert screen is not None and screen.emulator.modes.bracketed_paste
    QApplication.clipboard().setText("one\ntwo\nthree")
    qtbot.keyClick(
        terminal,
        Qt.Key.Key_V,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    qtbot.keyClick(terminal, Qt.Key.Key_Return)
    qtbot.keyClick(terminal, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    await wait_until(lambda: out.exists() and out.read_text().endswith("\n"))
    assert out.read_text() == "^[[200~one\ntwo\nthree^[[201~\n"


async def test_the_wheel_scrolls_the_scrollback(
    app: DesktopApp, tmp_path: Path, qtbot: QtBot
) -> None:
    await start_shell(app, tmp_path / "proj")
    terminal = app.window.terminal
    type_line(qtbot, terminal, "seq 1 300")
    await wait_until(lambda: "\n300\n" in shown(app))
    screen = terminal.session_screen
    assert screen is not None
    total, bottom, rows = screen.emulator.terminal.scrollbar()
    turn_wheel(terminal, 5)
    assert screen.emulator.terminal.scrollbar() == (total, bottom - 15, rows)
    # A key brings the screen back to the bottom.
    qtbot.keyClick(terminal, Qt.Key.Key_Space)
    assert screen.emulator.terminal.scrollbar() == (total, bottom, rows)


def cell_center(app: DesktopApp, x: int, y: int) -> QPoint:
    terminal = app.window.terminal
    return QPoint(x * terminal.cell_width + terminal.cell_width // 2,
                  y * terminal.cell_height + terminal.cell_height // 2)  # fmt: skip


def double_click(widget: QWidget, at: QPoint) -> None:
    """What a window system sends for a double click (QTest's sends the second half only)."""
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    start = 1_000_000 + int(asyncio.get_running_loop().time() * 1000)
    for offset, kind, buttons in (
        (0, QEvent.Type.MouseButtonPress, left),
        (40, QEvent.Type.MouseButtonRelease, none),
        (120, QEvent.Type.MouseButtonDblClick, left),
        (160, QEvent.Type.MouseButtonRelease, none),
    ):
        event = QMouseEvent(kind, QPointF(at), QPointF(widget.mapToGlobal(at)), left, buttons,
                            Qt.KeyboardModifier.NoModifier)  # fmt: skip
        event.setTimestamp(start + offset)
        QApplication.sendEvent(widget, event)


def row_of(app: DesktopApp, line: str) -> int:
    return shown(app).split("\n").index(line)


async def test_select_a_word_and_a_range_and_copy_them(
    app: DesktopApp, tmp_path: Path, qtbot: QtBot
) -> None:
    await start_shell(app, tmp_path / "proj")
    terminal = app.window.terminal
    type_line(qtbot, terminal, "echo alpha beta gamma")
    await wait_until(lambda: "\nalpha beta gamma" in shown(app))
    y = row_of(app, "alpha beta gamma")
    clipboard = QApplication.clipboard()
    clipboard.clear()
    # A double click selects the word; Ctrl+Shift+C copies it.
    double_click(terminal, cell_center(app, 7, y))
    both = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(terminal, Qt.Key.Key_C, both)
    assert clipboard.text() == "beta"
    clipboard.clear()
    app.window.copy()  # Edit > Copy: the terminal's selection, not the hidden line view's
    assert clipboard.text() == "beta"
    # A drag selects from cell to cell, and goes to the primary selection at once.
    qtbot.mousePress(terminal, Qt.MouseButton.LeftButton, pos=cell_center(app, 6, y))
    drag = QMouseEvent(
        QEvent.Type.MouseMove, QPointF(cell_center(app, 13, y)), QPointF(),
        Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
    )  # fmt: skip
    QApplication.sendEvent(terminal, drag)
    qtbot.mouseRelease(terminal, Qt.MouseButton.LeftButton, pos=cell_center(app, 13, y))
    if clipboard.supportsSelection():
        assert clipboard.text(QClipboard.Mode.Selection) == "beta ga"
    assert terminal.copy_selection() == "beta ga"
    # The selection is painted: the selected cells differ from the same text unselected.
    await wait_until(lambda: not terminal.frame_pending())
    image = terminal.grab().toImage()
    inside = image.pixelColor(cell_center(app, 8, y))
    outside = image.pixelColor(QPoint(cell_center(app, 20, y).x(), cell_center(app, 8, y).y()))
    assert inside != outside
    # A click clears it.
    qtbot.mouseClick(terminal, Qt.MouseButton.LeftButton, pos=cell_center(app, 2, y + 1))
    assert terminal.copy_selection() == ""


async def test_the_wheel_scrolls_less(app: DesktopApp, tmp_path: Path, qtbot: QtBot) -> None:
    if shutil.which("less") is None:
        pytest.skip("less is not installed (scripts/test.sh installs it as root)")
    session_id = await start_shell(app, tmp_path / "proj")
    terminal = app.window.terminal
    (tmp_path / "proj" / "long.txt").write_text("".join(f"row {n}\n" for n in range(1, 501)))
    type_line(qtbot, terminal, "less long.txt")
    await wait_until(lambda: "row 1\n" in shown(app) and "row 2\n" in shown(app))
    turn_wheel(terminal, -2)
    # Two notches down, three rows each: less moved six lines.
    await wait_until(lambda: shown(app).startswith("row 7\n"))
    await same_as_backend(app, session_id)
    qtbot.keyClick(terminal, Qt.Key.Key_Q)
    await wait_until(lambda: "row 7" not in shown(app))


async def test_a_program_that_asks_for_the_mouse_gets_clicks(
    app: DesktopApp, tmp_path: Path, qtbot: QtBot
) -> None:
    session_id = await start_shell(app, tmp_path / "proj")
    terminal = app.window.terminal
    out = tmp_path / "clicks.bin"
    type_line(qtbot, terminal, f"printf '\\033[?1000h\\033[?1006h'; cat -v > {out}")
    await wait_until(lambda: foreground_is(app, session_id, "cat"), timeout=15)
    qtbot.mouseClick(terminal, Qt.MouseButton.LeftButton, pos=cell_center(app, 4, 2))
    # Shift bypasses the program: that click selects, and sends nothing.
    qtbot.mouseClick(
        terminal, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier,
        cell_center(app, 9, 2),
    )  # fmt: skip
    qtbot.keyClick(terminal, Qt.Key.Key_Return)
    qtbot.keyClick(terminal, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    await wait_until(lambda: out.exists() and out.read_text().endswith("\n"))
    # SGR reports, 1-based: press and release of the left button at column 5, row 3.
    assert out.read_text() == "^[[<0;5;3M^[[<0;5;3m\n"


async def test_title_bell_and_zoom(app: DesktopApp, tmp_path: Path, qtbot: QtBot) -> None:
    await start_shell(app, tmp_path / "proj")
    window = app.window
    terminal = window.terminal
    bells: list[bool] = []
    terminal.bell.connect(lambda: bells.append(True))
    type_line(qtbot, terminal, "printf '\\033]2;build: step 3\\007'; printf 'ring\\007\\n'")
    await wait_until(lambda: window.windowTitle() == "build: step 3 — SessionDock")
    row = window.sessions.tree.currentItem()  # and the session's row in the list says it too
    assert row is not None and row.text(0).endswith(" — build: step 3")
    await wait_until(lambda: bells == [True])  # the title's BEL ends a sequence: not a bell
    # Ctrl+= and Ctrl+- are the window's, not the program's; kept in the settings.
    width, size = terminal.cell_width, window.settings.font().pointSize()
    qtbot.keyClick(terminal, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(terminal, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    assert window.settings.font().pointSize() == size + 2
    assert terminal.cell_width > width
    qtbot.keyClick(terminal, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    assert window.settings.font().pointSize() == size + 1
    qtbot.keyClick(terminal, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert window.settings.font().pointSize() == window.settings.default_font_size()
    # None of those keys reached the shell's command line.
    type_line(qtbot, terminal, "echo zoomed")
    await wait_until(lambda: "\nzoomed" in shown(app))
    assert "# echo zoomed" in shown(app) or "$ echo zoomed" in shown(app)


async def test_pasting_lines_into_a_program_without_bracketed_paste_asks_first(
    app: DesktopApp, tmp_path: Path, qtbot: QtBot
) -> None:
    session_id = await start_shell(app, tmp_path / "proj")
    window = app.window
    terminal = window.terminal
    out = tmp_path / "pasted.txt"
    type_line(qtbot, terminal, f"cat > {out}")
    await wait_until(lambda: foreground_is(app, session_id, "cat"), timeout=15)
    both = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    QApplication.clipboard().setText("first\nsecond\n")
    qtbot.keyClick(terminal, Qt.Key.Key_V, both)
    await wait_until(lambda: window.session_actions.current is not None)
    box = window.session_actions.current
    assert box is not None and "Paste 2 lines?" in box.text()
    box.button(QMessageBox.StandardButton.Cancel).click()  # nothing goes
    await wait_until(lambda: window.session_actions.current is None)
    QApplication.clipboard().setText("one line, no question")
    qtbot.keyClick(terminal, Qt.Key.Key_V, both)
    assert window.session_actions.current is None
    qtbot.keyClick(terminal, Qt.Key.Key_Return)
    QApplication.clipboard().setText("third\nfourth\n")
    qtbot.keyClick(terminal, Qt.Key.Key_V, both)
    await wait_until(lambda: window.session_actions.current is not None)
    box = window.session_actions.current
    assert box is not None
    next(b for b in box.buttons() if b.text() == "Paste").click()
    await wait_until(lambda: "fourth" in shown(app))
    qtbot.keyClick(terminal, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    await wait_until(lambda: out.exists() and out.read_text().endswith("fourth\n"))
    assert out.read_text() == "one line, no question\nthird\nfourth\n"


async def test_find_in_the_scrollback(app: DesktopApp, tmp_path: Path, qtbot: QtBot) -> None:
    await start_shell(app, tmp_path / "proj")
    window = app.window
    terminal = window.terminal
    type_line(qtbot, terminal, "for i in $(seq 1 200); do echo row-$i; done; echo needle-late")
    await wait_until(lambda: "\nneedle-late" in shown(app))
    qtbot.keyClick(terminal, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)  # the shell's
    bar = window.terminal_pane.find_bar
    assert not bar.isVisible()
    # Ctrl+Shift+F opens the bar; typing highlights every match.
    both = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(terminal, Qt.Key.Key_F, both)
    assert bar.isVisible() and bar.field.hasFocus()
    qtbot.keyClicks(bar.field, "row-1")
    assert bar.status.text() == "111 found"  # row-1, row-10…19, row-100…199
    # Enter goes to the newest match first, then older ones, scrolling the scrollback.
    screen = terminal.session_screen
    assert screen is not None
    qtbot.keyClick(bar.field, Qt.Key.Key_Return)
    assert bar.status.text() == "1 of 111"
    assert terminal.copy_selection() == "row-1"
    bottom = screen.emulator.terminal.scrollbar()[1]
    bar.field.setText("row-3")
    qtbot.keyClick(bar.field, Qt.Key.Key_Return)
    qtbot.keyClick(bar.field, Qt.Key.Key_Return)
    assert bar.status.text() == "2 of 11"  # row-3, row-30…39
    assert screen.emulator.terminal.scrollbar()[1] < bottom  # scrolled back to it
    # The visible matches are painted over the text.
    await wait_until(lambda: not terminal.frame_pending())
    highlighted = terminal.grab().toImage()
    terminal.highlight("")
    assert terminal.grab().toImage() != highlighted
    bar.field.setText("nowhere")
    qtbot.keyClick(bar.field, Qt.Key.Key_Return)
    assert bar.status.text() == "not found"
    qtbot.keyClick(bar.field, Qt.Key.Key_Escape)
    assert not bar.isVisible() and terminal.hasFocus()


async def test_picking_a_session_in_the_list_leaves_the_keys_there(
    app: DesktopApp, tmp_path: Path, qtbot: QtBot
) -> None:
    """A new session's terminal takes the keys; one picked in the list does not, so that the
    arrow keys keep moving in the list (the bundle's test drives the app that way)."""
    first = await start_shell(app, tmp_path / "proj")
    window = app.window
    assert window.terminal.hasFocus()
    second = await window.new_session(command="echo second; sleep 60")
    await window.settle()
    await wait_until(lambda: "second" in shown(app))
    window.sessions.tree.setFocus()
    window.sessions.select(first)
    await window.settle()
    await wait_until(lambda: window.current_session == first)
    assert window.sessions.tree.hasFocus() and not window.terminal.hasFocus()
    assert second != first


async def test_a_deep_history_comes_behind_the_first_frame(
    app: DesktopApp, tmp_path: Path, qtbot: QtBot
) -> None:
    """Switching to a session with more history than a first frame carries: it attaches with
    1,000 lines, then the rest replaces them, while the program keeps printing; every line
    once, none lost, none twice."""
    await start_shell(app, tmp_path / "proj")
    window = app.window
    script = "seq 1 4000; i=0; while [ $i -lt 400 ]; do echo tick $i; i=$((i+1)); sleep 0.01; done"
    session = await window.api.create_session(
        window.current_project, kind="command", argv=["/bin/sh", "-c", script], name="deep"
    )
    deep = session["id"]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while "\n4000\n" not in await backend_screen(app, deep) and loop.time() < deadline:
        await asyncio.sleep(0.05)
    await window.refresh_sessions()
    window.sessions.select(deep)
    await window.settle()
    await wait_until(lambda: window.terminal_screen(deep) is not None)
    screen = window.terminal_screen(deep)
    assert screen is not None and screen.scrollback_lines > 4400
    assert window.feed is not None and window.feed.scrollback_lines == 1000  # the first frame's
    await wait_until(lambda: "tick 399" in shown(app), timeout=20)
    await wait_until(lambda: not screen.wants_history and not screen.loading_history)
    lines = screen.contents().split("\n")
    numbers = [line for line in lines if line.isdigit()]
    assert numbers == [str(n) for n in range(1, 4001)]
    ticks = [line for line in lines if line.startswith("tick ")]
    assert ticks == [f"tick {n}" for n in range(400)]
    await same_as_backend(app, deep)
    # The screen in its new emulator takes the mouse as before: a double click selects a word.
    double_click(window.terminal, cell_center(app, 6, row_of(app, "tick 399")))
    assert window.terminal.copy_selection() == "399"


async def test_two_sessions_side_by_side(app: DesktopApp, tmp_path: Path, qtbot: QtBot) -> None:
    """ "Open beside": a second terminal next to the one on screen, with its own keys, size and
    stream; picking it in the list brings it back to the main view, its screen as it was."""
    first = await start_shell(app, tmp_path / "proj")
    window = app.window
    second = await window.new_session()
    await window.settle()
    await wait_until(lambda: window.current_session == second and shown(app).strip())
    # A right click on the first one's row (for its menu, "Open beside") does not show it.
    tree = window.sessions.tree
    row = next(
        tree.topLevelItem(i) for i in range(tree.topLevelItemCount())
        if tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole) == first
    )  # fmt: skip
    qtbot.mouseClick(
        tree.viewport(), Qt.MouseButton.RightButton, pos=tree.visualItemRect(row).center()
    )
    await window.settle()
    assert window.current_session == second
    # Ctrl+Shift+D: the session shown before, beside the one on screen.
    window.beside_action.trigger()
    await window.settle()
    beside = window.beside
    assert beside.isVisible() and beside.view.hasFocus() and beside.session_id == first
    assert window.terminal.session_screen is not beside.view.session_screen

    def beside_shows() -> str:
        screen = beside.view.session_screen
        return screen.text() if screen is not None else ""

    await wait_until(lambda: beside_shows().strip())
    # Each pane's keys go to its own session, and each PTY takes its pane's size.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while loop.time() < deadline:  # the pane's size settles, and the PTY follows it
        backend = await window.api.screen(first)
        if (backend["cols"], backend["rows"]) == beside.view.cells():
            break
        await asyncio.sleep(0.05)
    cols, rows = beside.view.cells()
    type_line(qtbot, beside.view, "echo left-$((2+3)); stty size")
    await wait_until(lambda: f"\nleft-5\n{rows} {cols}\n" in beside_shows())
    type_line(qtbot, window.terminal, "echo right-$((3+4))")
    await wait_until(lambda: "\nright-7" in shown(app))
    assert "left-5" not in shown(app) and "right-7" not in beside_shows()
    # The one beside comes to the main view when picked in the list; the pane closes.
    window.sessions.select(first)
    await window.settle()
    await wait_until(lambda: window.current_session == first)
    assert not beside.isVisible() and window.beside_follower is None
    await wait_until(lambda: "\nleft-5\n" in shown(app))
    assert shown(app).count("left-5") == 1 + shown(app).count("echo left-5")
    await same_as_backend(app, first)
    # And the close button closes it.
    await window.open_beside(second)
    await window.settle()
    beside.close_button.click()
    await window.settle()
    assert not beside.isVisible() and window.terminal.hasFocus()


async def test_ctrl_click_opens_hyperlinks_and_urls(
    app: DesktopApp, tmp_path: Path, qtbot: QtBot
) -> None:
    await start_shell(app, tmp_path / "proj")
    terminal = app.window.terminal
    type_line(
        qtbot,
        terminal,
        r"clear; printf 'see \033]8;;https://example.com/a?b=1\033\\the docs\033]8;;\033\\ "
        r"or https://ghostty.org/docs). end\n'",
    )
    line = "see the docs or https://ghostty.org/docs). end"
    await wait_until(lambda: f"\n{line}" in shown(app) or shown(app).startswith(line))
    y = row_of(app, line)
    ctrl = Qt.KeyboardModifier.ControlModifier
    opened: list[str] = []
    terminal.link_activated.connect(opened.append)
    # The pointer over a link with Ctrl held is a pointing hand.
    hover = QMouseEvent(
        QEvent.Type.MouseMove, QPointF(cell_center(app, 5, y)), QPointF(),
        Qt.MouseButton.NoButton, Qt.MouseButton.NoButton, ctrl,
    )  # fmt: skip
    QApplication.sendEvent(terminal, hover)
    assert terminal.cursor().shape() == Qt.CursorShape.PointingHandCursor
    qtbot.mouseClick(terminal, Qt.MouseButton.LeftButton, ctrl, cell_center(app, 5, y))
    qtbot.mouseClick(terminal, Qt.MouseButton.LeftButton, ctrl, cell_center(app, 20, y))
    qtbot.mouseClick(terminal, Qt.MouseButton.LeftButton, ctrl, cell_center(app, 40, y))  # ")"
    qtbot.mouseClick(terminal, Qt.MouseButton.LeftButton, pos=cell_center(app, 20, y))  # no Ctrl
    assert opened == ["https://example.com/a?b=1", "https://ghostty.org/docs"]
    assert terminal.copy_selection() == ""  # a Ctrl+click selects nothing either


async def test_the_cursor_blinks_when_the_program_asks(
    app: DesktopApp, tmp_path: Path, qtbot: QtBot
) -> None:
    await start_shell(app, tmp_path / "proj")
    terminal = app.window.terminal
    type_line(qtbot, terminal, r"printf '\033[1 q'")  # DECSCUSR 1: a blinking block
    await wait_until(lambda: not terminal.cursor_shown, timeout=5)
    await wait_until(lambda: terminal.cursor_shown, timeout=5)  # and back: it blinks
    await wait_until(lambda: not terminal.cursor_shown, timeout=5)
    qtbot.keyClick(terminal, Qt.Key.Key_A)
    assert terminal.cursor_shown  # a key shows it at once
    qtbot.keyClick(terminal, Qt.Key.Key_Backspace)
    type_line(qtbot, terminal, r"printf '\033[2 q'")  # a steady block
    await wait_until(lambda: not terminal.frame_pending())
    await asyncio.sleep(0.2)
    seen = set()
    for _ in range(30):  # 1.5 s: more than a blink's period
        seen.add(terminal.cursor_shown)
        await asyncio.sleep(0.05)
    assert seen == {True}


async def test_underlines_have_their_styles_and_colours(
    app: DesktopApp, tmp_path: Path, qtbot: QtBot
) -> None:
    """SGR 4:1..4:5 and 58: each underline is drawn in its colour, under the text only, and
    the five styles differ from one another."""
    await start_shell(app, tmp_path / "proj")
    terminal = app.window.terminal
    words = " ".join(
        rf"\033[4:{kind}m\033[58:2::255:0:{kind * 40}mline{kind}\033[0m" for kind in range(1, 6)
    )
    type_line(qtbot, terminal, f"clear; printf '{words} plain\\n'")
    line = "line1 line2 line3 line4 line5 plain"
    await wait_until(lambda: shown(app).startswith(line))
    await wait_until(lambda: not terminal.frame_pending())
    image = terminal.grab().toImage()
    height, width = terminal.cell_height, terminal.cell_width

    def underline_of(x: int, colour: tuple[int, int, int]) -> list[tuple[int, int]]:
        """Where in the five cells from ``x`` the pixels are exactly ``colour``, relative."""
        return [
            (px - x * width, py)
            for px in range(x * width, (x + 5) * width)
            for py in range(height)
            if image.pixelColor(px, py).getRgb()[:3] == colour
        ]

    shapes = []
    for kind in range(1, 6):
        found = underline_of((kind - 1) * 6, (255, 0, kind * 40))
        assert found, f"underline {kind} not drawn in its colour"
        assert min(py for _, py in found) > height // 2  # in the lower part of the row
        shapes.append(frozenset(found))
    assert len(set(shapes)) == 5  # single, double, curly, dotted, dashed: five shapes
    assert not underline_of(30, (255, 0, 40))  # "plain": none


async def test_the_16_colours_follow_the_light_or_dark_theme(
    app: DesktopApp, tmp_path: Path, qtbot: QtBot
) -> None:
    """On a light background the 16 colours are the light palette's, on a dark one
    libghostty's own; a colour the program set (OSC 4) stays its own in both."""
    await start_shell(app, tmp_path / "proj")
    terminal = app.window.terminal
    type_line(
        qtbot, terminal, r"clear; printf '\033]4;2;rgb:12/34/56\007\033[33myellow\033[32mgreen\n'"
    )
    await wait_until(lambda: shown(app).startswith("yellowgreen"))

    def colours(x: int) -> set[tuple[int, int, int]]:
        image = terminal.grab().toImage()
        return {
            image.pixelColor(px, py).getRgb()[:3]
            for px in range(x * terminal.cell_width, (x + 6) * terminal.cell_width)
            for py in range(terminal.cell_height)
        }

    screen = terminal.session_screen
    assert screen is not None
    for base, yellow in (
        ("white", LIGHT_PALETTE[3]),
        ("#202020", screen.render.colors().palette[3]),
    ):
        palette = QPalette(terminal.palette())
        palette.setColor(QPalette.ColorRole.Base, QColor(base))
        terminal.setPalette(palette)
        await wait_until(lambda: not terminal.frame_pending())
        assert yellow in colours(0)
        assert (0x12, 0x34, 0x56) in colours(6)  # the program's own green


async def test_screen_readers_get_the_text_the_cursor_and_the_cells(
    app: DesktopApp, tmp_path: Path, qtbot: QtBot
) -> None:
    """Qt's accessibility text interface over the terminal: the visible text, the caret at the
    terminal's cursor, the selection, and offsets that map to cells on screen and back."""
    await start_shell(app, tmp_path / "proj")
    terminal = app.window.terminal
    type_line(qtbot, terminal, "clear; echo alpha beta")
    await wait_until(lambda: shown(app).startswith("alpha beta\n"))
    await wait_until(lambda: not terminal.frame_pending())
    accessible = QAccessible.queryAccessibleInterface(terminal)
    assert accessible is not None and accessible.role() == QAccessible.Role.Terminal
    text = accessible.textInterface()
    assert text is not None
    count = text.characterCount()
    assert text.text(0, count) == shown(app) and count == len(shown(app))
    assert accessible.text(QAccessible.Text.Value) == shown(app)
    # The caret is the cursor: at the end of the prompt's row (its trailing blank is not text).
    prompt = shown(app).split("\n")[1]
    assert text.cursorPosition() == len("alpha beta\n") + len(prompt)
    # An offset is a cell on screen, and the cell's centre is that offset.
    beta = shown(app).index("beta")
    rect = text.characterRect(beta)
    assert terminal.mapFromGlobal(rect.topLeft()) == QPoint(6 * terminal.cell_width, 0)
    assert text.offsetAtPoint(rect.center()) == beta
    # The mouse's selection is the text's.
    double_click(terminal, cell_center(app, 7, 0))
    assert text.selectionCount() == 1 and text.selection(0) == (beta, beta + 4)


def test_an_open_search_follows_the_screen_to_a_new_emulator(qtbot: QtBot) -> None:
    """A snapshot (or the deeper history) replaces the screen's emulator, and closing the old
    one frees its search: the open find moves to the new one, with its word."""
    view = TerminalView()
    qtbot.addWidget(view)
    view.resize(80 * view.cell_width, 24 * view.cell_height)
    view.show()
    screen = TerminalScreen(80, 24)
    view.show_screen(screen)
    screen.apply([Event(1, "output", {"content": "alpha beta\r\nbeta gamma\r\n"})])
    view.screen_changed()
    assert view.highlight("beta") == 2
    source = Emulator(80, 24)
    source.feed(b"beta beta beta\r\n")
    vt = source.snapshot_vt(100).decode()
    screen.apply([Event(2, "snapshot", {"cols": 80, "rows": 24, "vt": vt})])
    view.screen_changed()
    qtbot.waitUntil(lambda: not view.frame_pending())
    view.repaint()  # the highlights of the search over the new emulator
    assert view.find_next("beta") == "1 of 3"
    view.close()
    screen.close()
