"""vtengine's renderer view and key encoder on the real libghostty-vt: what a terminal widget
reads to paint (rows of styled runs, dirty rows, the cursor, the viewport) and what a key sends
under the program's modes."""

from __future__ import annotations

import pytest

from vtengine.emulator import Emulator
from vtengine.keys import ALT, CTRL, SHIFT, KeyEncoder, KeyPress, key_code
from vtengine.links import link_at
from vtengine.render import DEFAULT_STYLE, Dirty, RenderState, Run, Style


def frame(emulator: Emulator, everything: bool = True) -> dict[int, list[Run]]:
    state = RenderState()
    state.update(emulator.terminal)
    return {row.y: row.runs for row in state.dirty_rows(everything=everything)}


def row_text(runs: list[Run]) -> str:
    """The row as it is painted: each run's text at its column."""
    line: list[str] = []
    for run in runs:
        line.extend(" " * (run.x - len(line)))
        line.append(run.text)
        line.extend("" for _ in range(run.cells - 1))  # a wide character fills two columns
    return "".join(line)


def test_runs_carry_text_and_styles() -> None:
    emulator = Emulator(40, 4)
    emulator.feed(b"plain \x1b[1;31mbold red\x1b[0m \x1b[38;5;208m256\x1b[0m ")
    emulator.feed(b"\x1b[38;2;1;2;3;48;2;4;5;6mtrue\x1b[0m \x1b[3;4;9;7mall\x1b[0m")
    runs = frame(emulator)[0]
    by_text = {run.text: run for run in runs}
    assert by_text["plain "].style == DEFAULT_STYLE
    assert by_text["bold red"].style == Style(fg=1, bold=True)
    assert by_text["bold red"].x == 6
    assert by_text["256"].style == Style(fg=208)
    assert by_text["true"].style == Style(fg=(1, 2, 3), bg=(4, 5, 6))
    assert by_text["all"].style == Style(italic=True, underline=1, strikethrough=True, inverse=True)
    assert row_text(runs) == "plain bold red 256 true all"


def test_wide_characters_and_clusters_take_their_cells() -> None:
    emulator = Emulator(20, 2)
    emulator.feed("日本語🎉e\u0301x".encode())
    runs = frame(emulator)[0]
    assert [(run.x, run.text, run.cells) for run in runs] == [
        (0, "日", 2),
        (2, "本", 2),
        (4, "語", 2),
        (6, "🎉", 2),
        (8, "e\u0301x", 2),
    ]
    assert emulator.cursor.x == 10


def test_a_background_set_while_erasing_is_one_run_to_the_edge() -> None:
    emulator = Emulator(10, 2)
    emulator.feed(b"ab\x1b[44m\x1b[K\x1b[0m")
    runs = frame(emulator)[0]
    assert runs == [Run(0, "ab", 2, DEFAULT_STYLE), Run(2, " " * 8, 8, Style(bg=4))]


def test_only_changed_rows_are_dirty_after_a_frame() -> None:
    emulator = Emulator(20, 5)
    emulator.feed(b"one\r\ntwo\r\nthree")
    state = RenderState()
    assert state.update(emulator.terminal) == Dirty.FULL
    assert [row.y for row in state.dirty_rows()] == [0, 1, 2, 3, 4]
    state.clean()
    assert state.update(emulator.terminal) == Dirty.NONE
    assert list(state.dirty_rows()) == []
    emulator.feed(b"\x1b[2;1Htwo!")
    assert state.update(emulator.terminal) != Dirty.NONE
    # The row written, and the one the cursor left; not the others.
    assert [(row.y, row_text(row.runs)) for row in state.dirty_rows()] == [
        (1, "two!"),
        (2, "three"),
    ]
    state.clean()
    assert state.update(emulator.terminal) == Dirty.NONE


def test_cursor_shape_and_visibility() -> None:
    emulator = Emulator(20, 5)
    emulator.feed(b"abc\x1b[6 q")
    state = RenderState()
    state.update(emulator.terminal)
    cursor = state.cursor()
    assert (cursor.x, cursor.y, cursor.visible, cursor.shape) == (3, 0, True, "bar")
    emulator.feed(b"\x1b[?25l")
    state.update(emulator.terminal)
    assert not state.cursor().visible


def test_the_viewport_scrolls_into_history_and_back() -> None:
    emulator = Emulator(20, 3, scrollback_lines=100)
    emulator.feed(b"\r\n".join(b"line %d" % n for n in range(10)))
    terminal = emulator.terminal
    assert terminal.scrollbar() == (10, 7, 3)
    terminal.scroll_viewport(-4)
    assert terminal.scrollbar() == (10, 3, 3)
    rows = frame(emulator)
    assert [row_text(rows[y]) for y in range(3)] == ["line 3", "line 4", "line 5"]
    state = RenderState()
    state.update(terminal)
    assert not state.cursor().visible  # the cursor is below the viewport
    terminal.scroll_viewport(None)
    assert terminal.scrollbar() == (10, 7, 3)


