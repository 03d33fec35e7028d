"""Terminal output to styled lines: an ANSI renderer without Qt and without any I/O.

A session's ``output`` events carry what a program wrote to its terminal, cut into chunks
anywhere, even inside an escape sequence. ``AnsiRenderer.feed`` takes those chunks in order and
answers with an ``Update``: the lines that a line feed finished since the previous call, and the
current unfinished line as it stands now. The desktop widget and the web UI's JavaScript port
both follow this API::

    renderer = AnsiRenderer()
    update = renderer.feed(chunk)        # -> Update(finished: list[Line], partial: Line)
    # The view replaces the partial line it showed last by `update.finished` + [`update.partial`].
    renderer.reset()                     # forget everything (a new session)

    Line = tuple[Run, ...]               # adjacent runs have different styles; no run is empty
    Run = tuple[str, Style]
    Style(fg, bg, bold, dim, italic, underline, inverse)   # frozen; DEFAULT_STYLE = Style()
    # fg and bg: None (the default color), a palette index 0-255, or an (r, g, b) tuple.
    plain_text(line) -> str              # the characters of a line
    palette_rgb(index) -> (r, g, b)      # xterm's 256-color palette; PALETTE_16 is its first 16

What it understands:

- SGR (``CSI ... m``): 0 or nothing (reset), 1 bold, 2 dim, 3 italic, 4 underline (``4:0`` off,
  ``4:1``-``4:5`` on), 21 underline, 7 inverse; the resets 22 (bold and dim), 23, 24 and 27;
  colors 30-37/40-47, bright 90-97/100-107, 39/49 (default), 256 colors ``38;5;n``/``48;5;n`` and
  truecolor ``38;2;r;g;b``/``48;2;r;g;b``, also in the colon forms ``38:5:n``, ``38:2::r:g:b`` and
  ``38:2:r:g:b``. Underline color (58) is read and ignored; other codes and out-of-range colors are
  ignored. The style persists across lines and chunks.
- Carriage return moves the cursor to column 0 and backspace one column left (not past 0); text
  written at the cursor overwrites the cells there, so progress bars redraw in place and
  ``"50%\\r1"`` shows ``"10%"``. A tab moves the cursor to the next multiple of 8 without writing.
- ``CSI K`` (also ``CSI ? K``) erases on the current line: 0 from the cursor to the end, 1 from the
  start to the cursor, 2 the whole line. Erased cells at the end of the line are removed; erased
  cells before a kept cell become spaces in the default style. The cursor does not move, and text
  written past the end of the line is preceded by default-style spaces.
- LF (so also CRLF) finishes the line.
- Everything else is dropped without a trace: all other CSI sequences (cursor movement, ``?2004h``,
  ...), OSC strings ending in BEL or ST (titles, hyperlinks), DCS/SOS/PM/APC strings ending in ST,
  other escape sequences (``ESC =``, ``ESC ( B``, ``ESC 7``; ``ESC c`` also resets the style), the
  other C0 controls, DEL and the C1 controls U+0080-U+009F.

A sequence left unfinished at the end of a chunk is finished by the next one, so any split of the
output renders the same lines. Memory stays bounded: an unfinished OSC or DCS string keeps only its
introducer while its body (of any length) is dropped up to its terminator, as a terminal does (so
a string that never ends hides the output after it, until a BEL, ST, CAN or SUB); a CSI sequence
whose parameters exceed ``MAX_SEQUENCE`` characters is skipped without being applied. A CSI
sequence broken by a control or non-ASCII character is dropped up to that character.

One character is one cell: wide and combining characters are not measured.

Plain text goes through with slicing and one regular expression search per special character; only
a line rewound by CR or BS is kept as a list of cells. Measured with CPython 3.11 on a 2-core Xeon
VM, feeding 50,000 lines in 4 KiB chunks: plain 80-character lines 0.08 s, lines with one colored
word and CRLF 0.25 s, 110-character lines with six SGR sequences 0.52 s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import groupby
from typing import Final, TypeAlias

Color: TypeAlias = int | tuple[int, int, int] | None


@dataclass(frozen=True, slots=True)
class Style:
    """How a run of text looks.

    ``fg`` and ``bg`` are None for the terminal's default color, a palette index 0-255 (see
    ``palette_rgb``) or an ``(r, g, b)`` tuple. ``inverse`` is left for the view to apply.
    """

    fg: Color = None
    bg: Color = None
    bold: bool = False
    dim: bool = False
    italic: bool = False
    underline: bool = False
    inverse: bool = False


DEFAULT_STYLE: Final = Style()

Run: TypeAlias = tuple[str, Style]
Line: TypeAlias = tuple[Run, ...]


@dataclass(frozen=True, slots=True)
class Update:
    """What one ``feed`` changed.

    ``finished`` holds the lines that a line feed ended since the previous feed, in order;
    ``partial`` is the current unfinished line as it stands now (possibly ``()``). A view replaces
    the partial line it showed before by ``finished`` followed by ``partial``.
    """

    finished: list[Line]
    partial: Line


def plain_text(line: Line) -> str:
    """The characters of a line, without styles."""
    return "".join(text for text, _ in line)


PALETTE_16: Final[tuple[tuple[int, int, int], ...]] = (
    (0, 0, 0),
    (205, 0, 0),
    (0, 205, 0),
    (205, 205, 0),
    (0, 0, 238),
    (205, 0, 205),
    (0, 205, 205),
    (229, 229, 229),
    (127, 127, 127),
    (255, 0, 0),
    (0, 255, 0),
    (255, 255, 0),
    (92, 92, 255),
    (255, 0, 255),
    (0, 255, 255),
    (255, 255, 255),
)


def palette_rgb(index: int) -> tuple[int, int, int]:
    """The RGB of xterm's color ``index``: 16 base colors, a 6x6x6 cube, then 24 grays."""
    if not 0 <= index <= 255:
        raise ValueError(f"palette index out of range: {index}")
    if index < 16:
        return PALETTE_16[index]
    if index < 232:
        cube = index - 16
        r, g, b = cube // 36, cube // 6 % 6, cube % 6
        return (_cube_level(r), _cube_level(g), _cube_level(b))
    gray = 8 + 10 * (index - 232)
    return (gray, gray, gray)


