"""A second terminal beside the one on screen (the session list's "Open beside"): two sessions
watched and driven side by side, as in a split terminal.

The pane is a header (the session's name and its program's title, a close button) over a
terminal with its find bar. The window owns what it follows (``ScreenFollower``) and where its
keys go; the pane only shows.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication, QHBoxLayout, QToolButton, QVBoxLayout, QWidget

from desktop.ui.panels import plain_label
from desktop.ui.terminal_view import TerminalPane


class BesidePane(QWidget):
    close_requested = Signal()

    def __init__(self, font: QFont | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session_id: str | None = None
        self.name = plain_label()
        bold = self.name.font()
        bold.setBold(True)
        self.name.setFont(bold)
        self.title = plain_label()  # the program's (OSC 0/2): data, never HTML
        self.close_button = QToolButton(autoRaise=True)
        self.close_button.setText("✕")
        self.close_button.setToolTip("Close the pane beside (Ctrl+Shift+W)")
        self.close_button.clicked.connect(self.close_requested)
        self.pane = TerminalPane(font)
        self.view = self.pane.view
        self.view.title_changed.connect(self._show_title)
        header = QHBoxLayout()
        header.setContentsMargins(4, 0, 0, 0)
        header.addWidget(self.name)
        header.addWidget(self.title, 1)
        header.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(header)
        layout.addWidget(self.pane, 1)

    def show_session(self, session_id: str | None, name: str = "") -> None:
        self.session_id = session_id
        self.name.setText(name)
        self.title.setText("")
        self.setVisible(session_id is not None)

    def _show_title(self, title: str) -> None:
        self.title.setText(f"— {title}" if title else "")

    def has_keys(self) -> bool:
        """Whether the keyboard is in this pane (its terminal or its find bar)."""
        focused = QApplication.focusWidget()
        return self.isVisible() and focused is not None and self.isAncestorOf(focused)
