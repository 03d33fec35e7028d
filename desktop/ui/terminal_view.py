"""The terminal widget: a terminal session's screen (``TerminalScreen``), painted cell by cell,
and the keyboard, wheel and input method going to its program.

- **Painting**: the screen is drawn into a pixmap, only the rows libghostty marks dirty, at most
  once per frame (``FRAME_MS``) however fast output arrives, and at once after a quiet spell
  (an echo does not wait for a frame); ``paintEvent`` copies the pixmap and
  draws the cursor. A reset (a ``snapshot``), a resize, a new font or new colours redraw all.
- **Keys** go through libghostty's key encoder (``TerminalScreen.key``), so the program's modes
  decide the bytes; they leave in order, batched per turn of the event loop (``input_ready``).
  Every key is the program's, as in any terminal: Tab too, and Ctrl+F, Ctrl+S, Ctrl+Q. The app
  keeps Ctrl+Shift: copy and paste (Ctrl+Shift+C, Ctrl+Shift+V).
- **Input methods** (CJK text) commit text that is sent as typed; the candidate window sits at
  the cursor.
- **The mouse**: a program that asked for mouse reports gets clicks, drags and the wheel in the
  encoding it asked for (Shift bypasses them); otherwise the left button selects (drag, double
  click a word, triple click a line, Alt for a rectangle; libghostty's selection gesture) and
  copies to the primary selection, the middle button pastes it, and the wheel scrolls the
  scrollback, or sends arrow keys to a full-screen program (xterm's alternate scroll mode).
  A key brings the screen back from the scrollback.
- **The rest of a terminal**: the program's title (OSC 0/2) and bell go to the window
  (``title_changed``, ``bell``); Ctrl+= / Ctrl+- / Ctrl+0 zoom (``zoom_requested``); pasting
  several lines into a program without bracketed paste asks first (``paste_needs_confirmation``).
- **Size**: ``size_changed`` says how many cells fit, for the session's PTY (``/resize``); the
  screen itself changes size when the backend's ``resize`` event comes back.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QPointF, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QClipboard,
    QColor,
    QFocusEvent,
    QFont,
    QFontMetricsF,
    QGuiApplication,
    QInputMethodEvent,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPalette,
    QPen,
    QPixmap,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QToolTip, QVBoxLayout, QWidget

from desktop.terminal_screen import TerminalScreen
from desktop.ui import terminal_access
from desktop.ui.find_bar import NOT_FOUND, FindBar
from vtengine.keys import ALT, CTRL, SHIFT, SUPER, KeyPress, key_code
from vtengine.links import link_at
from vtengine.mouse import LEFT, MIDDLE, RIGHT, WHEEL_DOWN, WHEEL_UP, MouseEncoder, tracking
from vtengine.render import Colors, Cursor, Row, Style, default_palette
from vtengine.search import Search
from vtengine.selection import SelectionGesture, clear_selection, selected_text

FRAME_MS = 16  # at most one paint per display frame
PAINT_SHARE = 3.0  # frames at least this many times their own painting time apart
DRAW_SLICE = 0.006  # seconds of drawing rows per turn of the event loop
WHEEL_ROWS = 3  # rows of scrollback per wheel notch
# The 16 ANSI colours on a light background. libghostty's own (Tomorrow Night's) are made for a
# dark one, where the desktop's dark theme keeps them; on white their yellow, green and white
# are hard to read. These are Tomorrow's light colours, darkened where they were too pale.
LIGHT_PALETTE: tuple[tuple[int, int, int], ...] = tuple(
    (int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16))
    for c in (
        "1d1f21", "c82829", "718c00", "a67c00", "4271ae", "8959a8", "3e999f", "8e908c",
        "4d4d4c", "e03a3b", "4d9a06", "c99400", "3465a4", "a35bb8", "2a9ca3", "a8a8a8",
    )
)  # fmt: skip
# A blinking cursor (as the program asks: DECSCUSR, or mode 12) blinks at this half-period
# while the terminal has the keys, and stays on once nothing was typed or printed for a while
# (kitty's habit: a blinking cursor on an idle screen only costs wake-ups).
BLINK_MS = 530
BLINK_FOR = 15.0  # seconds

_NAMED_KEYS: dict[int, str] = {
    Qt.Key.Key_Escape: "ESCAPE",
    Qt.Key.Key_Tab: "TAB",
    Qt.Key.Key_Backtab: "TAB",
    Qt.Key.Key_Backspace: "BACKSPACE",
    Qt.Key.Key_Return: "ENTER",
    Qt.Key.Key_Enter: "NUMPAD_ENTER",
    Qt.Key.Key_Insert: "INSERT",
    Qt.Key.Key_Delete: "DELETE",
    Qt.Key.Key_Home: "HOME",
    Qt.Key.Key_End: "END",
    Qt.Key.Key_Left: "ARROW_LEFT",
    Qt.Key.Key_Up: "ARROW_UP",
    Qt.Key.Key_Right: "ARROW_RIGHT",
    Qt.Key.Key_Down: "ARROW_DOWN",
    Qt.Key.Key_PageUp: "PAGE_UP",
    Qt.Key.Key_PageDown: "PAGE_DOWN",
    Qt.Key.Key_Space: "SPACE",
    Qt.Key.Key_Minus: "MINUS",
    Qt.Key.Key_Equal: "EQUAL",
    Qt.Key.Key_BracketLeft: "BRACKET_LEFT",
    Qt.Key.Key_BracketRight: "BRACKET_RIGHT",
    Qt.Key.Key_Backslash: "BACKSLASH",
    Qt.Key.Key_Semicolon: "SEMICOLON",
    Qt.Key.Key_Apostrophe: "QUOTE",
    Qt.Key.Key_QuoteLeft: "BACKQUOTE",
    Qt.Key.Key_Comma: "COMMA",
    Qt.Key.Key_Period: "PERIOD",
    Qt.Key.Key_Slash: "SLASH",
    Qt.Key.Key_Shift: "SHIFT_LEFT",
    Qt.Key.Key_Control: "CONTROL_LEFT",
    Qt.Key.Key_Alt: "ALT_LEFT",
    Qt.Key.Key_Meta: "META_LEFT",
    Qt.Key.Key_CapsLock: "CAPS_LOCK",
    Qt.Key.Key_NumLock: "NUM_LOCK",
    Qt.Key.Key_Menu: "CONTEXT_MENU",
}
_NAMED_KEYS.update({Qt.Key.Key_F1 + n: f"F{n + 1}" for n in range(25)})
_NAMED_KEYS.update({Qt.Key.Key_A + n: chr(ord("A") + n) for n in range(26)})
_NAMED_KEYS.update({Qt.Key.Key_0 + n: f"DIGIT_{n}" for n in range(10)})
_KEYPAD_KEYS: dict[int, str] = {Qt.Key.Key_0 + n: f"NUMPAD_{n}" for n in range(10)}
_KEYPAD_KEYS.update(
    {
        Qt.Key.Key_Plus: "NUMPAD_ADD",
        Qt.Key.Key_Minus: "NUMPAD_SUBTRACT",
        Qt.Key.Key_Asterisk: "NUMPAD_MULTIPLY",
        Qt.Key.Key_Slash: "NUMPAD_DIVIDE",
        Qt.Key.Key_Period: "NUMPAD_DECIMAL",
        Qt.Key.Key_Enter: "NUMPAD_ENTER",
    }
)
_MODIFIERS = (
    (Qt.KeyboardModifier.ShiftModifier, SHIFT),
    (Qt.KeyboardModifier.ControlModifier, CTRL),
    (Qt.KeyboardModifier.AltModifier, ALT),
    (Qt.KeyboardModifier.MetaModifier, SUPER),
)
_APP_KEYS = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
# Zoom, as in GNOME Terminal and Ghostty (with Ctrl; Ctrl+Shift+= is Ctrl++ on most layouts).
_ZOOM_KEYS: dict[int, int] = {
    Qt.Key.Key_Equal: 1,
    Qt.Key.Key_Plus: 1,
    Qt.Key.Key_Minus: -1,
    Qt.Key.Key_0: 0,
}
_BUTTONS = {
    Qt.MouseButton.LeftButton: LEFT,
    Qt.MouseButton.MiddleButton: MIDDLE,
    Qt.MouseButton.RightButton: RIGHT,
}


def key_press(event: QKeyEvent) -> KeyPress:
    """The encoder's view of a Qt key event."""
    qt_key = event.key()
    qt_mods = event.modifiers()
    mods = 0
    for qt_mod, mod in _MODIFIERS:
        if qt_mods & qt_mod:
            mods |= mod
    if qt_key == Qt.Key.Key_Backtab:
        mods |= SHIFT
    name = None
    if qt_mods & Qt.KeyboardModifier.KeypadModifier:
        name = _KEYPAD_KEYS.get(qt_key)
    name = name or _NAMED_KEYS.get(qt_key, "UNIDENTIFIED")
    text = event.text()
    unshifted = 0
    if len(name) == 1 or name.startswith("DIGIT_"):
        base = name[-1].lower()
        unshifted = ord(base)
        if not text or not text.isprintable():
            # Ctrl and Alt turn the text into a control character, or none: the encoder wants
            # the character the key makes, and derives the rest from the modifiers.
            text = base.upper() if mods & SHIFT and len(name) == 1 else base
    elif name == "SPACE":
        unshifted = ord(" ")
        text = " "
    if not text.isprintable():
        text = ""
    return KeyPress(key_code(name), mods, text, unshifted, event.isAutoRepeat())