def _cube_level(step: int) -> int:
    return 55 + 40 * step if step else 0


MAX_SEQUENCE: Final = 4096
"""How many parameter characters a CSI sequence may have and still be applied."""
WRAP: Final = 4096
"""Cells in a line before it wraps, as a terminal's autowrap (far past any real width)."""

# C0 controls, DEL and C1 controls: everything that is not written to a cell as it is.
_SPECIAL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Parameter and intermediate bytes are accepted in any order; the final byte ends the sequence.
_CSI: Final = re.compile(r"\x1b\[([\x20-\x3f]*)([\x40-\x7e])?")
_NF: Final = re.compile(r"\x1b[\x20-\x2f]+([\x30-\x7e])?")
# What may end an OSC string (BEL, ESC of ST, C1 ST) or abort it (CAN, SUB); others lack BEL.
_OSC_STOP: Final = re.compile(r"[\x07\x18\x1a\x1b\x9c]")
_STRING_STOP: Final = re.compile(r"[\x18\x1a\x1b\x9c]")
_SGR: Final = re.compile(r"\x1b\[([0-9;:]*)m")
_SGR_PARAMS: Final = re.compile(r"[0-9;:]*")
# A stand-in for an unfinished CSI sequence that grew too long: '<' makes it one we ignore.
_SKIPPED_CSI: Final = "\x1b[<"
_SGR_CACHE_SIZE: Final = 1024


