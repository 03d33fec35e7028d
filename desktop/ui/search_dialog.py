"""Search over everything (Ctrl+K): results follow the words as they are typed (debounced),
grouped by project and session, newest first; Enter or a double click opens the hit chosen
(the window shows its session at its event, the words selected)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QDialog,
    QLabel,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.api import ApiClient, ApiError, BackendError

DEBOUNCE_MS = 150
PAGE = 50
HIT_ROLE = Qt.ItemDataRole.UserRole
MARK = '<span style="background:#ffd54a;color:#000">'  # as the page marks a hit's words
_TERM = re.compile(r'"([^"]*)"?|([^\x00-\x20\x7f-\x9f"]+)')
_SEPARATORS = re.compile(r"[\x00-\x20\x7f-\x9f]+")


def search_terms(query: str) -> list[str]:
    """The words and phrases of a search, as the backend takes them (backend/text/query.py)."""
    terms: list[str] = []
    for match in _TERM.finditer(query):
        raw = match.group(1) if match.group(1) is not None else match.group(2)
        term = _SEPARATORS.sub(" ", raw).strip(" ")
        if term and term.casefold() not in (t.casefold() for t in terms):
            terms.append(term)
    return terms


def marked(snippet: str, highlights: list[list[int]]) -> str:
    """A hit's snippet as rich text, its highlights marked (everything else escaped)."""
    out: list[str] = []
    at = 0
    for start, end in sorted((int(a), int(b)) for a, b in highlights):
        if start < at:
            continue
        out.append(html.escape(snippet[at:start]))
        out.append(f"{MARK}{html.escape(snippet[start:end])}</span>")
        at = end
    out.append(html.escape(snippet[at:]))
    return "".join(out)


class SearchDialog(QDialog):
    """``hit_chosen(hit, terms)`` when a hit is opened; ``spawn`` runs the searches."""

    hit_chosen = Signal(dict, list)

    def __init__(
        self,
        api: ApiClient,
        project_names: Callable[[], dict[str, str]],
        spawn: Callable[[Coroutine[Any, Any, None]], object],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Search every session")
        self.resize(760, 520)
        self.api = api
        self.project_names = project_names
        self.spawn = spawn
        self.field = QLineEdit(placeholderText="Search every session (3 characters or more)")
        self.field.setClearButtonEnabled(True)
        self.status = QLabel()
        self.results = QTreeWidget()
        self.results.setHeaderHidden(True)
        self.results.setColumnCount(2)
        self.results.setRootIsDecorated(False)
        hint = QLabel('↑ ↓ to choose · Enter to open · Esc to close · "quoted phrases"')
        layout = QVBoxLayout(self)
        for widget in (self.field, self.status, self.results, hint):
            layout.addWidget(widget)
        self.hits: list[dict[str, Any]] = []
        self._generation = 0
        self._timer = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._timer.timeout.connect(lambda: self.spawn(self.search()))
        self.field.textChanged.connect(lambda _: self._timer.start())
        self.field.returnPressed.connect(self.open_current)
        self.field.installEventFilter(self)
        self.results.itemActivated.connect(lambda item, _column: self.open_item(item))

    def open_search(self) -> None:
        self.show()
        self.raise_()
        self.activateWindow()
        self.field.setFocus()
        self.field.selectAll()

    async def search(self) -> None:
        query = self.field.text()
        self._generation += 1
        generation = self._generation
        if not query.strip():
            self.show_hits([], "")
            return
        try:
            found = await self.api.search(query, limit=PAGE)
        except ApiError as error:
            if generation == self._generation:
                self.show_hits([], error.message if error.status == 400 else error.for_user())
            return
        except BackendError as error:
            if generation == self._generation:
                self.show_hits([], f"Search failed: {error}")
            return
        if generation != self._generation:
            return  # typed on meanwhile
        hits = list(found.get("hits") or [])
        more = f" (the newest {PAGE})" if found.get("nextCursor") else ""
        self.show_hits(hits, f"{len(hits)} found{more}" if hits else "Nothing found")

    def show_hits(self, hits: list[dict[str, Any]], status: str) -> None:
        self.hits = hits
        self.status.setText(status)
        self.results.clear()
        names = self.project_names()
        projects: dict[str, QTreeWidgetItem] = {}
        sessions: dict[str, QTreeWidgetItem] = {}
        first: QTreeWidgetItem | None = None
        for hit in hits:
            project_id, session_id = str(hit["projectId"]), str(hit["sessionId"])
            project = projects.get(project_id)
            if project is None:
                name = names.get(project_id, project_id)
                project = projects[project_id] = QTreeWidgetItem([name])
                project.setFlags(Qt.ItemFlag.ItemIsEnabled)
                font = project.font(0)
                font.setBold(True)
                project.setFont(0, font)
                self.results.addTopLevelItem(project)
            session = sessions.get(session_id)
            if session is None:
                session = sessions[session_id] = QTreeWidgetItem(project, [str(hit["sessionName"])])
                session.setFlags(Qt.ItemFlag.ItemIsEnabled)
            when = datetime.fromtimestamp(int(hit["timestamp"]) / 1000).strftime("%Y-%m-%d %H:%M")
            item = QTreeWidgetItem(session, ["", when])
            item.setData(0, HIT_ROLE, hit)
            label = QLabel(marked(str(hit["snippet"]), hit.get("highlights") or []))
            label.setTextFormat(Qt.TextFormat.RichText)
            self.results.setItemWidget(item, 0, label)
            first = first or item
        self.results.expandAll()
        self.results.resizeColumnToContents(1)
        if first is not None:
            self.results.setCurrentItem(first)

    def _hit_items(self) -> list[QTreeWidgetItem]:
        found: list[QTreeWidgetItem] = []

        def walk(item: QTreeWidgetItem) -> None:
            for index in range(item.childCount()):
                child = item.child(index)
                if child is None:
                    continue
                if child.data(0, HIT_ROLE):
                    found.append(child)
                walk(child)

        root = self.results.invisibleRootItem()
        if root is not None:
            walk(root)
        return found

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # The arrows move through the hits while the keys stay in the field.
        if watched is self.field and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            if event.key() in (Qt.Key.Key_Down, Qt.Key.Key_Up):
                items = self._hit_items()
                if items:
                    current = self.results.currentItem()
                    index = items.index(current) if current in items else -1
                    step = 1 if event.key() == Qt.Key.Key_Down else -1
                    self.results.setCurrentItem(items[(index + step) % len(items)])
                return True
        return super().eventFilter(watched, event)

    def open_current(self) -> None:
        item = self.results.currentItem()
        if item is not None and item.data(0, HIT_ROLE):
            self.open_item(item)
        else:
            self._timer.stop()
            self.spawn(self.search())

    def open_item(self, item: QTreeWidgetItem) -> None:
        hit = item.data(0, HIT_ROLE)
        if not hit:
            return
        self.hide()
        self.hit_chosen.emit(hit, search_terms(self.field.text()))