def _rgb(color: tuple[int, int, int]) -> QColor:
    return QColor(*color)


@dataclass(frozen=True, slots=True)
class _Look:
    """A style as the painter draws it."""

    font: QFont
    fg: QColor
    bg: QColor | None  # None: the default background, already there
    visible: bool
    underline: int = 0  # Style.underline's kind
    underline_color: QColor | None = None


class TerminalView(QWidget):
    """Shows one ``TerminalScreen`` at a time (``show_screen``); tell it ``screen_changed``."""

    input_ready = Signal(str)  # keystrokes for the program on screen, in order
    size_changed = Signal(int, int)  # columns and rows that fit, for the session's PTY
    title_changed = Signal(str)  # the program's window title (OSC 0/2), after a frame
    bell = Signal()  # the program rang the bell
    zoom_requested = Signal(int)  # Ctrl+= (+1), Ctrl+- (-1), Ctrl+0 (0: the default size)
    paste_needs_confirmation = Signal(str)  # lines that would run one by one: ask, then confirm
    link_activated = Signal(str)  # Ctrl+click on a hyperlink (OSC 8) or a URL: open it

    def __init__(self, font: QFont | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_InputMethodEnabled)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setCursor(Qt.CursorShape.IBeamCursor)
        self.session_screen: TerminalScreen | None = None
        self.frames_painted = 0
        self._pixmap = QPixmap()
        self._drawn: tuple[object, ...] | None = None  # what the pixmap was drawn for
        self._colors: Colors | None = None
        self._cursor = Cursor(0, 0, False, False, "block", False)
        self._fonts: dict[tuple[bool, bool, bool, bool], QFont] = {}
        self._looks: dict[Style, _Look] = {}
        self._pending_input: list[str] = []
        self._gesture = SelectionGesture()
        self._mouse = MouseEncoder()
        self._selection_version = 0  # grows when the selection changes: the frame redraws
        self._title = ""
        self._bells = 0
        self._search: Search | None = None  # while the find bar is open
        self._search_for: tuple[int, int] | None = None  # (screen id, generation) searched
        # Whether pasting several lines into a program without bracketed paste (a shell would
        # run each at once) waits for ``paste_confirmed``, after ``paste_needs_confirmation``.
        self.ask_before_pasting_lines = True
        self.setMouseTracking(True)  # motion without a button, for programs that ask for it
        self.setCursor(Qt.CursorShape.IBeamCursor)
        self._link_pressed = False  # the press opened a link: its drag and release do nothing
        self._hovered_link: str | None = None
        self._frame = QTimer(self, singleShot=True, interval=FRAME_MS)
        self._last_frame = 0.0  # time.monotonic() of the last frame painted
        self._paint_seconds = 0.0  # how long it took
        self._frame_wanted = False
        self._rows_to_draw: deque[Row] = deque()  # of the frame being drawn
        self._cols_drawn = 0
        self._draw_timer = QTimer(self, singleShot=True, interval=0)
        self._draw_timer.timeout.connect(self._draw_rows)
        self._frame.timeout.connect(self._draw_frame)
        self._input_timer = QTimer(self, singleShot=True, interval=0)
        self._input_timer.timeout.connect(self._flush_input)
        self._blink = QTimer(self, interval=BLINK_MS)
        self._blink.timeout.connect(self._blink_cursor)
        self.cursor_shown = True  # the blink's phase: False while a blinking cursor is off
        self._awake = 0.0  # time.monotonic() of the last key or output
        self.set_font(font or QFont("monospace"))
        terminal_access.install()

    # -- what it shows ----------------------------------------------------------------------

    def set_font(self, font: QFont) -> None:
        font = QFont(font)
        font.setStyleHint(QFont.StyleHint.TypeWriter)
        font.setKerning(False)
        self._font = font
        self._fonts.clear()
        metrics = QFontMetricsF(font)
        advance = metrics.horizontalAdvance("M")
        self.cell_width = max(1, math.ceil(advance))
        self.cell_height = max(1, math.ceil(metrics.height()))
        self._ascent = metrics.ascent()
        self._descent = metrics.descent()
        # Whole-pixel cells; the spacing makes each glyph's advance exactly one cell, so that a
        # run of text stays on the grid however long it is.
        font.setLetterSpacing(QFont.SpacingType.AbsoluteSpacing, self.cell_width - advance)
        self._drawn = None
        self._emit_size()
        self.screen_changed()

    def show_screen(self, screen: TerminalScreen | None) -> None:
        self.end_search()
        self.session_screen = screen
        self._drawn = None
        self._bells = screen.bells if screen is not None else 0
        self._title = ""
        self.screen_changed()

    def screen_changed(self) -> None:
        """The screen changed: paint it at once if no frame was painted in the last
        ``FRAME_MS`` (a keystroke's echo), else when that much has passed (a flood: one frame
        per ``FRAME_MS``, however often this is called)."""
        if self._rows_to_draw:
            self._frame_wanted = True  # the next frame, once this one is drawn
            return
        if not self._frame.isActive():
            # A frame that took long spaces the next ones out: painting takes at most a third
            # of the time while output floods in, and the rest goes to taking it in.
            interval = max(FRAME_MS / 1000, PAINT_SHARE * self._paint_seconds)
            since = time.monotonic() - self._last_frame
            self._frame.start(max(0, round((interval - since) * 1000)))

    def frame_pending(self) -> bool:
        """Whether a change waits for the next frame to be painted."""
        return self._frame.isActive() or bool(self._rows_to_draw)

    def cells(self) -> tuple[int, int]:
        """Columns and rows that fit in the widget."""
        return (
            max(2, self.width() // self.cell_width),
            max(1, self.height() // self.cell_height),
        )

    def sizeHint(self) -> QSize:
        return QSize(80 * self.cell_width, 24 * self.cell_height)

    # -- painting ---------------------------------------------------------------------------

    def _draw_frame(self) -> None:
        """Take the screen's changed rows, then draw them a few milliseconds' worth per turn of
        the loop (``DRAW_SLICE``): a frame of a whole screen of coloured text takes about 20 ms
        here, and the loop must answer keys and take output in between."""
        started = time.monotonic()
        screen = self.session_screen
        if screen is None:
            self.update()
            return
        state = screen.render
        state.update(screen.emulator.terminal)
        colors = state.colors()
        cols, rows = state.cols, state.rows
        size = QSize(cols * self.cell_width, rows * self.cell_height)
        drawn = (
            id(screen),
            screen.generation,
            size.width(),
            size.height(),
            colors,
            self._theme(),
            self._selection_version,
        )
        everything = drawn != self._drawn
        if everything:
            self._colors = colors
            self._looks.clear()
            if self._pixmap.size() != size:
                self._pixmap = QPixmap(size)
            self._pixmap.fill(self._background())
        # Read now (the rows' text and styles are copied out), drawn over the next turns.
        self._rows_to_draw = deque(state.dirty_rows(everything=everything))
        self._cols_drawn = cols
        state.clean()
        search = self._open_search()
        if search is not None:
            search.update()  # matches in what came meanwhile
        self._drawn = drawn
        self._cursor = state.cursor()
        self._wake_cursor()
        self._paint_seconds = time.monotonic() - started
        self._draw_rows()
        if screen.title != self._title:
            self._title = screen.title
            self.title_changed.emit(self._title)
        if screen.bells != self._bells:
            self._bells = screen.bells
            self.bell.emit()

    def _draw_rows(self) -> None:
        rows = self._rows_to_draw
        started = time.monotonic()
        deadline = started + DRAW_SLICE
        painter = QPainter(self._pixmap)
        try:
            while rows:
                self._draw_row(painter, rows.popleft(), self._cols_drawn)
                if time.monotonic() > deadline:
                    break
        finally:
            painter.end()
        self._last_frame = time.monotonic()
        self._paint_seconds += self._last_frame - started  # the work, not the turns between
        if rows:
            self._draw_timer.start()
            return
        self.frames_painted += 1
        self.update()
        terminal_access.announce_change(self)
        if self._frame_wanted:
            self._frame_wanted = False
            self.screen_changed()

    def _theme(self) -> tuple[int, int]:
        palette = self.palette()
        role = QPalette.ColorRole
        return (palette.color(role.Base).rgb(), palette.color(role.Text).rgb())

    def _background(self) -> QColor:
        return self.palette().color(QPalette.ColorRole.Base)

    def _foreground(self) -> QColor:
        return self.palette().color(QPalette.ColorRole.Text)

    def _color(self, value: int | tuple[int, int, int] | None, default: QColor) -> QColor:
        if value is None:
            return default
        if isinstance(value, int):
            assert self._colors is not None
            rgb = self._colors.palette[value]
            # The 16 colours follow the theme: on a light background, the light palette's,
            # unless the program set that colour itself (OSC 4).
            light = value < 16 and self._background().lightness() > 128
            if light and rgb == default_palette()[value]:
                rgb = LIGHT_PALETTE[value]
            return _rgb(rgb)
        return _rgb(value)

    def _look(self, style: Style) -> _Look:
        """How a style is drawn, worked out once per style until the colours change."""
        look = self._looks.get(style)
        if look is None:
            background = self._background()
            fg = self._color(style.fg, self._foreground())
            bg = self._color(style.bg, background)
            if style.inverse:
                fg, bg = bg, fg
            if style.faint:
                fg = QColor(fg)
                fg.setAlpha(150)
            look = _Look(
                self._font_for(style), fg, None if bg == background else bg, not style.invisible,
                style.underline, self._color(style.underline_color, fg),
            )  # fmt: skip
            self._looks[style] = look
        return look

    def _draw_row(self, painter: QPainter, row: Row, cols: int) -> None:
        top = row.y * self.cell_height
        height, width = self.cell_height, self.cell_width
        painter.setClipRect(0, top, cols * width, height)  # a curly underline stays in its row
        painter.fillRect(0, top, cols * width, height, self._background())
        baseline = round(top + self._ascent)
        for run in row.runs:
            look = self._look(run.style)
            left = run.x * width
            if look.bg is not None:
                painter.fillRect(left, top, run.cells * width, height, look.bg)
            if not look.visible:
                continue
            if look.underline:
                self._underline(painter, look, left, run.cells * width, baseline)
            if run.text.isspace():
                continue
            if painter.font() is not look.font:
                painter.setFont(look.font)
            painter.setPen(look.fg)
            if run.cells == len(run.text):
                painter.drawText(left, baseline, run.text)
            else:
                # A wide character or a cluster: its glyph centred on its cells.
                rect = QRect(left, top, run.cells * width, height)
                painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, run.text)
        if row.selected is not None:
            first, last = row.selected
            highlight = QColor(self.palette().color(QPalette.ColorRole.Highlight))
            highlight.setAlpha(120)
            left = first * width
            painter.fillRect(left, top, (last + 1) * width - left, height, highlight)

    def _underline(self, painter: QPainter, look: _Look, left: int, width: int, base: int) -> None:
        """Under a run, in its underline colour (SGR 58, else its text's): single, double,
        curly, dotted or dashed (SGR 4:1 to 4:5), as kitty and Ghostty draw them."""
        thick = max(1, round(self.cell_height / 16))
        y = base + max(thick, round(self._descent / 3))
        pen = QPen(look.underline_color or look.fg, thick)
        pen.setCapStyle(Qt.PenCapStyle.FlatCap)
        kind = look.underline
        if kind == 4:
            pen.setStyle(Qt.PenStyle.DotLine)
        elif kind == 5:
            pen.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(pen)
        if kind == 2:
            painter.drawLine(left, y - thick, left + width, y - thick)
            painter.drawLine(left, y + thick, left + width, y + thick)
        elif kind == 3:
            wave = QPainterPath(QPointF(left, y))
            step = max(2.0, self.cell_width / 2)
            x, up = float(left), True
            while x < left + width:
                wave.quadTo(x + step / 2, y + (-2 if up else 2) * thick, x + step, y)
                x, up = x + step, not up
            painter.drawPath(wave)
        else:
            painter.drawLine(left, y, left + width, y)

    def _font_for(self, style: Style) -> QFont:
        key = (style.bold, style.italic, style.strikethrough, style.overline)
        font = self._fonts.get(key)
        if font is None:
            font = QFont(self._font)
            font.setBold(style.bold)
            font.setItalic(style.italic)
            font.setStrikeOut(style.strikethrough)
            font.setOverline(style.overline)
            self._fonts[key] = font
        return font

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        try:
            painter.fillRect(event.rect(), self._background())
            if self.session_screen is None or self._drawn is None:
                return
            painter.drawPixmap(0, 0, self._pixmap)
            self._paint_matches(painter)
            self._paint_cursor(painter)
        finally:
            painter.end()

    def _paint_matches(self, painter: QPainter) -> None:
        search = self._open_search()
        if search is None or not search.needle:
            return
        color = QColor(255, 200, 0, 110)
        for first, top, last, bottom in search.visible():
            for y in range(top, bottom + 1):
                start = first if y == top else 0
                end = last if y == bottom else self.width() // self.cell_width
                painter.fillRect(
                    start * self.cell_width, y * self.cell_height,
                    (end - start + 1) * self.cell_width, self.cell_height, color,
                )  # fmt: skip

    # -- find -------------------------------------------------------------------------------

    def _searching(self) -> Search | None:
        """The search over the screen shown now (a new one after a reset)."""
        screen = self.session_screen
        if screen is None:
            return None
        key = (id(screen), screen.generation)
        if self._search is None or self._search_for != key:
            self.end_search()
            self._search = Search(screen.emulator.terminal)
            self._search_for = key
        return self._search

    def _open_search(self) -> Search | None:
        """The open search, if any, moved to the screen's emulator of now: a reset, or the
        deeper history put in place, closed the one it searched (and freed its search)."""
        if self._search is None:
            return None
        screen = self.session_screen
        if screen is not None and self._search_for == (id(screen), screen.generation):
            return self._search
        needle = self._search.needle
        search = self._searching()
        if search is not None and needle:
            search.find(needle)
        return search

    def highlight(self, text: str) -> int:
        """Highlight every ``text`` in the screen and scrollback; how many there are."""
        search = self._searching()
        if search is None:
            return 0
        total = search.find(text) if text else search.find("")
        self.update()
        return total

    def find_next(self, text: str, backwards: bool = False) -> str | None:
        """Select the next ``text`` towards older output (``backwards``: newer), scrolling to
        it; the find bar's status ("3 of 12", or "not found")."""
        search = self._searching()
        if search is None or not text:
            return NOT_FOUND
        if search.needle != text:
            search.find(text)
        if not search.select(older=not backwards):
            return NOT_FOUND
        self._selection_version += 1
        self.screen_changed()
        index = search.index
        return f"{(index or 0) + 1} of {search.total}"

    def end_search(self) -> None:
        if self._search is not None:
            self._search.close()
            self._search = None
            self._search_for = None
            self.update()

    def _wake_cursor(self) -> None:
        """Output or a key: the cursor shows at once, and blinks from now if it blinks."""
        self._awake = time.monotonic()
        if not self.cursor_shown:
            self.cursor_shown = True
            self.update(self._cursor_rect())
        if self._cursor.blinking and self.hasFocus():
            self._blink.start()  # the phase starts again: no flicker while typing
        else:
            self._blink.stop()

    def _blink_cursor(self) -> None:
        idle = time.monotonic() - self._awake > BLINK_FOR
        if idle or not self._cursor.blinking or not self.hasFocus():
            self._blink.stop()
            self.cursor_shown = True
        else:
            self.cursor_shown = not self.cursor_shown
        self.update(self._cursor_rect())

    def _cursor_rect(self) -> QRect:
        cursor = self._cursor
        width = self.cell_width * (2 if cursor.wide else 1)
        return QRect(
            cursor.x * self.cell_width, cursor.y * self.cell_height, width, self.cell_height
        )

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:  # the system went light or dark
            self.screen_changed()  # a frame for the new theme (its colours are in ``_drawn``)

    def focusInEvent(self, event: QFocusEvent) -> None:
        super().focusInEvent(event)
        self._wake_cursor()

    def focusOutEvent(self, event: QFocusEvent) -> None:
        super().focusOutEvent(event)
        self._blink.stop()
        self.cursor_shown = True  # a hollow block, steady

    def _paint_cursor(self, painter: QPainter) -> None:
        cursor = self._cursor
        if not cursor.visible or not self.cursor_shown:
            return
        rect = self._cursor_rect()
        colors = self._colors
        color = _rgb(colors.cursor) if colors and colors.cursor else self._foreground()
        focused = self.hasFocus()
        if cursor.shape == "bar":
            painter.fillRect(QRect(rect.left(), rect.top(), 2, rect.height()), color)
        elif cursor.shape == "underline":
            painter.fillRect(QRect(rect.left(), rect.bottom() - 1, rect.width(), 2), color)
        elif cursor.shape == "block" and focused:
            painter.setCompositionMode(QPainter.CompositionMode.RasterOp_SourceXorDestination)
            painter.fillRect(rect, QColor(255, 255, 255))
            painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceOver)
        else:  # a hollow block, and any block while the widget has no focus
            painter.setPen(color)
            painter.drawRect(rect.adjusted(0, 0, -1, -1))

    # -- input ------------------------------------------------------------------------------

    def event(self, event: QEvent) -> bool:
        # A key the terminal takes is not a shortcut of the window's (Ctrl+F, Ctrl+S…): only
        # Ctrl+Shift combinations stay the app's.
        if (
            event.type() == QEvent.Type.ShortcutOverride
            and isinstance(event, QKeyEvent)
            and (event.modifiers() & _APP_KEYS) != _APP_KEYS
            and not (event.key() in _ZOOM_KEYS and event.modifiers() & _APP_KEYS)
            and not _is_search_key(event)
        ):
            event.accept()
            return True
        return super().event(event)

    def focusNextPrevChild(self, next: bool) -> bool:
        return False  # Tab and Shift+Tab are the program's

    def keyPressEvent(self, event: QKeyEvent) -> None:
        screen = self.session_screen
        if screen is None:
            return
        zoom = _ZOOM_KEYS.get(event.key())
        if zoom is not None and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.zoom_requested.emit(zoom)
            return
        if (event.modifiers() & _APP_KEYS) == _APP_KEYS:
            if event.key() == Qt.Key.Key_V:
                self.paste(QGuiApplication.clipboard().text())
                return
            if event.key() == Qt.Key.Key_C:
                self.copy_selection()
                return
        data = screen.key(key_press(event))
        if data:
            self.send(data.decode("utf-8", "replace"))

    def send(self, text: str) -> None:
        """Queue ``text`` for the program; what is queued within a turn of the loop goes at
        once. Typing brings the screen back from the scrollback."""
        self._wake_cursor()
        if self.session_screen is not None:
            terminal = self.session_screen.emulator.terminal
            total, offset, visible = terminal.scrollbar()
            if offset + visible < total:
                terminal.scroll_viewport(None)
                self.screen_changed()
        self._pending_input.append(text)
        if not self._input_timer.isActive():
            self._input_timer.start()

    def paste(self, text: str) -> None:
        screen = self.session_screen
        if screen is None or not text:
            return
        if self.ask_before_pasting_lines and screen.pastes_unguarded_lines(text):
            self.paste_needs_confirmation.emit(text)
            return
        self.send(screen.paste(text))

    def paste_confirmed(self, text: str) -> None:
        """Paste ``text`` after the user said yes to ``paste_needs_confirmation``."""
        if self.session_screen is not None and text:
            self.send(self.session_screen.paste(text))

    def _flush_input(self) -> None:
        if self._pending_input:
            data = "".join(self._pending_input)
            self._pending_input.clear()
            self.input_ready.emit(data)

    def selected_text(self) -> str:
        screen = self.session_screen
        return selected_text(screen.emulator.terminal) if screen is not None else ""

    def terminal_cursor(self) -> Cursor:
        """The program's cursor as the last frame showed it."""
        return self._cursor

    def copy_selection(self, mode: QClipboard.Mode = QClipboard.Mode.Clipboard) -> str:
        """Put the selected text on the clipboard (or the primary selection); the text."""
        text = self.selected_text()
        if text:
            QGuiApplication.clipboard().setText(text, mode)
        return text

    # -- the mouse: reports to programs that ask, else selection ------------------------------

    def _cell_at(self, position: QPointF) -> tuple[int, int]:
        assert self.session_screen is not None
        cols, rows = self.session_screen.size
        x = min(max(0, int(position.x() // self.cell_width)), cols - 1)
        y = min(max(0, int(position.y() // self.cell_height)), rows - 1)
        return x, y

    def _reports_mouse(self, event: QMouseEvent | QWheelEvent) -> bool:
        """Whether the program gets this event: it asked for mouse reports, and Shift does not
        bypass them (as in other terminals, to select text in a program that takes clicks)."""
        screen = self.session_screen
        if screen is None or event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            return False
        return tracking(screen.emulator.terminal)

    def _report(self, event: QMouseEvent | QWheelEvent, action: str, button: int | None) -> None:
        assert self.session_screen is not None
        cols, rows = self.session_screen.size
        mods = 0
        for qt_mod, mod in _MODIFIERS:
            if event.modifiers() & qt_mod:
                mods |= mod
        held = isinstance(event, QMouseEvent) and event.buttons() != Qt.MouseButton.NoButton
        position = event.position()
        data = self._mouse.encode(
            self.session_screen.emulator.terminal,
            action,  # type: ignore[arg-type]
            button,
            (position.x(), position.y()),
            mods=mods,
            any_pressed=held,
            surface=(cols * self.cell_width, rows * self.cell_height,
                     self.cell_width, self.cell_height),
        )  # fmt: skip
        if data:
            self.send(data.decode("utf-8", "replace"))

    def _select(self, phase: str, event: QMouseEvent) -> None:
        assert self.session_screen is not None
        terminal = self.session_screen.emulator.terminal
        cols, rows = self.session_screen.size
        position = event.position()
        made = self._gesture.event(
            terminal,
            phase,  # type: ignore[arg-type]
            self._cell_at(position),
            (position.x(), position.y()),
            time_ns=int(event.timestamp()) * 1_000_000,
            rectangle=bool(event.modifiers() & Qt.KeyboardModifier.AltModifier),
            geometry=(cols, self.cell_width, rows * self.cell_height),
        )
        if phase == "press" and not made:
            clear_selection(terminal)  # a click starts afresh
        self._selection_version += 1
        self.screen_changed()

    def _link_under(self, event: QMouseEvent) -> str | None:
        """The link under the pointer while Ctrl is held, else None."""
        screen = self.session_screen
        if screen is None or not event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            return None
        x = int(event.position().x() // self.cell_width)
        y = int(event.position().y() // self.cell_height)
        cols, rows = screen.size
        if not (0 <= x < cols and 0 <= y < rows):
            return None  # the margin beyond the grid
        return link_at(screen.emulator.terminal, x, y)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.setFocus()
        if self.session_screen is None:
            return
        button = _BUTTONS.get(event.button())
        link = self._link_under(event) if button == LEFT else None
        self._link_pressed = link is not None
        if link is not None:
            self.link_activated.emit(link)  # as in other terminals, before the program's report
        elif self._reports_mouse(event):
            self._report(event, "press", button)
        elif button == LEFT:
            self._select("press", event)
        elif button == MIDDLE:
            self.paste(QGuiApplication.clipboard().text(QClipboard.Mode.Selection))
        event.accept()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        # The gesture counts clicks itself (by time and distance): a second press is a press;
        # but a link opens once, on the first.
        if self._link_under(event) is not None:
            self._link_pressed = True
            event.accept()
            return
        self.mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self.session_screen is None:
            return
        held = event.buttons()
        if not held:  # a pointing hand over what Ctrl+click opens, and where it goes
            link = self._link_under(event)
            hand = Qt.CursorShape.PointingHandCursor
            self.setCursor(hand if link else Qt.CursorShape.IBeamCursor)
            if link != self._hovered_link:
                self._hovered_link = link
                if link:
                    QToolTip.showText(event.globalPosition().toPoint(), link, self)
                else:
                    QToolTip.hideText()
        if self._link_pressed:
            pass
        elif self._reports_mouse(event):
            button = next((b for q, b in _BUTTONS.items() if held & q), None)
            self._report(event, "motion", button)
        elif held & Qt.MouseButton.LeftButton:
            self._select("drag", event)
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self.session_screen is None:
            return
        button = _BUTTONS.get(event.button())
        if self._link_pressed:
            self._link_pressed = False  # the click opened a link: nothing else of it
        elif self._reports_mouse(event):
            self._report(event, "release", button)
        elif button == LEFT:
            self._select("release", event)
            self.copy_selection(QClipboard.Mode.Selection)  # Linux's primary selection
        event.accept()

    def inputMethodEvent(self, event: QInputMethodEvent) -> None:
        if event.commitString():
            self.send(event.commitString())
        event.accept()

    def inputMethodQuery(self, query: Qt.InputMethodQuery) -> object:
        if query == Qt.InputMethodQuery.ImCursorRectangle and self._drawn is not None:
            cursor = self._cursor
            return QRect(
                cursor.x * self.cell_width,
                cursor.y * self.cell_height,
                self.cell_width,
                self.cell_height,
            )
        return super().inputMethodQuery(query)

    def wheelEvent(self, event: QWheelEvent) -> None:
        screen = self.session_screen
        if screen is None:
            return
        notches = round(event.angleDelta().y() / 120)
        if notches and self._reports_mouse(event):
            # less, vim, htop… asked for the wheel: it is theirs.
            for _ in range(abs(notches)):
                self._report(event, "press", WHEEL_UP if notches > 0 else WHEEL_DOWN)
        elif notches and screen.emulator.alt_screen and screen.emulator.terminal.mode(1007):
            # A full-screen program that did not ask for the mouse (less, man): the wheel sends
            # it arrow keys (xterm's alternate scroll mode, on unless the program turns it off).
            key = KeyPress(key_code("ARROW_UP" if notches > 0 else "ARROW_DOWN"))
            arrow = screen.key(key).decode()
            self.send(arrow * (abs(notches) * WHEEL_ROWS))
        elif notches:
            screen.emulator.terminal.scroll_viewport(-notches * WHEEL_ROWS)
            self.screen_changed()
        event.accept()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._emit_size()

    def _emit_size(self) -> None:
        self.size_changed.emit(*self.cells())


def _is_search_key(event: QKeyEvent) -> bool:
    """Ctrl+K is the app's (search every session), not the program's."""
    mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
    return event.key() == Qt.Key.Key_K and mods == Qt.KeyboardModifier.ControlModifier


class TerminalPane(QWidget):
    """The terminal with its find bar (Ctrl+Shift+F) above it."""

    def __init__(self, font: QFont | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = TerminalView(font)
        self.find_bar = FindBar(self.view.find_next, "Find in the terminal and its scrollback")
        self.find_bar.hide()
        self.find_bar.text_changed.connect(self._on_text)
        self.find_bar.closed.connect(self._on_closed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.find_bar)
        layout.addWidget(self.view, 1)

    def open_find(self) -> None:
        self.find_bar.open_bar()
        self._on_text(self.find_bar.field.text())

    def reveal(self, terms: list[str]) -> bool:
        """A search hit in this session: the find bar shows the words (as typed, else the
        longest of them that is there) and the newest match is selected (a hit is the latest
        line that holds them, as far as the scrollback reaches). Whether there is one."""
        wanted = list(dict.fromkeys([" ".join(terms), *sorted(terms, key=len, reverse=True)]))
        for text in (t for t in wanted if t):
            self.find_bar.show()
            self.find_bar.field.setText(text)  # highlights every match
            status = self.view.find_next(text)
            self.find_bar.status.setText(status or "")
            if status != NOT_FOUND:
                return True
        return False

    def _on_text(self, text: str) -> None:
        total = self.view.highlight(text)
        self.find_bar.status.setText(f"{total} found" if text else "")

    def _on_closed(self) -> None:
        self.view.end_search()
        self.view.setFocus()
