"""Real programs in a real PTY, driven with keystrokes only (``/input``), checked on the
backend's own screen (``/screen``): full-screen programs, redraws, wide characters, colours,
resizing, and terminal queries answered once whoever watches."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.sse import Stream
from tests.terminal.driver import TIMEOUT, Terminal


def needs(program: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        shutil.which(program) is None,
        reason=f"{program} is not installed (scripts/test.sh installs it with apt-get)",
    )


async def wait_for_file(path: Path, content: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not (path.exists() and path.read_text() == content):
        if time.monotonic() > deadline:
            found = path.read_text() if path.exists() else None
            raise AssertionError(f"{path.name} holds {found!r}, not {content!r}")
        await asyncio.sleep(0.05)


def canvas(rows: int, cols: int, texts: list[tuple[int, int, str]]) -> list[str]:
    """The rows of a screen with each text at its (row, column) and blanks elsewhere."""
    grid = [[" "] * cols for _ in range(rows)]
    for y, x, text in texts:
        grid[y][x : x + len(text)] = text
    return ["".join(row).rstrip() for row in grid]


# -- full-screen programs ---------------------------------------------------------------------


@needs("vim")
async def test_vim_opens_edits_and_writes_a_file(api: httpx.AsyncClient, workdir: Path) -> None:
    notes = workdir / "notes.txt"
    notes.write_text("first line\nsecond line\n")
    async with Terminal.open(api, workdir) as term:
        await term.keys("vim -u NONE notes.txt\r")
        # The file, a tilde on every row past its end, the message line; the cursor on the
        # file's first character.
        await term.wait(
            lambda s: (
                s.alt_screen
                and s.lines[:-1] == ["first line", "second line"] + ["~"] * (s.rows - 3)
                and s.lines[-1].startswith('"notes.txt" 2 lines')
                and (s.x, s.y) == (0, 0)
            ),
            "vim's screen",
        )

        await term.keys("ihello\x1b:wq\r")
        await wait_for_file(notes, "hellofirst line\nsecond line\n")
        await term.wait_for_rows(
            ["$ vim -u NONE notes.txt", "$"],
            "the shell's screen again",
            extra=lambda s: not s.alt_screen and s.at_prompt,
        )


@needs("less")
async def test_less_pages_to_the_end_and_restores_the_shell_screen(
    api: httpx.AsyncClient, workdir: Path
) -> None:
    (workdir / "numbers.txt").write_text("".join(f"{n}\n" for n in range(1, 501)))
    async with Terminal.open(api, workdir) as term:
        command = "printf 'shell line %s\\n' one two three"
        await term.keys(command + "\r")
        # Keys typed while a command runs are echoed twice (by the terminal, then readline).
        await term.wait(lambda s: s.at_prompt and s.y == 4, "the prompt under the lines")
        await term.keys("less numbers.txt")
        before = await term.wait_for_rows(
            [
                "$ " + command,
                "shell line one",
                "shell line two",
                "shell line three",
                "$ less numbers.txt",
            ],
            "the command typed, not yet run",
            extra=lambda s: (s.x, s.y) == (len("$ less numbers.txt"), 4),
        )

        await term.keys("\r")
        await term.wait_for_rows(
            [str(n) for n in range(1, 24)] + ["numbers.txt"],
            "less's first page",
            extra=lambda s: s.alt_screen,
        )
        await term.keys("G")
        await term.wait_for_rows(
            [str(n) for n in range(478, 501)] + ["(END)"],
            "less's last page",
            extra=lambda s: s.alt_screen,
        )

        await term.keys("q")
        # Exactly the screen less took over, with the next prompt under the command.
        await term.wait_for_rows(
            [*before.drawn, "$"],
            "the shell's screen as it was",
            extra=lambda s: not s.alt_screen and (s.x, s.y) == (2, before.y + 1),
        )


@needs("top")
async def test_top_shows_its_header_and_quits_on_q(api: httpx.AsyncClient, workdir: Path) -> None:
    async with Terminal.open(api, workdir) as term:
        await term.keys("top\r")
        await term.wait(
            lambda s: (
                s.lines[0].startswith("top - ")
                and s.lines[1].startswith("Tasks:")
                and s.lines[2].startswith("%Cpu(s):")
            ),
            "top's header",
        )
        session = await term.session()
        assert session["foreground"] is not None and session["foreground"]["name"] == "top"

        await term.keys("q")
        await term.wait(lambda s: s.at_prompt and s.y == s.rows - 1, "the shell again")
        assert (await term.session())["foreground"] is None


CURSES_BOXES = """\
import curses


