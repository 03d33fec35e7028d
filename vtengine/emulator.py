"""A terminal session's emulator: fed the program's output, it keeps the screen, answers the
program's terminal queries, and hands a client the current screen.

The server owns the screen and clients are views (tmux's model): the backend's emulator is the
only terminal that answers queries, so a program gets one answer however many clients watch, and
a client that attaches gets ``snapshot_vt()`` instead of the whole history. The desktop app's
terminal widget runs the same class, fed the session's stream, and drops what ``feed`` returns:
the backend has answered already. Built on libghostty-vt (``terminal``).
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass
from typing import Literal

from vtengine.render import RenderState
from vtengine.terminal import BYTES_PER_CELL, ENGINE, EmulatorError, Point, Terminal

__all__ = [
    "BYTES_PER_CELL",
    "DEFAULT_SCROLLBACK_LINES",
    "ENGINE",
    "Cursor",
    "Emulator",
    "EmulatorError",
    "Modes",
]

DEFAULT_SCROLLBACK_LINES = 10_000
# What pixel-size reports (CSI 14/16 t, in-band resize) claim: no client tells us its font yet.
CELL_WIDTH_PX, CELL_HEIGHT_PX = 8, 16
# libghostty keeps the bytes of a sequence left unfinished at the end of a chunk only up to this,
# and a binary snapshot cannot be taken inside a longer one (a huge OSC 52, say) until it ends.
CONTINUATION_MAX_BYTES = 1 << 20

MouseTracking = Literal["none", "x10", "normal", "button", "any"]
MouseEncoding = Literal["default", "utf8", "sgr", "urxvt", "sgr-pixels"]

_MOUSE_TRACKING: tuple[tuple[int, MouseTracking], ...] = (
    (9, "x10"),
    (1000, "normal"),
    (1002, "button"),
    (1003, "any"),
)
_MOUSE_ENCODING: tuple[tuple[int, MouseEncoding], ...] = (
    (1005, "utf8"),
    (1015, "urxvt"),
    (1006, "sgr"),
    (1016, "sgr-pixels"),
)

_RIS = b"\x1bc"
# The formatter emits the modes that differ from their defaults first, as a run of CSI h/l.
_MODE_BLOCK = re.compile(rb"\A(?:\x1b\[\??\d+[hl])*")
# Mode 2048 asks the terminal to report its size in band on every resize: the backend does that
# (``resize`` returns the report); a client that did it too would send a second one.
_NOT_FOR_CLIENTS = (b"\x1b[?2048h",)
_DECSTBM, _DECSLRM = re.compile(rb"\x1b\[(\d+);\d+r"), re.compile(rb"\x1b\[(\d+);\d+s")
_KITTY_KEYBOARD_REPLY = re.compile(rb"\A\x1b\[\?\d*u\Z")
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")
# DECSCUSR for libghostty's cursor styles (bar, block, underline, hollow block), blinking first.
_CURSOR_SHAPES = {0: (5, 6), 1: (1, 2), 2: (3, 4), 3: (1, 2)}
_BLOCK = 1


@dataclass(frozen=True, slots=True)
class Cursor:
    """The cursor's cell on the visible screen, from the top left, 0-based."""

    x: int
    y: int
    visible: bool


@dataclass(frozen=True, slots=True)
class Modes:
    """The modes that change what a client's terminal sends: keys, pastes, mouse and focus."""

    application_cursor_keys: bool  # DECCKM: arrows send ESC O A, not ESC [ A
    application_keypad: bool  # DECKPAM / DECNKM
    bracketed_paste: bool
    mouse_tracking: MouseTracking
    mouse_encoding: MouseEncoding
    focus_reporting: bool
    kitty_keyboard_flags: int  # of the active screen; 0 when the protocol is off


