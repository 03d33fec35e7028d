"""The project list, the session list and the prompt line."""

from __future__ import annotations

import html
import sys
import time
from typing import Any

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QKeyEvent,
    QMouseEvent,
    QStandardItem,
    QStandardItemModel,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCompleter,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.format import session_cost
from desktop.session_actions import (
    can_continue,
    can_interrupt,
    can_stop,
    conversation_state,
    hints,
    is_agent,
    status_label,
)

ID_ROLE = Qt.ItemDataRole.UserRole
STATUS_COLORS = {
    "running": QColor(46, 160, 67),
    "exited": QColor(110, 118, 129),
    "failed": QColor(218, 54, 51),
    "stopped": QColor(87, 96, 106),  # the user's own doing: neutral, not a failure
    "interrupted": QColor(210, 153, 34),
    # Imported purple and a conversation at work blue, as the page has them (style.css,
    # --imported and --working); tests/web/test_actions_js.py holds the two alike.
    "imported": QColor(0x82, 0x50, 0xDF),
}
WORKING_COLOR = QColor(0x09, 0x69, 0xDA)
# The banner over a session's output while the backend cannot store anything: text, background
# and border in the page's warning colors (style.css, --warning-*); test_actions_js.py holds
# the two alike.
WARNING_COLORS = {
    "fg": QColor(0x7D, 0x4E, 0x00),
    "bg": QColor(0xFF, 0xF8, 0xC5),
    "border": QColor(0xD4, 0xA7, 0x2C),
}
# Ctrl-C as in a terminal: the physical Control key, which Qt calls Meta on macOS (where
# ControlModifier is Command, and Command-C stays Copy).
INTERRUPT_MODIFIER = (
    Qt.KeyboardModifier.MetaModifier
    if sys.platform == "darwin"
    else Qt.KeyboardModifier.ControlModifier
)


def plain_label(text: str = "") -> QLabel:
    """A label for data (names, paths, messages): its text is never read as HTML."""
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


def warning_banner() -> QLabel:
    """A banner for a state that lasts (the backend cannot store anything): wrapped plain text in
    the warning colors, hidden until there is something to say."""
    banner = plain_label()
    banner.setWordWrap(True)
    font = banner.font()
    font.setBold(True)
    banner.setFont(font)
    fg, bg, border = (WARNING_COLORS[part].name() for part in ("fg", "bg", "border"))
    banner.setStyleSheet(
        f"QLabel {{ color: {fg}; background: {bg}; border: 1px solid {border};"
        " border-radius: 4px; padding: 6px 10px; }"
    )
    banner.hide()
    return banner


def plain_tooltip(text: str) -> str:
    """A tooltip that shows ``text`` as it is. Qt reads a tooltip as HTML when it looks like
    HTML, and has no plain-text switch for it: the text goes as escaped HTML instead."""
    return f'<p style="white-space: pre-wrap">{html.escape(text)}</p>'


def agent_state(session: dict[str, Any]) -> str:
    """``working…``, ``working… · queued 2``, ``idle`` or a status label (``imported``,
    ``stopped``…), then the total cost."""
    state = conversation_state(session) or status_label(session)
    cost = session_cost(session)
    if cost is not None:
        state += f" · {cost}"
    return state


def format_time(ms: int | None) -> str:
    if not ms:
        return ""
    stamp = ms / 1000
    if time.time() - stamp < 20 * 3600:
        return time.strftime("%H:%M:%S", time.localtime(stamp))
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp))


