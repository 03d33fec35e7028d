"""What a renderer reads from a terminal: rows of styled runs, the colours and the cursor.

libghostty's render state copies what a frame needs out of the terminal and tracks which rows
changed since the last frame (``update`` … ``clean``), so a renderer reads and paints only those.

Reading a row cell by cell costs four or five cffi calls a cell (about 50 ms for a 200x60
screen from Python), so a row is read in one call as its raw cells (``ROW_DATA_CELLS_RAW``)
and the fields are taken out of each 64-bit value here, at the bit positions the library itself
publishes (``ghostty_type_json``: they are not part of its ABI, so they are checked at import).
Only what the raw value cannot hold is asked for per cell: the style of each styled cell
(once per style and row) and the extra code points of a grapheme cluster.
"""

from __future__ import annotations

import functools
import json
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum
from itertools import groupby
from typing import Any, NamedTuple

from vtengine._lib import FREE, ffi, lib
from vtengine.terminal import EmulatorError, Rgb, Terminal

__all__ = ["Colors", "Cursor", "Dirty", "RenderState", "Row", "Run", "Style"]

# A colour as a cell asks for it: None (the default), a palette index, or an RGB triple.
Color = int | Rgb | None


class Dirty(IntEnum):
    """How much of the frame changed since ``clean``."""

    NONE = 0
    PARTIAL = 1
    FULL = 2


@dataclass(frozen=True, slots=True)
class Style:
    """A cell's look. Hashable: a renderer keys its fonts and colours on it."""

    fg: Color = None
    bg: Color = None
    underline_color: Color = None
    bold: bool = False
    italic: bool = False
    faint: bool = False
    blink: bool = False
    inverse: bool = False
    invisible: bool = False
    strikethrough: bool = False
    overline: bool = False
    underline: int = 0  # 0 none, 1 single, 2 double, 3 curly, 4 dotted, 5 dashed


DEFAULT_STYLE = Style()


@dataclass(frozen=True, slots=True)
class Run:
    """Cells side by side with one style, from column ``x``: ``text`` fills ``cells`` columns.
    A wide character (two columns) is a run of its own, so that a renderer can place it."""

    x: int
    text: str
    cells: int
    style: Style


class Row(NamedTuple):
    """One row of the frame: its runs, and the columns selected in it (first, last), if any."""

    y: int
    runs: list[Run]
    selected: tuple[int, int] | None


@dataclass(frozen=True, slots=True)
class Cursor:
    x: int
    y: int
    visible: bool  # also False when the viewport is scrolled away from it
    blinking: bool
    shape: str  # "bar", "block", "underline" or "block_hollow"
    wide: bool  # on the left half of a wide character


@dataclass(frozen=True, slots=True)
class Colors:
    foreground: Rgb
    background: Rgb
    cursor: Rgb | None
    palette: tuple[Rgb, ...]


_SHAPES = {
    lib.GHOSTTY_RENDER_STATE_CURSOR_VISUAL_STYLE_BAR: "bar",
    lib.GHOSTTY_RENDER_STATE_CURSOR_VISUAL_STYLE_BLOCK: "block",
    lib.GHOSTTY_RENDER_STATE_CURSOR_VISUAL_STYLE_UNDERLINE: "underline",
    lib.GHOSTTY_RENDER_STATE_CURSOR_VISUAL_STYLE_BLOCK_HOLLOW: "block_hollow",
}


def _cell_layout() -> dict[str, tuple[int, int]]:
    """(shift, mask) of each field of a raw cell, from the library's own manifest."""
    types = json.loads(ffi.string(lib.ghostty_type_json()).decode())["types"]
    bits = types["GhosttyCell"]["bits"]
    layout = {name: (field["lsb"], (1 << field["width"]) - 1) for name, field in bits.items()}
    arms = bits["content"]["arms"]
    codepoint = arms["CODEPOINT"]["bits"]["codepoint"]
    # Code points and colours sit at the start of the content field.
    shift = layout["content"][0]
    layout["codepoint"] = (shift + codepoint["lsb"], (1 << codepoint["width"]) - 1)
    layout["palette"] = (shift + arms["BG_COLOR_PALETTE"]["bits"]["index"]["lsb"], 0xFF)
    layout["rgb"] = (shift + arms["BG_COLOR_RGB"]["bits"]["r"]["lsb"], 0xFFFFFF)
    return layout


