"""resources/web/ansi.js renders exactly as desktop/ansi.py: the same inputs, split the same
ways, give the same lines and styles, run in Chromium against the Python renderer."""

from __future__ import annotations

import itertools
import random
from typing import TYPE_CHECKING, Any

import pytest

from desktop.ansi import Style, palette_rgb
from tests.ansi_render import render_chunks
from tests.web.helpers import Dock

if TYPE_CHECKING:
    from playwright.sync_api import Page

# Lines as JSON: [[text, [fg, bg, bold, dim, italic, underline, inverse]], ...]
RENDER_JS = """async (cases) => {
  const {AnsiRenderer} = await import('/ansi.js');
  const style = (s) => [s.fg, s.bg, s.bold, s.dim, s.italic, s.underline, s.inverse];
  return cases.map((chunks) => {
    const renderer = new AnsiRenderer();
    const lines = [];
    let partial = [];
    for (const chunk of chunks) {
      const update = renderer.feed(chunk);
      lines.push(...update.finished);
      partial = update.partial;
    }
    return [...lines, partial].map((line) => line.map(([text, s]) => [text, style(s)]));
  });
}"""

EXAMPLES = [
    "plain\r\nline two\n\nafter an empty line",
    "\x1b[30m0\x1b[37m7\x1b[40m0\x1b[47m7\x1b[90m8\x1b[97m15\x1b[100m8\x1b[107m15\x1b[0m.",
    "\x1b[38;5;200ma\x1b[48;5;17mb\x1b[38;2;1;2;3mc\x1b[48;2;255;128;0md\x1b[m",
    "\x1b[38:5:42ma\x1b[48:5:42mb\x1b[38:2::1:2:3mc\x1b[38:2:0:1:2:3md\x1b[38:2:1:2:3me",
    "\x1b[1ma\x1b[2mb\x1b[3mc\x1b[4md\x1b[4:3me\x1b[21mf\x1b[7mg\x1b[22;23;24;27mh",
    "\x1b[01;031ma\x1b[1;31;48;5;200mb\x1b[38;5;1;1mc\x1b[38;2;10;20;30;4md\x1b[;1me\x1b[1;;3mf",
    "\x1b[5;6;8;9;53ma\x1b[58;2;1;2;3mb\x1b[58:2::1:2:3mc\x1b[38;5;256md\x1b[38;2;1;2;300me",
    "\x1b[38;5mf\x1b[38;2;1;2mg\x1b[38:2:1mh\x1b[4:0mi\x1b[?1mj\x1b[>4;1mk\x1b[1 ml",
    "\x1b[31;42mx\x1b[39my\x1b[49mz\x1b[1;4m\x1b[4:0mw\x1b[1;31m\x1bcv",
    "".join(f"\x1b[38;2;{i % 256};{i // 256};0m{chr(97 + i % 26)}" for i in range(3000)),
    "".join(f"\r[{'#' * i}{' ' * (5 - i)}] {i * 20}%" for i in range(6)) + "\n",
    "50%\r1\ndownloading\rdone\n\x1b[31mabc\r\x1b[32mX\nabc\r\x1b[31mabcdef\n",
    "abc\bX\n\b\bX\nab\b\b\bc\nabc\b\b\na\b\b\bbc\nworking |\b/\b-\b\\\b|\bdone\n",
    "a\tb\n\tb\n1234567\tb\n12345678\tb\na\t\tb\na\t\nabcdefghijk\r\tX\n\x1b[41ma\tb\n",
    "abcdef\r\x1b[K\nabcdef\b\b\b\x1b[Kx\nabc\x1b[K\nabcdef\b\b\b\x1b[1K\nabcdef\r\x1b[1K\n",
    "abc\x1b[1Kd\nabcdef\x1b[2Kxy\nabc\r\x1b[?K\nabc\r\x1b[?2K\nabc\r\x1b[3K\n100%\r40%\x1b[K\n",
    "\x1b[41mabcdef\b\b\b\x1b[1K\n\x1b[01;31m\x1b[Kmatch\x1b[m\x1b[K rest\n",
    "a\x1b[2Ab\x1b[10Gc\x1b[3;4Hd\x1b[2Je\x1b[?2004hf\x1b[?25lg\x1b[0 qh\x1b[>0;1ci\x1b[6nj",
    "\x1b]0;my title\x07a\x1b]2;t\x1b\\b\x1b]0;t\x9cc\x1b]8;;https://x\x1b\\link\x1b]8;;\x1b\\",
    "\x1b]\x07x\x1b]0;t\x18y\x1b]0;t\x1az\x1b(Ba\x1b)0b\x1b7c\x1b8d\x1b=e\x1b>f\x1b#8g\x1b%Gh",
    "\x1bMx\x1bDy\x1bEz\x1b\\a\x1bP1$r0m\x1b\\b\x1bPa\x07b\x1b\\c\x1b_Gf=100;AAAA\x1b\\d",
    "\x1b^p\x1b\\a\x1bXs\x1b\\b\x1b\x1b[1Ac\x1b]0;title\x1b[31md\na\x1b\nb\na\x1b\x07b",
    "a"
    + "".join(chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)] if chr(c) not in "\n\r\b\t\x1b")
    + "b",
    "héllo wörld ✓ 日本\xa0end 😀 emoji\r😎\n😀😀\b\bX\x1b[1K\n",
    "before\n\x1b]0;" + "x" * 10_000 + "\x07after\n",
    "\x1b[" + "1;" * 4096 + "31mskipped\n\x1b" + "(" * 5000 + "Bx\n\x1b[" + "1;" * 2000 + "31mok\n",
    "a\x1b[1\nb\x1b[31",
    # Lines over the 4096-cell wrap: plain, styled, with wide code points, and overwritten.
    "x" * 10_000 + "\nafter\n",
    "\x1b[31m" + "ab" * 4100 + "\x1b[0mtail\rHEAD\n",
    "😀" * 5000 + "é" * 10 + "\n",
    "y" * 4095 + "\x1b[1mzz" + "\b" * 3 + "W" + "q" * 5000,
]