class ProjectsPanel(QWidget):
    project_selected = Signal(object)  # project id or None
    add_requested = Signal()
    remove_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.add_button = QPushButton("Add…")
        self.remove_button = QPushButton("Remove")
        self._projects: dict[str, dict[str, Any]] = {}
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("<b>Projects</b>"))
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        self.add_button.clicked.connect(self.add_requested)
        self.remove_button.clicked.connect(self._remove)
        self.list.currentItemChanged.connect(self._changed)
        self._update_buttons()

    def set_projects(self, projects: list[dict[str, Any]]) -> None:
        """Show ``projects``, keeping the selection if that project is still there."""
        keep = self.selected_id()
        self._projects = {project["id"]: project for project in projects}
        self.list.blockSignals(True)
        self.list.clear()
        for project in projects:
            item = QListWidgetItem(project["name"])
            item.setToolTip(plain_tooltip(project["path"]))
            item.setData(ID_ROLE, project["id"])
            self.list.addItem(item)
            if project["id"] == keep:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)
        if self.selected_id() != keep:
            self._changed()
        self._update_buttons()

    def project(self, project_id: str) -> dict[str, Any] | None:
        return self._projects.get(project_id)

    def names(self) -> dict[str, str]:
        """Every project's name, by its id."""
        return {pid: str(project.get("name") or pid) for pid, project in self._projects.items()}

    def select(self, project_id: str) -> None:
        for row in range(self.list.count()):
            if self.list.item(row).data(ID_ROLE) == project_id:
                self.list.setCurrentRow(row)
                return

    def selected_id(self) -> str | None:
        item = self.list.currentItem()
        return None if item is None else str(item.data(ID_ROLE))

    def _changed(self, *_: object) -> None:
        self._update_buttons()
        self.project_selected.emit(self.selected_id())

    def _remove(self) -> None:
        project_id = self.selected_id()
        if project_id is not None:
            self.remove_requested.emit(project_id)

    def _update_buttons(self) -> None:
        self.remove_button.setEnabled(self.selected_id() is not None)


class _SessionTree(QTreeWidget):
    """The sessions' list. A right click opens the row's menu without picking the row: picking
    shows it on screen, and "Open beside" is for another session than the one on screen."""

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.RightButton:
            event.accept()  # the context menu comes on its own event
            return
        super().mousePressEvent(event)


