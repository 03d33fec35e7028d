"""A full disk in the desktop app: the window says so over the output while the backend cannot
store anything, and no more once it stores again; a write it refuses shows the backend's own
sentence. A real backend child whose data dir is a small tmpfs of the test's own, filled for
real (tests/disk.py); the web page does the same (tests/web/test_storage_banner_page.py)."""

from __future__ import annotations

import contextlib
import re
import shlex
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from desktop.session_actions import storage_warning
from desktop.ui.main_window import MainWindow
from tests.desktop.ui.test_agent_window_served import window_at
from tests.desktop.ui.test_main_window import wait_until
from tests.disk import fill
from tests.server import Server, running_server

# About a thousand lines a second, each a hundred-odd bytes: the store commits batches all the
# time, so a full disk is noticed at once (as in tests/faults/test_disk_full.py).
PRINTER = (
    "import itertools, time\n"
    "for i in itertools.count():\n"
    "    print(f'line {i:08d} ' + 'x' * 100, flush=True)\n"
    "    time.sleep(0.001)\n"
)
WARNING = (
    "Cannot store output: the disk is full. The session is paused until space is freed; "
    "nothing is lost."
)
REFUSED = "cannot store anything now: the disk is full. Nothing already stored is lost; free"
COMMAND = f"exec {shlex.quote(sys.executable)} -u printer.py"


def last_printed(text: str) -> int:
    """The number of the last line the printer's output shows (-1 before the first)."""
    numbers = re.findall(r"line (\d{8})", text)
    return int(numbers[-1]) if numbers else -1


def window_on(server: Server, qtbot: QtBot) -> contextlib.AbstractAsyncContextManager[MainWindow]:
    return window_at(server.url, qtbot, server.token, heartbeat_interval=1.0)


def shown_text(window: MainWindow) -> str:
    return window.output.text.toPlainText()


def banner_shown(window: MainWindow) -> bool:
    return window.storage_banner.isVisible()


@pytest.mark.timeout(90)
async def test_a_full_disk_shows_a_banner_until_space_is_freed(
    disk: Path, tmp_path: Path, qtbot: QtBot
) -> None:
    workdir = tmp_path / "project"
    workdir.mkdir()
    (workdir / "printer.py").write_text(PRINTER)
    with running_server(disk, "--heartbeat-interval", "1") as server:
        async with window_on(server, qtbot) as window:
            errors: list[str] = []
            window.error_shown.connect(errors.append)
            await window.add_project(str(workdir))
            # On pipes: the line box takes the prompt the full disk refuses, below.
            session_id = await window.new_session(command=COMMAND, name="printer", tty=False)
            await window.settle()
            await wait_until(lambda: last_printed(shown_text(window)) > 200)
            assert not banner_shown(window)

            filler = fill(disk)
            await wait_until(lambda: banner_shown(window), timeout=20)
            assert window.storage_banner.text() == storage_warning("the disk is full") == WARNING
            # Over the output, not in its scrollback.
            banner = window.storage_banner.mapTo(window, window.storage_banner.rect().topLeft())
            output = window.output.mapTo(window, window.output.rect().topLeft())
            assert banner.y() < output.y()
            assert WARNING not in shown_text(window)

            # A write is refused with the backend's sentence, as the page shows it: a new
            # session...
            window.sessions.shell_button.click()
            await window.settle()
            assert errors and errors[-1].startswith(REFUSED), errors
            assert window.statusBar().currentMessage() == errors[-1]
            # ... and a prompt, which comes back into the line, not lost.
            errors.clear()
            qtbot.keyClicks(window.prompt, "hello")
            qtbot.keyClick(window.prompt, Qt.Key.Key_Return)
            await window.settle()
            assert errors and errors[-1].startswith(REFUSED), errors
            assert window.prompt.text() == "hello"

            # A stream that connects meanwhile is told too, after its replay.
            await window.open_session(None)
            assert not banner_shown(window)
            await window.open_session(session_id)
            await wait_until(lambda: banner_shown(window), timeout=20)
            assert window.storage_banner.text() == WARNING

            shown = last_printed(shown_text(window))
            filler.unlink()
            await wait_until(lambda: not banner_shown(window), timeout=20)
            # The session goes on where it stopped.
            await wait_until(lambda: last_printed(shown_text(window)) > shown + 200)
            session = await window.api.get_session(session_id)
            assert session["status"] == "running"