def test_colors_come_from_the_palette_the_program_set() -> None:
    emulator = Emulator(10, 2)
    emulator.feed(b"\x1b]4;1;rgb:12/34/56\x1b\\")
    state = RenderState()
    state.update(emulator.terminal)
    assert state.colors().palette[1] == (0x12, 0x34, 0x56)


K = key_code


@pytest.mark.parametrize(
    ("press", "sent"),
    [
        (KeyPress(K("A"), 0, "a", ord("a")), b"a"),
        (KeyPress(K("A"), SHIFT, "A", ord("a")), b"A"),
        (KeyPress(K("C"), CTRL, "c", ord("c")), b"\x03"),
        (KeyPress(K("X"), ALT, "x", ord("x")), b"\x1bx"),
        (KeyPress(K("ESCAPE")), b"\x1b"),
        (KeyPress(K("ENTER")), b"\r"),
        (KeyPress(K("BACKSPACE")), b"\x7f"),
        (KeyPress(K("TAB"), SHIFT), b"\x1b[Z"),
        (KeyPress(K("ARROW_UP")), b"\x1b[A"),
        (KeyPress(K("ARROW_UP"), CTRL), b"\x1b[1;5A"),
        (KeyPress(K("F5")), b"\x1b[15~"),
        (KeyPress(K("UNIDENTIFIED"), 0, "日"), "日".encode()),
        (KeyPress(K("SHIFT_LEFT"), SHIFT), b""),
    ],
)
def test_keys_encode_as_a_terminal_sends_them(press: KeyPress, sent: bytes) -> None:
    assert KeyEncoder().encode(Emulator(80, 24).terminal, press) == sent


def test_keys_follow_the_programs_modes() -> None:
    emulator, encoder = Emulator(80, 24), KeyEncoder()
    up = KeyPress(K("ARROW_UP"))
    emulator.feed(b"\x1b[?1h")  # application cursor keys, as vim and less ask
    assert encoder.encode(emulator.terminal, up) == b"\x1bOA"
    emulator.feed(b"\x1b[?1l")
    assert encoder.encode(emulator.terminal, up) == b"\x1b[A"
    emulator.feed(b"\x1b[>1u")  # the kitty keyboard protocol, disambiguate
    assert encoder.encode(emulator.terminal, KeyPress(K("ESCAPE"))) == b"\x1b[27u"


def test_an_unknown_key_name_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        key_code("NO_SUCH_KEY")


def test_a_selection_and_a_search_go_before_their_terminal_whatever_goes_first() -> None:
    """libghostty frees a gesture and a search with the terminal they were made for: the
    terminal frees them first, when it is closed or collected, also in one garbage cycle."""
    import gc

    from vtengine.search import Search
    from vtengine.selection import SelectionGesture, selected_text

    for close_first in ("terminal", "gesture", "cycle"):
        emulator = Emulator(20, 3)
        emulator.feed(b"hello world")
        gesture, search = SelectionGesture(), Search(emulator.terminal)
        assert search.find("world") == 1 and search.select()
        assert selected_text(emulator.terminal) == "world"
        gesture.event(emulator.terminal, "press", (0, 0), (1, 1), time_ns=1)
        if close_first == "terminal":
            emulator.close()
            gesture.close()
            search.close()
        elif close_first == "gesture":
            gesture.close()
            search.close()
            emulator.close()
        else:
            holder: list[object] = [emulator, gesture, search]
            holder.append(holder)  # one cycle: the order of the clean-up is the collector's
            del holder, emulator, gesture, search
            gc.collect()


def test_links_are_found_under_the_pointer() -> None:
    """OSC 8 targets first, then URLs in the row; columns count wide characters twice;
    closing punctuation is the sentence's; only schemes a click may open."""
    emulator = Emulator(80, 4)
    emulator.feed(
        "a \x1b]8;;https://example.com/x\x1b\\link\x1b]8;;\x1b\\ (see http://host/p?q=1).\r\n"
        "日本 ftp://files/a b\r\n"
        "\x1b]8;;javascript:alert(1)\x1b\\bad\x1b]8;;\x1b\\ mailto:me@example.com\r\n"
        "\x1b]8;;file:///etc/passwd\x1b\\f\x1b]8;;\x1b\\ http://w/Foo_(bar)".encode()
    )
    terminal = emulator.terminal
    found = {x: link_at(terminal, x, 0) for x in range(40)}
    assert {x for x, link in found.items() if link == "https://example.com/x"} == set(range(2, 6))
    assert {x for x, link in found.items() if link == "http://host/p?q=1"} == set(range(12, 29))
    assert found[29] is None and found[6] is None
    assert link_at(terminal, 5, 1) == "ftp://files/a" and link_at(terminal, 3, 1) is None
    assert link_at(terminal, 0, 2) is None  # not a scheme to open
    assert link_at(terminal, 5, 2) == "mailto:me@example.com"
    assert link_at(terminal, 99, 0) is None
    assert link_at(terminal, 0, 3) is None  # file://: not opened from a terminal
    assert link_at(terminal, 5, 3) == "http://w/Foo_(bar)"  # its own parentheses stay