class SessionsPanel(QWidget):
    session_selected = Signal(object)  # session id or None
    new_shell_requested = Signal()
    new_agent_requested = Signal()
    new_command_requested = Signal(str)
    interrupt_requested = Signal(str)
    stop_requested = Signal(str)
    continue_requested = Signal(str)
    delete_requested = Signal(str)
    beside_requested = Signal(str)  # "Open beside": a second terminal next to the one on screen

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tree = _SessionTree()
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._context_menu)
        self.tree.setHeaderLabels(["Session", "Status", "Started", "Ended"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        # "working… · queued 2 · $0.04" is read at a glance, not from a tooltip.
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.command_line = QLineEdit(placeholderText="command to run, e.g. make test")
        self.shell_button = QPushButton("New shell")
        self.agent_button = QPushButton("New Claude")
        self.agent_button.setToolTip("Start a Claude Code conversation in the project's folder")
        self.command_button = QPushButton("Run")
        self.interrupt_button = QPushButton("Interrupt")
        self.stop_button = QPushButton("Stop")
        self.continue_button = QPushButton("Continue")
        self.delete_button = QPushButton("Delete")
        new_row = QHBoxLayout()
        new_row.addWidget(self.shell_button)
        new_row.addWidget(self.agent_button)
        new_row.addWidget(self.command_line, 1)
        new_row.addWidget(self.command_button)
        actions = QHBoxLayout()
        actions.addStretch(1)
        for button in (
            self.interrupt_button,
            self.stop_button,
            self.continue_button,
            self.delete_button,
        ):
            actions.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("<b>Sessions</b>"))
        layout.addWidget(self.tree)
        layout.addLayout(new_row)
        layout.addLayout(actions)
        self._sessions: dict[str, dict[str, Any]] = {}
        self._badged: set[str] = set()
        self._titles: dict[str, str] = {}  # what a terminal's program calls it (OSC 0/2)
        self._continuing: set[str] = set()
        self.shell_button.clicked.connect(self.new_shell_requested)
        self.agent_button.clicked.connect(self.new_agent_requested)
        self.command_button.clicked.connect(self._run_command)
        self.command_line.returnPressed.connect(self._run_command)
        for button, signal in (
            (self.interrupt_button, self.interrupt_requested),
            (self.stop_button, self.stop_requested),
            (self.continue_button, self.continue_requested),
        ):
            button.clicked.connect(lambda _=False, s=signal: self._emit_for_selected(s))
        self.delete_button.clicked.connect(lambda: self._emit_for_selected(self.delete_requested))
        self.tree.currentItemChanged.connect(self._changed)
        self.set_project_open(False)

    def _context_menu(self, at: QPoint) -> None:
        item = self.tree.itemAt(at)
        if item is None:
            return
        session_id = str(item.data(0, ID_ROLE))
        session = self._sessions.get(session_id) or {}
        menu = QMenu(self.tree)
        beside = menu.addAction("Open beside")
        beside.setEnabled(bool(session.get("tty", True)) and not is_agent(session))
        beside.triggered.connect(lambda: self.beside_requested.emit(session_id))
        menu.popup(self.tree.viewport().mapToGlobal(at))

    def set_project_open(self, is_open: bool) -> None:
        for widget in (
            self.shell_button,
            self.agent_button,
            self.command_line,
            self.command_button,
        ):
            widget.setEnabled(is_open)
        self._update_buttons()

    def set_sessions(self, sessions: list[dict[str, Any]]) -> None:
        """Show ``sessions`` (newest first), keeping the selection where possible.

        The list refreshes every few seconds: rows that stay are updated in place, so the
        selection, the scroll position and a click in progress are not disturbed."""
        keep = self.selected_id()
        ordered = sorted(sessions, key=lambda s: s["createdAt"], reverse=True)
        self._sessions = {s["id"]: s for s in sessions}
        self._badged &= set(self._sessions)
        self.tree.blockSignals(True)
        if self.rows() != [s["id"] for s in ordered]:
            self.tree.clear()
            for session in ordered:
                item = QTreeWidgetItem()
                item.setData(0, ID_ROLE, session["id"])
                self.tree.addTopLevelItem(item)
                if session["id"] == keep:
                    self.tree.setCurrentItem(item)
        for item, session in zip(self._items(), ordered, strict=True):
            self._fill(item, session)
        self.tree.blockSignals(False)
        if self.selected_id() != keep:
            self._changed()
        self._update_buttons()

    def _fill(self, item: QTreeWidgetItem, session: dict[str, Any]) -> None:
        item.setText(2, format_time(session["createdAt"]))
        item.setText(3, format_time(session.get("endedAt")))
        color = STATUS_COLORS.get(session["status"])
        if is_agent(session):
            agent = session.get("agent") or {}
            item.setText(1, agent_state(session))
            if session["status"] == "running" and agent.get("state") == "working":
                color = WORKING_COLOR
            source = agent.get("source")
            where = f"imported from {source}" if source else f"in {session['workingDir']}"
            item.setToolTip(0, plain_tooltip(f"Claude Code conversation\n{where}"))
        else:
            item.setText(1, status_label(session))
            command = " ".join(session["argv"])
            item.setToolTip(0, plain_tooltip(f"{command}\nin {session['workingDir']}"))
        item.setToolTip(1, plain_tooltip(item.text(1)))
        item.setForeground(1, QBrush(color) if color is not None else QBrush())
        self._paint_badge(item)

    def set_title(self, session_id: str, title: str) -> None:
        """The window title a terminal session's program set, shown after its name."""
        if self._titles.get(session_id, "") == title:
            return
        self._titles[session_id] = title
        for item in self._items():
            if item.data(0, ID_ROLE) == session_id:
                self._paint_badge(item)

    def update_session(self, session_id: str, changes: dict[str, Any]) -> None:
        """Show what a live event said about a session (an agent's state, its totals) before
        the next refresh does."""
        session = self._sessions.get(session_id)
        if session is None:
            return
        for key, value in changes.items():
            if key == "agent" and isinstance(value, dict):
                session["agent"] = {**(session.get("agent") or {}), **value}
            else:
                session[key] = value
        item = self._item(session_id)
        if item is not None:
            self._fill(item, session)
        self._update_buttons()

    def session(self, session_id: str) -> dict[str, Any] | None:
        return self._sessions.get(session_id)

    def _items(self) -> list[QTreeWidgetItem]:
        count = self.tree.topLevelItemCount()
        return [item for i in range(count) if (item := self.tree.topLevelItem(i)) is not None]

    def _item(self, session_id: str) -> QTreeWidgetItem | None:
        return next((i for i in self._items() if i.data(0, ID_ROLE) == session_id), None)

    def rows(self) -> list[str]:
        """The session ids shown, top to bottom."""
        return [str(item.data(0, ID_ROLE)) for item in self._items()]

    def row_text(self, session_id: str) -> list[str]:
        item = self._item(session_id)
        return [] if item is None else [item.text(c) for c in range(item.columnCount())]

    def select(self, session_id: str) -> None:
        item = self._item(session_id)
        if item is not None:
            self.tree.setCurrentItem(item)

    def selected_id(self) -> str | None:
        item = self.tree.currentItem()
        return None if item is None else str(item.data(0, ID_ROLE))

    def set_badge(self, session_id: str, on: bool) -> None:
        """A dot on a session that ended while it was not on screen."""
        if on:
            self._badged.add(session_id)
        else:
            self._badged.discard(session_id)
        item = self._item(session_id)
        if item is not None:
            self._paint_badge(item)

    def has_badge(self, session_id: str) -> bool:
        return session_id in self._badged

    def _paint_badge(self, item: QTreeWidgetItem) -> None:
        session_id = str(item.data(0, ID_ROLE))
        name = self._sessions[session_id]["name"] if session_id in self._sessions else ""
        badged = session_id in self._badged
        title = self._titles.get(session_id)
        shown = f"{name} — {title}" if title and title != name else name
        item.setText(0, f"● {shown}" if badged else shown)
        font = QFont(item.font(0))
        font.setBold(badged)
        font.setItalic(self._sessions.get(session_id, {}).get("status") == "imported")
        item.setFont(0, font)

    def _run_command(self) -> None:
        command = self.command_line.text().strip()
        if command:
            self.new_command_requested.emit(command)
            self.command_line.clear()

    def _emit_for_selected(self, signal: Any) -> None:
        session_id = self.selected_id()
        if session_id is not None:
            signal.emit(session_id)

    def _changed(self, *_: object) -> None:
        self._update_buttons()
        self.session_selected.emit(self.selected_id())

    def set_continuing(self, session_ids: set[str]) -> None:
        """Continuations are being started from these sessions (or to them): their Continue
        waits (a second click would start a second session); other sessions' does not."""
        self._continuing = set(session_ids)
        self._update_buttons()

    def _update_buttons(self) -> None:
        session = self._sessions.get(self.selected_id() or "")
        hint = hints(session)
        continuable = can_continue(session) and self.selected_id() not in self._continuing
        for button, enabled, tip in (
            (self.interrupt_button, can_interrupt(session), hint["interrupt"]),
            (self.stop_button, can_stop(session), hint["stop"]),
            (self.continue_button, continuable, hint["continue"]),
        ):
            button.setEnabled(enabled)
            button.setToolTip(tip)
        self.delete_button.setEnabled(session is not None)


class PromptLine(QLineEdit):
    """Enter sends; Up and Down walk the history of what was sent; Ctrl-C with nothing selected
    asks to interrupt (with a selection it copies, as anywhere)."""

    submitted = Signal(str)
    interrupt_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.history: list[str] = []
        self._position = 0
        self._draft = ""
        self.returnPressed.connect(self._submit)
        # A conversation's slash commands, offered as "/" is typed: the command is what goes
        # into the line (the user role: a standard item's edit role is its display role), the
        # popup shows its arguments and what it does.
        self.commands = QStandardItemModel(self)
        completer = QCompleter(self.commands, self)
        completer.setCompletionRole(Qt.ItemDataRole.UserRole)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setCompleter(completer)
        self._commands_shown: list[Any] = []

    def set_commands(self, commands: list[Any]) -> None:
        """The slash commands to offer (``agent.commands``: name, description, argumentHint)."""
        if commands == self._commands_shown:
            return
        self._commands_shown = list(commands)
        self.commands.clear()
        for command in commands:
            if not isinstance(command, dict) or not command.get("name"):
                continue
            name = f"/{command['name']}"
            hint = f" {command['argumentHint']}" if command.get("argumentHint") else ""
            item = QStandardItem(f"{name}{hint} — {command.get('description') or ''}")
            item.setData(name, Qt.ItemDataRole.UserRole)
            self.commands.appendRow(item)

    def _submit(self) -> None:
        text = self.text()
        if text.strip() and (not self.history or self.history[-1] != text):
            self.history.append(text)
        self._position = len(self.history)
        self._draft = ""
        self.clear()
        self.submitted.emit(text)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if (
            event.key() == Qt.Key.Key_C
            and event.modifiers() == INTERRUPT_MODIFIER
            and not self.hasSelectedText()
        ):
            self.interrupt_requested.emit()
        elif event.key() == Qt.Key.Key_Up and self.history:
            if self._position == len(self.history):  # leaving the line being typed
                self._draft = self.text()
            self._position = max(0, self._position - 1)
            self.setText(self.history[self._position])
        elif event.key() == Qt.Key.Key_Down and self.history:
            self._position = min(len(self.history), self._position + 1)
            at_draft = self._position == len(self.history)
            self.setText(self._draft if at_draft else self.history[self._position])
        else:
            super().keyPressEvent(event)