SPLIT_SAMPLE = (
    "\x1b]0;title\x07\x1b[?2004h$ ls\r\n"
    "\x1b[0m\x1b[01;34mdir\x1b[0m  \x1b[38;5;208mfile\x1b[m\tx\r\n"
    "\x1b[38:2::10:20:30mrgb\x1b[39;1;48;2;1;2;3mbg\x1b[0m\n"
    "[##   ] 40%\r[#### ] 80%\r\x1b[32m[#####]\x1b[0m\x1b[K\n"
    "abc\bd\x1b[1K!\x1b(B\x1b7\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\\x1bPdcs\x1b\\end\n"
    "tail \x1b[4munder 😀"
)

FRAGMENTS = [
    "a", "bc", " ", "é", "😀", "\n", "\r", "\r\n", "\b", "\t", "\x07", "\x00", "\x7f", "\x1b",
    "\x1b[", "[", "]", "\\", ";", ":", "1", "38", "48", "5", "2", "m", "K", "?", "(", "P", "\x9c",
    "\x1b[31m", "\x1b[0m", "\x1b[1;4m", "\x1b[38;5;99m", "\x1b[48:2::1:2:3m", "\x1b[K",
    "\x1b[1K", "\x1b[2K", "\x1b]0;t\x07", "\x1b]8;;u\x1b\\", "\x1bP", "\x1b\\", "\x1b(B",
    "\x1b[?25l", "\x1b[7m", "\x1b[2;3m", "\x1b[38;2;9;8;7m", "\x1bc",
]  # fmt: skip


def split_at(text: str, cuts: list[int]) -> list[str]:
    bounds = [0, *sorted(cuts), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def python_render(chunks: list[str]) -> list[Any]:
    lines, partial = render_chunks(chunks)
    return [[[text, style_json(style)] for text, style in line] for line in [*lines, partial]]


def style_json(style: Style) -> list[Any]:
    def color(value: Any) -> Any:
        return list(value) if isinstance(value, tuple) else value

    return [
        color(style.fg), color(style.bg), style.bold, style.dim, style.italic,
        style.underline, style.inverse,
    ]  # fmt: skip


def cases() -> list[list[str]]:
    rng = random.Random(20240611)
    found: list[list[str]] = [[text] for text in EXAMPLES]
    found += [list(text) for text in EXAMPLES if len(text) < 1000]  # one character at a time
    found += [split_at(SPLIT_SAMPLE, [cut]) for cut in range(len(SPLIT_SAMPLE) + 1)]
    for _ in range(600):
        text = "".join(rng.choice(FRAGMENTS) for _ in range(rng.randrange(60)))
        cuts = [rng.randrange(len(text) + 1) for _ in range(rng.randrange(5))]
        found.append(split_at(text, cuts))
    return found


@pytest.fixture
def blank(dock: Dock) -> Page:
    page = dock.new_page()
    page.goto(dock.server.url + "/test-sse.html")
    return page


def test_js_renderer_gives_the_desktop_renderers_lines(blank: Page) -> None:
    all_cases = cases()
    expected = [python_render(chunks) for chunks in all_cases]
    actual = blank.evaluate(RENDER_JS, all_cases)
    for chunks, want, got in zip(all_cases, expected, actual, strict=True):
        assert got == want, chunks


def test_a_color_inside_a_semicolon_color_is_ignored_not_fatal(blank: Page) -> None:
    # desktop/ansi.py raises ValueError on these; the page must go on rendering.
    [lines] = blank.evaluate(RENDER_JS, [["\x1b[38;5;1:2ma\x1b[38;2;1;2:3;4mb\x1b[31mc\n"]])
    assert lines[0] == [["ab", [None, None, False, False, False, False, False]],
                        ["c", [1, None, False, False, False, False, False]]]  # fmt: skip


def test_palette_is_xterms(blank: Page) -> None:
    palette = blank.evaluate(
        "async () => { const {paletteRgb} = await import('/ansi.js');"
        " return Array.from({length: 256}, (_, i) => paletteRgb(i)); }"
    )
    assert palette == [list(palette_rgb(i)) for i in range(256)]