_LAYOUT = _cell_layout()
_TAG_SHIFT, _TAG_MASK = _LAYOUT["content_tag"]
_CP_SHIFT, _CP_MASK = _LAYOUT["codepoint"]
_PALETTE_SHIFT, _ = _LAYOUT["palette"]
_RGB_SHIFT, _ = _LAYOUT["rgb"]
_STYLE_SHIFT, _STYLE_MASK = _LAYOUT["style_id"]
_WIDE_SHIFT, _WIDE_MASK = _LAYOUT["wide"]
_GRAPHEME = lib.GHOSTTY_CELL_CONTENT_CODEPOINT_GRAPHEME
_BG_PALETTE = lib.GHOSTTY_CELL_CONTENT_BG_COLOR_PALETTE
_BG_RGB = lib.GHOSTTY_CELL_CONTENT_BG_COLOR_RGB
_WIDE = lib.GHOSTTY_CELL_WIDE_WIDE
_NARROW = lib.GHOSTTY_CELL_WIDE_NARROW
# The bits that make a cell anything but one narrow code point: a content tag other than a
# plain code point (0), or a width other than narrow (0).
_SPECIAL = (_TAG_MASK << _TAG_SHIFT) | (_WIDE_MASK << _WIDE_SHIFT)
if lib.GHOSTTY_CELL_CONTENT_CODEPOINT != 0 or _NARROW != 0:
    raise ImportError("libghostty-vt's cell layout changed: vtengine/render.py needs an update")


# For each possible first byte of a cell: 1 if its content tag says "background only".
_BACKGROUND_TAG = bytes(
    1 if (b >> _TAG_SHIFT) & _TAG_MASK in (_BG_PALETTE, _BG_RGB) else 0 for b in range(256)
)
if _TAG_SHIFT + _TAG_MASK.bit_length() > 8:
    raise ImportError("libghostty-vt's cell layout changed: vtengine/render.py needs an update")


def _background_only_value(value: int) -> int:
    """A background-only cell's tag and colour bits, to compare neighbours (0 for others)."""
    tag = (value >> _TAG_SHIFT) & _TAG_MASK
    if tag not in (_BG_PALETTE, _BG_RGB):
        return 0
    return value & ((_TAG_MASK << _TAG_SHIFT) | (0xFFFFFF << _RGB_SHIFT))


def _background_only(value: int) -> Style:
    """The style of a blank cell that holds only a background colour."""
    if (value >> _TAG_SHIFT) & _TAG_MASK == _BG_PALETTE:
        return Style(bg=(value >> _PALETTE_SHIFT) & 0xFF)
    rgb = (value >> _RGB_SHIFT) & 0xFFFFFF
    return Style(bg=(rgb & 0xFF, (rgb >> 8) & 0xFF, rgb >> 16))


def _check(result: int, what: str) -> None:
    if result != lib.GHOSTTY_SUCCESS:
        raise EmulatorError(f"{what} failed: {result}")


def _color(color: Any) -> Color:
    if color.tag == lib.GHOSTTY_STYLE_COLOR_PALETTE:
        return int(color.value.palette)
    if color.tag == lib.GHOSTTY_STYLE_COLOR_RGB:
        rgb = color.value.rgb
        return (rgb.r, rgb.g, rgb.b)
    return None


def _rgb(c: Any) -> Rgb:
    return (c.r, c.g, c.b)


def _free_render_state(state: Any, rows: Any, cells: Any) -> None:
    FREE["render_state_row_cells"](cells)
    FREE["render_state_row_iterator"](rows)
    FREE["render_state"](state)