def main(stdscr):
    curses.curs_set(0)
    stdscr.addstr(0, 0, "curses boxes")
    lines = curses.newwin(5, 20, 2, 4)  # rows, columns, top, left
    lines.box()  # the terminal's line-drawing characters (ACS)
    lines.addstr(2, 2, "inside")
    plain = curses.newwin(4, 10, 9, 40)
    plain.border("|", "|", "-", "-", "+", "+", "+", "+")
    stdscr.addstr(20, 70, "end")
    stdscr.noutrefresh()
    lines.noutrefresh()
    plain.noutrefresh()
    curses.doupdate()
    stdscr.getch()


curses.wrapper(main)
"""


async def test_curses_draws_boxes_in_place(api: httpx.AsyncClient, workdir: Path) -> None:
    (workdir / "boxes.py").write_text(CURSES_BOXES)
    async with Terminal.open(api, workdir) as term:
        await term.keys(f"{sys.executable} boxes.py\r")
        drawn = [
            (0, 0, "curses boxes"),
            (2, 4, "┌" + "─" * 18 + "┐"),
            *[(row, x, "│") for row in (3, 4, 5) for x in (4, 23)],
            (6, 4, "└" + "─" * 18 + "┘"),
            (4, 6, "inside"),
            (9, 40, "+--------+"),
            *[(row, x, "|") for row in (10, 11) for x in (40, 49)],
            (12, 40, "+--------+"),
            (20, 70, "end"),
        ]
        await term.wait_for_rows(
            canvas(24, 80, drawn),
            "the boxes",
            extra=lambda s: s.alt_screen and not s.cursor_visible,
        )

        await term.keys("x")
        await term.wait(lambda s: not s.alt_screen and s.at_prompt, "the shell again")


# -- redraws, wide characters, colours ----------------------------------------------------------


async def test_carriage_return_progress_bar_leaves_one_line(
    api: httpx.AsyncClient, workdir: Path
) -> None:
    async with Terminal.open(api, workdir) as term:
        command = "for i in $(seq 0 100); do printf '\\rprogress %3d%%' $i; done; echo"
        await term.keys(command + "\r")
        await term.wait_for_rows(
            ["$ " + command, "progress 100%", "$"],
            "one progress line",
            extra=lambda s: s.at_prompt,
        )


async def test_redraw_three_lines_up_ends_as_three_lines(
    api: httpx.AsyncClient, workdir: Path
) -> None:
    async with Terminal.open(api, workdir) as term:
        command = "printf 'a\\nb\\nc\\n'; printf '\\e[3A\\rA\\nB\\nC\\n'"
        await term.keys(command + "\r")
        await term.wait_for_rows(
            ["$ " + command, "A", "B", "C", "$"], "the redrawn lines", extra=lambda s: s.at_prompt
        )


async def test_wide_characters_take_two_columns(api: httpx.AsyncClient, workdir: Path) -> None:
    async with Terminal.open(api, workdir) as term:
        # Clear the screen first so the text starts at column 0; ``read`` holds the prompt back.
        await term.keys("printf '\\e[H\\e[2J日本語🎉'; read\r")
        await term.wait_for_rows(
            ["日本語🎉"], "the wide characters", extra=lambda s: (s.x, s.y) == (8, 0)
        )
        await term.keys("\r")
        await term.wait(lambda s: s.at_prompt, "the shell again")


async def test_256_and_truecolor_cells_keep_their_colours(
    api: httpx.AsyncClient, workdir: Path
) -> None:
    async with Terminal.open(api, workdir) as term:
        command = "printf '\\e[38;5;196mX\\e[0m \\e[38;2;10;20;30mY\\e[0m\\n'"
        await term.keys(command + "\r")
        await term.wait_for_rows(
            ["$ " + command, "X Y", "$"], "the coloured cells", extra=lambda s: s.at_prompt
        )
        html = (await term.screen("html")).content
        # libghostty's HTML names palette colours by variable and declares the palette.
        assert '<div style="display: inline;color: var(--vt-palette-196);">X</div>' in html
        assert "--vt-palette-196: #ff0000;" in html
        assert '<div style="display: inline;color: rgb(10, 20, 30);">Y</div>' in html
        vt = (await term.screen("vt")).content
        assert "\x1b[38;5;196mX" in vt
        assert "\x1b[38;2;10;20;30mY" in vt


async def test_resize_reaches_the_program_and_the_screen(
    api: httpx.AsyncClient, workdir: Path
) -> None:
    async with Terminal.open(api, workdir) as term:
        resized = await api.post(f"/api/session/{term.id}/resize", json={"cols": 100, "rows": 30})
        assert resized.status_code == 200, resized.text
        await term.keys("stty size\r")
        await term.wait_for_rows(
            ["$ stty size", "30 100", "$"],
            "the new size",
            extra=lambda s: (s.cols, s.rows) == (100, 30) and s.at_prompt,
        )


# -- terminal queries -------------------------------------------------------------------------

# Sets its terminal raw, asks where the cursor is, and reads whatever comes back: until the
# first reply, then one more second for any other.
CURSOR_QUERY = """\
import os, select, sys, termios, time, tty