class AnsiRenderer:
    """Renders a stream of terminal output chunks into styled lines (see the module docstring)."""

    __slots__ = (
        "_cell_styles",
        "_cells",
        "_col",
        "_interned",
        "_length",
        "_pending",
        "_sgr_cache",
        "_style",
        "_styles",
        "_texts",
    )

    def __init__(self) -> None:
        self._style = DEFAULT_STYLE
        # The unfinished escape sequence at the end of the last chunk, or a short stand-in for it.
        self._pending = ""
        # The current line is either pieces of text appended at its end (the fast path) ...
        self._texts: list[str] = []
        self._styles: list[Style] = []
        self._length = 0
        # ... or, once the cursor went back by CR or BS, one character and one style per cell.
        self._cells: list[str] | None = None
        self._cell_styles: list[Style] = []
        self._col = 0
        # Equal styles are one object within a line, so runs are merged by identity. The cache maps
        # (id of an interned style, SGR parameters) to the resulting style; when it is full, both
        # start again from the styles the current line uses.
        self._interned: dict[Style, Style] = {DEFAULT_STYLE: DEFAULT_STYLE}
        self._sgr_cache: dict[tuple[int, str], Style] = {}

    def reset(self) -> None:
        """Forget the style, the current line and any unfinished sequence (a new session)."""
        self._style = DEFAULT_STYLE
        self._pending = ""
        self._clear_line()
        self._col = 0
        self._forget_styles()

    def feed(self, text: str) -> Update:
        """Render the next chunk of output."""
        if self._pending:
            text = self._pending + text
            self._pending = ""
        finished: list[Line] = []
        search = _SPECIAL.search
        sgr = _SGR.match
        n = len(text)
        pos = 0
        while pos < n:
            match = search(text, pos)
            if match is None:
                self._write(text[pos:])
                self._wrap(finished)
                break
            j = match.start()
            if j > pos:
                self._write(text[pos:j])
                self._wrap(finished)
            char = text[j]
            if char == "\x1b":
                match = sgr(text, j)
                if match is None:
                    pos = self._escape(text, j)
                    if pos < 0:
                        break
                else:
                    self._sgr(match.group(1))
                    pos = match.end()
                continue
            pos = j + 1
            if char == "\n":
                finished.append(self._line())
                self._clear_line()
                self._col = 0
            elif char == "\r":
                self._col = 0
            elif char == "\b":
                if self._col:
                    self._col -= 1
            elif char == "\t":
                self._col = (self._col // 8 + 1) * 8
        return Update(finished, self._partial())

    # The current line

    def _write(self, text: str) -> None:
        col = self._col
        cells = self._cells
        if cells is None:
            length = self._length
            if col >= length:
                if col > length:
                    self._texts.append(" " * (col - length))
                    self._styles.append(DEFAULT_STYLE)
                self._texts.append(text)
                self._styles.append(self._style)
                self._length = self._col = col + len(text)
                return
            cells = self._to_cells()
        styles = self._cell_styles
        gap = col - len(cells)
        if gap > 0:
            cells.extend(" " * gap)
            styles.extend([DEFAULT_STYLE] * gap)
        end = col + len(text)
        cells[col:end] = text
        styles[col:end] = [self._style] * len(text)
        self._col = end

    def _wrap(self, finished: list[Line]) -> None:
        """A line longer than WRAP cells goes on on the next one, as a terminal's autowrap does
        (at a far wider margin): one endless line (minified JSON, base64) must not become one
        ever-growing block that the view lays out again on every update."""
        if (self._length if self._cells is None else len(self._cells)) <= WRAP:
            return
        cells = self._cells if self._cells is not None else self._to_cells()
        styles = self._cell_styles
        while len(cells) > WRAP:
            finished.append(_cell_runs(cells[:WRAP], styles[:WRAP]))
            cells, styles = cells[WRAP:], styles[WRAP:]
            self._col = max(0, self._col - WRAP)
        self._cells, self._cell_styles = cells, styles

    def _to_cells(self) -> list[str]:
        cells = list("".join(self._texts))
        styles: list[Style] = []
        for text, style in zip(self._texts, self._styles, strict=True):
            styles += [style] * len(text)
        self._cells = cells
        self._cell_styles = styles
        return cells

    def _clear_line(self) -> None:
        self._texts = []
        self._styles = []
        self._length = 0
        self._cells = None
        self._cell_styles = []

    def _line(self) -> Line:
        runs: list[Run] = []
        start = 0
        if self._cells is None:
            texts = self._texts
            if len(texts) == 1:
                return ((texts[0], self._styles[0]),)
            styles = self._styles
            for _, group in groupby(styles, id):
                end = start + len(list(group))
                runs.append(("".join(texts[start:end]), styles[start]))
                start = end
        else:
            return _cell_runs(self._cells, self._cell_styles)
        return tuple(runs)

    def _partial(self) -> Line:
        line = self._line()
        cells = self._cells
        if cells is None:
            if len(self._texts) > len(line):
                self._texts = [text for text, _ in line]
                self._styles = [style for _, style in line]
        elif self._col >= len(cells):
            # Nothing left to overwrite: back to appending pieces.
            self._length = len(cells)
            self._cells = None
            self._cell_styles = []
            self._texts = [text for text, _ in line]
            self._styles = [style for _, style in line]
        return line

    def _erase(self, mode: int) -> None:
        col = self._col
        length = self._length if self._cells is None else len(self._cells)
        if mode == 0:
            if col >= length:
                return
            cells = self._cells if self._cells is not None else self._to_cells()
            del cells[col:]
            del self._cell_styles[col:]
        elif mode == 1 and col + 1 < length:
            cells = self._cells if self._cells is not None else self._to_cells()
            cells[: col + 1] = " " * (col + 1)
            self._cell_styles[: col + 1] = [DEFAULT_STYLE] * (col + 1)
        elif mode in (1, 2):
            self._clear_line()

    # Escape sequences

    def _escape(self, text: str, start: int) -> int:
        """Handle the sequence at ``text[start]`` (an ESC): where to go on, or -1 if unfinished."""
        n = len(text)
        if start + 1 == n:
            self._pending = "\x1b"
            return -1
        kind = text[start + 1]
        if kind == "[":
            match = _CSI.match(text, start)
            assert match is not None
            params, final = match.group(1, 2)
            end = match.end()
            if final is None:
                if end == n:
                    self._pending = text[start:] if len(params) <= MAX_SEQUENCE else _SKIPPED_CSI
                    return -1
                return end  # broken by a control or non-ASCII character, which is handled next
            if final == "m":
                self._sgr(params)
            elif final == "K":
                self._erase_params(params)
            return end
        if kind in "]PX^_":
            stop = (_OSC_STOP if kind == "]" else _STRING_STOP).search(text, start + 2)
            if stop is None:
                self._pending = text[start : start + 2]
                return -1
            end = stop.start()
            if text[end] != "\x1b":
                return end + 1
            if end + 1 == n:
                self._pending = text[start : start + 2] + "\x1b"
                return -1
            # ESC \ is the string terminator; any other ESC ends the string and starts a sequence.
            return end + 2 if text[end + 1] == "\\" else end
        if "\x20" <= kind <= "\x2f":
            match = _NF.match(text, start)
            assert match is not None
            end = match.end()
            if match.group(1) is None and end == n:
                self._pending = text[start:] if end - start <= MAX_SEQUENCE else "\x1b "
                return -1
            return end
        if "\x30" <= kind <= "\x7e":
            if kind == "c":
                self._style = DEFAULT_STYLE
            return start + 2
        return start + 1  # a lone ESC before a control or non-ASCII character

    def _sgr(self, params: str) -> None:
        if params == "" or params == "0":
            self._style = DEFAULT_STYLE
            return
        key = (id(self._style), params)
        style = self._sgr_cache.get(key)
        if style is None:
            if len(params) > MAX_SEQUENCE or not _SGR_PARAMS.fullmatch(params):
                return  # private (CSI ? ... m, CSI > ... m), with intermediates, or absurd
            if len(self._sgr_cache) >= _SGR_CACHE_SIZE:
                self._forget_styles()
            style = _apply_sgr(self._style, params)
            style = self._interned.setdefault(style, style)
            self._sgr_cache[key] = style
        self._style = style

    def _forget_styles(self) -> None:
        """Bound the caches, keeping the styles that the current line refers to."""
        self._sgr_cache.clear()
        kept = [DEFAULT_STYLE, self._style, *self._styles, *self._cell_styles]
        self._interned = {style: style for style in kept}

    def _erase_params(self, params: str) -> None:
        if len(params) > MAX_SEQUENCE:
            return
        if params.startswith("?"):
            params = params[1:]
        if params == "":
            self._erase(0)
        elif params.isdigit():
            self._erase(int(params))


def _apply_sgr(style: Style, params: str) -> Style:
    """``style`` changed by the SGR parameters ``params`` (digits, ';' and ':' only)."""
    fg, bg = style.fg, style.bg
    bold, dim, italic = style.bold, style.dim, style.italic
    underline, inverse = style.underline, style.inverse
    parts = params.split(";")
    i = 0
    while i < len(parts):
        part = parts[i]
        i += 1
        color: Color
        if ":" in part:
            sub = part.split(":")
            code = int(sub[0] or 0)
            if code in (38, 48, 58):
                color = _colon_color(sub)
            elif code == 4:
                underline = int(sub[1] or 0) != 0
                continue
        else:
            code = int(part or 0)
            if code in (38, 48, 58):
                color, i = _semicolon_color(parts, i)
        if code == 38:
            fg = color if color is not None else fg
        elif code == 48:
            bg = color if color is not None else bg
        elif code == 58:
            pass  # underline color: not shown
        elif code == 0:
            fg = bg = None
            bold = dim = italic = underline = inverse = False
        elif code == 1:
            bold = True
        elif code == 2:
            dim = True
        elif code == 3:
            italic = True
        elif code in (4, 21):
            underline = True
        elif code == 7:
            inverse = True
        elif code == 22:
            bold = dim = False
        elif code == 23:
            italic = False
        elif code == 24:
            underline = False
        elif code == 27:
            inverse = False
        elif 30 <= code <= 37:
            fg = code - 30
        elif code == 39:
            fg = None
        elif 40 <= code <= 47:
            bg = code - 40
        elif code == 49:
            bg = None
        elif 90 <= code <= 97:
            fg = code - 82
        elif 100 <= code <= 107:
            bg = code - 92
    new = Style(fg, bg, bold, dim, italic, underline, inverse)
    return DEFAULT_STYLE if new == DEFAULT_STYLE else new


def _semicolon_color(parts: list[str], i: int) -> tuple[Color, int]:
    """The color of ``38;5;n`` or ``38;2;r;g;b`` whose parts start at ``parts[i]``, and where the
    next code starts. None if it is invalid or incomplete."""
    kind = parts[i] if i < len(parts) else ""
    if kind == "5":
        if i + 1 < len(parts):
            return _index(parts[i + 1]), i + 2
        return None, len(parts)
    if kind == "2":
        if i + 3 < len(parts):
            return _rgb(parts[i + 1 : i + 4]), i + 4
        return None, len(parts)
    return None, i + 1


def _colon_color(sub: list[str]) -> Color:
    """The color of ``38:5:n``, ``38:2:r:g:b`` or ``38:2:colorspace:r:g:b`` (split at ':')."""
    if sub[1] == "5" and len(sub) > 2:
        return _index(sub[2])
    if sub[1] == "2":
        if len(sub) >= 6:
            return _rgb(sub[3:6])
        if len(sub) == 5:
            return _rgb(sub[2:5])
    return None


def _cell_runs(cells: list[str], styles: list[Style]) -> Line:
    runs: list[Run] = []
    start = 0
    for _, group in groupby(styles, id):
        end = start + len(list(group))
        runs.append(("".join(cells[start:end]), styles[start]))
        start = end
    return tuple(runs)


def _number(part: str) -> int | None:
    """A decimal parameter ("" is 0); None if it is not one (a stray ``1:2``)."""
    if not part:
        return 0
    return int(part) if part.isdigit() else None


def _index(part: str) -> int | None:
    value = _number(part)
    return value if value is not None and value <= 255 else None


def _rgb(parts: list[str]) -> tuple[int, int, int] | None:
    r, g, b = (_number(part) for part in parts)
    if r is None or g is None or b is None or max(r, g, b) > 255:
        return None
    return (r, g, b)
