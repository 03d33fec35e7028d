"""The terminal widget for screen readers: Qt's accessibility text interface over the visible
screen, as GNOME Terminal's VTE gives its text to AT-SPI.

A widget that paints its own text is a blank box to a screen reader unless it says what it
shows. ``TerminalAccessible`` is the terminal view's accessible object (role ``Terminal``): its
text is the screen's rows joined by newlines, the caret is the terminal's cursor, the selection
is the mouse selection, and every offset maps to a cell's rectangle on screen and back. The
view tells assistive technology when the text changed, once per painted frame.

PySide6 cannot cast to an interface a Python class implements by itself; ``interface_cast``
returns the address of this object's ``QAccessibleTextInterface`` part (``shiboken6``).
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import shiboken6
from PySide6.QtCore import QObject, QPoint, QRect
from PySide6.QtGui import (
    QAccessible,
    QAccessibleInterface,
    QAccessibleTextCursorEvent,
    QAccessibleTextInterface,
    QAccessibleTextUpdateEvent,
)
from PySide6.QtWidgets import QAccessibleWidget

if TYPE_CHECKING:
    from desktop.ui.terminal_view import TerminalView

_made: dict[int, TerminalAccessible] = {}  # Qt keeps the interfaces; Python must keep them too


class TerminalAccessible(QAccessibleWidget, QAccessibleTextInterface):
    def __init__(self, view: TerminalView) -> None:
        QAccessibleWidget.__init__(self, view, QAccessible.Role.Terminal)
        QAccessibleTextInterface.__init__(self)
        self.view = view

    def interface_cast(self, kind: QAccessible.InterfaceType) -> Any:
        if kind == QAccessible.InterfaceType.TextInterface:
            return shiboken6.VoidPtr(shiboken6.getCppPointer(self)[1])
        return super().interface_cast(kind)

    # -- what it is ---------------------------------------------------------------------------

    def text(self, *args: Any) -> str:
        # Both interfaces name it text: (QAccessible.Text) and (start, end).
        if len(args) == 1:
            kind = args[0]
            if kind == QAccessible.Text.Name:
                return "Terminal"
            if kind == QAccessible.Text.Value:
                return self._text()
            return str(QAccessibleWidget.text(self, kind))
        start, end = args
        return self._text()[max(0, start) : end]

    def _text(self) -> str:
        screen = self.view.session_screen
        return screen.text() if screen is not None else ""

    def _cols(self) -> int:
        screen = self.view.session_screen
        return screen.size[0] if screen is not None else 0

    def characterCount(self) -> int:
        return len(self._text())

    # -- offsets and cells: each row is ``cols`` characters and a newline ----------------------
    # (``TerminalScreen.text`` keeps a row's trailing blanks off, so the offsets are counted
    # from the rows as they are.)

    def _rows(self) -> list[str]:
        return self._text().split("\n")

    def _offset(self, x: int, y: int) -> int:
        rows = self._rows()
        if not rows:
            return 0
        y = min(max(0, y), len(rows) - 1)
        return sum(len(row) + 1 for row in rows[:y]) + min(x, len(rows[y]))

    def _cell(self, offset: int) -> tuple[int, int]:
        for y, row in enumerate(self._rows()):
            if offset <= len(row):
                return offset, y
            offset -= len(row) + 1
        return 0, 0

    def cursorPosition(self) -> int:
        cursor = self.view.terminal_cursor()
        return self._offset(cursor.x, cursor.y)

    def setCursorPosition(self, position: int) -> None:
        pass  # the program owns the cursor

    def characterRect(self, offset: int) -> QRect:
        x, y = self._cell(offset)
        width, height = self.view.cell_width, self.view.cell_height
        top_left = self.view.mapToGlobal(QPoint(x * width, y * height))
        return QRect(top_left.x(), top_left.y(), width, height)

    def offsetAtPoint(self, point: QPoint) -> int:
        local = self.view.mapFromGlobal(point)
        if not self.view.rect().contains(local):
            return -1
        return self._offset(local.x() // self.view.cell_width, local.y() // self.view.cell_height)

    def scrollToSubstring(self, start: int, end: int) -> None:
        pass  # the screen shows what it shows

    def attributes(self, offset: int) -> tuple[str, int, int]:
        return "", offset, offset + 1

    # -- the selection ------------------------------------------------------------------------

    def selectionCount(self) -> int:
        return 1 if self._selection() is not None else 0

    def selection(self, index: int) -> tuple[int, int]:
        found = self._selection()
        return found if index == 0 and found is not None else (0, 0)

    def _selection(self) -> tuple[int, int] | None:
        selected = self.view.selected_text()
        if not selected:
            return None
        start = self._text().find(selected)
        return (start, start + len(selected)) if start >= 0 else None

    def addSelection(self, start: int, end: int) -> None:
        pass  # selection is the mouse's

    def removeSelection(self, index: int) -> None:
        pass

    def setSelection(self, index: int, start: int, end: int) -> None:
        pass


def _factory(_key: str, target: QObject) -> QAccessibleInterface | None:
    from desktop.ui.terminal_view import TerminalView

    if not isinstance(target, TerminalView):
        return None
    made = _made.get(id(target))
    if made is None:
        made = _made[id(target)] = TerminalAccessible(target)
        key = id(target)
        target.destroyed.connect(lambda: _made.pop(key, None))
    return made


_installed = False


def install() -> None:
    """Give every terminal view its accessible object (once per process)."""
    global _installed
    if not _installed:
        QAccessible.installFactory(_factory)
        _installed = True


# Per view: the text and caret assistive technology was told last.
_announced: weakref.WeakKeyDictionary[TerminalView, tuple[str, int]] = weakref.WeakKeyDictionary()


def announce_change(view: TerminalView) -> None:
    """A frame was painted: tell assistive technology what changed, if any listens: the
    changed stretch of text only (a screen reader speaks what is inserted, and must not read
    the whole screen again at each echo), and the caret when it moved."""
    if not QAccessible.isActive():
        return
    screen = view.session_screen
    text = screen.text() if screen is not None else ""
    old, old_caret = _announced.get(view, ("", -1))
    accessible = QAccessible.queryAccessibleInterface(view)
    caret = accessible.textInterface().cursorPosition() if accessible is not None else 0
    _announced[view] = (text, caret)
    if text != old:
        start = 0
        while start < min(len(old), len(text)) and old[start] == text[start]:
            start += 1
        end_old, end_new = len(old), len(text)
        while end_old > start and end_new > start and old[end_old - 1] == text[end_new - 1]:
            end_old, end_new = end_old - 1, end_new - 1
        event = QAccessibleTextUpdateEvent(view, start, old[start:end_old], text[start:end_new])
        QAccessible.updateAccessibility(event)
    if caret != old_caret:
        QAccessible.updateAccessibility(QAccessibleTextCursorEvent(view, caret))