fd = sys.stdin.fileno()
saved = termios.tcgetattr(fd)
tty.setraw(fd)
got = b""
try:
    os.write(sys.stdout.fileno(), b"\\x1b[6n")
    deadline = time.monotonic() + 20
    while (left := deadline - time.monotonic()) > 0:
        if not select.select([fd], [], [], left)[0]:
            break
        first = b"R" not in got
        got += os.read(fd, 1024)
        if first and b"R" in got:
            deadline = time.monotonic() + 1
finally:
    termios.tcsetattr(fd, termios.TCSADRAIN, saved)
print(f"replies={got.count(b'R')} got={got!r}")
"""


@pytest.mark.parametrize("clients", [0, 3])
async def test_cursor_position_query_is_answered_once(
    api: httpx.AsyncClient, workdir: Path, clients: int
) -> None:
    (workdir / "cpr.py").write_text(CURSOR_QUERY)
    async with Terminal.open(api, workdir) as term, contextlib.AsyncExitStack() as watching:
        # Two clients attached to the screen (as browsers are) and one plain event stream.
        kinds = [{"attach": "screen"}, {"attach": "screen"}, {}][:clients]
        streams = [
            await watching.enter_async_context(Stream(api, term.id, params=p)) for p in kinds
        ]
        for stream, params in zip(streams, kinds, strict=True):
            if params:
                await stream.wait_for(lambda e: e.event == "snapshot")

        await term.keys(f"{sys.executable} cpr.py\r")
        s = await term.wait(
            lambda s: s.at_prompt and any(line.startswith("replies=") for line in s.lines),
            "the program's report",
        )
        row = next(n for n, line in enumerate(s.lines) if line.startswith("replies="))
        # Raw mode echoes nothing: the cursor was where the report then went, at the start of
        # that row (1-based in the reply).
        assert s.lines[row] == f"replies=1 got=b'\\x1b[{row + 1};1R'", s
        for stream in streams:  # each client was there all along
            await stream.wait_for_output("replies=1", timeout=TIMEOUT)
