"""The find bar of the output view and of the terminal: a field, Previous, Next, what was found.

What finding means is the view's (``Finder``): it selects the next match and says how it went.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget

# (text, backwards) -> a status to show ("not found", "3 of 12"), or None when it found it and
# has nothing to add.
Finder = Callable[[str, bool], str | None]
NOT_FOUND = "not found"


class FindBar(QWidget):
    """Enter finds the next match, Shift+Enter the previous one, Escape closes the bar."""

    closed = Signal()
    text_changed = Signal(str)

    def __init__(self, finder: Finder, placeholder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._finder = finder
        self.field = QLineEdit(placeholderText=placeholder)
        self.status = QLabel()
        previous = QPushButton("Previous")
        following = QPushButton("Next")
        close = QPushButton("Close")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.field, previous, following, self.status, close):
            layout.addWidget(widget)
        self.field.returnPressed.connect(lambda: self.find_text(backwards=False))
        self.field.textChanged.connect(self.text_changed)
        QShortcut(QKeySequence("Shift+Return"), self.field, lambda: self.find_text(True))
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
        status = self._finder(text, backwards)
        self.status.setText(status or "")
        return status != NOT_FOUND
