"""A libghostty-vt terminal handle, through pyghostty's cffi layer, with types.

pyghostty's own ``Terminal`` wraps only part of the C API (no formatter options, no snapshots,
no size or XTVERSION answers), so this package owns the terminal handle itself. The backend's
emulator (``emulator``) and the desktop's terminal widget build on it.
A terminal is not thread-safe; its owner serialises every call.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from vtengine._lib import FREE, __version__, ffi, lib, union_fn

__all__ = ["ENGINE", "EmulatorError", "Point", "Terminal"]

# What made a binary state (``Terminal.encode``): libghostty promises no compatibility between
# versions, so a state is only decoded by the same one.
ENGINE = f"libghostty-vt (pyghostty {__version__})"

# What a cell of history costs libghostty: 8.8 to 9.1 bytes of page memory, measured at 80 to
# 400 columns. A byte bound at 8.5 keeps about 96% of the line bound's rows.
BYTES_PER_CELL = 8.5

Emit = Literal["plain", "vt", "html"]
Rgb = tuple[int, int, int]
_EMIT = {
    "plain": lib.GHOSTTY_FORMATTER_FORMAT_PLAIN,
    "vt": lib.GHOSTTY_FORMATTER_FORMAT_VT,
    "html": lib.GHOSTTY_FORMATTER_FORMAT_HTML,
}
_TAG = {
    "active": lib.GHOSTTY_POINT_TAG_ACTIVE,
    "screen": lib.GHOSTTY_POINT_TAG_SCREEN,
    "history": lib.GHOSTTY_POINT_TAG_HISTORY,
}


@dataclass(frozen=True, slots=True)
class Point:
    """A cell in one of libghostty's coordinate systems: ``active`` (the visible screen),
    ``history`` (the scrollback, 0 the oldest row) or ``screen`` (both)."""

    x: int
    y: int
    tag: Literal["active", "screen", "history"] = "active"


class EmulatorError(RuntimeError):
    """A libghostty-vt call failed; the message names it and its GhosttyResult."""


def _check(result: int, what: str) -> None:
    if result != lib.GHOSTTY_SUCCESS:
        raise EmulatorError(f"{what} failed: {result}")


def _sized(ctype: str) -> Any:
    """A zeroed ``ctype`` with its ``size`` fields (nested ones too) set: the C API's way of
    telling which version of a struct the caller was built against."""
    p = ffi.new(ctype + "*")
    _set_sizes(p)
    return p


def _set_sizes(p: Any) -> None:
    struct = ffi.typeof(p).item
    for name, field in struct.fields:
        if name == "size":
            p.size = ffi.sizeof(struct)
        elif field.type.kind == "struct":
            _set_sizes(ffi.addressof(p[0], name))


def _take(call: Callable[[Any, Any], int], what: str) -> bytes:
    """Bytes from one of the ``*_alloc`` functions, copied out and freed."""
    out, size = ffi.new("uint8_t**"), ffi.new("size_t*")
    _check(call(out, size), what)
    try:
        return bytes(ffi.buffer(out[0], size[0])) if size[0] else b""
    finally:
        if out[0] != ffi.NULL:
            lib.ghostty_free(ffi.NULL, out[0], size[0])


def _free_terminal(handle: Any, dependents: list[Callable[[], None]]) -> None:
    for free in reversed(dependents):
        free()
    dependents.clear()
    FREE["terminal"](handle)


class Terminal:
    """One libghostty-vt terminal handle, freed by ``close()`` or when collected."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self._keep: dict[str, Any] = {}  # callbacks and strings the library borrows
        # What must go before the terminal (a selection gesture, a search): freed first, when
        # the terminal is closed or collected, also when both are garbage at once.
        self._dependents: list[Callable[[], None]] = []
        self._free = weakref.finalize(self, _free_terminal, handle, self._dependents)

    @classmethod
    def new(cls, cols: int, rows: int) -> Terminal:
        out = ffi.new("GhosttyTerminal*")
        _check(lib.ghostty_terminal_new(ffi.NULL, out, cols, rows), "terminal_new")
        return cls(out[0])

    @classmethod
    def decode(cls, data: bytes, max_continuation: int) -> Terminal:
        """The terminal a binary snapshot (``encode``) describes, scrollback included, with
        continuation tracking up to ``max_continuation`` bytes and no other option set:
        callbacks and limits are not part of a snapshot."""
        decoder = ffi.new("GhosttySnapshotDecoder*")
        source = ffi.from_buffer(data)  # borrowed until the decoder is freed
        _check(
            lib.ghostty_snapshot_decoder_new_buf(ffi.NULL, decoder, source, len(data)),
            "snapshot_decoder_new",
        )
        try:
            # Tracking enabled after the decode could not reconstruct a sequence the snapshot
            # was taken inside, and the terminal could then not be encoded until it ended.
            for option, value in (
                ("MAX_CONTINUATION_BYTES", ffi.new("size_t*", max_continuation)),
                ("RETAIN_CONTINUATION", ffi.new("bool*", True)),
            ):
                key = getattr(lib, f"GHOSTTY_SNAPSHOT_DECODER_OPT_{option}")
                _check(lib.ghostty_snapshot_decoder_set(decoder[0], key, value), option)
            out = ffi.new("GhosttyTerminal*")
            _check(lib.ghostty_snapshot_decoder_decode(decoder[0], out), "snapshot_decode")
            return cls(out[0])
        finally:
            lib.ghostty_snapshot_decoder_free(decoder[0])

    def depend(self, free: Callable[[], None]) -> Callable[[], None]:
        """Run ``free`` before this terminal is freed: it releases something made with the
        terminal that the library frees with it (its own object must not be referenced, or it
        lives as long as the terminal). Returns the function that forgets ``free``."""
        self._dependents.append(free)

        def forget() -> None:
            if free in self._dependents:
                self._dependents.remove(free)

        return forget

    @property
    def handle(self) -> Any:
        """The library's handle, for the other modules of this package."""
        return self._handle

    def close(self) -> None:
        self._free()
        # A call after this raises TypeError in cffi instead of reaching freed memory.
        self._handle = None
        self._keep.clear()

    # Options

    def set_size_t(self, option: str, value: int | None) -> None:
        """``None`` passes NULL, which for a limit means none."""
        key = getattr(lib, f"GHOSTTY_TERMINAL_OPT_{option}")
        pointer = ffi.NULL if value is None else ffi.new("size_t*", value)
        _check(lib.ghostty_terminal_set(self._handle, key, pointer), option)

    def set_bool(self, option: str, value: bool) -> None:
        key = getattr(lib, f"GHOSTTY_TERMINAL_OPT_{option}")
        _check(lib.ghostty_terminal_set(self._handle, key, ffi.new("bool*", value)), option)

    def set_u64(self, option: str, value: int) -> None:
        key = getattr(lib, f"GHOSTTY_TERMINAL_OPT_{option}")
        _check(lib.ghostty_terminal_set(self._handle, key, ffi.new("uint64_t*", value)), option)

    def set_string(self, option: str, value: bytes) -> None:
        text = ffi.new("char[]", value)
        string = ffi.new("GhosttyString*", {"ptr": ffi.cast("uint8_t*", text), "len": len(value)})
        key = getattr(lib, f"GHOSTTY_TERMINAL_OPT_{option}")
        _check(lib.ghostty_terminal_set(self._handle, key, string), option)

    def on_write_pty(self, fn: Callable[[bytes], None]) -> None:
        """``fn(reply)`` for each reply the terminal sends the program, during ``write``."""
        cb = ffi.callback(
            "GhosttyTerminalWritePtyFn", lambda _t, _u, data, n: fn(bytes(ffi.buffer(data, n)))
        )
        self._set_callback("WRITE_PTY", cb)

    def on_bell(self, fn: Callable[[], None]) -> None:
        """``fn()`` for each BEL the program sends, during ``write``."""
        self._set_callback("BELL", ffi.callback("GhosttyTerminalBellFn", lambda _t, _u: fn()))

    def answer_size(self, cell_width: int, cell_height: int) -> None:
        """Answer XTWINOPS size queries (CSI 14/16/18 t) with the terminal's size and cells of
        ``cell_width`` by ``cell_height`` pixels."""

        def answer(handle: Any, _u: Any, out: Any) -> bool:
            # From the handle the library passes: a closure over self would make a cycle.
            for field, key in (("columns", "COLS"), ("rows", "ROWS")):
                value = ffi.new("uint16_t*")
                data = getattr(lib, f"GHOSTTY_TERMINAL_DATA_{key}")
                if lib.ghostty_terminal_get(handle, data, value) != lib.GHOSTTY_SUCCESS:
                    return False
                setattr(out, field, value[0])
            out.cell_width, out.cell_height = cell_width, cell_height
            return True

        self._set_callback("SIZE", ffi.callback("GhosttyTerminalSizeFn", answer))

    def answer_xtversion(self, name: bytes) -> None:
        text = ffi.new("char[]", name)
        self._keep["xtversion_text"] = text
        reply = {"ptr": ffi.cast("uint8_t*", text), "len": len(name)}
        cb = ffi.callback("GhosttyTerminalXtversionFn", lambda _t, _u: reply)
        self._set_callback("XTVERSION", cb)

    def _set_callback(self, option: str, cb: Any) -> None:
        key = getattr(lib, f"GHOSTTY_TERMINAL_OPT_{option}")
        _check(lib.ghostty_terminal_set(self._handle, key, cb), option)
        self._keep[option] = cb

    # Input and size

    def write(self, data: bytes) -> None:
        lib.ghostty_terminal_vt_write(self._handle, data, len(data))

    def resize(self, cols: int, rows: int, cell_width: int, cell_height: int) -> None:
        _check(
            lib.ghostty_terminal_resize(self._handle, cols, rows, cell_width, cell_height),
            "resize",
        )

    def bound_scrollback(self, lines: int, max_bytes: int | None = None) -> None:
        """Keep about ``lines`` rows of history at the current width (again after a resize).

        libghostty's default byte bound is 10,000: in effect one page of a few hundred rows,
        whatever the line bound says. The bound that trims is ours in bytes, ``lines`` rows of
        this width at ``BYTES_PER_CELL`` (or ``max_bytes``): with the line bound trimming,
        coloured output went in at 35 to 45 MB/s, with the byte bound at 90 to 170 MB/s
        (docs/benchmarks.md, "Terminal sessions"). The line bound stays as a backstop."""
        self.set_size_t("SCROLLBACK_MAX_LINES", lines)
        if max_bytes is None:
            max_bytes = int(lines * int(self.get("COLS")) * BYTES_PER_CELL)
        self.set_size_t("SCROLLBACK_MAX_BYTES", max_bytes)

    # The viewport (what a renderer shows: the screen, or a part of the scrollback)

    def scroll_viewport(self, delta: int | None) -> None:
        """Move the viewport ``delta`` rows (negative: back into the scrollback); None: back
        to the bottom, where new output shows."""
        scroll = union_fn(
            "ghostty_terminal_scroll_viewport",
            "void(*)(GhosttyTerminal, SessionDockScrollViewport)",
        )
        where = ffi.new("SessionDockScrollViewport*")
        if delta is None:
            where.tag = lib.GHOSTTY_SCROLL_VIEWPORT_BOTTOM
        else:
            where.tag = lib.GHOSTTY_SCROLL_VIEWPORT_DELTA
            where.value.delta = delta
        scroll(self._handle, where[0])

    def scrollbar(self) -> tuple[int, int, int]:
        """``(total, offset, visible)`` rows: the scrollback and screen together, where the
        viewport starts in them, and how many it shows."""
        out = ffi.new("GhosttyTerminalScrollbar*")
        _check(
            lib.ghostty_terminal_get(self._handle, lib.GHOSTTY_TERMINAL_DATA_SCROLLBAR, out),
            "scrollbar",
        )
        return int(out.total), int(out.offset), int(out.len)

    # State

    def get(self, key: str, ctype: str = "uint16_t") -> Any:
        out = ffi.new(ctype + "*")
        data = getattr(lib, f"GHOSTTY_TERMINAL_DATA_{key}")
        _check(lib.ghostty_terminal_get(self._handle, data, out), key)
        return out[0]

    def get_text(self, key: str) -> str:
        out = ffi.new("GhosttyString*")
        data = getattr(lib, f"GHOSTTY_TERMINAL_DATA_{key}")
        _check(lib.ghostty_terminal_get(self._handle, data, out), key)
        raw = bytes(ffi.buffer(out.ptr, out.len)) if out.len else b""
        return raw.decode("utf-8", "replace")

    def get_rgb(self, key: str) -> Rgb | None:
        out = ffi.new("GhosttyColorRgb*")
        data = getattr(lib, f"GHOSTTY_TERMINAL_DATA_{key}")
        result = lib.ghostty_terminal_get(self._handle, data, out)
        if result == lib.GHOSTTY_NO_VALUE:
            return None
        _check(result, key)
        return (out.r, out.g, out.b)

    def get_palette(self, key: str) -> list[Rgb]:
        out = ffi.new("GhosttyColorRgb[256]")
        data = getattr(lib, f"GHOSTTY_TERMINAL_DATA_{key}")
        _check(lib.ghostty_terminal_get(self._handle, data, out), key)
        return [(c.r, c.g, c.b) for c in out]

    def mode(self, number: int, ansi: bool = False) -> bool:
        config = ffi.new("GhosttyTerminalModeConfig*")
        # ghostty_mode_new() is a static inline function, so its packing is repeated here.
        config.mode = (number & 0x7FFF) | (ansi << 15)
        _check(
            lib.ghostty_terminal_get(self._handle, lib.GHOSTTY_TERMINAL_DATA_MODE, config), "mode"
        )
        return bool(config.value)

    def cursor_shape(self) -> tuple[int, bool]:
        """The cursor's visual style (GHOSTTY_RENDER_STATE_CURSOR_VISUAL_STYLE_*) and whether it
        blinks: only the render state knows them."""
        state = ffi.new("GhosttyRenderState*")
        _check(lib.ghostty_render_state_new(ffi.NULL, state), "render_state_new")
        try:
            _check(lib.ghostty_render_state_update(state[0], self._handle), "render_state_update")
            style = ffi.new("GhosttyRenderStateCursorVisualStyle*")
            blinking = ffi.new("bool*")
            for key, out in (("VISUAL_STYLE", style), ("BLINKING", blinking)):
                data = getattr(lib, f"GHOSTTY_RENDER_STATE_DATA_CURSOR_{key}")
                _check(lib.ghostty_render_state_get(state[0], data, out), key)
            return int(style[0]), bool(blinking[0])
        finally:
            lib.ghostty_render_state_free(state[0])

    # Output

    def format(
        self,
        emit: Emit,
        start: Point | None = None,
        end: Point | None = None,
        *,
        unwrap: bool = False,
        trim: bool = False,
        state: bool = False,
        palette: bool = False,
    ) -> bytes:
        """The active screen between ``start`` and ``end`` (everything, scrollback included,
        without them) as plain text, VT sequences or HTML. ``state`` adds, in VT, the modes that
        differ from their defaults (before the content), and after it the scrolling region, tab
        stops, working directory, modifyOtherKeys, and the screen's cursor, pen, hyperlink,
        protection, kitty keyboard flags and character sets; ``palette`` all 256 colours (OSC 4
        in VT, CSS variables in HTML)."""
        options = _sized("GhosttyFormatterTerminalOptions")
        options.emit, options.unwrap, options.trim = _EMIT[emit], unwrap, trim
        extra = options.extra
        extra.palette = palette
        if state:
            for name in ("modes", "scrolling_region", "tabstops", "pwd", "keyboard"):
                setattr(extra, name, True)
            for name in (
                "cursor",
                "style",
                "hyperlink",
                "protection",
                "kitty_keyboard",
                "charsets",
            ):
                setattr(extra.screen, name, True)
        if start is not None and end is not None:
            selection = _sized("GhosttySelection")
            selection.start, selection.end = self._ref(start), self._ref(end)
            options.selection = selection
        formatter = ffi.new("GhosttyFormatter*")
        _check(
            lib.ghostty_formatter_terminal_new(ffi.NULL, formatter, self._handle, options[0]),
            "formatter_new",
        )
        try:
            return _take(
                lambda out, n: lib.ghostty_formatter_format_alloc(formatter[0], ffi.NULL, out, n),
                "format",
            )
        finally:
            lib.ghostty_formatter_free(formatter[0])

    def viewport_ref(self, x: int, y: int) -> Any:
        """A grid reference (``GhosttyGridRef*``) to the cell at (``x``, ``y``) of what the
        viewport shows (the screen, or the scrollback it is scrolled to)."""
        grid_ref = union_fn(
            "ghostty_terminal_grid_ref",
            "GhosttyResult(*)(GhosttyTerminal, GhosttyPointS, GhosttyGridRef*)",
        )
        where = ffi.new("GhosttyPointS*")
        where.tag = lib.GHOSTTY_POINT_TAG_VIEWPORT
        where.value.x, where.value.y = x, y
        out = _sized("GhosttyGridRef")
        _check(grid_ref(self._handle, where[0], out), f"grid_ref viewport {x},{y}")
        return out

    def _ref(self, point: Point) -> Any:
        grid_ref = union_fn(
            "ghostty_terminal_grid_ref",
            "GhosttyResult(*)(GhosttyTerminal, GhosttyPointS, GhosttyGridRef*)",
        )
        where = ffi.new("GhosttyPointS*")
        where.tag = _TAG[point.tag]
        where.value.x, where.value.y = point.x, point.y
        out = _sized("GhosttyGridRef")
        _check(grid_ref(self._handle, where[0], out), f"grid_ref {point}")
        return out[0]

    def encode(self) -> bytes:
        """A binary snapshot: both screens, scrollback, modes, colours, and the unfinished
        sequence the parser is in."""
        return _take(
            lambda out, n: lib.ghostty_snapshot_encode_alloc(self._handle, ffi.NULL, out, n),
            "snapshot_encode",
        )

    def continuation(self) -> bytes:
        """The bytes of the sequence the last write left unfinished (empty at ground)."""
        return _take(
            lambda out, n: lib.ghostty_terminal_continuation_alloc(self._handle, ffi.NULL, out, n),
            "continuation",
        )
