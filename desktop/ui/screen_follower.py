"""A terminal session's screen following its stream into a terminal view: the one in the main
area and the one beside it (``desktop/ui/beside.py``) work the same way.

The stream attaches with the first frame's history (``TerminalScreen.attach_lines``); each
snapshot of less history than the screen keeps is followed by the deeper one
(``load_history``), once per snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from PySide6.QtCore import QObject

from desktop.api import ApiClient
from desktop.sse_client import Event
from desktop.terminal_screen import TerminalScreen, load_history
from desktop.ui.feed import SessionFeed
from desktop.ui.terminal_view import TerminalView


class ScreenFollower(QObject):
    """``screen`` follows session ``session_id``'s stream (``feed``) and ``view`` shows it."""

    def __init__(
        self,
        api: ApiClient,
        token: str,
        heartbeat_interval: float,
        session_id: str,
        screen: TerminalScreen,
        view: TerminalView,
        spawn: Callable[[Coroutine[Any, Any, None]], object],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._spawn = spawn  # the window's: it keeps the task, shows its errors, ends it on quit
        self.api = api
        self.session_id = session_id
        self.screen = screen
        self.view = view
        self.feed = SessionFeed(
            api.base_url, token, session_id, screen.last_event_id, heartbeat_interval,
            parent=self, screen=True, scrollback_lines=screen.attach_lines,
        )  # fmt: skip
        self.feed.screen_events_received.connect(self._on_events)

    def start(self) -> None:
        self.view.show_screen(self.screen)
        self.feed.start()

    async def stop(self) -> None:
        """The stream ends; the screen stays (and resumes from its last event later). A deeper
        history on its way still comes: it needs no stream."""
        await self.feed.stop()
        if self.view.session_screen is self.screen:
            self.view.show_screen(None)
        self.feed.deleteLater()

    def _on_events(self, _session_id: str, events: list[Event]) -> None:
        screen = self.screen
        if not screen.apply(events):
            return
        if self.view.session_screen is screen:
            self.view.screen_changed()
        if screen.wants_history:
            self._spawn(self._load_history(screen, self.view))

    async def _load_history(self, screen: TerminalScreen, view: TerminalView) -> None:
        if await load_history(self.api, self.session_id, screen) and view.session_screen is screen:
            view.screen_changed()
