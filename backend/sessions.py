"""Projects and sessions: the domain the REST API drives. Owns every session's process.

What it knows lives in memory (loaded from the store at start) and every change is written
through the store, so reads never wait for SQLite and a restart finds the same state.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backend import protocol
from backend.bus import SESSION_DELETED, EventBus
from backend.config import Settings
from backend.environment import bundle_dir, read_login_path, session_environment
from backend.errors import (
    InvalidInput,
    NotATerminal,
    ProjectNotFound,
    SessionNotFound,
    SessionNotRunning,
    ShuttingDown,
)
from backend.process import LaunchSpec, SessionProcess
from backend.protocol import dumps, now_ms
from backend.store import Store

log = logging.getLogger(__name__)

KINDS = ("shell", "command")
SIGNALS = ("SIGINT", "SIGTERM", "SIGKILL")


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(6)}"


@dataclass(slots=True)
class Project:
    id: str
    name: str
    path: str
    created_at: int

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "path": self.path, "createdAt": self.created_at}


@dataclass(slots=True)
class Session:
    id: str
    project_id: str
    name: str
    kind: str
    argv: list[str]
    working_dir: str
    tty: bool
    status: str
    created_at: int
    exit_code: int | None = None
    ended_at: int | None = None
    process: SessionProcess | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.status == protocol.RUNNING and self.process is not None


@dataclass(frozen=True, slots=True)
class SessionRequest:
    """A validated request for a new session (the web layer builds it from JSON)."""

    project_id: str | None = None
    working_dir: str | None = None
    kind: str = "shell"
    argv: tuple[str, ...] = ()
    name: str | None = None
    tty: bool = True
    cols: int = 120
    rows: int = 32


def default_shell() -> str:
    shell = os.environ.get("SHELL")
    if shell and os.access(shell, os.X_OK):
        return shell
    return shutil.which("bash") or "/bin/sh"


def resolve_directory(path: str) -> str:
    """An existing directory's absolute real path, or InvalidInput."""
    expanded = Path(path).expanduser()
    if not expanded.is_absolute():
        raise InvalidInput(f"path must be absolute: {path!r}")
    if not expanded.is_dir():
        raise InvalidInput(f"not an existing directory: {path!r}")
    return str(expanded.resolve())