class Emulator:
    """A headless terminal of ``cols`` by ``rows`` that keeps about ``scrollback_lines`` of
    history. libghostty frees history a page at a time (some hundreds of rows, fewer on wide
    screens): it holds up to a page fewer rows than the bound, or more while the bound is under
    a page. Snapshots never carry more than the bound.

    The bound is kept in bytes: ``scrollback_lines`` rows of the current width (recomputed on
    resize), at ``BYTES_PER_CELL``, unless ``scrollback_bytes`` fixes it. libghostty's own line
    bound stays set as a backstop, but its byte bound, a little tighter, is what trims: with the
    line bound trimming, coloured output went in at 35 to 45 MB/s; with the byte bound, at 90 to
    170 MB/s (docs/benchmarks.md, "Terminal sessions").

    Feed it every byte of the program's output in order; write what ``feed`` and ``resize``
    return to the program's PTY, once. Not thread-safe: one owner calls it.

    ``answer_kitty_keyboard=False`` leaves the kitty keyboard query (``CSI ? u``) unanswered,
    for clients whose terminal cannot encode keys that way. ``name`` answers XTVERSION;
    ``terminfo`` answers XTGETTCAP's ``TN`` and should match the program's ``TERM``.
    """

    def __init__(
        self,
        cols: int = 80,
        rows: int = 24,
        *,
        scrollback_lines: int = DEFAULT_SCROLLBACK_LINES,
        scrollback_bytes: int | None = None,
        answer_kitty_keyboard: bool = True,
        name: str = "SessionDock",
        terminfo: str = "xterm-256color",
        _terminal: Terminal | None = None,
    ) -> None:
        if not (cols > 0 and rows > 0 and scrollback_lines >= 0):
            raise ValueError(f"bad size {cols}x{rows} or scrollback {scrollback_lines}")
        self._term = _terminal if _terminal is not None else Terminal.new(cols, rows)
        self._scrollback_lines, self._scrollback_bytes = scrollback_lines, scrollback_bytes
        self._replies: list[bytes] = []
        self._configure(answer_kitty_keyboard, name, terminfo)

    @classmethod
    def restore(
        cls,
        state: bytes,
        *,
        scrollback_lines: int = DEFAULT_SCROLLBACK_LINES,
        scrollback_bytes: int | None = None,
        answer_kitty_keyboard: bool = True,
        name: str = "SessionDock",
        terminfo: str = "xterm-256color",
    ) -> Emulator:
        """The emulator a ``state()`` came from, to be fed the output that followed it."""
        terminal = Terminal.decode(state, CONTINUATION_MAX_BYTES)
        cols, rows = int(terminal.get("COLS")), int(terminal.get("ROWS"))
        return cls(
            cols,
            rows,
            scrollback_lines=scrollback_lines,
            scrollback_bytes=scrollback_bytes,
            answer_kitty_keyboard=answer_kitty_keyboard,
            name=name,
            terminfo=terminfo,
            _terminal=terminal,
        )

    def _configure(self, answer_kitty_keyboard: bool, name: str, terminfo: str) -> None:
        term, replies = self._term, self._replies

        def reply(data: bytes) -> None:
            if answer_kitty_keyboard or not _KITTY_KEYBOARD_REPLY.match(data):
                replies.append(data)

        term.on_write_pty(reply)
        term.answer_size(CELL_WIDTH_PX, CELL_HEIGHT_PX)
        term.answer_xtversion(name.encode())
        term.set_string("TERMINFO_NAME", terminfo.encode())
        term.bound_scrollback(self._scrollback_lines, self._scrollback_bytes)
        # Needed to snapshot (binary or VT) while a sequence is unfinished, as a chunk of output
        # can end in the middle of one.
        term.set_size_t("CONTINUATION_MAX_BYTES", CONTINUATION_MAX_BYTES)
        # Browsers' xterm.js shows neither kitty images nor Ghostty's glyph protocol: claiming
        # them would make programs send what no client draws, and images would cost memory here.
        term.set_u64("KITTY_IMAGE_STORAGE_LIMIT", 0)
        term.set_bool("GLYPH_PROTOCOL", False)

    def close(self) -> None:
        """Free the native terminal now (garbage collection would, later)."""
        self._term.close()

    @property
    def terminal(self) -> Terminal:
        """The terminal handle, for a renderer (``render``) and the key encoder (``keys``)."""
        return self._term

    # What the program does

    def feed(self, data: bytes) -> bytes:
        """Take output from the program; return the replies to its queries in it (device
        attributes, cursor position, XTVERSION, DECRQM...), to be written to its PTY once."""
        self._term.write(data)
        return self._take_replies()

    def resize(self, cols: int, rows: int) -> bytes:
        """Resize, reflowing the primary screen; return the in-band size report the program
        asked for with mode 2048, if it did."""
        if not (cols > 0 and rows > 0):
            raise ValueError(f"bad size {cols}x{rows}")
        self._term.resize(cols, rows, CELL_WIDTH_PX, CELL_HEIGHT_PX)
        self._term.bound_scrollback(self._scrollback_lines, self._scrollback_bytes)
        return self._take_replies()

    def _take_replies(self) -> bytes:
        if not self._replies:
            return b""
        data = b"".join(self._replies)
        self._replies.clear()
        return data

    # What a client sees

    @property
    def size(self) -> tuple[int, int]:
        return int(self._term.get("COLS")), int(self._term.get("ROWS"))

    @property
    def cursor(self) -> Cursor:
        term = self._term
        return Cursor(
            x=int(term.get("CURSOR_X")),
            y=int(term.get("CURSOR_Y")),
            visible=bool(term.get("CURSOR_VISIBLE", "bool")),
        )

    @property
    def alt_screen(self) -> bool:
        return int(self._term.get("ACTIVE_SCREEN", "GhosttyTerminalScreen")) != 0

    @property
    def title(self) -> str:
        return self._term.get_text("TITLE")

    @property
    def modes(self) -> Modes:
        mode = self._term.mode
        # Several can be set at once: the snapshot sets them in this order, so the last wins.
        none: MouseTracking = "none"
        default: MouseEncoding = "default"
        tracking = next((kind for n, kind in reversed(_MOUSE_TRACKING) if mode(n)), none)
        encoding = next((kind for n, kind in reversed(_MOUSE_ENCODING) if mode(n)), default)
        return Modes(
            application_cursor_keys=mode(1),
            application_keypad=mode(66),
            bracketed_paste=mode(2004),
            mouse_tracking=tracking,
            mouse_encoding=encoding,
            focus_reporting=mode(1004),
            kitty_keyboard_flags=int(self._term.get("KITTY_KEYBOARD_FLAGS", "uint8_t")),
        )

    @property
    def scrollback_rows(self) -> int:
        """Rows of history held now (see the class's note on the bound)."""
        return int(self._term.get("SCROLLBACK_ROWS", "size_t"))

    def screen_text(self) -> str:
        """The visible screen as exactly ``rows`` lines of plain text joined by newlines,
        trailing blanks trimmed; a wide character is one character."""
        cols, rows = self.size
        text = self._term.format("plain", Point(0, 0), Point(cols - 1, rows - 1), trim=True)
        lines = text.decode("utf-8", "replace").split("\n")
        return "\n".join(lines + [""] * (rows - len(lines)))

    def html(self) -> str:
        """The visible screen as an HTML fragment; palette colours are CSS variables
        (``--vt-palette-N``) that the fragment's leading ``<style>`` defines."""
        cols, rows = self.size
        end = Point(cols - 1, rows - 1)
        return self._term.format("html", Point(0, 0), end, palette=True).decode("utf-8", "replace")

    def snapshot_vt(self, scrollback_lines: int | None = None) -> bytes:
        """VT bytes that make a terminal of the same size show what this one shows: they reset
        it, then draw the scrollback (at most ``scrollback_lines`` of it), the screen, colours,
        title, cursor and the modes, with the primary screen behind an alternate one, and end
        inside the sequence the program's output is in the middle of, so that the output that
        follows continues it."""
        limit = self._scrollback_lines
        if scrollback_lines is not None:
            limit = min(limit, scrollback_lines)
        parts = [_RIS, self._colours_and_title()]
        if self.alt_screen:
            parts.append(self._primary_vt(limit))
        # With the alternate screen active, the mode block enters it (47, 1047 or 1049, as the
        # program did): what follows draws on it, and the primary stays behind.
        parts.append(_screen_vt(self._term, limit))
        parts.append(self._cursor_shape())
        parts.append(self._continuation())
        return b"".join(parts)

    def _colours_and_title(self) -> bytes:
        term, out = self._term, []
        palette = zip(
            term.get_palette("COLOR_PALETTE"),
            term.get_palette("COLOR_PALETTE_DEFAULT"),
            strict=True,
        )
        for index, (colour, default) in enumerate(palette):
            if colour != default:
                out.append(b"\x1b]4;%d;%s\x1b\\" % (index, _rgb(colour)))
        # The dynamic colours, when the program set them (OSC 10, 11, 12)
        for osc, key in ((10, "FOREGROUND"), (11, "BACKGROUND"), (12, "CURSOR")):
            dynamic = term.get_rgb(f"COLOR_{key}")
            if dynamic is not None and dynamic != term.get_rgb(f"COLOR_{key}_DEFAULT"):
                out.append(b"\x1b]%d;%s\x1b\\" % (osc, _rgb(dynamic)))
        if title := _CONTROLS.sub("", self.title):
            out.append(b"\x1b]2;" + title.encode() + b"\x1b\\")
        return b"".join(out)

    def _primary_vt(self, limit: int) -> bytes:
        """The primary screen behind the active alternate one. libghostty's formatter draws the
        active screen only, so a copy of the terminal leaves the alternate screen the way the
        program entered it (1049 also restores the primary's cursor) and draws that."""
        try:
            state = self._term.encode()
        except EmulatorError:
            # libghostty cannot encode while the output is inside an APC, PM or SOS string
            # holding U+009B, nor inside a sequence longer than CONTINUATION_MAX_BYTES. Rare and
            # brief: the client gets the alternate screen over an empty primary.
            return b""
        copy = Terminal.decode(state, CONTINUATION_MAX_BYTES)
        try:
            entered = next((n for n in (1049, 1047, 47) if copy.mode(n)), 1049)
            # CAN first: the copy's parser may be inside the sequence the output broke off in.
            copy.write(b"\x18\x1b[?%dl" % entered)
            return _screen_vt(copy, limit)
        finally:
            copy.close()

    def _cursor_shape(self) -> bytes:
        style, blinking = self._term.cursor_shape()
        if style == _BLOCK and not blinking:
            return b""
        blink, steady = _CURSOR_SHAPES.get(style, (1, 2))
        return b"\x1b[%d q" % (blink if blinking else steady)

    def _continuation(self) -> bytes:
        try:
            return self._term.continuation()
        except EmulatorError:
            # Longer than CONTINUATION_MAX_BYTES: a client shows the rest of that sequence as
            # text, once, rather than get no screen.
            return b""

    # Persistence

    def state(self) -> bytes:
        """The whole emulator as bytes (libghostty's binary snapshot, both screens and all the
        scrollback, about 1 KB for a small screen), for ``restore``. Raises EmulatorError while
        the output is inside a sequence longer than CONTINUATION_MAX_BYTES, or inside an APC,
        PM or SOS string holding U+009B (a libghostty bug): try again after more output."""
        return self._term.encode()


