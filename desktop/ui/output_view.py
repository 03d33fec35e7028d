"""The output of one session: a QTextDocument fed by the ANSI renderer, shown in a read-only view.

Each session keeps its own ``SessionDocument`` (text, renderer state, last event id), so switching
back to a session shows it at once and its stream resumes from where it stopped.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QFontMetrics,
    QKeySequence,
    QPalette,
    QResizeEvent,
    QShortcut,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextDocumentLayout,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.ansi import AnsiRenderer, Line, Style, Update, palette_rgb

DEFAULT_SCROLLBACK = 100_000


class Formats:
    """QTextCharFormats for renderer styles, made once per style and theme."""

    def __init__(self, palette: QPalette, font: QFont) -> None:
        self.font = font
        self.foreground = palette.color(QPalette.ColorRole.Text)
        self.background = palette.color(QPalette.ColorRole.Base)
        self._cache: dict[Style, QTextCharFormat] = {}

    def _color(self, value: int | tuple[int, int, int]) -> QColor:
        red, green, blue = palette_rgb(value) if isinstance(value, int) else value
        return QColor(red, green, blue)

    def get(self, style: Style) -> QTextCharFormat:
        fmt = self._cache.get(style)
        if fmt is not None:
            return fmt
        fmt = QTextCharFormat()
        fg = self._color(style.fg) if style.fg is not None else None
        bg = self._color(style.bg) if style.bg is not None else None
        if style.bold and isinstance(style.fg, int) and style.fg < 8:
            fg = self._color(style.fg + 8)  # bold bright, as xterm does
        if style.inverse:
            fg, bg = (bg or self.background), (fg or self.foreground)
        if fg is not None:
            if style.dim:
                fg = fg.darker(150)
            fmt.setForeground(fg)
        if bg is not None:
            fmt.setBackground(bg)
        if style.bold:
            fmt.setFontWeight(QFont.Weight.Bold)
        fmt.setFontItalic(style.italic)
        fmt.setFontUnderline(style.underline)
        self._cache[style] = fmt
        return fmt


class SessionDocument:
    """One session's text with its renderer; the document's last block is the partial line."""

    def __init__(self, formats: Formats, scrollback: int = DEFAULT_SCROLLBACK) -> None:
        self.document = QTextDocument()
        self.document.setDocumentLayout(QPlainTextDocumentLayout(self.document))
        self.document.setDefaultFont(formats.font)
        self.document.setMaximumBlockCount(scrollback)
        self.document.setUndoRedoEnabled(False)
        self.renderer = AnsiRenderer()
        self.formats = formats
        self.last_event_id: int | None = None

    def set_scrollback(self, lines: int) -> None:
        self.document.setMaximumBlockCount(lines)

    def append_text(self, text: str) -> None:
        """Feed program output (ANSI included) to the document."""
        self.apply(self.renderer.feed(text))

    def append_notice(self, text: str) -> None:
        """A line of our own (a trim notice, an exit status), on a line of its own."""
        shown = self.renderer.feed("").partial
        notice: Line = ((text, Style(fg=8, italic=True)),)
        self.apply(Update(finished=[*([shown] if shown else []), notice], partial=()))
        self.renderer.reset()

    def apply(self, update: Update) -> None:
        cursor = QTextCursor(self.document)
        cursor.beginEditBlock()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.movePosition(QTextCursor.MoveOperation.StartOfBlock, QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()  # the partial line as shown so far
        for line in update.finished:
            self._insert(cursor, line)
            cursor.insertBlock()
        self._insert(cursor, update.partial)
        cursor.endEditBlock()

    def _insert(self, cursor: QTextCursor, line: Line) -> None:
        for text, style in line:
            cursor.insertText(text, self.formats.get(style))

    def plain_text(self) -> str:
        return self.document.toPlainText()


class FindBar(QWidget):
    """Ctrl+F: find text in the output, forwards or backwards."""

    closed = Signal()

    def __init__(self, view: QPlainTextEdit) -> None:
        super().__init__(view.parentWidget())
        self.view = view
        self.field = QLineEdit(placeholderText="Find in output")
        self.status = QLabel()
        previous = QPushButton("Previous")
        following = QPushButton("Next")
        close = QPushButton("Close")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.field, previous, following, self.status, close):
            layout.addWidget(widget)
        self.field.returnPressed.connect(lambda: self.find_text(backwards=False))
        following.clicked.connect(lambda: self.find_text(backwards=False))
        previous.clicked.connect(lambda: self.find_text(backwards=True))
        close.clicked.connect(self.close_bar)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self.field, self.close_bar)

    def open_bar(self) -> None:
        self.show()
        self.field.setFocus()
        self.field.selectAll()

    def close_bar(self) -> None:
        self.hide()
        self.closed.emit()

    def find_text(self, backwards: bool) -> bool:
        text = self.field.text()
        if not text:
            return False
        flags = QTextDocument.FindFlag.FindBackward if backwards else QTextDocument.FindFlag(0)
        found = self.view.find(text, flags)
        if not found:  # wrap around
            cursor = self.view.textCursor()
            cursor.movePosition(
                QTextCursor.MoveOperation.End if backwards else QTextCursor.MoveOperation.Start
            )
            self.view.setTextCursor(cursor)
            found = self.view.find(text, flags)
        self.status.setText("" if found else "not found")
        return found


class OutputView(QWidget):
    """A read-only terminal-like view that follows the tail unless the user scrolled up."""

    resized = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.text = QPlainTextEdit(readOnly=True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.text.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.text.setUndoRedoEnabled(False)
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.formats = Formats(self.text.palette(), font)
        self.find_bar = FindBar(self.text)
        self.find_bar.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.text)
        layout.addWidget(self.find_bar)
        QShortcut(QKeySequence.StandardKey.Find, self, self.find_bar.open_bar)
        self._empty = SessionDocument(self.formats)
        self.current: SessionDocument | None = None
        self.show_document(None)

    def new_document(self, scrollback: int = DEFAULT_SCROLLBACK) -> SessionDocument:
        return SessionDocument(self.formats, scrollback)

    def show_document(self, document: SessionDocument | None) -> None:
        self.current = document
        self.text.setDocument((document or self._empty).document)
        self.text.setFont(self.formats.font)
        self.scroll_to_end()

    def at_end(self) -> bool:
        bar = self.text.verticalScrollBar()
        return bar.value() >= bar.maximum() - 2

    def scroll_to_end(self) -> None:
        bar = self.text.verticalScrollBar()
        bar.setValue(bar.maximum())

    def append(self, document: SessionDocument, text: str) -> None:
        """Add output to a session's document, keeping the view at the tail if it was there."""
        following = document is self.current and self.at_end()
        document.append_text(text)
        if following:
            self.scroll_to_end()

    def set_font(self, font: QFont) -> None:
        self.formats = Formats(self.text.palette(), font)
        self.text.setFont(font)
        self.resized.emit()

    def terminal_size(self) -> tuple[int, int]:
        """How many columns and rows of the font fit in the view (what a PTY should say)."""
        metrics = QFontMetrics(self.formats.font)
        viewport = self.text.viewport().size()
        cols = viewport.width() // max(1, metrics.horizontalAdvance("M"))
        rows = viewport.height() // max(1, metrics.lineSpacing())
        return max(20, min(cols, 1000)), max(5, min(rows, 1000))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.resized.emit()
