"""Projects and sessions: the registry, their ids, their life cycle and their events.

What it knows lives in memory (loaded from the store at start) and every change is written
through the store, so reads never wait for SQLite and a restart finds the same state. How a
session runs is its runtime's business (backend/runtimes): this module never asks which kind a
session is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from backend.bus import SESSION_DELETED, EventBus
from backend.config import Settings
from backend.environment import bundle_dir, default_shell, read_login_path, session_environment
from backend.errors import InvalidInput, ProjectNotFound, SessionNotFound, ShuttingDown
from backend.host.client import HostLink, HostUnavailable
from backend.protocol import api
from backend.protocol.events import ENDED_STATUSES, RUNNING, EventData, StatusChanged, now_ms
from backend.protocol.sse import StoredEvent
from backend.runtimes.base import Plan, PromptAck, RuntimeContext, RuntimeKind, SessionRuntime
from backend.runtimes.screen import View
from backend.sessions.folders import resolve_directory
from backend.sessions.registry import KINDS
from backend.store import ProjectRecord, SessionRecord, Store

log = logging.getLogger(__name__)


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(6)}"


def signal_name(exit_code: int) -> str:
    with contextlib.suppress(ValueError):
        return signal.Signals(-exit_code).name
    return f"signal {-exit_code}"


class Session:
    """One session: its stored record and its runtime. It is the runtime's ``SessionHost``."""

    def __init__(self, record: SessionRecord, manager: SessionManager) -> None:
        self.record = record
        self._manager = manager
        self.runtime: SessionRuntime  # set by the manager right after

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def gone(self) -> bool:
        return self._manager.sessions.get(self.record.id) is not self

    @property
    def closing(self) -> bool:
        return self._manager.closing

    @property
    def keeping(self) -> bool:
        return self._manager.keep_sessions

    def emit(self, data: EventData, mark: tuple[str, int] | None = None) -> StoredEvent:
        if data.session_id != self.record.id:
            raise ValueError(f"an event of {data.session_id!r} emitted by {self.record.id!r}")
        return self._manager.store.events.append(data, mark)

    def status(self, **extra: Any) -> None:
        if self.gone:
            return
        record = self.record
        data = StatusChanged(
            session_id=record.id,
            timestamp=now_ms(),
            status=record.status,  # type: ignore[arg-type]
            **{**self.runtime.status_extra(), **extra},
        )
        if record.status in ENDED_STATUSES:
            data.exit_code = record.exit_code
            if record.exit_code is not None and record.exit_code < 0:
                data.signal = signal_name(record.exit_code)
        self.emit(data)

    def end(self, status: str, exit_code: int | None) -> None:
        if self.gone:  # deleted: its row and its history are gone, and stay gone
            return
        record = self.record
        record.status = status
        record.exit_code = exit_code
        record.ended_at = now_ms()
        self._manager.store.sessions.set_status(record.id, status, exit_code, record.ended_at)
        self.status()

    def save_state(self) -> None:
        if self.gone:
            return
        self.record.state = self.runtime.state()
        self._manager.store.sessions.set_state(self.record.id, self.record.state)