def _screen_vt(term: Terminal, history_limit: int) -> bytes:
    """The active screen of ``term`` with up to ``history_limit`` rows of its scrollback, for a
    terminal that was just reset."""
    cols, rows = int(term.get("COLS")), int(term.get("ROWS"))
    history = int(term.get("SCROLLBACK_ROWS", "size_t"))
    shown = min(history, history_limit)
    out = []
    if shown:
        # Row by row, soft wraps as line breaks: the formatter's unwrapping loses a blank row
        # that continues a wrapped one (as after "xxxxxx" and IL in 5 columns), and edited
        # screens have those. A client then keeps these lines as they are when it resizes.
        start, end = Point(0, history - shown, "history"), Point(cols - 1, history - 1, "history")
        text = term.format("vt", start, end)
        out.append(text)
        # The formatter leaves out the blank rows at the end of what it draws: count what it
        # drew, then scroll all of the history off the screen, which is drawn on its own.
        drawn = text.count(b"\r\n") + 1 if text else 1
        out.append(b"\x1b[0m" + b"\r\n" * (shown + rows - drawn))
    screen = term.format("vt", Point(0, 0), Point(cols - 1, rows - 1), state=True)
    modes = _MODE_BLOCK.match(screen)
    block = modes.group() if modes else b""
    rest = screen[len(block) :]
    for sequence in _NOT_FOR_CLIENTS:
        block = block.replace(sequence, b"")
    tail = b""
    if term.mode(6):
        block, tail = block.replace(b"\x1b[?6h", b""), _origin_mode(term, rest)
    # After the modes, which may enter the alternate screen and save the primary's cursor.
    out += [block, _backgrounds(term), b"\x1b[H", rest, tail]
    return b"".join(out)


