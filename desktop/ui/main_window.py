"""The main window: projects, their sessions, the live output of one, and a prompt line.

It is one more client of the backend's HTTP API. Coroutines started from the UI are owned here
(``_spawn``), so none is lost and every error is shown.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import re
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QMainWindow,
    QProgressDialog,
    QSplitter,
    QStackedWidget,
    QSystemTrayIcon,
    QVBoxLayout,
    QWidget,
)

from desktop.api import ApiClient, ApiError, BackendError
from desktop.approval import MODES, news
from desktop.keystrokes import KeystrokeSender
from desktop.session_actions import (
    QUIT_KEEP,
    can_continue,
    can_interrupt,
    is_agent,
    is_running,
    needs_you,
    prompt_placeholder,
    status_label,
    storage_warning,
    trimmed_notice,
)
from desktop.settings import MAX_FONT_SIZE, MIN_FONT_SIZE, AppSettings, SettingsDialog
from desktop.sse_client import (
    CONNECTED,
    DELTA,
    STORAGE_ERROR,
    STORAGE_RESTORED,
    Event,
    StreamState,
)
from desktop.terminal_screen import TerminalScreen
from desktop.ui.actions import SessionActions
from desktop.ui.approval_card import ApprovalPane
from desktop.ui.beside import BesidePane
from desktop.ui.feed import SessionFeed
from desktop.ui.notifier import Notifier
from desktop.ui.output_view import OutputView, SessionDocument
from desktop.ui.panels import (
    STATUS_COLORS,
    ProjectsPanel,
    PromptLine,
    SessionsPanel,
    plain_label,
    warning_banner,
)
from desktop.ui.screen_follower import ScreenFollower
from desktop.ui.search_dialog import SearchDialog
from desktop.ui.terminal_view import TerminalPane, TerminalView

log = logging.getLogger(__name__)
T = TypeVar("T")
# What File > Export session… offers: (format, file dialog filter); a conversation has no .cast.
EXPORT_FORMATS = (
    ("cast", "asciicast (*.cast)"),
    ("md", "Markdown (*.md)"),
    ("txt", "Text (*.txt)"),
    ("jsonl", "Events as JSON lines (*.jsonl)"),
)

REFRESH_MS = 2000
KEEP_DOCUMENTS = 20  # sessions whose output stays in memory for an instant switch back
# Output waiting for the view, in lines, before the oldest is skipped: under a second behind
# at the rate Qt draws (~30,000 lines/s), so a flood shows its newest output, not old news.
MAX_PENDING_LINES = 20_000


def _kept(
    cache: OrderedDict[str, T], key: str, make: Callable[[], T], release: Callable[[T], None]
) -> T:
    """``key``'s entry of ``cache`` (made if missing), now the most recently used; the least
    recently used beyond ``KEEP_DOCUMENTS`` are released."""
    value = cache.pop(key, None)
    if value is None:
        value = make()
    cache[key] = value  # most recently used last
    while len(cache) > KEEP_DOCUMENTS:
        release(cache.popitem(last=False)[1])
    return value


def shows_a_terminal(session: dict[str, Any] | None) -> bool:
    """Whether a session is shown by the terminal widget: a shell or command in a PTY (not an
    agent's conversation, not a session on pipes)."""
    return session is not None and bool(session.get("tty", True)) and not is_agent(session)


def status_fields(data: dict[str, Any]) -> dict[str, Any]:
    """What a status event says of its session object: the status, and once it ended its exit
    code and the signal that ended it (None when none did), so that the label is right before
    the list is fetched again."""
    fields: dict[str, Any] = {"status": data["status"]} if "status" in data else {}
    if "exitCode" in data:
        fields["exitCode"] = data["exitCode"]
        fields["signal"] = data.get("signal")
    return fields


def session_name(command: str, width: int = 60) -> str:
    """A command's first line, shortened to fit a list row."""
    line = command.strip().splitlines()[0] if command.strip() else command
    return line if len(line) <= width else line[: width - 1] + "…"


class MainWindow(QMainWindow):
    """The SessionDock window. ``api`` may be re-pointed (``set_endpoint``) after a restart."""

    error_shown = Signal(str)
    closed = Signal()

    def __init__(
        self,
        api: ApiClient,
        *,
        token: str,
        heartbeat_interval: float = 15.0,
        settings: AppSettings | None = None,
    ) -> None:
        super().__init__()
        self.api = api
        self.token = token
        self.heartbeat_interval = heartbeat_interval
        self.settings = settings or AppSettings()
        self.setWindowTitle("SessionDock")
        self.resize(1200, 760)

        self.projects = ProjectsPanel()
        self.sessions = SessionsPanel()
        self.output = OutputView()
        self.output.set_font(self.settings.font())
        # Terminal sessions: a terminal, which takes the keys itself (no prompt line).
        self.terminal_pane = TerminalPane(self.settings.font())
        self.terminal = self.terminal_pane.view
        self.views = QStackedWidget()
        self.views.addWidget(self.output)
        self.views.addWidget(self.terminal_pane)
        self.prompt = PromptLine()
        self.prompt.setEnabled(False)
        self.prompt.setPlaceholderText(prompt_placeholder(None))
        # Names and folders are data (an imported session's name is its first prompt): plain
        # text, never HTML.
        self.session_name = plain_label()
        font = self.session_name.font()
        font.setBold(True)
        self.session_name.setFont(font)
        self.session_folder = plain_label()
        self.session_status = plain_label()  # the status label, as the web page's badge
        # A conversation's permission mode, switched here (Claude Code's own Shift+Tab).
        self.agent_mode = QComboBox()
        self.agent_mode.setAccessibleName("permission mode")
        for mode, text in MODES:
            self.agent_mode.addItem(text, mode)
        self.agent_mode.hide()
        self.agent_mode.activated.connect(self._on_mode_chosen)
        title = QHBoxLayout()
        title.addWidget(self.session_name)
        title.addWidget(self.session_status)
        title.addWidget(self.session_folder, 1)
        title.addWidget(self.agent_mode)
        # Over the output, not in it: while the backend cannot store anything the session is
        # paused, and that must stay in sight however far the output scrolls.
        self.storage_banner = warning_banner()

        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.projects)
        left.addWidget(self.sessions)
        left.setSizes([250, 450])
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addLayout(title)
        right_layout.addWidget(self.storage_banner)
        # Beside the session on screen, a second terminal session (the list's "Open beside").
        self.beside = BesidePane(self.settings.font())
        self.beside.hide()
        self.panes = QSplitter(Qt.Orientation.Horizontal)
        self.panes.addWidget(self.views)
        self.panes.addWidget(self.beside)
        self.panes.setChildrenCollapsible(False)
        right_layout.addWidget(self.panes, 1)
        # The open permission requests of the conversation on screen, at its foot.
        self.approvals = ApprovalPane()
        self.approvals.answered.connect(
            lambda sid, rid, body: self._spawn(self.answer_request(sid, rid, body))
        )
        right_layout.addWidget(self.approvals)
        right_layout.addWidget(self.prompt)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([380, 820])
        self.setCentralWidget(split)

        self.backend_label = plain_label("backend: starting")
        self.stream_label = plain_label("stream: —")
        self.rate_label = plain_label("0 events/s")
        bar = self.statusBar()
        for label in (self.backend_label, self.stream_label, self.rate_label):
            bar.addPermanentWidget(label)

        self._tasks: set[asyncio.Task[Any]] = set()
        self._documents: OrderedDict[str, SessionDocument] = OrderedDict()
        self._screens: OrderedDict[str, TerminalScreen] = OrderedDict()
        self._focus_on_show: str | None = None  # a new session's terminal takes the keys
        self.keystrokes = KeystrokeSender(self.api.send_input, self._on_keystrokes_failed)
        # Every project's sessions as last seen: what changed in them is news (notifications,
        # the count of those that need you in the title).
        self._seen: dict[str, dict[str, Any]] = {}
        self._title = "SessionDock"  # the window's title before that count
        # Per conversation, its open permission requests by id, and its mode: from its stream
        # (a replay included), so they are right for any session shown.
        self._open_requests: dict[str, dict[str, dict[str, Any]]] = {}
        self._modes: dict[str, str | None] = {}
        # Per session, the last stored event of when its stream (re)connected: events up to it
        # are a replay of the past, later ones are news for the session list.
        self._replayed_through: dict[str, int] = {}
        # The sessions whose prompt waits: an ended conversation being continued, and the new
        # session continuing it, until that one has the text. Only they wait, as in the page.
        self._continuing: set[str] = set()
        # Prompts that did not go out while another session was on screen: each goes back into
        # the prompt line when its session is shown again, never into another session's.
        self._given_back: dict[str, str] = {}
        self.session_actions = SessionActions(api, self)
        # Set by the app when quitting ends the sessions (it owns the backend): then closing
        # the window asks first while something runs.
        self.ask_before_quit = False
        self.keep_backend = False  # the user chose "Keep running" on quit
        self._quit_confirmed = False
        self._quit_check: asyncio.Task[None] | None = None
        self.feed: SessionFeed | None = None
        self.follower: ScreenFollower | None = None  # the feed of a terminal session on screen
        self.beside_follower: ScreenFollower | None = None
        self._previous_terminal: str | None = None  # shown before the one on screen
        # Switches run one at a time and only the latest request counts: arrow keys in the
        # session list must not leave two streams running.
        self._switch_lock = asyncio.Lock()
        self._wanted_session: str | None = None
        self.current_project: str | None = None
        self.current_session: str | None = None
        self._events_counted = 0
        self.tray = self._make_tray()
        self.notifier = Notifier(self, lambda: self.tray)
        self.notifier.activated.connect(lambda sid: self._spawn(self.show_session(sid)))

        self._build_menu()
        self.search_dialog = SearchDialog(self.api, self.projects.names, self._spawn, self)
        self.search_dialog.hit_chosen.connect(
            lambda hit, terms: self._spawn(self.open_hit(hit, terms))
        )
        self._connect()
        self._settled = False  # gc.freeze() done, after the first load
        self._refresh_timer = QTimer(self, interval=REFRESH_MS)
        self._refresh_timer.timeout.connect(lambda: self._spawn(self.refresh_sessions()))
        # The PTY of the session on screen follows the view's size (after a short pause).
        self._resize_timer = QTimer(self, interval=250, singleShot=True)
        self._resize_timer.timeout.connect(lambda: self._spawn(self.resize_terminal()))
        self.output.resized.connect(self._resize_timer.start)
        self.terminal.size_changed.connect(lambda _cols, _rows: self._resize_timer.start())
        self._beside_resize_timer = QTimer(self, interval=250, singleShot=True)
        self._beside_resize_timer.timeout.connect(lambda: self._spawn(self.resize_beside()))
        self.beside.view.size_changed.connect(lambda _c, _r: self._beside_resize_timer.start())
        self._rate_timer = QTimer(self, interval=1000)
        self._rate_timer.timeout.connect(self._update_rate)
        self._rate_timer.start()

    # -- wiring -------------------------------------------------------------------------------

    def _connect(self) -> None:
        self.projects.add_requested.connect(self._pick_project_folder)
        self.projects.remove_requested.connect(
            lambda pid: self._spawn(self.remove_project_if_confirmed(pid))
        )
        self.projects.project_selected.connect(lambda pid: self._spawn(self.open_project(pid)))
        self.sessions.session_selected.connect(lambda sid: self._spawn(self.open_session(sid)))
        self.sessions.new_shell_requested.connect(lambda: self._spawn(self.new_session()))
        self.sessions.new_agent_requested.connect(lambda: self._spawn(self.new_agent_session()))
        self.sessions.new_command_requested.connect(
            lambda line: self._spawn(self.new_session(command=line))
        )
        self.sessions.interrupt_requested.connect(
            lambda sid: self._spawn(self.interrupt_session(sid))
        )
        self.sessions.stop_requested.connect(lambda sid: self._spawn(self.stop_session(sid)))
        self.sessions.continue_requested.connect(
            lambda sid: self._spawn(self.continue_session(sid))
        )
        self.sessions.delete_requested.connect(
            lambda sid: self._spawn(self.delete_session_if_confirmed(sid))
        )
        self.prompt.submitted.connect(self._on_prompt_submitted)
        self.terminal.input_ready.connect(self._on_terminal_input)
        self.terminal.title_changed.connect(self._on_terminal_title)
        self.beside.view.input_ready.connect(self._on_beside_input)
        self.beside.view.title_changed.connect(self._on_beside_title)
        self.beside.close_requested.connect(lambda: self._spawn(self.close_beside()))
        self.sessions.beside_requested.connect(lambda sid: self._spawn(self.open_beside(sid)))
        for view in (self.terminal, self.beside.view):
            view.bell.connect(self._on_bell)
            view.zoom_requested.connect(self.zoom)
            view.link_activated.connect(self.open_link)
            view.paste_needs_confirmation.connect(
                lambda text, view=view: self._spawn(self._paste_if_confirmed(view, text))
            )
        self.prompt.interrupt_requested.connect(self._on_interrupt_key)

    def _build_menu(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        add = QAction("Add project…", self, shortcut=QKeySequence("Ctrl+O"))
        add.triggered.connect(self._pick_project_folder)
        save = QAction("Save output…", self, shortcut=QKeySequence(QKeySequence.StandardKey.Save))
        save.triggered.connect(self._save_output)
        settings = QAction("Settings…", self, shortcut=QKeySequence("Ctrl+,"))
        settings.triggered.connect(self._open_settings)
        quit_action = QAction("Quit", self, shortcut=QKeySequence(QKeySequence.StandardKey.Quit))
        quit_action.triggered.connect(self.close)
        # The same backend in a browser: a one-time sign-in link, never the token in a URL.
        browser = QAction("Open in browser", self)
        browser.triggered.connect(lambda: self._spawn(self.open_in_browser()))
        copy_link = QAction("Copy browser link", self)
        copy_link.triggered.connect(lambda: self._spawn(self.copy_browser_link()))
        for action in (add, save, browser, copy_link, settings, quit_action):
            file_menu.addAction(action)
        edit_menu = self.menuBar().addMenu("&Edit")
        # Ctrl+Shift+F everywhere; Ctrl+F too where it is not a terminal program's key.
        find = QAction("Find…", self)
        find.setShortcuts([QKeySequence("Ctrl+Shift+F"), QKeySequence("Ctrl+F")])
        find.triggered.connect(self.open_find)
        # Ctrl+C in a terminal is the program's (the widget takes it first); the menu copies
        # the terminal's selection there, as Ctrl+Shift+C does.
        copy = QAction("Copy", self, shortcut=QKeySequence(QKeySequence.StandardKey.Copy))
        copy.triggered.connect(self.copy)
        # Ctrl+K everywhere, a terminal included (desktop/ui/terminal_view.py lets it through).
        search = QAction("Search every session…", self, shortcut=QKeySequence("Ctrl+K"))
        search.triggered.connect(self.open_search)
        export = QAction("Export session…", self)
        export.triggered.connect(self._export_session)
        self.export_action = export
        file_menu.insertAction(settings, export)
        edit_menu.addAction(find)
        edit_menu.addAction(search)
        edit_menu.addAction(copy)
        view_menu = self.menuBar().addMenu("&View")
        # The list's context menu puts any terminal session beside; the shortcut, the one shown
        # before the one on screen (switch to a session, then Ctrl+Shift+D: both side by side).
        beside = QAction("Open the previous session beside", self)
        beside.setShortcut(QKeySequence("Ctrl+Shift+D"))
        beside.triggered.connect(self._open_previous_beside)
        self.beside_action = beside
        close_beside = QAction("Close the pane beside", self, shortcut=QKeySequence("Ctrl+Shift+W"))
        close_beside.triggered.connect(lambda: self._spawn(self.close_beside()))
        view_menu.addAction(beside)
        view_menu.addAction(close_beside)

    def copy(self) -> None:
        if self.beside.has_keys():
            self.beside.view.copy_selection()
        elif self.views.currentWidget() is self.terminal_pane:
            self.terminal.copy_selection()
        else:
            self.output.text.copy()

    def open_search(self) -> None:
        self.search_dialog.open_search()

    async def open_hit(self, hit: dict[str, Any], terms: list[str], wait: float = 5.0) -> bool:
        """A search hit: its session on screen, at its event, the words selected (once what
        the stream replays has come in). Whether it was found."""
        await self.show_session(str(hit["sessionId"]))
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            if self.views.currentWidget() is self.terminal_pane:
                found = self.terminal_pane.reveal(terms)
            else:
                found = self.output.reveal(int(hit["eventId"]), terms)
            if found or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.1)
        if not found:
            self.statusBar().showMessage(
                f"“{' '.join(terms)}” is no longer in the view (older than what it keeps): "
                "File > Export session… has all of it",
                10_000,
            )
        return found

    def open_find(self) -> None:
        if self.beside.has_keys():
            self.beside.pane.open_find()
        elif self.views.currentWidget() is self.terminal_pane:
            self.terminal_pane.open_find()
        else:
            self.output.find_bar.open_bar()

    def _make_tray(self) -> QSystemTrayIcon | None:
        if not QSystemTrayIcon.isSystemTrayAvailable():
            return None
        tray = QSystemTrayIcon(self.windowIcon(), self)
        tray.setToolTip("SessionDock")
        tray.show()
        return tray

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a coroutine for the UI; keep it until it ends and show what went wrong."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if isinstance(error, ApiError):
            self.show_error(error.for_user())
        elif isinstance(error, BackendError):
            self.show_error(str(error))
        elif error is not None:
            log.error("UI task failed", exc_info=error)
            self.show_error(f"unexpected error: {error!r}")

    def show_error(self, message: str) -> None:
        self.statusBar().showMessage(message, 10_000)
        self.error_shown.emit(message)

    async def settle(self) -> None:
        """Wait until every UI task started so far has finished (tests use it)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.notifier.settle()

    # -- backend ------------------------------------------------------------------------------

    def set_backend_state(self, text: str) -> None:
        self.backend_label.setText(f"backend: {text}")

    async def open_in_browser(self) -> None:
        """This backend's web page in the default browser, signed in by a one-time link."""
        link = await self._browser_link()
        if link is not None and not QDesktopServices.openUrl(QUrl(link)):
            self.statusBar().showMessage(
                "No browser could be opened: File > Copy browser link gives the link.", 10_000
            )

    async def copy_browser_link(self) -> None:
        link = await self._browser_link()
        if link is not None:
            QApplication.clipboard().setText(link)
            self.statusBar().showMessage(
                "Copied a link that signs a browser in to this backend: it works once, "
                "within a minute.",
                10_000,
            )

    async def _browser_link(self) -> str | None:
        try:
            return await self.api.login_link()
        except BackendError as exc:
            said = exc.message if isinstance(exc, ApiError) else str(exc)
            self.statusBar().showMessage(f"No link from the backend: {said}", 10_000)
            return None

    def set_endpoint(self, url: str, token: str) -> None:
        """The backend came back (on another port if its own was taken): resume everything there."""
        self.token = token
        self.api.set_endpoint(url, token)
        if self.feed is not None:
            self.feed.set_endpoint(url, token)
        if self.beside_follower is not None:
            self.beside_follower.feed.set_endpoint(url, token)
        self._spawn(self.reload())

    async def reload(self) -> None:
        projects = await self.api.list_projects()
        self.projects.set_projects(projects)
        if self.current_project is not None:
            await self.refresh_sessions()
        self._refresh_timer.start()
        if not self._settled:
            # Everything the app is made of exists now (modules, widgets, Qt's wrappers): moved
            # out of the collector's sight, a full collection no longer walks it, which held the
            # loop 30-45 ms at a time (a card shown, a delta drawn that much later).
            self._settled = True
            gc.freeze()

    # -- projects -----------------------------------------------------------------------------

    def _pick_project_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a project folder", str(Path.home()))
        if folder:
            self._spawn(self.add_project(folder))

    async def add_project(self, path: str) -> str:
        project = await self.api.create_project(path)
        await self.reload()
        self.projects.select(project["id"])
        await self.open_project(project["id"])  # also under way from the selection; idempotent
        return str(project["id"])

    async def remove_project_if_confirmed(self, project_id: str) -> None:
        """Remove, as its button does: after asking (it deletes every session of the project,
        and its history)."""
        project = self.projects.project(project_id)
        if project is not None and await self.session_actions.confirm_remove_project(project):
            await self.remove_project(project_id)

    async def remove_project(self, project_id: str) -> None:
        if self.current_project == project_id:
            await self.open_session(None)
        await self.close_beside()  # it may be one of the project's sessions
        await self.api.delete_project(project_id)
        await self.reload()

    async def open_project(self, project_id: str | None) -> None:
        if project_id == self.current_project:
            return
        self.current_project = project_id
        self.sessions.set_project_open(project_id is not None)
        self.sessions.set_sessions([])
        if project_id is not None:
            await self.refresh_sessions()

    # -- sessions -----------------------------------------------------------------------------

    async def refresh_sessions(self) -> None:
        """Every project's sessions in one request: the project's list, and what needs you in
        any of them."""
        project_id = self.current_project
        sessions = await self.api.list_sessions()
        for session in sessions:
            self.note_session(session)
        ids = {s["id"] for s in sessions}
        for gone in [sid for sid in self._seen if sid not in ids]:
            del self._seen[gone]
        self._update_title()
        if project_id is None or project_id != self.current_project:
            return  # none shown, or the user moved on meanwhile
        self.sessions.set_sessions([s for s in sessions if s.get("projectId") == project_id])
        self._update_prompt()

    def note_session(self, session: dict[str, Any]) -> None:
        """A session as it is now (from the list, or its stream): tell the user what changed
        while they looked elsewhere: a conversation needs them, finished its turn or ended
        (a notification), or another session ended (the list's mark, and the tray)."""
        before = self._seen.get(session["id"])
        now = self._seen[session["id"]] = {**(before or {}), **session}
        agent = now.get("agent")
        if isinstance(agent, dict) and not agent.get("pending"):
            # A live status event says "waiting" but not for what: the stream told us that.
            opened = list(self._open_requests.get(session["id"], {}).values())
            if opened:
                now["agent"] = {**agent, "pending": opened}
        if before is None:
            return
        looking = session["id"] == self.current_session and self.isActiveWindow()
        told = news(before, now)
        if told is not None:
            if session["id"] != self.current_session:
                self.sessions.set_badge(session["id"], True)
            if not looking and self.settings.notifications():
                self.notifier.notify(session["id"], told)
            return
        ended = is_running(before) and not is_running(session) and not is_agent(session)
        if ended and session["id"] != self.current_session:
            self.sessions.set_badge(session["id"], True)
            if self.tray is not None and self.settings.notifications():
                # The name goes in the title, which notifications show as plain text; the body
                # may be read as markup (freedesktop notifications): only our own words there.
                self.tray.showMessage(
                    session_name(str(session["name"])), status_label(session), msecs=5000
                )

    def waiting_sessions(self) -> list[dict[str, Any]]:
        """The conversations whose turn waits for you, in every project."""
        return [s for s in self._seen.values() if needs_you(s)]

    def _update_title(self) -> None:
        count = len(self.waiting_sessions())
        prefix = f"({count}) " if count else ""
        self.setWindowTitle(prefix + self._title)
        if self.tray is not None:
            self.tray.setToolTip(
                f"SessionDock: {count} waiting for you" if count else "SessionDock"
            )

    async def show_session(self, session_id: str) -> None:
        """Bring a session of any project on screen (a notification's click)."""
        session = self._seen.get(session_id) or await self.api.get_session(session_id)
        self.showNormal()
        self.raise_()
        self.activateWindow()
        project_id = str(session.get("projectId"))
        if project_id != self.current_project:
            self.projects.select(project_id)
            await self.open_project(project_id)
        self.sessions.select(session_id)
        await self.open_session(session_id)

    async def new_session(
        self, command: str | None = None, name: str | None = None, *, tty: bool = True
    ) -> str:
        """Start a shell, or ``command``, in the current project, in a terminal (or on pipes,
        shown as lines, with ``tty=False``); it comes on screen. Its id."""
        if self.current_project is None:
            raise BackendError("pick a project first")
        if command is None:
            session = await self.api.create_session(self.current_project, tty=tty)
        else:
            session = await self.api.create_session(
                self.current_project,
                kind="command",
                argv=["/bin/sh", "-c", command],
                name=name or session_name(command),
                tty=tty,
            )
        return await self._show_new(session)

    async def new_agent_session(self, resume: str | None = None) -> str:
        """Start a Claude Code conversation in the project, or one that continues ``resume``
        (it joins that session's project)."""
        if resume is not None:
            session = await self.api.create_session(kind="claude", resume=resume)
        elif self.current_project is not None:
            session = await self.api.create_session(self.current_project, kind="claude")
        else:
            raise BackendError("pick a project first")
        return await self._show_new(session)

    async def _show_new(self, session: dict[str, Any]) -> str:
        self._seen[session["id"]] = session
        # A session the user just started takes the keys; one picked in the list does not
        # (arrow keys keep moving in the list).
        self._focus_on_show = str(session["id"])
        await self.refresh_sessions()
        self.sessions.select(session["id"])
        return str(session["id"])

    async def open_session(self, session_id: str | None) -> None:
        """Show a session: its kept output at once, then its stream from where it stopped."""
        self._wanted_session = session_id
        async with self._switch_lock:
            if session_id == self._wanted_session and session_id != self.current_session:
                await self._switch_to(session_id)

    async def _switch_to(self, session_id: str | None) -> None:
        if session_id is not None and session_id == self.beside.session_id:
            await self.close_beside(refocus=False)  # it comes to the main view
        if self.follower is not None:
            self._previous_terminal = self.follower.session_id  # for Ctrl+Shift+D
        if self.follower is not None:
            follower, self.follower, self.feed = self.follower, None, None
            await follower.stop()
            follower.deleteLater()
        elif self.feed is not None:
            feed, self.feed = self.feed, None
            await feed.stop()
            if feed.session_id in self._documents and feed.last_event_id is not None:
                self._documents[feed.session_id].last_event_id = feed.last_event_id
            feed.deleteLater()
        self.current_session = session_id
        self.stream_label.setText("stream: —")
        self.set_storage_warning(None)  # the new stream tells, if the backend still cannot store
        self._show_requests(None)  # the new session's cards come with its stream
        if session_id is None:
            self.output.show_document(None)
            self.terminal.show_screen(None)
            self.views.setCurrentWidget(self.output)
            self.session_name.setText("")
            self.session_folder.setText("")
            self._update_prompt()
            return
        self.sessions.set_badge(session_id, False)
        session = self.sessions.session(session_id) or {}
        if shows_a_terminal(session):
            self._show_terminal(session_id, session)
            return
        self.terminal.show_screen(None)
        self.views.setCurrentWidget(self.output)
        self.prompt.show()
        document = self._document(session_id)
        self.output.show_document(document)
        document.agent_renderer.cwd = session.get("workingDir")
        self.session_name.setText(str(session.get("name", session_id)))
        self.session_folder.setText(f"— {session.get('workingDir', '')}")
        self._update_prompt()
        self._show_requests(session_id)
        returned = self._given_back.pop(session_id, None)
        if returned is not None and not self.prompt.text():
            self.prompt.setText(returned)
        feed = SessionFeed(
            self.api.base_url, self.token, session_id, document.last_event_id,
            self.heartbeat_interval, parent=self,
            max_pending_lines=min(self.settings.scrollback(), MAX_PENDING_LINES),
            agent=is_agent(session),
        )  # fmt: skip
        feed.output_received.connect(self._on_output)
        feed.agent_events_received.connect(self._on_agent_events)
        feed.lines_skipped.connect(self._on_lines_skipped)
        feed.event_received.connect(self._on_event)
        feed.state_changed.connect(self._on_stream_state)
        self.feed = feed
        feed.start()
        self._resize_timer.start()

    def _show_terminal(self, session_id: str, session: dict[str, Any]) -> None:
        self.output.show_document(None)
        self.views.setCurrentWidget(self.terminal_pane)
        self.prompt.hide()
        self.session_name.setText(str(session.get("name", session_id)))
        self.session_folder.setText(f"— {session.get('workingDir', '')}")
        self._update_prompt()
        follower = ScreenFollower(
            self.api, self.token, self.heartbeat_interval, session_id,
            self._screen(session_id), self.terminal, self._spawn, parent=self,
        )  # fmt: skip
        follower.feed.event_received.connect(self._on_event)
        follower.feed.state_changed.connect(self._on_stream_state)
        self.follower, self.feed = follower, follower.feed
        follower.start()
        if self._focus_on_show == session_id:
            self._focus_on_show = None
            self.terminal.setFocus()
        self._resize_timer.start()

    def _screen(self, session_id: str) -> TerminalScreen:
        return _kept(self._screens, session_id, self._new_screen, TerminalScreen.close)

    def _new_screen(self) -> TerminalScreen:
        return TerminalScreen(scrollback_lines=self.settings.scrollback())

    def terminal_screen(self, session_id: str) -> TerminalScreen | None:
        beside = self.beside_follower
        if beside is not None and beside.session_id == session_id:
            return beside.screen
        return self._screens.get(session_id)

    def _on_terminal_input(self, data: str) -> None:
        if self.current_session is not None and self.terminal.session_screen is not None:
            self.keystrokes.push(self.current_session, data)

    def open_link(self, link: str) -> None:
        """A link Ctrl+clicked in a terminal, in the desktop's browser (or mail, or files)."""
        if not QDesktopServices.openUrl(QUrl(link)):
            self.show_error(f"Could not open {link}")

    def _on_beside_input(self, data: str) -> None:
        if self.beside.session_id is not None:
            self.keystrokes.push(self.beside.session_id, data)

    def _on_terminal_title(self, title: str) -> None:
        self._title = f"{title} — SessionDock" if title else "SessionDock"
        self._update_title()
        if self.current_session is not None:
            self.sessions.set_title(self.current_session, title)

    def _on_beside_title(self, title: str) -> None:
        if self.beside.session_id is not None:
            self.sessions.set_title(self.beside.session_id, title)

    def _on_bell(self) -> None:
        """The program on screen rang the bell: a notification while the window is not active
        (the taskbar's attention hint, and the tray's message where there is a tray)."""
        if self.isActiveWindow():
            return
        QApplication.alert(self)
        if self.tray is not None:
            name = self.session_name.text() or "A session"
            self.tray.showMessage("SessionDock", f"{name} rang the bell")

    def zoom(self, step: int) -> None:
        """Bigger (+1), smaller (-1) or the default size (0) for the output and the terminal;
        kept in the settings."""
        font = self.settings.font()
        size = self.settings.default_font_size() if step == 0 else font.pointSize() + step
        font.setPointSize(min(MAX_FONT_SIZE, max(MIN_FONT_SIZE, size)))
        self.settings.set_font(font)
        self.output.set_font(font)
        self.terminal.set_font(font)
        self.beside.view.set_font(font)
        self._resize_timer.start()

    async def _paste_if_confirmed(self, view: TerminalView, text: str) -> None:
        lines = len(text.strip("\r\n").splitlines())
        question = (
            f"Paste {lines} lines? The program did not ask for pasted text to be marked, so a "
            "shell runs each line as soon as it arrives."
        )
        if await self.session_actions.ask(question, "Paste"):
            view.paste_confirmed(text)

    def _on_keystrokes_failed(self, session_id: str, error: Exception) -> None:
        if isinstance(error, ApiError) and error.status == 409:
            self.statusBar().showMessage("The session has ended: it takes no more keys.", 10_000)
            return
        self.show_error(f"Keys not sent: {error}")

    def _document(self, session_id: str) -> SessionDocument:
        return _kept(
            self._documents,
            session_id,
            lambda: self.output.new_document(self.settings.scrollback()),
            SessionDocument.release,
        )

    def document(self, session_id: str) -> SessionDocument | None:
        return self._documents.get(session_id)

    def _on_output(self, session_id: str, text: str) -> None:
        document = self._documents.get(session_id)
        if document is not None:
            self.output.append(document, text)

    def _on_agent_events(self, session_id: str, events: list[Event]) -> None:
        document = self._documents.get(session_id)
        if document is not None:
            self.output.append_agent(document, events)
        self._follow_requests(session_id, events)
        # A replay (opening a session, reconnecting) is the past: a stored "working" must not
        # come back to life in the list. An ending is never stale.
        statuses = [
            event.data
            for event in events
            if event.type == "status" and self._is_news(session_id, event)
        ]
        if not statuses:
            return
        # The list learns of a turn's start and end (state, queue, totals) at once, not at
        # the next refresh.
        latest = statuses[-1]
        changes = status_fields(latest)
        agent = dict(latest.get("agent") or {})
        totals = next((s["totals"] for s in reversed(statuses) if s.get("totals")), None)
        if totals is not None:
            agent["totals"] = totals
        changes["agent"] = agent
        self.sessions.update_session(session_id, changes)
        session = self.sessions.session(session_id)
        if session is not None:
            self.note_session(session)
            self._update_title()
        self._update_prompt()
        if any(s.get("status") != "running" for s in statuses):
            self._spawn(self.refresh_sessions())

    def _follow_requests(self, session_id: str, events: list[Event]) -> None:
        """Keep a conversation's open requests and mode as its events tell them; show them
        when it is on screen (a new card takes the keys, unless a prompt is being typed)."""
        requests = self._open_requests.setdefault(session_id, {})
        changed = False
        for event in events:
            if event.type == "permission-request":
                requests[str(event.data.get("requestId"))] = event.data
                changed = True
            elif event.type == "permission-resolved":
                changed |= requests.pop(str(event.data.get("requestId")), None) is not None
            elif event.type == "mode":
                mode = event.data.get("mode")
                self._modes[session_id] = mode if isinstance(mode, str) else None
                if session_id == self.current_session:
                    self._update_mode()
        if changed and session_id == self.current_session:
            self._show_requests(session_id)

    def _show_requests(self, session_id: str | None) -> None:
        session = self.sessions.session(session_id or "") or {}
        requests = list(self._open_requests.get(session_id or "", {}).values())
        had = set(self.approvals.cards)
        self.approvals.show_requests(session_id, requests, str(session.get("workingDir") or ""))
        fresh = [card for rid, card in self.approvals.cards.items() if rid not in had]
        typing = self.prompt.hasFocus() and bool(self.prompt.text())
        if fresh and not typing:
            fresh[0].setFocus()

    def _update_mode(self) -> None:
        session = self.sessions.session(self.current_session or "")
        shown = session is not None and is_agent(session) and is_running(session)
        self.agent_mode.setVisible(shown)
        if not shown or session is None:
            return
        mode = self._modes.get(session["id"]) or (session.get("agent") or {}).get("mode")
        index = self.agent_mode.findData(mode or "default")
        self.agent_mode.setCurrentIndex(max(0, index))

    def _on_mode_chosen(self, index: int) -> None:
        session_id = self.current_session
        if session_id is not None:
            self._spawn(self.set_mode(session_id, str(self.agent_mode.itemData(index))))

    async def set_mode(self, session_id: str, mode: str) -> None:
        result = await self.api.set_mode(session_id, mode)
        self._modes[session_id] = result.get("mode")
        if session_id == self.current_session:
            self._update_mode()

    async def answer_request(self, session_id: str, request_id: str, body: dict[str, Any]) -> None:
        """Send a card's answer; the resolution comes back down the stream."""
        try:
            await self.api.answer_permission(session_id, request_id, body)
        except ApiError as error:
            if error.code in ("already_resolved", "request_not_found"):
                return  # answered elsewhere (or it ended) meanwhile: the stream says how
            self._answer_failed(request_id, error.for_user())
            raise
        except BackendError as error:  # unreachable, or no answer in time: it can be sent again
            self._answer_failed(request_id, str(error))
            raise

    def _answer_failed(self, request_id: str, why: str) -> None:
        card = self.approvals.card(request_id)
        if card is not None:
            card.failed(why)

    def _is_news(self, session_id: str, event: Event) -> bool:
        """Whether a status event says something the list should take: a live one, or an
        ending (a replayed one too: a session that ended stays ended)."""
        live = event.id is not None and event.id > self._replayed_through.get(session_id, 0)
        return live or event.data.get("status") != "running"

    def _on_lines_skipped(self, session_id: str, count: int) -> None:
        document = self._documents.get(session_id)
        if document is not None:
            document.append_notice(
                f"… {count} lines not shown here: the session wrote faster than the view can "
                "draw them (the session's stored history has every line)"
            )

    def _on_event(self, session_id: str, event: Event) -> None:
        if event.type == DELTA:
            document = self._documents.get(session_id)
            if document is not None:
                data = event.data
                self.output.stream_delta(
                    document, str(data.get("messageId") or ""), str(data.get("text") or "")
                )
            return
        if session_id == self.current_session:
            if event.type == CONNECTED:
                # A (re)connected stream tells again, after its replay, if the backend still
                # cannot store; it may have recovered while the stream was away.
                self.set_storage_warning(None)
            elif event.type == STORAGE_ERROR:
                self.set_storage_warning(storage_warning(event.data.get("reason")))
            elif event.type == STORAGE_RESTORED:
                self.set_storage_warning(None)
        if event.type == CONNECTED:
            last = event.data.get("sessionLastEventId")
            self._replayed_through[session_id] = last if isinstance(last, int) else 0
            # The list asks the backend at each (re)connect: what changed while the stream was
            # away comes as replay, which the list does not take as news.
            self._spawn(self.refresh_sessions())
            return
        if event.type == "status":
            if self._is_news(session_id, event):
                self.sessions.update_session(session_id, status_fields(event.data))
                self._update_prompt()
            if event.data.get("status") != "running":  # the list's times and all
                self._spawn(self.refresh_sessions())
            return
        notice = None
        if event.type == "error":
            notice = f"error: {event.data.get('message', '')}"
        elif event.type == "history-trimmed":
            notice = trimmed_notice(event.data.get("firstAvailableId"))
        elif event.type == "prompt":
            session = self.sessions.session(session_id)
            if session is not None and not session.get("tty", True):
                notice = f"> {event.data.get('command', '')}"
        if notice is None:
            return
        document = self._documents.get(session_id)
        if document is not None:
            document.append_notice(notice)
        elif session_id == self.current_session:
            # A terminal's screen is the program's alone: a notice goes below it.
            self.statusBar().showMessage(notice, 10_000)

    def set_storage_warning(self, text: str | None) -> None:
        """Show the banner over the output with ``text``, or hide it (None)."""
        self.storage_banner.setText(text or "")
        self.storage_banner.setVisible(text is not None)

    def _on_stream_state(self, session_id: str, state: StreamState) -> None:
        if session_id != self.current_session:
            return
        if state.kind == "reconnecting":
            retry = f" in {state.retry_in:.0f} s" if state.retry_in is not None else ""
            text = f"reconnecting{retry} (attempt {state.attempt})"
        else:
            text = state.kind
        self.stream_label.setText(f"stream: {text}")

    def _update_rate(self) -> None:
        seen = self.feed.events_seen if self.feed is not None else 0
        rate = max(0, seen - self._events_counted)
        self._events_counted = seen
        self.rate_label.setText(f"{rate} events/s")

    def _update_prompt(self) -> None:
        """The prompt line and the status label follow the session on screen."""
        session = self.sessions.session(self.current_session or "")
        self._update_status_label(session)
        self._update_mode()
        commands = (session.get("agent") or {}).get("commands") if session is not None else None
        self.prompt.set_commands(commands if isinstance(commands, list) else [])
        running = session is not None and session["status"] == "running"
        continued = can_continue(session)
        waiting = self.current_session in self._continuing
        self.prompt.setEnabled((running or continued) and not waiting)
        self.prompt.setPlaceholderText(prompt_placeholder(session))

    def _update_status_label(self, session: dict[str, Any] | None) -> None:
        if session is None:
            self.session_status.setText("")
            return
        self.session_status.setText(status_label(session))
        color = STATUS_COLORS.get(session["status"])
        self.session_status.setStyleSheet(f"color: {color.name()}" if color is not None else "")

    async def resize_terminal(self) -> None:
        session = self.sessions.session(self.current_session or "")
        if session is None or not session.get("tty", True) or is_agent(session):
            return  # a conversation, or a session on pipes, has no terminal
        if self.views.currentWidget() is self.terminal_pane:
            await self._resize(session, *self.terminal.cells())
        else:
            await self._resize(session, *self.output.terminal_size())

    async def resize_beside(self) -> None:
        session = self.sessions.session(self.beside.session_id or "")
        if session is not None:
            await self._resize(session, *self.beside.view.cells())

    async def _resize(self, session: dict[str, Any], cols: int, rows: int) -> None:
        if session["status"] != "running":
            return
        try:
            await self.api.resize(session["id"], cols, rows)
        except ApiError as error:
            if error.status != 409:  # it ended meanwhile: nothing to resize
                raise

    # -- a second terminal beside ---------------------------------------------------------------

    def _open_previous_beside(self) -> None:
        previous = self._previous_terminal
        if previous is None or self.sessions.session(previous) is None:
            self.statusBar().showMessage(
                "Show another terminal session first: Ctrl+Shift+D then puts it beside.", 10_000
            )
            return
        self._spawn(self.open_beside(previous))

    async def open_beside(self, session_id: str) -> None:
        """Show terminal session ``session_id`` beside the one on screen; it takes the keys.
        The one beside before goes back to the list."""
        async with self._switch_lock:  # not while the main view changes sessions
            await self._open_beside(session_id)

    async def _open_beside(self, session_id: str) -> None:
        session = self.sessions.session(session_id)
        if not shows_a_terminal(session):
            raise BackendError("only a terminal session (a shell or a command) opens beside")
        if session_id == self.current_session:
            raise BackendError("that session is on screen already: pick another to put beside")
        await self.close_beside(refocus=False)
        # The pane owns the screen while it shows it: switching in the main view releases
        # none that is beside.
        screen = self._screens.pop(session_id, None) or self._new_screen()
        self.beside.show_session(session_id, str((session or {}).get("name", session_id)))
        follower = ScreenFollower(
            self.api, self.token, self.heartbeat_interval, session_id,
            screen, self.beside.view, self._spawn, parent=self,
        )  # fmt: skip
        self.beside_follower = follower
        follower.start()
        self.beside.view.setFocus()
        self._beside_resize_timer.start()

    async def close_beside(self, *, refocus: bool = True) -> None:
        """Close the pane beside; its screen goes back among the kept ones. ``refocus``: the
        main terminal takes the keys (not when the list is being used)."""
        follower, self.beside_follower = self.beside_follower, None
        if follower is None:
            return
        self.beside.show_session(None)
        await follower.stop()
        follower.deleteLater()
        if follower.session_id in self._screens:  # made meanwhile: one screen per session
            self._screens.pop(follower.session_id).close()
        if self.follower is not None and self.follower.session_id in self._screens:
            self._screens.move_to_end(self.follower.session_id)  # the one on show: not evicted
        _kept(self._screens, follower.session_id, lambda: follower.screen, TerminalScreen.close)
        if refocus and self.views.currentWidget() is self.terminal_pane:
            self.terminal.setFocus()

    def _on_prompt_submitted(self, text: str) -> None:
        sending = self._prompt_sender(text)
        if sending is not None:
            self._spawn(sending)

    async def send_prompt(self, text: str) -> None:
        """Send ``text`` to the session on screen, as Enter in the prompt line does."""
        sending = self._prompt_sender(text)
        if sending is not None:
            await sending

    def _prompt_sender(self, text: str) -> Coroutine[Any, Any, object] | None:
        """What sends ``text`` to the session on screen now, decided at once (the session, and
        a guard against a second Enter), or None if there is nothing to send.

        A conversation takes no empty prompt (a shell takes an empty line). An imported (or
        ended) conversation takes no prompts: a new ``claude`` session continues it, comes on
        screen and gets it."""
        session_id = self.current_session
        if session_id is None:
            return None
        session = self.sessions.session(session_id)
        if is_agent(session) and not text.strip():
            return None
        if can_continue(session):
            if session_id in self._continuing:
                return None
            typing = self.prompt.hasFocus()
            self._set_continuing({session_id}, True)  # until the new session has it
            return self._continue(session_id, text, typing)
        return self._send(session_id, text)

    def _set_continuing(self, session_ids: set[str], on: bool) -> None:
        if on:
            self._continuing |= session_ids
        else:
            self._continuing -= session_ids
        self.sessions.set_continuing(self._continuing)
        self._update_prompt()

    async def _send(self, session_id: str, text: str) -> None:
        try:
            await self.api.send_prompt(session_id, text)
        except Exception:
            self._give_back(text, [session_id])
            raise

    async def _continue(self, session_id: str, text: str | None, typing: bool) -> str:
        """Start a session that resumes ``session_id`` (it comes on screen) and send it
        ``text``, if any; the prompt line gets the focus if it had it (disabling it meanwhile
        took it away) and its session is still on screen; the new session's id. Both
        sessions' prompts wait meanwhile, other sessions' do not."""
        waiting = [session_id]
        self._set_continuing(set(waiting), True)
        try:
            session = await self.api.create_session(kind="claude", resume=session_id)
            new_id = str(session["id"])
            waiting.append(new_id)
            self._set_continuing(set(waiting), True)
            await self._show_new(session)
            if text is not None:
                await self.api.send_prompt(new_id, text)
            return new_id
        except Exception:
            if text is not None:
                self._give_back(text, waiting)
            raise
        finally:
            self._set_continuing(set(waiting), False)
            if typing and self.prompt.isEnabled() and self.current_session in waiting:
                self.prompt.setFocus()

    def _give_back(self, text: str, session_ids: list[str]) -> None:
        """A prompt that did not go out returns to the prompt line, unless something new is
        being typed there. It was for ``session_ids`` (an ended conversation, then the session
        continuing it): if the user moved to another session meanwhile, it waits until the last
        of them is shown again, so that Enter never sends it to a session it was not for."""
        if self.current_session in session_ids:
            if not self.prompt.text():
                self.prompt.setText(text)
        else:
            self._given_back[session_ids[-1]] = text

    def _on_interrupt_key(self) -> None:
        session_id = self.current_session
        if session_id is not None and can_interrupt(self.sessions.session(session_id)):
            self._spawn(self.interrupt_session(session_id))

    async def interrupt_session(self, session_id: str) -> None:
        """Ctrl-C: the program running in a terminal, or a conversation's running turn."""
        await self.session_actions.interrupt(session_id)
        await self.refresh_sessions()

    async def stop_session(self, session_id: str) -> None:
        """End the session (a conversation too), after asking if it is a shell running a
        program."""
        if await self.session_actions.stop(session_id):
            await self.refresh_sessions()

    async def continue_session(self, session_id: str) -> str | None:
        """An ended or imported conversation goes on in a new session, which comes on screen
        with the prompt line ready; its id (None if there is nothing to continue)."""
        if session_id in self._continuing or not can_continue(self.sessions.session(session_id)):
            return None
        return await self._continue(session_id, None, typing=True)

    async def delete_session_if_confirmed(self, session_id: str) -> None:
        """Delete, as its button does: after asking (it takes the session's whole history)."""
        session = self.sessions.session(session_id)
        if session is not None and await self.session_actions.confirm_delete(session):
            await self.delete_session(session_id)

    async def delete_session(self, session_id: str) -> None:
        if session_id == self.current_session:
            await self.open_session(None)
        if session_id == self.beside.session_id:
            await self.close_beside()
        await self.api.delete_session(session_id)
        document = self._documents.pop(session_id, None)
        if document is not None:
            document.release()
        screen = self._screens.pop(session_id, None)
        if screen is not None:
            screen.close()
        self._replayed_through.pop(session_id, None)
        self._given_back.pop(session_id, None)
        await self.refresh_sessions()

    # -- settings, saving, closing ------------------------------------------------------------

    def _open_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self)
        if dialog.exec():
            self.output.set_font(self.settings.font())
            self.terminal.set_font(self.settings.font())
            for document in self._documents.values():
                document.set_scrollback(self.settings.scrollback())

    def _export_session(self) -> None:
        """File > Export session…: the session on screen as a file, in the format chosen."""
        session_id = self.current_session
        session = self.sessions.session(session_id) if session_id else None
        if session_id is None or session is None:
            self.statusBar().showMessage("Pick a session to export first.", 10_000)
            return
        formats = EXPORT_FORMATS if not is_agent(session) else EXPORT_FORMATS[1:]
        name = re.sub(r"[^\w.-]+", "-", str(session.get("name") or "session")).strip("-")[:60]
        path, chosen = QFileDialog.getSaveFileName(
            self,
            "Export session",
            str(Path.home() / f"{name or 'session'}.{formats[0][0]}"),
            ";;".join(label for _, label in formats),
        )
        if not path:
            return
        by_label = {label: fmt for fmt, label in formats}
        suffix = Path(path).suffix.lstrip(".")
        fmt = suffix if suffix in by_label.values() else by_label.get(chosen, formats[0][0])
        self._spawn(self.export_session(session_id, fmt, Path(path)))

    async def export_session(self, session_id: str, fmt: str, target: Path) -> int:
        """Save an export, with a progress dialog for a large one (it can be cancelled)."""
        progress = QProgressDialog("Exporting…", "Cancel", 0, 0, self)
        progress.setWindowTitle("Export session")
        progress.setWindowModality(Qt.WindowModality.WindowModal)
        progress.setMinimumDuration(400)  # only an export that takes a while shows it
        task = asyncio.current_task()
        cancelled = False

        def cancel() -> None:
            nonlocal cancelled
            cancelled = True
            if task is not None:
                task.cancel()

        progress.canceled.connect(cancel)
        try:
            written = await self.api.export(
                session_id,
                fmt,  # type: ignore[arg-type]
                target,
                lambda count: progress.setLabelText(f"Exporting… {count / 1e6:,.1f} MB"),
            )
        except asyncio.CancelledError:
            if not cancelled:
                raise
            self.statusBar().showMessage("Export cancelled.", 10_000)
            return 0
        finally:
            progress.canceled.disconnect(cancel)  # closing it says "canceled" too
            progress.close()
            progress.deleteLater()
        self.statusBar().showMessage(f"Exported {written:,} bytes to {target}", 10_000)
        return written

    def _save_output(self) -> None:
        screen = (
            self.terminal.session_screen
            if self.views.currentWidget() is self.terminal_pane
            else None
        )
        if screen is None and self.output.current is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save output", "session.txt")
        if not path:
            return
        if screen is not None:
            text = screen.contents()
        else:
            assert self.output.current is not None
            text = self.output.current.plain_text()
        Path(path).write_text(text, encoding="utf-8")

    async def shutdown(self) -> None:
        """Stop the stream and every UI task; the app awaits this before quitting."""
        self._refresh_timer.stop()
        self._rate_timer.stop()
        self._resize_timer.stop()
        self._beside_resize_timer.stop()
        if self.follower is not None:
            await self.follower.stop()
        elif self.feed is not None:
            await self.feed.stop()
        self.follower, self.feed = None, None
        await self.close_beside()
        await self.keystrokes.aclose()
        await self.notifier.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def close_now(self) -> None:
        """Close without asking (the system asked the app to quit)."""
        self._quit_confirmed = True
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.ask_before_quit and not self._quit_confirmed:
            event.ignore()  # for now: closed again once the answer (if a question is due) is in
            if self._quit_check is None:
                self._quit_check = self._spawn(self._close_if_confirmed())
            return
        event.accept()
        self.closed.emit()

    async def _close_if_confirmed(self) -> None:
        try:
            answer = await self.session_actions.confirm_quit()
            if answer is not None:
                self.keep_backend = answer == QUIT_KEEP
                self.close_now()
        finally:
            self._quit_check = None