class SessionManager:
    """Creates, drives and forgets projects and sessions; shuts every session down at the end.

    It is the runtimes' ``Catalog``: kinds place new sessions and add the ones they find here.
    """

    def __init__(self, settings: Settings, store: Store, bus: EventBus) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.projects: dict[str, ProjectRecord] = {}
        self.sessions: dict[str, Session] = {}
        self.closing = False
        # Stopping leaves the session host's programs running (a restart re-adopts them).
        self.keep_sessions = settings.keep_sessions
        self._login_path: asyncio.Task[str | None] | None = None
        self.host = HostLink(settings.data_dir) if settings.session_host else None
        context = RuntimeContext(settings, store, bus, self.environment, self, self.host)
        self.kinds: dict[str, RuntimeKind] = {each.name: each(context) for each in KINDS}

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self.settings.login_path:
            # Asked once, in the background: a slow shell start-up must not delay the server.
            env = session_environment(os.environ, bundle=bundle_dir(), login_path=None)
            self._login_path = asyncio.create_task(read_login_path(default_shell(), env))
        loaded = await self.store.open()
        if self.host is not None:
            await self._connect_host(self.host)
        for project in loaded.projects:
            self.projects[project.id] = project
        for record in loaded.sessions:
            kind = self.kinds.get(record.runtime)
            if kind is None:
                log.warning("session %s: no runtime %r here; not loaded", record.id, record.runtime)
                continue
            self._add(record, kind).runtime.restore()
        if self.host is not None:
            self.host.forget_unclaimed()
        for each in self.kinds.values():
            await each.start()

    async def _connect_host(self, host: HostLink) -> None:
        self.store.on_marks = host.ack
        try:
            await host.connect()
        except HostUnavailable as exc:
            # Sessions still run, as this backend's children: they end with it.
            log.error("%s; sessions run in the backend and end with it", exc.strerror)

    async def stop(self) -> None:
        """Shut every session down (what runs is recorded as interrupted; with
        ``keep_sessions``, what the session host runs is left to it) and wait for it."""
        self.closing = True
        if self._login_path is not None:
            self._login_path.cancel()
            await asyncio.gather(self._login_path, return_exceptions=True)
        for each in self.kinds.values():
            await each.stop()
        sessions = tuple(self.sessions.values())
        results = await asyncio.gather(
            *(session.runtime.shutdown() for session in sessions), return_exceptions=True
        )
        for session, result in zip(sessions, results, strict=True):
            if isinstance(result, Exception):
                log.error("session %s did not shut down cleanly", session.id, exc_info=result)

    async def close_host(self) -> None:
        """After the store's last commit: let go of the session host (which ends, unless it
        keeps sessions for the next backend)."""
        if self.host is not None:
            await self.host.close(wait=not self.keep_sessions)

    async def environment(self) -> dict[str, str]:
        """The environment a session's programs get (may wait for the login shell's PATH)."""
        login_path = None
        if self._login_path is not None:
            with contextlib.suppress(asyncio.CancelledError):
                login_path = await asyncio.shield(self._login_path)
        return session_environment(os.environ, bundle=bundle_dir(), login_path=login_path)

    # -- projects -----------------------------------------------------------------------------

    def project(self, project_id: str) -> ProjectRecord:
        try:
            return self.projects[project_id]
        except KeyError:
            raise ProjectNotFound(f"no project {project_id!r}") from None

    def create_project(self, path: str, name: str | None = None) -> tuple[ProjectRecord, bool]:
        """The project of a folder, created if new; the flag says whether it was."""
        real = resolve_directory(path)
        for project in self.projects.values():
            if project.path == real:
                return project, False
        return self._add_project(real, name), True

    def project_for_folder(self, folder: str) -> ProjectRecord:
        real = os.path.realpath(folder) if os.path.isdir(folder) else folder
        for project in self.projects.values():
            if project.path in (real, folder):
                return project
        return self._add_project(real, None)

    def _add_project(self, path: str, name: str | None) -> ProjectRecord:
        project = ProjectRecord(new_id("project"), name or Path(path).name or path, path, now_ms())
        self.projects[project.id] = project
        self.store.projects.add(project)
        return project

    async def delete_project(self, project_id: str) -> None:
        self.project(project_id)
        # Gone at once, before any await: a concurrent delete gets 404 and no new session can
        # join the project meanwhile.
        del self.projects[project_id]
        sessions = self.list_sessions(project_id)
        for session in sessions:
            self._forget(session)
        self.store.projects.remove(project_id)
        await asyncio.gather(*(session.runtime.delete() for session in sessions))

    def place(self, project_id: str | None, working_dir: str | None) -> tuple[ProjectRecord, str]:
        """The project and working folder a request names."""
        if project_id is not None:
            project = self.project(project_id)
            return project, resolve_directory(working_dir) if working_dir else project.path
        if working_dir is not None:
            project, _ = self.create_project(working_dir)
            return project, project.path
        raise InvalidInput("give projectId or workingDir")

    # -- sessions -----------------------------------------------------------------------------

    def list_sessions(self, project_id: str | None = None) -> list[Session]:
        return [s for s in self.sessions.values() if project_id in (None, s.record.project_id)]

    def get_session(self, session_id: str) -> Session:
        try:
            return self.sessions[session_id]
        except KeyError:
            raise SessionNotFound(f"no session {session_id!r}") from None

    def runtime_of(self, session_id: str) -> SessionRuntime | None:
        session = self.sessions.get(session_id)
        return session.runtime if session is not None else None

    def runtimes(self) -> Iterable[SessionRuntime]:
        return [session.runtime for session in self.sessions.values()]

    def describe(self, session: Session) -> api.Session:
        """A session as clients see it."""
        record, runtime = session.record, session.runtime
        return api.Session(
            id=record.id,
            project_id=record.project_id,
            name=record.name,
            kind=record.kind,  # type: ignore[arg-type]
            argv=record.argv,
            working_dir=record.working_dir,
            tty=record.tty,
            status=record.status,  # type: ignore[arg-type]
            exit_code=record.exit_code,
            signal=signal_name(record.exit_code)
            if record.exit_code is not None and record.exit_code < 0
            else None,
            created_at=record.created_at,
            ended_at=record.ended_at,
            last_event_id=self.store.events.last_seq(record.id),
            pid=runtime.pid(),
            agent=runtime.agent(),
            foreground=runtime.foreground(),
        )

    async def create_session(self, request: api.NewSession) -> Session:
        if self.closing:
            raise ShuttingDown("the server is shutting down")
        kind = next((k for k in self.kinds.values() if k.accepts(request)), None)
        if kind is None:
            raise InvalidInput(f"no session kind runs {request.kind!r}")
        plan = await kind.prepare(request)  # refuses a bad request before anything is made
        if self.closing:
            raise ShuttingDown("the server is shutting down")
        record = SessionRecord(
            id=new_id("session"),
            project_id=plan.project.id,
            name=plan.name,
            kind=request.kind or "shell",
            argv=plan.argv,
            working_dir=plan.working_dir,
            tty=plan.tty,
            status=RUNNING,
            created_at=now_ms(),
            runtime=kind.name,
            state=plan.state,
        )
        session = self._add(record, kind)
        self.store.sessions.add(record)
        await session.runtime.start(plan)
        if session.gone:  # deleted (or its project removed) while it started
            self.project(plan.project.id)
            raise SessionNotFound(f"session {record.id!r} was deleted while it started")
        return session

    def add_found(
        self,
        kind: RuntimeKind,
        plan: Plan,
        *,
        session_kind: str,
        status: str,
        created_at: int,
        ended_at: int | None,
    ) -> SessionRuntime:
        record = SessionRecord(
            id=new_id("session"),
            project_id=plan.project.id,
            name=plan.name,
            kind=session_kind,
            argv=plan.argv,
            working_dir=plan.working_dir,
            tty=plan.tty,
            status=status,
            created_at=created_at,
            runtime=kind.name,
            ended_at=ended_at,
            state=plan.state,
        )
        session = self._add(record, kind)
        self.store.sessions.add(record)
        return session.runtime

    async def drop_found(self, session_id: str) -> None:
        session = self.sessions.get(session_id)
        if session is not None:
            self._forget(session, dismiss=False)
            await session.runtime.delete()

    def _add(self, record: SessionRecord, kind: RuntimeKind) -> Session:
        session = Session(record, self)
        self.sessions[record.id] = session
        session.runtime = kind.runtime(session)
        return session

    async def delete_session(self, session_id: str) -> None:
        session = self.get_session(session_id)
        self._forget(session)
        await session.runtime.delete()

    def _forget(self, session: Session, *, dismiss: bool = True) -> None:
        """Remove a session and its history at once; its runtime is ended separately. What it
        showed of outside records (Claude Code's) is not imported again."""
        if dismiss:
            self.store.imports.dismiss(session.runtime.claimed_ids())
        self.sessions.pop(session.id, None)
        self.bus.close_session(session.id, SESSION_DELETED)
        self.store.sessions.forget(session.id)

    async def refresh(self) -> None:
        """Bring found sessions up to date before a listing (cheap: rescans are rate-limited)."""
        for each in self.kinds.values():
            await each.refresh()

    def open_session(self, session_id: str) -> None:
        """A client started streaming it."""
        self.get_session(session_id).runtime.open()

    async def catch_up(self, session_id: str, enough: int | None = None) -> None:
        """Its stored events are up to date (or there are ``enough``) before a history read."""
        await self.get_session(session_id).runtime.catch_up(enough)
        self.get_session(session_id)  # deleted meanwhile: 404

    # -- actions ------------------------------------------------------------------------------

    def send_prompt(self, session_id: str, command: str) -> PromptAck:
        """Write a line to the session's input (a conversation runs or queues it)."""
        return self.get_session(session_id).runtime.write(command)

    def send_signal(self, session_id: str, name: str) -> None:
        runtime = self.get_session(session_id).runtime
        if name == "SIGINT":
            runtime.interrupt()
        else:
            runtime.kill(signal.SIGKILL if name == "SIGKILL" else signal.SIGTERM)

    def interrupt(self, session_id: str) -> None:
        """What Ctrl-C does: the terminal's foreground job, or a conversation's running turn."""
        self.get_session(session_id).runtime.interrupt()

    def answer_permission(self, session_id: str, body: api.PermissionAnswer) -> int:
        """Answer a session's open permission request; the ``permission-resolved`` id."""
        runtime = self.get_session(session_id).runtime
        return runtime.answer(
            body.request_id,
            body.behavior,
            body.updated_input or None,
            body.message or None,
            body.remember or None,
        )

    async def set_mode(self, session_id: str, mode: str) -> api.ModeSet:
        return await self.get_session(session_id).runtime.set_mode(mode)

    async def set_model(self, session_id: str, model: str) -> api.ModeSet:
        return await self.get_session(session_id).runtime.set_model(model)

    def stop_session(self, session_id: str) -> None:
        """End a session gracefully, in the background; it ends ``stopped``."""
        self.get_session(session_id).runtime.stop()

    def resize(self, session_id: str, cols: int, rows: int) -> None:
        self.get_session(session_id).runtime.resize(cols, rows)

    def input(self, session_id: str, data: bytes) -> None:
        """Keystrokes for the session's terminal, written as they are and never stored."""
        self.get_session(session_id).runtime.input(data)

    async def screen(
        self, session_id: str, fmt: api.ScreenFormat, scrollback: int | None = None
    ) -> tuple[Session, View]:
        """The session's terminal screen (a snapshot when ``scrollback`` is given)."""
        session = self.get_session(session_id)
        view = await session.runtime.view(fmt, scrollback)
        return self.get_session(session_id), view  # deleted meanwhile: 404