class RenderState:
    """A frame's worth of one terminal: ``update`` from it, read ``rows``, then ``clean``.
    Like the terminal, it is used from one thread at a time."""

    def __init__(self) -> None:
        self._state = ffi.new("GhosttyRenderState*")
        _check(lib.ghostty_render_state_new(ffi.NULL, self._state), "render_state_new")
        self._rows = ffi.new("GhosttyRenderStateRowIterator*")
        _check(lib.ghostty_render_state_row_iterator_new(ffi.NULL, self._rows), "row_iterator")
        self._cells = ffi.new("GhosttyRenderStateRowCells*")
        _check(lib.ghostty_render_state_row_cells_new(ffi.NULL, self._cells), "row_cells")
        self._view = ffi.new("GhosttyCellsView*")
        self._style = ffi.new("GhosttyStyle*")
        self._style.size = ffi.sizeof("GhosttyStyle")
        self._count = ffi.new("uint32_t*")
        self._codepoints = ffi.new("uint32_t[]", 32)
        self._y = ffi.new("uint16_t*")
        self._dirty = ffi.new("GhosttyRenderStateDirty*")
        self._false = ffi.new("bool*", False)
        self._row_styles: dict[int, Style] = {}
        self._cells_fetched = False
        self._colors_out = ffi.new("GhosttyRenderStateColors*")
        self._colors_out.size = ffi.sizeof("GhosttyRenderStateColors")
        self._colors_raw = b""
        self._colors: Colors | None = None
        self._size = ffi.new("uint16_t*")
        self._cursor_out = ffi.new("GhosttyRenderStateCursor*")
        self._cursor_out.size = ffi.sizeof("GhosttyRenderStateCursor")
        self._selection = ffi.new("GhosttyRenderStateRowSelection*")
        self._selection.size = ffi.sizeof("GhosttyRenderStateRowSelection")
        self.cols = 0
        self.rows = 0

        self.close = weakref.finalize(
            self, _free_render_state, self._state[0], self._rows[0], self._cells[0]
        )

    def update(self, terminal: Terminal) -> Dirty:
        """Take the terminal's current frame; how much of it changed since ``clean``."""
        state = self._state[0]
        _check(lib.ghostty_render_state_update(state, terminal.handle), "render_state_update")
        size = ffi.new("uint16_t*")
        _check(
            lib.ghostty_render_state_get(state, lib.GHOSTTY_RENDER_STATE_DATA_COLS, size), "cols"
        )
        self.cols = int(size[0])
        _check(
            lib.ghostty_render_state_get(state, lib.GHOSTTY_RENDER_STATE_DATA_ROWS, size), "rows"
        )
        self.rows = int(size[0])
        _check(
            lib.ghostty_render_state_get(state, lib.GHOSTTY_RENDER_STATE_DATA_DIRTY, self._dirty),
            "dirty",
        )
        return Dirty(int(self._dirty[0]))

    def clean(self) -> None:
        """The frame is drawn: nothing is dirty until the next change."""
        _check(lib.ghostty_render_state_clean(self._state[0]), "render_state_clean")

    def colors(self) -> Colors:
        """The frame's colours; the same object while they do not change (a renderer compares
        them to know when to draw everything again)."""
        colors = self._colors_out
        key = lib.GHOSTTY_RENDER_STATE_DATA_COLORS
        _check(lib.ghostty_render_state_get(self._state[0], key, colors), "colors")
        raw = bytes(ffi.buffer(colors))
        if raw != self._colors_raw or self._colors is None:
            palette = bytes(ffi.buffer(colors.palette))
            self._colors_raw = raw
            self._colors = Colors(
                foreground=_rgb(colors.foreground),
                background=_rgb(colors.background),
                cursor=_rgb(colors.cursor) if colors.cursor_has_value else None,
                palette=tuple(
                    (palette[i], palette[i + 1], palette[i + 2]) for i in range(0, 768, 3)
                ),
            )
        return self._colors

    def cursor(self) -> Cursor:
        cursor = self._cursor_out
        key = lib.GHOSTTY_RENDER_STATE_DATA_CURSOR
        _check(lib.ghostty_render_state_get(self._state[0], key, cursor), "cursor")
        return Cursor(
            x=int(cursor.viewport_x),
            y=int(cursor.viewport_y),
            visible=bool(cursor.visible and cursor.viewport_has_value),
            blinking=bool(cursor.blinking),
            shape=_SHAPES.get(int(cursor.visual_style), "block"),
            wide=bool(cursor.wide_tail),
        )

    def dirty_rows(self, everything: bool = False) -> Iterator[Row]:
        """Each row that changed (every row with ``everything``), top to bottom, marked clean
        once read. Blank cells at a row's end are left out of its runs."""
        rows = self._rows
        _check(
            lib.ghostty_render_state_get(
                self._state[0], lib.GHOSTTY_RENDER_STATE_DATA_ROW_ITERATOR, rows
            ),
            "row_iterator",
        )
        iterator = rows[0]
        if everything:
            y = 0
            while lib.ghostty_render_state_row_iterator_next(iterator):
                yield Row(y, self._read_row(iterator), self._selected(iterator))
                y += 1
            return
        while lib.ghostty_render_state_row_iterator_next_dirty(iterator, self._y):
            row = Row(int(self._y[0]), self._read_row(iterator), self._selected(iterator))
            lib.ghostty_render_state_row_set(
                iterator, lib.GHOSTTY_RENDER_STATE_ROW_OPTION_DIRTY, self._false
            )
            yield row

    def background_only(self) -> list[tuple[int, int, int, Color]]:
        """The runs of cells of the frame (``update`` first) that hold only a background
        colour, as (row, first column, cells, colour). Rows without such cells are passed over
        without reading them cell by cell: this runs for every snapshot."""
        rows = self._rows
        key = lib.GHOSTTY_RENDER_STATE_DATA_ROW_ITERATOR
        _check(lib.ghostty_render_state_get(self._state[0], key, rows), "row_iterator")
        iterator, view = rows[0], self._view
        found: list[tuple[int, int, int, Color]] = []
        y = -1
        while lib.ghostty_render_state_row_iterator_next(iterator):
            y += 1
            raw_key = lib.GHOSTTY_RENDER_STATE_ROW_DATA_CELLS_RAW
            _check(lib.ghostty_render_state_row_get(iterator, raw_key, view), "row cells")
            count = int(view.len)
            data = ffi.buffer(view.ptr, count * 8)
            # The content tag is in each cell's first byte: one C-level pass finds the rows.
            if 1 not in bytes(data)[0::8].translate(_BACKGROUND_TAG):
                continue
            values = memoryview(data).cast("Q").tolist()
            x = 0
            while x < count:
                tag = (values[x] >> _TAG_SHIFT) & _TAG_MASK
                if tag not in (_BG_PALETTE, _BG_RGB):
                    x += 1
                    continue
                start, colour = x, _background_only(values[x]).bg
                same = _background_only_value(values[start])
                while x < count and _background_only_value(values[x]) == same:
                    x += 1
                found.append((y, start, x - start, colour))
        return found

    def _selected(self, iterator: Any) -> tuple[int, int] | None:
        """The row's selected columns, first and last, or None."""
        selection = self._selection
        result = lib.ghostty_render_state_row_get(
            iterator, lib.GHOSTTY_RENDER_STATE_ROW_DATA_SELECTION, selection
        )
        if result == lib.GHOSTTY_NO_VALUE:
            return None
        _check(result, "row selection")
        return int(selection.start_x), int(selection.end_x)

    def _read_row(self, iterator: Any) -> list[Run]:
        view = self._view
        _check(
            lib.ghostty_render_state_row_get(
                iterator, lib.GHOSTTY_RENDER_STATE_ROW_DATA_CELLS_RAW, view
            ),
            "row cells",
        )
        count = int(view.len)
        if count == 0:
            return []
        self._row_styles = {}
        raw: list[int] = memoryview(ffi.buffer(view.ptr, count * 8)).cast("Q").tolist()
        self._cells_fetched = False
        if not any(value & _SPECIAL for value in raw):
            runs = self._plain_row(iterator, raw)
        else:
            runs = self._mixed_row(iterator, raw)
        # Blank, unstyled cells at the end draw nothing.
        while runs and runs[-1].style == DEFAULT_STYLE and not runs[-1].text.strip(" "):
            runs.pop()
        if runs and runs[-1].style == DEFAULT_STYLE and runs[-1].text.endswith(" "):
            last = runs[-1]
            text = last.text.rstrip(" ")  # each of those spaces is one cell
            runs[-1] = Run(last.x, text, last.cells - (len(last.text) - len(text)), last.style)
        return runs

    def _plain_row(self, iterator: Any, raw: list[int]) -> list[Run]:
        """A row of narrow cells with one code point each (most rows): whole-row operations."""
        text = "".join([chr((value >> _CP_SHIFT) & _CP_MASK) for value in raw])
        text = text.replace("\0", " ")
        ids = [(value >> _STYLE_SHIFT) & _STYLE_MASK for value in raw]
        runs: list[Run] = []
        x = 0
        for style_id, group in groupby(ids):
            width = len(list(group))
            runs.append(Run(x, text[x : x + width], width, self._style_of(iterator, style_id, x)))
            x += width
        return runs

    def _mixed_row(self, iterator: Any, raw: list[int]) -> list[Run]:
        """A row with wide characters, grapheme clusters or background-only cells."""
        runs: list[Run] = []
        text: list[str] = []
        start = width = 0
        open_key: int | None = None  # the style key of the run being gathered
        open_style = DEFAULT_STYLE
        x, count = 0, len(raw)
        while x < count:
            value = raw[x]
            tag = (value >> _TAG_SHIFT) & _TAG_MASK
            wide = (value >> _WIDE_SHIFT) & _WIDE_MASK
            if wide != _NARROW and wide != _WIDE:
                x += 1  # the right half of a wide character, or a wrapped one's placeholder
                continue
            if tag in (_BG_PALETTE, _BG_RGB):
                # A blank cell with only a background (erased while a colour was set): its
                # key is its colour, kept apart from style ids by the sign.
                key = -1 - ((value >> _TAG_SHIFT) & 0x3FFFFFF)
                char = " "
            else:
                key = (value >> _STYLE_SHIFT) & _STYLE_MASK
                if tag == _GRAPHEME:
                    char = self._grapheme(iterator, x)
                else:
                    codepoint = (value >> _CP_SHIFT) & _CP_MASK
                    char = chr(codepoint) if codepoint else " "
            if wide == _WIDE or key != open_key:
                if text:
                    runs.append(Run(start, "".join(text), width, open_style))
                    text, width = [], 0
                start, open_key = x, key
                open_style = (
                    self._style_of(iterator, key, x) if key >= 0 else _background_only(value)
                )
            text.append(char)
            if wide == _WIDE:
                runs.append(Run(x, char, 2, open_style))
                text, width, open_key = [], 0, None
                x += 2
                continue
            width += 1
            x += 1
        if text:
            runs.append(Run(start, "".join(text), width, open_style))
        return runs

    def _style_of(self, iterator: Any, style_id: int, x: int) -> Style:
        """The style of the row's cells with ``style_id`` (the one at ``x``). Style ids are
        local to the library's memory pages, so the cache is per row."""
        if style_id == 0:
            return DEFAULT_STYLE
        style = self._row_styles.get(style_id)
        if style is None:
            style = self._row_styles[style_id] = self._style_at(iterator, x)
        return style

    def _select(self, iterator: Any, x: int) -> Any:
        """The row's cell handle, at column ``x``."""
        if not self._cells_fetched:
            self._fetch_cells(iterator)
            self._cells_fetched = True
        cells = self._cells[0]
        _check(lib.ghostty_render_state_row_cells_select(cells, x), "select cell")
        return cells

    def _fetch_cells(self, iterator: Any) -> None:
        _check(
            lib.ghostty_render_state_row_get(
                iterator, lib.GHOSTTY_RENDER_STATE_ROW_DATA_CELLS, self._cells
            ),
            "row cells",
        )

    def _style_at(self, iterator: Any, x: int) -> Style:
        cells = self._select(iterator, x)
        style = self._style
        _check(
            lib.ghostty_render_state_row_cells_get(
                cells, lib.GHOSTTY_RENDER_STATE_ROW_CELLS_DATA_STYLE, style
            ),
            "cell style",
        )
        return Style(
            fg=_color(style.fg_color),
            bg=_color(style.bg_color),
            underline_color=_color(style.underline_color),
            bold=bool(style.bold),
            italic=bool(style.italic),
            faint=bool(style.faint),
            blink=bool(style.blink),
            inverse=bool(style.inverse),
            invisible=bool(style.invisible),
            strikethrough=bool(style.strikethrough),
            overline=bool(style.overline),
            underline=int(style.underline),
        )

    def _grapheme(self, iterator: Any, x: int) -> str:
        cells = self._select(iterator, x)
        _check(
            lib.ghostty_render_state_row_cells_get(
                cells, lib.GHOSTTY_RENDER_STATE_ROW_CELLS_DATA_GRAPHEMES_LEN, self._count
            ),
            "grapheme length",
        )
        count = int(self._count[0])
        if count > len(self._codepoints):
            self._codepoints = ffi.new("uint32_t[]", count)
        _check(
            lib.ghostty_render_state_row_cells_get(
                cells, lib.GHOSTTY_RENDER_STATE_ROW_CELLS_DATA_GRAPHEMES_BUF, self._codepoints
            ),
            "grapheme",
        )
        return "".join(chr(self._codepoints[i]) for i in range(count))


@functools.cache
def default_palette() -> tuple[Rgb, ...]:
    """The 256 colours a terminal has before a program sets any (OSC 4): libghostty's."""
    terminal = Terminal.new(2, 1)
    state = RenderState()
    try:
        state.update(terminal)
        return state.colors().palette
    finally:
        state.close()
        terminal.close()
