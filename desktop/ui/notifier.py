"""Desktop notifications: the freedesktop notification service on the session bus (Linux
desktops: GNOME, KDE, and any other that runs one), else the tray icon's balloon, and always
``QApplication.alert`` (the taskbar entry asks for attention). A click on a notification (its
default action, or the balloon) says which session it was about: ``activated``.

The bus is spoken with jeepney (pure Python, on the app's asyncio loop): the service's ``Notify``
takes a uint32, which PySide6's QtDBus cannot send from Python.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication, QSystemTrayIcon, QWidget

from desktop.approval import News

log = logging.getLogger(__name__)

SERVICE = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
TIMEOUT_MS = 10_000
CALL_TIMEOUT = 2.0  # seconds a notification service may take to answer
APP_NAME = "SessionDock"


def _escaped(text: str) -> str:
    """Servers may read a body as markup: names are data."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Notifier(QObject):
    activated = Signal(str)  # the session a clicked notification was about

    def __init__(self, window: QWidget, tray: Callable[[], QSystemTrayIcon | None]) -> None:
        """``tray``: the window's tray icon now (None: there is no system tray)."""
        super().__init__(window)
        self._window = window
        self._tray = tray
        self._clicks_from: QSystemTrayIcon | None = None
        self._sessions: dict[int, str] = {}  # notification id -> session id
        self._tray_session: str | None = None
        self.sent: list[tuple[str, News, str]] = []  # (session, what, how): the latest few
        self._router: Any = None
        self._listener: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._opening: asyncio.Task[Any] | None = None
        self._filter: Any = None  # the bus's ActionInvoked signals come through it
        self._opener: Any = None  # open_dbus_router's context: closing it closes the socket

    async def _bus(self) -> Any:
        """The session bus, opened at the first notification (None: there is none)."""
        if self._router is not None:
            return self._router
        if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
            return None
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._open())
        return await asyncio.shield(self._opening)

    async def _open(self) -> Any:
        from jeepney import MatchRule
        from jeepney.io.asyncio import open_dbus_router

        opener = open_dbus_router(bus="SESSION")  # its exit closes the router and the socket
        router: Any = None
        try:
            router = await opener.__aenter__()
            rule = MatchRule(type="signal", interface=SERVICE, member="ActionInvoked", path=PATH)
            self._filter = router.filter(rule, bufsize=64)
            await _add_match(router, rule)
        except Exception as exc:  # no bus, or one that refuses us: the tray, then
            log.info("no session bus for notifications: %s", exc)
            if router is not None:
                with contextlib.suppress(Exception):
                    await opener.__aexit__(None, None, None)
            return None
        self._router, self._opener = router, opener
        self._listener = asyncio.ensure_future(self._listen(self._filter.queue))
        return router

    async def _listen(self, queue: Any) -> None:
        while True:
            message = await queue.get()
            notification, action = message.body
            session_id = self._sessions.get(int(notification))
            if session_id is not None and action == "default":
                self.activated.emit(session_id)

    def notify(self, session_id: str, news: News) -> None:
        """Tell of ``news`` about a session: at once to the taskbar, then on the bus."""
        QApplication.alert(self._window)
        task = asyncio.ensure_future(self._notify(session_id, news))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _notify(self, session_id: str, news: News) -> None:
        how = "none"
        router = await self._bus()
        if router is not None:
            from jeepney import DBusAddress, MessageType, new_method_call

            address = DBusAddress(PATH, bus_name=SERVICE, interface=SERVICE)
            actions = ["default", "Open"]
            summary, text = news.title, _escaped(news.body)
            body: tuple[Any, ...] = (APP_NAME, 0, "", summary, text, actions, {}, TIMEOUT_MS)
            call = new_method_call(address, "Notify", "susssasa{sv}i", body)
            try:
                reply = await asyncio.wait_for(router.send_and_get_reply(call), CALL_TIMEOUT)
            except Exception as exc:
                log.info("the notification service did not answer: %s", exc)
            else:
                if reply.header.message_type == MessageType.method_return:
                    self._sessions[int(reply.body[0])] = session_id
                    how = "dbus"
                else:
                    log.info("the notification service refused: %s", reply.body)
        tray = self._tray()
        if how == "none" and tray is not None:
            if tray is not self._clicks_from:
                tray.messageClicked.connect(self._on_tray_clicked)
                self._clicks_from = tray
            self._tray_session = session_id
            # The name is the title, which trays show as plain text; the body may be read as
            # markup (freedesktop's), so it holds only our own words.
            tray.showMessage(news.body or APP_NAME, news.title)
            how = "tray"
        self.sent.append((session_id, news, how))
        del self.sent[:-20]

    async def settle(self) -> None:
        """Wait until the notifications asked for so far went out (tests use it)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _on_tray_clicked(self) -> None:
        if self._tray_session is not None:
            self.activated.emit(self._tray_session)

    async def close(self) -> None:
        if self._opening is not None and not self._opening.done():
            self._opening.cancel()
        if self._opening is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._opening
        for task in (*self._tasks, self._listener):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._opener is not None:
            with contextlib.suppress(Exception):
                await self._opener.__aexit__(None, None, None)
            self._router = self._opener = None


async def _add_match(router: Any, rule: Any) -> None:
    from jeepney.bus_messages import message_bus

    await router.send_and_get_reply(message_bus.AddMatch(rule))