class SessionManager:
    """Creates, drives and forgets projects and sessions; terminates every session at the end."""

    def __init__(self, settings: Settings, store: Store, bus: EventBus) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.projects: dict[str, Project] = {}
        self.sessions: dict[str, Session] = {}
        self._watchers: set[asyncio.Task[None]] = set()
        self._closing = False
        self._login_path: asyncio.Task[str | None] | None = None

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self.settings.login_path:
            # Asked once, in the background: a slow shell start-up must not delay the server.
            env = session_environment(os.environ, bundle=bundle_dir(), login_path=None)
            self._login_path = asyncio.create_task(read_login_path(default_shell(), env))
        projects, sessions = await self.store.open()
        for row in projects:
            self.projects[row["id"]] = Project(
                row["id"], row["name"], row["path"], row["created_at"]
            )
        for row in sessions:
            session = Session(
                id=row["id"],
                project_id=row["project_id"],
                name=row["name"],
                kind=row["kind"],
                argv=json.loads(row["argv"]),
                working_dir=row["working_dir"],
                tty=bool(row["tty"]),
                status=row["status"],
                created_at=row["created_at"],
                exit_code=row["exit_code"],
                ended_at=row["ended_at"],
            )
            self.sessions[session.id] = session
            if session.status not in protocol.ENDED_STATUSES:
                # It was running when the previous backend stopped or died.
                self._finish(session, protocol.INTERRUPTED, None)

    async def stop(self) -> None:
        """Terminate every session (recorded as interrupted) and wait for them to end."""
        self._closing = True
        if self._login_path is not None:
            self._login_path.cancel()
            await asyncio.gather(self._login_path, return_exceptions=True)
        running = [s.process for s in self.sessions.values() if s.process is not None]
        await asyncio.gather(
            *(p.terminate(self.settings.kill_grace_seconds) for p in running),
            return_exceptions=True,
        )
        while self._watchers:
            await asyncio.gather(*tuple(self._watchers), return_exceptions=True)

    # -- projects -----------------------------------------------------------------------------

    def get_project(self, project_id: str) -> Project:
        try:
            return self.projects[project_id]
        except KeyError:
            raise ProjectNotFound(f"no project {project_id!r}") from None

    def create_project(self, path: str, name: str | None = None) -> tuple[Project, bool]:
        """The project of a folder, created if new; the flag says whether it was."""
        real = resolve_directory(path)
        for project in self.projects.values():
            if project.path == real:
                return project, False
        project = Project(new_id("project"), name or Path(real).name or real, real, now_ms())
        self.projects[project.id] = project
        self.store.execute(
            "INSERT INTO projects (id, name, path, created_at) VALUES (?, ?, ?, ?)",
            (project.id, project.name, project.path, project.created_at),
        )
        return project, True

    async def delete_project(self, project_id: str) -> None:
        self.get_project(project_id)
        # Gone at once, before any await: a concurrent delete gets 404 and no new session can
        # join the project meanwhile.
        del self.projects[project_id]
        sessions = self.list_sessions(project_id)
        for session in sessions:
            self._forget(session)
        self.store.execute("DELETE FROM projects WHERE id = ?", (project_id,))
        await asyncio.gather(*(self._terminate(s) for s in sessions))

    # -- sessions -----------------------------------------------------------------------------

    def list_sessions(self, project_id: str | None = None) -> list[Session]:
        return [s for s in self.sessions.values() if project_id in (None, s.project_id)]

    def get_session(self, session_id: str) -> Session:
        try:
            return self.sessions[session_id]
        except KeyError:
            raise SessionNotFound(f"no session {session_id!r}") from None

    def session_json(self, session: Session) -> dict[str, Any]:
        return {
            "id": session.id,
            "projectId": session.project_id,
            "name": session.name,
            "kind": session.kind,
            "argv": session.argv,
            "workingDir": session.working_dir,
            "tty": session.tty,
            "status": session.status,
            "exitCode": session.exit_code,
            "createdAt": session.created_at,
            "endedAt": session.ended_at,
            "lastEventId": self.store.last_seq(session.id),
            "pid": session.process.pid if session.process else None,
        }

    async def create_session(self, request: SessionRequest) -> Session:
        if self._closing:
            raise ShuttingDown("the server is shutting down")
        argv = self._argv(request)  # refuse a bad request before it creates anything
        env = await self._child_env(request.tty)  # may wait for the login shell's PATH
        if self._closing:
            raise ShuttingDown("the server is shutting down")
        if request.project_id is not None:
            project = self.get_project(request.project_id)
            working_dir = (
                resolve_directory(request.working_dir) if request.working_dir else project.path
            )
        elif request.working_dir is not None:
            project, _ = self.create_project(request.working_dir)
            working_dir = project.path
        else:
            raise InvalidInput("give projectId or workingDir")
        session = Session(
            id=new_id("session"),
            project_id=project.id,
            name=request.name or " ".join(argv)[:80],
            kind=request.kind,
            argv=argv,
            working_dir=working_dir,
            tty=request.tty,
            status=protocol.RUNNING,
            created_at=now_ms(),
        )
        self.sessions[session.id] = session
        self.store.execute(
            "INSERT INTO sessions (id, project_id, name, kind, argv, working_dir, tty, status, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                session.id,
                session.project_id,
                session.name,
                session.kind,
                dumps(session.argv),
                session.working_dir,
                int(session.tty),
                session.status,
                session.created_at,
            ),
        )
        await self._launch(session, env, request.cols, request.rows)
        return session

    @staticmethod
    def _argv(request: SessionRequest) -> list[str]:
        if request.kind == "shell":
            return list(request.argv) or [default_shell()]
        if request.kind == "command":
            if not request.argv:
                raise InvalidInput("a command session needs argv")
            return list(request.argv)
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}")

    async def _child_env(self, tty: bool) -> dict[str, str]:
        login_path = None
        if self._login_path is not None:
            with contextlib.suppress(asyncio.CancelledError):
                login_path = await asyncio.shield(self._login_path)
        env = session_environment(os.environ, bundle=bundle_dir(), login_path=login_path)
        if tty:
            env["TERM"] = "xterm-256color"
            env["COLORTERM"] = "truecolor"
        return env

    async def _launch(self, session: Session, env: dict[str, str], cols: int, rows: int) -> None:
        spec = LaunchSpec(tuple(session.argv), session.working_dir, env, session.tty, cols, rows)
        process = SessionProcess(
            spec,
            lambda stream, text: self._on_output(session, stream, text),
            self.settings.coalesce_seconds,
        )
        try:
            await process.start()
        except OSError as exc:
            if self.sessions.get(session.id) is session:
                message = f"could not start {session.argv[0]!r}: {exc.strerror or exc}"
                self.store.append(
                    session.id, protocol.ERROR, {"sessionId": session.id, "message": message}
                )
                self._finish(session, protocol.FAILED, None)
            return
        if self._closing or self.sessions.get(session.id) is not session:
            # Deleted, or the server began to stop, while it was starting: nobody else will
            # end it now.
            await process.terminate(self.settings.kill_grace_seconds)
            await process.wait()
            if self.sessions.get(session.id) is session:
                self._finish(session, protocol.INTERRUPTED, None)
            return
        session.process = process
        self._append_status(session)
        task = asyncio.create_task(self._watch(session, process), name=f"watch {session.id}")
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    async def _watch(self, session: Session, process: SessionProcess) -> None:
        code = await process.wait()
        session.process = None
        if session.id not in self.sessions:  # deleted while it ran
            return
        if self._closing:
            self._finish(session, protocol.INTERRUPTED, None)
        else:
            self._finish(session, protocol.EXITED if code == 0 else protocol.FAILED, code)

    def _on_output(self, session: Session, stream: str, text: str) -> None:
        if session.id not in self.sessions:
            return
        self.store.append(
            session.id,
            protocol.OUTPUT,
            {"sessionId": session.id, "type": stream, "content": text, "timestamp": now_ms()},
        )
        process = session.process
        if process is not None and self.store.congested:
            # The store is behind: let the process wait rather than queue without bound.
            process.pause_reading()
            self.store.call_when_drained(process.resume_reading)

    def _finish(self, session: Session, status: str, exit_code: int | None) -> None:
        session.status = status
        session.exit_code = exit_code
        session.ended_at = now_ms()
        self.store.execute(
            "UPDATE sessions SET status = ?, exit_code = ?, ended_at = ? WHERE id = ?",
            (status, exit_code, session.ended_at, session.id),
        )
        self._append_status(session)

    def _append_status(self, session: Session) -> None:
        payload: dict[str, Any] = {
            "sessionId": session.id,
            "status": session.status,
            "timestamp": now_ms(),
        }
        if session.status in protocol.ENDED_STATUSES:
            payload["exitCode"] = session.exit_code
            if session.exit_code is not None and session.exit_code < 0:
                payload["signal"] = signal.Signals(-session.exit_code).name
        self.store.append(session.id, protocol.STATUS, payload)

    async def delete_session(self, session_id: str) -> None:
        session = self.get_session(session_id)
        self._forget(session)
        await self._terminate(session)

    def _forget(self, session: Session) -> None:
        """Remove a session and its history at once; its process is ended separately."""
        self.sessions.pop(session.id, None)
        self.bus.close_session(session.id, SESSION_DELETED)
        self.store.forget_session(session.id)

    async def _terminate(self, session: Session) -> None:
        if session.process is not None:
            await session.process.terminate(self.settings.kill_grace_seconds)

    def send_prompt(self, session_id: str, command: str) -> int:
        """Write a prompt line to the session's input; returns the id of its ``prompt`` event."""
        session = self.get_session(session_id)
        if not session.running or session.process is None:
            raise SessionNotRunning(f"session {session_id!r} is {session.status}")
        try:
            session.process.write(command.encode() + b"\n")
        except BrokenPipeError as exc:
            raise SessionNotRunning(f"session {session_id!r} no longer reads input") from exc
        event = self.store.append(
            session.id,
            protocol.PROMPT,
            {"sessionId": session.id, "command": command, "timestamp": now_ms()},
        )
        return event.seq

    def send_signal(self, session_id: str, name: str) -> None:
        session = self.get_session(session_id)
        if name not in SIGNALS:
            raise InvalidInput(f"signal must be one of {', '.join(SIGNALS)}")
        if not session.running or session.process is None:
            raise SessionNotRunning(f"session {session_id!r} is {session.status}")
        if name == "SIGINT":
            session.process.interrupt()
        elif name == "SIGTERM":
            session.process.signal_all(signal.SIGTERM, signal.SIGHUP)
        else:
            session.process.signal_all(signal.SIGKILL)

    def resize(self, session_id: str, cols: int, rows: int) -> None:
        session = self.get_session(session_id)
        if not session.running or session.process is None:
            raise SessionNotRunning(f"session {session_id!r} is {session.status}")
        if not session.process.is_tty:
            raise NotATerminal(f"session {session_id!r} runs without a terminal")
        session.process.resize(cols, rows)
