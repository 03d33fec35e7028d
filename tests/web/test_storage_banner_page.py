"""A full disk in the web page: the page says so over the output while the backend cannot store
anything, and no more once it stores again; a write it refuses shows the backend's own sentence,
as other errors are shown. The backend's data dir is a small tmpfs of the test's own, filled for
real (tests/disk.py); the desktop app does the same (tests/desktop/ui/test_storage_banner.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from desktop.session_actions import storage_warning
from tests.desktop.ui.test_storage_banner import COMMAND, PRINTER, REFUSED, WARNING, last_printed
from tests.disk import fill
from tests.server import Server, running_server
from tests.web.helpers import Dock, dom_lines, wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Page

BANNER = "#storage-warning"


@pytest.fixture
def server(disk: Path) -> Iterator[Server]:
    """The backend, its data dir on the small disk (its log is written outside it)."""
    with running_server(disk, "--heartbeat-interval", "1") as srv:
        yield srv


def printed(page: Page) -> int:
    return last_printed("\n".join(dom_lines(page)))


def shown_error(page: Page) -> str | None:
    return None if page.is_hidden("#error") else page.text_content("#error-text")


@pytest.mark.timeout(90)
def test_a_full_disk_shows_a_banner_until_space_is_freed(
    dock: Dock, page: Page, disk: Path, tmp_path: Path
) -> None:
    workdir = tmp_path / "project"
    workdir.mkdir()
    (workdir / "printer.py").write_text(PRINTER)
    project = dock.project(str(workdir))
    # Without a terminal: its prompt line is one of the writes refused below (a terminal takes
    # keys through /input, which stores nothing).
    session = dock.session(project["id"], COMMAND, name="printer", tty=False)
    dock.open(page, project["id"], session["id"])
    wait_until(lambda: printed(page) > 200)
    assert page.is_hidden(BANNER)

    filler = fill(disk)
    page.wait_for_selector(BANNER, state="visible", timeout=20_000)
    assert page.text_content(BANNER) == storage_warning("the disk is full") == WARNING
    # Over the output, not in its scrollback.
    banner = page.locator(BANNER).bounding_box()
    output = page.locator("#output-host").bounding_box()
    assert banner is not None and output is not None
    assert banner["y"] + banner["height"] <= output["y"]
    assert WARNING not in "\n".join(dom_lines(page))

    # A write is refused with the backend's sentence, shown as other errors are: a new
    # session...
    page.click("#new-shell")
    error = wait_until(lambda: shown_error(page))
    assert error.startswith(REFUSED), error
    page.click("#error-close")
    # ... and a prompt, which comes back into the line, not lost.
    page.fill("#prompt", "hello")
    page.press("#prompt", "Enter")
    error = wait_until(lambda: shown_error(page))
    assert error.startswith(REFUSED), error
    assert page.input_value("#prompt") == "hello"

    # A stream that connects meanwhile is told too, after its replay.
    page.evaluate("sessionDock.openSession(null)")
    assert page.is_hidden(BANNER)
    page.click(f"#sessions [data-id='{session['id']}']")
    page.wait_for_selector(BANNER, state="visible", timeout=20_000)
    assert page.text_content(BANNER) == WARNING

    shown = printed(page)
    filler.unlink()
    page.wait_for_selector(BANNER, state="hidden", timeout=20_000)
    # The session goes on where it stopped.
    wait_until(lambda: printed(page) > shown + 200, timeout=20)
    assert dock.client.get(f"/api/session/{session['id']}").json()["status"] == "running"