# The render state ``_backgrounds`` reads each terminal through; it goes with its terminal.
_RENDER_STATES: weakref.WeakKeyDictionary[Terminal, RenderState] = weakref.WeakKeyDictionary()


def _backgrounds(term: Terminal) -> bytes:
    """The cells of the screen that hold only a background colour (erased while a colour was
    set, as curses and full-screen programs with a theme do), painted the way they were made:
    with that colour set, erased. libghostty's formatter leaves out a row that holds nothing
    else, so without this a client would show those rows in its default colours."""
    state = _RENDER_STATES.get(term)
    if state is None:
        # One per terminal, kept with it: after the first, an update copies only what changed.
        state = _RENDER_STATES[term] = RenderState()
    out = []
    try:
        state.update(term)
        for y, x, cells, bg in state.background_only():
            colour = b"48;5;%d" % bg if isinstance(bg, int) else b"48;2;%d;%d;%d" % bg  # type: ignore[str-format]
            out.append(b"\x1b[%d;%dH\x1b[%sm\x1b[%dX" % (y + 1, x + 1, colour, cells))
    finally:
        state.clean()
    return b"".join(out) + b"\x1b[0m" if out else b""


def _origin_mode(term: Terminal, screen: bytes) -> bytes:
    """Origin mode, set at the end. libghostty's formatter sets it before the content and then
    places the cursor with an absolute CUP, which origin mode reads relative to the scrolling
    region. Setting it homes the cursor, so place the cursor again, relative to the region the
    formatter set (a pending wrap is lost)."""
    top = int(m[1]) if (m := _DECSTBM.search(screen)) else 1
    left = int(m[1]) if (m := _DECSLRM.search(screen)) else 1
    x, y = int(term.get("CURSOR_X")), int(term.get("CURSOR_Y"))
    return b"\x1b[?6h\x1b[%d;%dH" % (y + 2 - top, x + 2 - left)


def _rgb(colour: tuple[int, int, int]) -> bytes:
    return b"rgb:%02x/%02x/%02x" % colour
