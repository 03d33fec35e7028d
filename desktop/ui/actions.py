"""Interrupt, Stop, Delete, removing a project and quitting in the desktop app: the requests, and
the questions asked first. When each is offered and what it asks are desktop/session_actions.py's
rules, shared with the web page (resources/web/actions.js).

Questions are window-modal boxes opened with ``open()`` and awaited, never ``exec()``: the asyncio
loop keeps running under them, and a test answers one by clicking a button of ``current``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QAbstractButton, QMessageBox, QWidget

from desktop.api import ApiClient, ApiError, BackendError
from desktop.session_actions import (
    QUIT_KEEP,
    QUIT_STOP,
    can_stop,
    delete_question,
    ended_by_quitting,
    quit_question,
    remove_project_question,
    stop_question,
)

# Counting what quitting would end must not hold the quit up when the backend does not answer.
QUIT_COUNT_TIMEOUT = 3.0


async def unless_ended(request: Awaitable[None]) -> None:
    """A session that ended meanwhile has nothing left to interrupt or stop: not an error."""
    try:
        await request
    except ApiError as error:
        if error.code != "session_not_running":
            raise


class SessionActions(QObject):
    """The session actions of one window, and the question it is asking (``current``)."""

    question_asked = Signal(object)  # the QMessageBox now shown

    def __init__(self, api: ApiClient, window: QWidget) -> None:
        super().__init__(window)
        self.api = api
        self.window = window
        self.current: QMessageBox | None = None

    async def ask(self, question: str, confirm: str) -> bool:
        """True if the user answers ``confirm``; Cancel is the default (Enter) and Escape's."""
        return await self.choose(question, [confirm]) == confirm

    async def choose(self, question: str, answers: list[str]) -> str | None:
        """The answer clicked, or None for Cancel (the default, and Escape's)."""
        box = QMessageBox(QMessageBox.Icon.Question, "SessionDock", question, parent=self.window)
        box.setTextFormat(Qt.TextFormat.PlainText)  # a program's name is data
        buttons: dict[QAbstractButton, str] = {
            box.addButton(a, QMessageBox.ButtonRole.AcceptRole): a for a in answers
        }
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(cancel)
        box.setEscapeButton(cancel)
        answer: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()

        def finished() -> None:
            if not answer.done():
                answer.set_result(buttons.get(box.clickedButton()))

        box.finished.connect(finished)
        box.open()
        self.current = box
        self.question_asked.emit(box)
        try:
            return await answer
        finally:
            self.current = None
            if box.isVisible():  # the asking task was cancelled (the window is closing)
                box.finished.disconnect(finished)
                box.reject()
            box.deleteLater()

    async def interrupt(self, session_id: str) -> None:
        await unless_ended(self.api.interrupt(session_id))

    async def stop(self, session_id: str) -> bool:
        """Stop the session, after asking when it is a shell running a program (as it is now,
        not as the list last saw it). False when the user kept it."""
        session = await self.api.get_session(session_id)
        if not can_stop(session):
            return True
        question = stop_question(session)
        if question is not None and not await self.ask(question, "Stop"):
            return False
        await unless_ended(self.api.stop(session_id))
        return True

    async def confirm_delete(self, session: dict[str, Any]) -> bool:
        return await self.ask(delete_question(session), "Delete")

    async def confirm_remove_project(self, project: dict[str, Any]) -> bool:
        """Whether to remove ``project``: asked with its sessions as they are now (the list may
        be 2 s old)."""
        sessions = await self.api.list_sessions(str(project["id"]))
        return await self.ask(remove_project_question(project, sessions), "Remove")

    async def confirm_quit(self) -> str | None:
        """How to quit an app whose backend (and so whose sessions) quitting would end:
        ``QUIT_STOP`` (the answer when nothing runs), ``QUIT_KEEP`` (leave the backend and its
        sessions running), or None (Cancel). A backend that cannot say what runs does not hold
        the quit up."""
        try:
            async with asyncio.timeout(QUIT_COUNT_TIMEOUT):
                sessions = await self.api.list_sessions()
        except (BackendError, TimeoutError):
            return QUIT_STOP
        count = ended_by_quitting(sessions)
        if count == 0:
            return QUIT_STOP
        return await self.choose(quit_question(count), [QUIT_STOP, QUIT_KEEP])
