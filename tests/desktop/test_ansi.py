"""The ANSI renderer, fed with strings: styles, cursor movement, stripping, and chunk splits."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop.ansi import (
    DEFAULT_STYLE,
    MAX_SEQUENCE,
    PALETTE_16,
    AnsiRenderer,
    Line,
    Style,
    Update,
    palette_rgb,
    plain_text,
)
from tests.ansi_render import render_chunks

RED = Style(fg=1)
GREEN = Style(fg=2)
ON_RED = Style(bg=1)


def render(*chunks: str) -> list[Line]:
    """Every line the chunks produce: the finished ones, then the partial one if not empty."""
    lines, partial = render_chunks(chunks)
    return [*lines, partial] if partial else lines


def texts(*chunks: str) -> list[str]:
    return [plain_text(line) for line in render(*chunks)]


def style_of(sequence: str) -> Style:
    """The style that text written after ``sequence`` gets."""
    [line] = render(sequence + "x")
    [(text, style)] = line
    assert text == "x"
    return style


# Plain text and lines


def test_plain_text_is_one_run_in_the_default_style() -> None:
    assert render("hello world") == [(("hello world", DEFAULT_STYLE),)]


def test_line_feeds_finish_lines_and_empty_lines_are_kept() -> None:
    assert render("a\n\nb\n") == [(("a", DEFAULT_STYLE),), (), (("b", DEFAULT_STYLE),)]


def test_crlf_ends_a_line_once() -> None:
    assert texts("one\r\ntwo\r\n") == ["one", "two"]


def test_crlf_split_between_chunks() -> None:
    renderer = AnsiRenderer()
    assert renderer.feed("one\r") == Update([], (("one", DEFAULT_STYLE),))
    assert renderer.feed("\ntwo") == Update([(("one", DEFAULT_STYLE),)], (("two", DEFAULT_STYLE),))


def test_plain_text_joins_runs() -> None:
    line: Line = (("ab", RED), ("cd", DEFAULT_STYLE))
    assert plain_text(line) == "abcd"
    assert plain_text(()) == ""


# SGR


@pytest.mark.parametrize(
    ("sequence", "expected"),
    [
        ("\x1b[30m", Style(fg=0)),
        ("\x1b[31m", Style(fg=1)),
        ("\x1b[37m", Style(fg=7)),
        ("\x1b[40m", Style(bg=0)),
        ("\x1b[47m", Style(bg=7)),
        ("\x1b[90m", Style(fg=8)),
        ("\x1b[97m", Style(fg=15)),
        ("\x1b[100m", Style(bg=8)),
        ("\x1b[107m", Style(bg=15)),
        ("\x1b[38;5;200m", Style(fg=200)),
        ("\x1b[38;5;0m", Style(fg=0)),
        ("\x1b[48;5;17m", Style(bg=17)),
        ("\x1b[38;2;1;2;3m", Style(fg=(1, 2, 3))),
        ("\x1b[48;2;255;128;0m", Style(bg=(255, 128, 0))),
        ("\x1b[38:5:42m", Style(fg=42)),
        ("\x1b[48:5:42m", Style(bg=42)),
        ("\x1b[38:2::1:2:3m", Style(fg=(1, 2, 3))),
        ("\x1b[38:2:0:1:2:3m", Style(fg=(1, 2, 3))),
        ("\x1b[38:2:1:2:3m", Style(fg=(1, 2, 3))),
        ("\x1b[48:2::4:5:6m", Style(bg=(4, 5, 6))),
        ("\x1b[48:2:4:5:6m", Style(bg=(4, 5, 6))),
        ("\x1b[1m", Style(bold=True)),
        ("\x1b[2m", Style(dim=True)),
        ("\x1b[3m", Style(italic=True)),
        ("\x1b[4m", Style(underline=True)),
        ("\x1b[4:3m", Style(underline=True)),
        ("\x1b[21m", Style(underline=True)),
        ("\x1b[7m", Style(inverse=True)),
        ("\x1b[01;031m", Style(fg=1, bold=True)),
        ("\x1b[1;31;48;5;200m", Style(fg=1, bg=200, bold=True)),
        ("\x1b[38;5;1;1m", Style(fg=1, bold=True)),
        ("\x1b[38;2;10;20;30;4m", Style(fg=(10, 20, 30), underline=True)),
        ("\x1b[38:2::10:20:30;1m", Style(fg=(10, 20, 30), bold=True)),
        ("\x1b[1;2;3;4;7m", Style(bold=True, dim=True, italic=True, underline=True, inverse=True)),
        ("\x1b[;1m", Style(bold=True)),
        ("\x1b[1;;3m", Style(italic=True)),
        ("\x1b[31m\x1b[42m", Style(fg=1, bg=2)),
    ],
)
def test_sgr(sequence: str, expected: Style) -> None:
    assert style_of(sequence) == expected


@pytest.mark.parametrize(
    "sequence",
    [
        "\x1b[5;6;8;9;53m",  # blink, conceal, strike, overline: not shown
        "\x1b[58;2;1;2;3m",  # underline color, whose parameters are not codes
        "\x1b[58;5;4m",
        "\x1b[58:2::1:2:3m",
        "\x1b[38;5;256m",  # out of range
        "\x1b[38;2;1;2;300m",
        "\x1b[38:5:999m",
        "\x1b[38;5m",  # incomplete
        "\x1b[38;2;1;2m",
        "\x1b[38:2:1m",
        "\x1b[4:0m",  # underline off
        "\x1b[?1m",  # private, not SGR
        "\x1b[>4;1m",
        "\x1b[1 m",  # with an intermediate byte, not SGR
        "\x1b[38;5;1:2m",  # a colon inside a semicolon-form color: not a color, not a crash
        "\x1b[38;2;1;2:3;4m",
    ],
)
def test_sgr_that_changes_nothing(sequence: str) -> None:
    assert style_of(sequence) == DEFAULT_STYLE


@pytest.mark.parametrize(
    ("setup", "reset", "expected"),
    [
        ("\x1b[1;2m", "\x1b[22m", DEFAULT_STYLE),
        ("\x1b[3m", "\x1b[23m", DEFAULT_STYLE),
        ("\x1b[4m", "\x1b[24m", DEFAULT_STYLE),
        ("\x1b[7m", "\x1b[27m", DEFAULT_STYLE),
        ("\x1b[31;42m", "\x1b[39m", Style(bg=2)),
        ("\x1b[31;42m", "\x1b[49m", Style(fg=1)),
        ("\x1b[38;2;1;2;3;48;5;9m", "\x1b[39;49m", DEFAULT_STYLE),
        ("\x1b[1;31m", "\x1b[0m", DEFAULT_STYLE),
        ("\x1b[1;31m", "\x1b[m", DEFAULT_STYLE),
        ("\x1b[1;31m", "\x1b[00m", DEFAULT_STYLE),
        ("\x1b[1;31m", "\x1b[0;4m", Style(underline=True)),
        ("\x1b[1;3;4;7;31;42m", "\x1b[22;23;24;27;39;49m", DEFAULT_STYLE),
        ("\x1b[1;4m", "\x1b[4:0m", Style(bold=True)),
        ("\x1b[1;31m", "\x1bc", DEFAULT_STYLE),
    ],
)
def test_sgr_resets(setup: str, reset: str, expected: Style) -> None:
    assert style_of(setup + reset) == expected


def test_style_persists_across_lines_and_chunks() -> None:
    assert render("\x1b[31ma\n", "b\n", "\x1b[1", "mc\x1b[0m\n") == [
        (("a", RED),),
        (("b", RED),),
        (("c", Style(fg=1, bold=True)),),
    ]


def test_adjacent_runs_with_equal_styles_are_merged_and_none_is_empty() -> None:
    assert render("\x1b[31ma\x1b[31mb\x1b[0;31mc\x1b[32m\x1b[0md\x1b[1m\x1b[22m") == [
        (("abc", RED), ("d", DEFAULT_STYLE))
    ]


def test_runs_change_style_where_the_sgr_is() -> None:
    assert render("ls: \x1b[01;34mdir\x1b[0m file \x1b[38;5;208morange\x1b[m.") == [
        (
            ("ls: ", DEFAULT_STYLE),
            ("dir", Style(fg=4, bold=True)),
            (" file ", DEFAULT_STYLE),
            ("orange", Style(fg=208)),
            (".", DEFAULT_STYLE),
        )
    ]


def test_many_distinct_styles_keep_runs_merged() -> None:
    # More distinct styles than the renderer caches, in the middle of one line.
    gradient = "".join(f"\x1b[38;2;{i % 256};{i // 256};0m" for i in range(3000))
    line = "\x1b[31ma" + gradient + "\x1b[31mb" + gradient + "\x1b[0;31mc"
    assert render(line) == [(("abc", RED),)]
    rewound = "\x1b[32mxyz\r\x1b[31ma" + gradient + "\x1b[31mb"
    assert render(rewound) == [(("ab", RED), ("z", GREEN))]


# Carriage return, backspace, tab


def test_progress_bar_redrawn_with_carriage_returns() -> None:
    frames = [f"\r[{'#' * i}{' ' * (5 - i)}] {i * 20}%" for i in range(6)]
    assert texts("".join(frames) + "\n") == ["[#####] 100%"]
    renderer = AnsiRenderer()
    for frame in frames:
        update = renderer.feed(frame)
        assert update.finished == []
        assert plain_text(update.partial) == frame[1:]
    assert renderer.feed("\n") == Update([(("[#####] 100%", DEFAULT_STYLE),)], ())


def test_carriage_return_overwrites_only_what_is_written() -> None:
    assert texts("50%\r1") == ["10%"]
    assert texts("downloading\rdone\n") == ["doneloading"]


def test_carriage_return_overwrites_styles_cell_by_cell() -> None:
    assert render("\x1b[31mabc\r\x1b[32mX") == [(("X", GREEN), ("bc", RED))]
    assert render("abc\r\x1b[31mabcdef") == [(("abcdef", RED),)]


def test_rewound_line_is_appended_to_again_in_later_chunks() -> None:
    assert render("abc\r", "x", "yzd", "ef\x1b[31mg", "h\n", "next") == [
        (("xyzdef", DEFAULT_STYLE), ("gh", RED)),
        (("next", RED),),
    ]


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        (["abc\bX"], "abX"),
        (["\b\bX"], "X"),
        (["ab\b\b\bc"], "cb"),
        (["abc\b\b"], "abc"),
        (["abc\b", "\bX"], "aXc"),
        (["a\b\b\bbc"], "bc"),
    ],
)
def test_backspace(chunks: list[str], expected: str) -> None:
    assert texts(*chunks) == [expected]


def test_spinner_with_backspace() -> None:
    assert texts("working |\b/\b-\b\\\b|\bdone\n") == ["working done"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\tb", "a" + " " * 7 + "b"),
        ("\tb", " " * 8 + "b"),
        ("1234567\tb", "1234567 b"),
        ("12345678\tb", "12345678" + " " * 8 + "b"),
        ("a\t\tb", "a" + " " * 15 + "b"),
        ("a\t", "a"),  # a tab writes nothing
        ("abcdefghijk\r\tX", "abcdefghXjk"),
        ("abcdefghij\b\b\b\b\tX", "abcdefghXj"),
    ],
)
def test_tab(text: str, expected: str) -> None:
    assert texts(text) == [expected]


def test_tab_gap_has_the_default_style() -> None:
    assert render("\x1b[41ma\tb") == [(("a", ON_RED), (" " * 7, DEFAULT_STYLE), ("b", ON_RED))]


# Erase in line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("abcdef\r\x1b[K", ""),
        ("abcdef\r\x1b[0K", ""),
        ("abcdef\r\x1b[Kxy", "xy"),
        ("abcdef\b\b\b\x1b[K", "abc"),
        ("abcdef\b\b\b\x1b[Kx", "abcx"),
        ("abc\x1b[K", "abc"),
        ("abcdef\b\b\b\x1b[1K", "    ef"),
        ("abcdef\r\x1b[1K", " bcdef"),
        ("abc\x1b[1K", ""),
        ("abc\b\x1b[1K", ""),
        ("abc\x1b[1Kd", "   d"),
        ("abcdef\b\b\b\x1b[2K", ""),
        ("abcdef\x1b[2Kxy", "      xy"),
        ("abc\r\x1b[2Kxy", "xy"),
        ("abc\r\x1b[?K", ""),
        ("abc\r\x1b[?2K", ""),
        ("abc\r\x1b[3K", "abc"),
        ("100%\r40%\x1b[K", "40%"),
        ("100%\r\x1b[32m40%\x1b[0m\x1b[K\n", "40%"),
    ],
)
def test_erase_in_line(text: str, expected: str) -> None:
    assert texts(text) == ([expected] if expected else [])


def test_erased_cells_in_the_middle_are_default_spaces() -> None:
    assert render("\x1b[41mabcdef\b\b\b\x1b[1K") == [(("    ", DEFAULT_STYLE), ("ef", ON_RED))]


def test_erase_after_line_feed_does_not_touch_finished_lines() -> None:
    assert texts("abc\n\x1b[2Kx") == ["abc", "x"]


def test_grep_style_erase_at_the_end_is_harmless() -> None:
    assert render("\x1b[01;31m\x1b[Kmatch\x1b[m\x1b[K rest\n") == [
        (("match", Style(fg=1, bold=True)), (" rest", DEFAULT_STYLE))
    ]


# Stripping


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\x1b[2Ab\x1b[10Gc\x1b[3;4Hd\x1b[2Je\x1b[Cf\x1b[1Dg", "abcdefg"),
        ("\x1b[?2004hx\x1b[?2004l", "x"),
        ("\x1b[?25lx\x1b[?25h", "x"),
        ("\x1b[?1049h\x1b[22;0;0tx", "x"),
        ("\x1b[0 qx\x1b[!p", "x"),
        ("\x1b[>0;1cx\x1b[6n", "x"),
        ("\x1b]0;my title\x07x", "x"),
        ("\x1b]2;my title\x1b\\x", "x"),
        ("\x1b]0;my title\x9cx", "x"),
        ("\x1b]8;;https://example.com\x1b\\link\x1b]8;;\x1b\\", "link"),
        ("\x1b]8;id=1;https://example.com\x07link\x1b]8;;\x07", "link"),
        ("\x1b]133;A\x07$ \x1b]133;B\x07", "$ "),
        ("\x1b]\x07x", "x"),
        ("\x1b]0;title\x18x", "x"),
        ("\x1b]0;title\x1ax", "x"),
        ("\x1b(Bx\x1b)0y\x1b(0z", "xyz"),
        ("\x1b7a\x1b8b", "ab"),
        ("\x1b=a\x1b>b", "ab"),
        ("\x1b#8x\x1b%Gy", "xy"),
        ("\x1bMx\x1bDy\x1bEz", "xyz"),
        ("\x1b\\x", "x"),
        ("\x1bP1$r0m\x1b\\x", "x"),
        ("\x1bPa\x07b\x1b\\x", "x"),
        ("\x1bP+q544e\x1b\\x", "x"),
        ("\x1b_Gf=100,a=T;AAAA\x1b\\x", "x"),
        ("\x1b^private\x1b\\x", "x"),
        ("\x1bXstring\x1b\\x", "x"),
        ("\x1b\x1b[1Ax", "x"),
    ],
)
def test_other_sequences_are_stripped(text: str, expected: str) -> None:
    assert texts(text) == [expected]


def test_escape_inside_a_string_ends_it_and_starts_a_sequence() -> None:
    assert render("\x1b]0;title\x1b[31mx") == [(("x", RED),)]


def test_lone_escape_before_a_control_is_dropped() -> None:
    assert texts("a\x1b\nb") == ["a", "b"]
    assert texts("a\x1b\x07b") == ["ab"]


HANDLED_CONTROLS = "\n\r\b\t\x1b"
OTHER_CONTROLS = [
    chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)] if chr(c) not in HANDLED_CONTROLS
]


@pytest.mark.parametrize("control", OTHER_CONTROLS)
def test_other_control_characters_are_dropped(control: str) -> None:
    assert texts(f"a{control}b") == ["ab"]


def test_non_ascii_text_is_kept() -> None:
    assert texts("héllo wörld ✓ 日本\xa0end") == ["héllo wörld ✓ 日本\xa0end"]


# Unfinished and overlong sequences


def test_unterminated_long_osc_is_dropped_with_bounded_memory() -> None:
    renderer = AnsiRenderer()
    assert renderer.feed("before\n\x1b]0;" + "x" * 10_000) == Update(
        [(("before", DEFAULT_STYLE),)], ()
    )
    for _ in range(100):
        assert renderer.feed("y" * 10_000 + "\n") == Update([], ())
        assert len(renderer._pending) <= 4  # only the introducer is kept
    assert renderer.feed("\x07after\n") == Update([(("after", DEFAULT_STYLE),)], ())


def test_long_terminated_strings_in_one_chunk() -> None:
    image = "\x1b]1337;File=inline=1:" + "QUJD" * 50_000 + "\x07"
    sixel = "\x1bPq" + "#0;2;0;0;0~~@@" * 10_000 + "\x1b\\"
    assert texts("a" + image + "b" + sixel + "c\n") == ["abc"]


def test_string_ending_with_esc_at_a_chunk_end() -> None:
    assert texts("\x1b]0;title\x1b", "\\x") == ["x"]
    assert render("\x1b]0;title\x1b", "[31mx") == [(("x", RED),)]


def test_overlong_csi_is_skipped_not_applied() -> None:
    long_csi = "\x1b[" + "1;" * MAX_SEQUENCE + "31m"
    assert render(long_csi + "x") == [(("x", DEFAULT_STYLE),)]
    renderer = AnsiRenderer()
    for i in range(0, len(long_csi), 100):
        assert renderer.feed(long_csi[i : i + 100]) == Update([], ())
        assert len(renderer._pending) <= MAX_SEQUENCE + 2
    assert renderer.feed("x") == Update([], (("x", DEFAULT_STYLE),))


def test_overlong_escape_with_intermediates_is_skipped() -> None:
    sequence = "\x1b" + "(" * 10_000 + "B"
    assert texts(sequence + "x") == ["x"]
    renderer = AnsiRenderer()
    for i in range(0, len(sequence), 1000):
        renderer.feed(sequence[i : i + 1000])
        assert len(renderer._pending) <= MAX_SEQUENCE + 1
    assert plain_text(renderer.feed("x").partial) == "x"


def test_csi_broken_by_a_line_feed_is_dropped() -> None:
    assert texts("a\x1b[1\nb") == ["a", "b"]


# Update semantics and reset


def test_updates_report_finished_lines_and_the_partial_line() -> None:
    renderer = AnsiRenderer()
    ab = (("ab", DEFAULT_STYLE),)
    assert renderer.feed("") == Update([], ())
    assert renderer.feed("ab") == Update([], ab)
    assert renderer.feed("") == Update([], ab)  # the current partial line, nothing changed
    assert renderer.feed("\x1b[31m") == Update([], ab)  # unchanged, reported again
    assert renderer.feed("c\nd") == Update([(("ab", DEFAULT_STYLE), ("c", RED))], (("d", RED),))
    assert renderer.feed("\n\n") == Update([(("d", RED),), ()], ())
    assert renderer.feed("\x1b[0") == Update([], ())
    assert renderer.feed("mx\ny\rz") == Update([(("x", DEFAULT_STYLE),)], (("z", DEFAULT_STYLE),))


def test_reset_forgets_style_line_and_unfinished_sequence() -> None:
    renderer = AnsiRenderer()
    renderer.feed("\x1b[31mabc\r\x1b]0;unfinished title")
    renderer.reset()
    assert renderer.feed("x\n") == Update([(("x", DEFAULT_STYLE),)], ())


# Any split of the output renders the same lines

SAMPLE = (
    "\x1b]0;title\x07\x1b[?2004h$ ls\r\n"
    "\x1b[0m\x1b[01;34mdir\x1b[0m  \x1b[38;5;208mfile\x1b[m\tx\r\n"
    "\x1b[38:2::10:20:30mrgb\x1b[39;1;48;2;1;2;3mbg\x1b[0m\n"
    "[##   ] 40%\r[#### ] 80%\r\x1b[32m[#####]\x1b[0m\x1b[K\n"
    "abc\bd\x1b[1K!\x1b(B\x1b7\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\\x1bPdcs\x1b\\end\n"
    "tail \x1b[4munder"
)


def feed_all(chunks: list[str]) -> list[Line]:
    lines, partial = render_chunks(chunks)
    return [*lines, partial]


def split_at(text: str, cuts: list[int]) -> list[str]:
    bounds = [0, *sorted(cuts), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def test_sample_renders_as_expected() -> None:
    assert [plain_text(line) for line in feed_all([SAMPLE])] == [
        "$ ls",
        "dir  file       x",
        "rgbbg",
        "[#####]",
        "   !linkend",
        "tail under",
    ]


def test_every_two_way_split_renders_the_same() -> None:
    whole = feed_all([SAMPLE])
    for cut in range(len(SAMPLE) + 1):
        assert feed_all(split_at(SAMPLE, [cut])) == whole, cut


def test_every_three_way_split_of_escapes_renders_the_same() -> None:
    text = "a\x1b[1;38;2;1;2;3mb\x1b]0;t\x1b\\c\x1b(Bd\r\x1b[Ke\n"
    whole = feed_all([text])
    for first, second in itertools.combinations_with_replacement(range(len(text) + 1), 2):
        assert feed_all(split_at(text, [first, second])) == whole, (first, second)


def test_one_character_at_a_time_renders_the_same() -> None:
    assert feed_all(list(SAMPLE)) == feed_all([SAMPLE])


FRAGMENTS = st.sampled_from(
    [
        "a",
        "bc",
        " ",
        "é",
        "\n",
        "\r",
        "\r\n",
        "\b",
        "\t",
        "\x07",
        "\x00",
        "\x7f",
        "\x1b",
        "\x1b[",
        "[",
        "]",
        "\\",
        ";",
        ":",
        "1",
        "38",
        "5",
        "2",
        "m",
        "K",
        "?",
        "(",
        "P",
        "\x9c",
        "\x1b[31m",
        "\x1b[0m",
        "\x1b[1;4m",
        "\x1b[38;5;99m",
        "\x1b[48:2::1:2:3m",
        "\x1b[K",
        "\x1b[1K",
        "\x1b[2K",
        "\x1b]0;t\x07",
        "\x1b]8;;u\x1b\\",
        "\x1bP",
        "\x1b\\",
        "\x1b(B",
        "\x1b[?25l",
    ]
)


@settings(max_examples=300, database=None, deadline=None)
@given(
    text=st.lists(FRAGMENTS, max_size=40).map("".join),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6),
)
def test_any_split_renders_the_same(text: str, cuts: list[int]) -> None:
    cuts = [cut for cut in cuts if cut <= len(text)]
    assert feed_all(split_at(text, cuts)) == feed_all([text])


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@settings(max_examples=300, database=None, deadline=None)
@given(text=st.lists(FRAGMENTS, max_size=60).map("".join))
def test_lines_are_well_formed(text: str) -> None:
    for line in feed_all([text]):
        for text_of_run, _ in line:
            assert text_of_run
            assert not _CONTROL.search(text_of_run)
        for (_, left), (_, right) in itertools.pairwise(line):
            assert left != right


# Palette


@pytest.mark.parametrize(
    ("index", "rgb"),
    [
        (0, (0, 0, 0)),
        (1, (205, 0, 0)),
        (9, (255, 0, 0)),
        (15, (255, 255, 255)),
        (16, (0, 0, 0)),
        (21, (0, 0, 255)),
        (196, (255, 0, 0)),
        (208, (255, 135, 0)),
        (231, (255, 255, 255)),
        (232, (8, 8, 8)),
        (244, (128, 128, 128)),
        (255, (238, 238, 238)),
    ],
)
def test_palette_rgb(index: int, rgb: tuple[int, int, int]) -> None:
    assert palette_rgb(index) == rgb


def test_palette_starts_with_the_16_base_colors() -> None:
    assert len(PALETTE_16) == 16
    assert [palette_rgb(i) for i in range(16)] == list(PALETTE_16)
    assert all(0 <= c <= 255 for i in range(256) for c in palette_rgb(i))


@pytest.mark.parametrize("index", [-1, 256])
def test_palette_rgb_rejects_other_indices(index: int) -> None:
    with pytest.raises(ValueError, match="palette index"):
        palette_rgb(index)


# The fast path and the per-cell path agree with a plain model of terminal cells

MODEL_FRAGMENTS = [
    "a",
    "bcd",
    "é",
    "\r",
    "\b",
    "\t",
    "\n",
    "\x1b[31m",
    "\x1b[1m",
    "\x1b[0m",
    "\x1b[K",
    "\x1b[1K",
    "\x1b[2K",
]


def model(text_fragments: list[str]) -> list[Line]:
    """One (character, style) per cell, changed one character at a time."""
    lines: list[Line] = []
    cells: list[tuple[str, Style]] = []
    col = 0
    style = DEFAULT_STYLE
    blank = (" ", DEFAULT_STYLE)

    def finish() -> Line:
        runs: list[tuple[str, Style]] = []
        for char, cell_style in cells:
            if runs and runs[-1][1] == cell_style:
                runs[-1] = (runs[-1][0] + char, cell_style)
            else:
                runs.append((char, cell_style))
        return tuple(runs)

    for fragment in text_fragments:
        if fragment == "\n":
            lines.append(finish())
            cells, col = [], 0
        elif fragment == "\r":
            col = 0
        elif fragment == "\b":
            col = max(col - 1, 0)
        elif fragment == "\t":
            col = (col // 8 + 1) * 8
        elif fragment == "\x1b[31m":
            style = Style(fg=1, bold=style.bold)
        elif fragment == "\x1b[1m":
            style = Style(fg=style.fg, bold=True)
        elif fragment == "\x1b[0m":
            style = DEFAULT_STYLE
        elif fragment == "\x1b[K":
            del cells[col:]
        elif fragment == "\x1b[1K":
            cells = [] if col + 1 >= len(cells) else [blank] * (col + 1) + cells[col + 1 :]
        elif fragment == "\x1b[2K":
            cells = []
        else:
            for char in fragment:
                cells.extend([blank] * (col - len(cells)))
                if col < len(cells):
                    cells[col] = (char, style)
                else:
                    cells.append((char, style))
                col += 1
    return [*lines, finish()]


@settings(max_examples=500, database=None, deadline=None)
@given(
    fragments=st.lists(st.sampled_from(MODEL_FRAGMENTS), max_size=60),
    cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=5),
)
def test_renderer_agrees_with_a_cell_model(fragments: list[str], cuts: list[int]) -> None:
    text = "".join(fragments)
    cuts = [cut for cut in cuts if cut <= len(text)]
    assert feed_all(split_at(text, cuts)) == model(fragments)


def test_an_endless_line_wraps_like_a_terminal() -> None:
    from desktop.ansi import WRAP

    renderer = AnsiRenderer()
    update = renderer.feed("\x1b[31m" + "a" * (2 * WRAP + 10))
    assert [len(plain_text(line)) for line in update.finished] == [WRAP, WRAP]
    assert plain_text(update.partial) == "a" * 10
    assert all(line[0][1].fg == 1 for line in update.finished)
    # CR returns to the start of the wrapped row, as on a terminal.
    update = renderer.feed("\rZZ\n")
    assert plain_text(update.finished[0]) == "ZZ" + "a" * 8
