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
from backend.claude import history
from backend.claude.conversation import WORKING as WORKING_STATE
from backend.claude.conversation import AgentState, Conversation, PromptAck, TurnSetup
from backend.claude.imports import IMPORTED, HistoryImports
from backend.claude.transcript import is_agent_id
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

KINDS = ("shell", "command", "claude")
CLAUDE = "claude"
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
    agent: AgentState | None = None  # claude sessions, live or imported
    conversation: Conversation | None = field(default=None, repr=False)
    source_offset: int = 0  # imported: how far its history file has been read
    # A user asked it to end (Stop, SIGTERM, SIGKILL), or interrupted it: an ending that
    # follows is theirs, shown as ``stopped`` rather than as a failure.
    stop_requested: bool = False
    interrupt_requested: bool = False

    @property
    def running(self) -> bool:
        if self.conversation is not None:
            return self.status == protocol.RUNNING
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
    resume: str | None = None  # claude: the session (or agent session id) to continue


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
        self.history: HistoryImports | None = None
        if settings.claude_history:
            self.history = HistoryImports(
                self,
                settings.claude_home or history.default_home(),
                poll_seconds=settings.history_poll_seconds,
                rescan_seconds=settings.history_rescan_seconds,
            )

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
                agent=AgentState.from_record(json.loads(row["agent"])) if row["agent"] else None,
                source_offset=row["source_offset"],
            )
            self.sessions[session.id] = session
            if session.status == IMPORTED:
                if self.history is not None and session.agent and session.agent.source:
                    self.history.adopt(session)
            elif session.kind == CLAUDE and session.status == protocol.RUNNING:
                self._resume_conversation(session)
            elif session.status not in protocol.ENDED_STATUSES:
                # It was running when the previous backend stopped or died.
                self._finish(session, protocol.INTERRUPTED, None)
        if self.history is not None:
            self.history.start_scan()

    async def stop(self) -> None:
        """Terminate every session (recorded as interrupted) and wait for them to end."""
        self._closing = True
        if self._login_path is not None:
            self._login_path.cancel()
            await asyncio.gather(self._login_path, return_exceptions=True)
        if self.history is not None:
            await self.history.stop()
        grace = self.settings.kill_grace_seconds
        running = [s.process for s in self.sessions.values() if s.process is not None]
        conversations = [s.conversation for s in self.sessions.values() if s.conversation]
        await asyncio.gather(
            *(p.terminate(grace) for p in running),
            *(c.stop() for c in conversations),
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
        return self._add_project(real, name), True

    def project_for_folder(self, folder: str) -> Project:
        """The project of a folder named in Claude Code's history, created if new. The folder
        may be gone: its history still belongs to it."""
        real = os.path.realpath(folder) if os.path.isdir(folder) else folder
        for project in self.projects.values():
            if project.path in (real, folder):
                return project
        return self._add_project(real, None)

    def _add_project(self, path: str, name: str | None) -> Project:
        project = Project(new_id("project"), name or Path(path).name or path, path, now_ms())
        self.projects[project.id] = project
        self.store.execute(
            "INSERT INTO projects (id, name, path, created_at) VALUES (?, ?, ?, ?)",
            (project.id, project.name, project.path, project.created_at),
        )
        return project

    async def delete_project(self, project_id: str) -> None:
        self.get_project(project_id)
        # Gone at once, before any await: a concurrent delete gets 404 and no new session can
        # join the project meanwhile.
        del self.projects[project_id]
        sessions = self.list_sessions(project_id)
        for session in sessions:
            if self.history is not None:
                self.history.forget(session)
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
            "pid": self._pid(session),
            "agent": session.agent.to_json() if session.agent else None,
            "foreground": self._foreground(session),
        }

    @staticmethod
    def _foreground(session: Session) -> dict[str, Any] | None:
        job = session.process.foreground() if session.process is not None else None
        return {"pid": job.pid, "name": job.name} if job is not None else None

    @staticmethod
    def _pid(session: Session) -> int | None:
        if session.process is not None:
            return session.process.pid
        return session.conversation.pid if session.conversation is not None else None

    async def create_session(self, request: SessionRequest) -> Session:
        if self._closing:
            raise ShuttingDown("the server is shutting down")
        if request.kind == CLAUDE:
            return await self._create_agent_session(request)
        if request.resume is not None:
            raise InvalidInput("resume is for claude sessions")
        argv = self._argv(request)  # refuse a bad request before it creates anything
        env = await self._child_env(request.tty)  # may wait for the login shell's PATH
        if self._closing:
            raise ShuttingDown("the server is shutting down")
        project, working_dir = self._place(request)
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
        self._insert(session)
        await self._launch(session, env, request.cols, request.rows)
        return session

    def _place(self, request: SessionRequest) -> tuple[Project, str]:
        """The project and working folder a request names."""
        if request.project_id is not None:
            project = self.get_project(request.project_id)
            working_dir = (
                resolve_directory(request.working_dir) if request.working_dir else project.path
            )
            return project, working_dir
        if request.working_dir is not None:
            project, _ = self.create_project(request.working_dir)
            return project, project.path
        raise InvalidInput("give projectId or workingDir")

    def _insert(self, session: Session, ended_at: int | None = None) -> None:
        self.sessions[session.id] = session
        agent = session.agent
        self.store.execute(
            "INSERT INTO sessions (id, project_id, name, kind, argv, working_dir, tty, status, "
            "created_at, ended_at, agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                ended_at,
                dumps(agent.to_record()) if agent else None,
            ),
        )

    @staticmethod
    def _argv(request: SessionRequest) -> list[str]:
        if request.kind == "shell":
            return list(request.argv) or [default_shell()]
        if request.kind == "command":
            if not request.argv:
                raise InvalidInput("a command session needs argv")
            return list(request.argv)
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}")

    # -- agent sessions -----------------------------------------------------------------------

    async def _create_agent_session(self, request: SessionRequest) -> Session:
        agent = AgentState()
        name = request.name or "Claude"
        if request.resume is not None:
            resumed = self._resumed(request.resume)
            if isinstance(resumed, Session):
                assert resumed.agent is not None
                assert resumed.agent.agent_session_id is not None
                agent.remember(resumed.agent.agent_session_id)
                name = request.name or f"{resumed.name[:70]} (continued)"
                project, working_dir = self._continue_in(resumed, request.project_id)
            else:
                agent.remember(resumed)
                project, working_dir = self._place(request)
        else:
            project, working_dir = self._place(request)
        session = Session(
            id=new_id("session"),
            project_id=project.id,
            name=name,
            kind=CLAUDE,
            argv=list(request.argv),  # added to every turn's command line
            working_dir=working_dir,
            tty=False,
            status=protocol.RUNNING,
            created_at=now_ms(),
            agent=agent,
        )
        self._insert(session)
        binary = self._claude_binary(await self._child_env(tty=False))
        if binary is None:
            self.append_event(session, protocol.ERROR, {"message": self._missing_claude()})
            self._finish(session, protocol.FAILED, None)
            return session
        self._resume_conversation(session)
        return session

    def _continue_in(self, resumed: Session, project_id: str | None) -> tuple[Project, str]:
        """Where a continuation runs: Claude Code finds a conversation by the folder it ran in."""
        project = self.get_project(project_id or resumed.project_id)
        if not os.path.isdir(resumed.working_dir):
            raise InvalidInput(
                f"the conversation ran in {resumed.working_dir!r}, which no longer exists: "
                "Claude Code can only continue it there"
            )
        return project, resumed.working_dir

    def _resumed(self, resume: str) -> Session | str:
        """The session (or bare agent session id) a new claude session continues."""
        target = self.sessions.get(resume)
        if target is not None:
            if target.agent is None or not is_agent_id(target.agent.agent_session_id):
                raise InvalidInput(f"session {resume!r} has no Claude conversation to continue")
            return target
        if not is_agent_id(resume):  # it becomes the argument of --resume
            raise InvalidInput("resume must be a session id or a Claude Code session id")
        return resume

    def _claude_binary(self, env: dict[str, str]) -> str | None:
        configured = self.settings.claude_path
        if configured and os.sep in configured:
            # Absolute (the CLI makes it so): a turn runs in the session's folder, not ours.
            path = os.path.abspath(os.path.expanduser(configured))
            return path if os.access(path, os.X_OK) and os.path.isfile(path) else None
        return shutil.which(configured or "claude", path=env.get("PATH"))

    def _missing_claude(self) -> str:
        if self.settings.claude_path:
            return (
                f"Claude Code was not found at {self.settings.claude_path!r} (--claude-path): "
                "point it at the claude executable"
            )
        return (
            "Claude Code (claude) was not found on PATH: install it "
            "(npm install -g @anthropic-ai/claude-code) or start SessionDock with --claude-path"
        )

    def _resume_conversation(self, session: Session) -> None:
        """Give a running claude session its conversation (at creation, or after a restart)."""
        agent = session.agent or AgentState()
        session.agent = agent

        async def setup() -> TurnSetup:
            env = await self._child_env(tty=False)
            binary = self._claude_binary(env)
            if binary is None:
                raise FileNotFoundError(self._missing_claude())
            if self.settings.claude_home is not None:
                env["CLAUDE_CONFIG_DIR"] = str(self.settings.claude_home)
            return TurnSetup(
                binary, tuple(session.argv), session.working_dir, env,
                self.settings.coalesce_seconds,
            )  # fmt: skip

        session.conversation = Conversation(
            setup,
            agent,
            lambda event_type, payload: self.append_event(session, event_type, payload),
            lambda: self._save_agent(session),
            congested=lambda: self.store.congested,
            call_when_drained=self.store.call_when_drained,
            grace=self.settings.kill_grace_seconds,
        )
        if agent.state == WORKING_STATE:
            # The backend died while a turn ran: say so, and take prompts again.
            session.conversation.recover()
        else:
            self._append_status(session)

    def append_event(
        self, session: Session, event_type: str, payload: dict[str, Any]
    ) -> protocol.StoredEvent:
        """Store an event of ``session`` (with its id and a timestamp)."""
        payload = {"sessionId": session.id, **payload}
        payload.setdefault("timestamp", now_ms())
        return self.store.append(session.id, event_type, payload)

    def _save_agent(self, session: Session) -> None:
        if session.id in self.sessions and session.agent is not None:
            self.store.execute(
                "UPDATE sessions SET agent = ? WHERE id = ?",
                (dumps(session.agent.to_record()), session.id),
            )

    def add_imported_session(
        self,
        project: Project,
        title: str,
        cwd: str,
        agent: AgentState,
        started_at: int,
        modified_at: int,
    ) -> Session:
        session = Session(
            id=new_id("session"),
            project_id=project.id,
            name=title,
            kind=CLAUDE,
            argv=[],
            working_dir=cwd,
            tty=False,
            status=IMPORTED,
            created_at=started_at,
            ended_at=modified_at,
            agent=agent,
        )
        self._insert(session, ended_at=modified_at)
        return session

    def forget_imported(self, session: Session) -> None:
        self._forget(session)

    async def refresh_history(self) -> None:
        """Bring the list of imported sessions up to date (cheap: at most every 2 s)."""
        if self.history is not None:
            await self.history.refresh()

    def open_session(self, session_id: str) -> None:
        """A client started streaming it: an imported session reads its file and follows it."""
        session = self.get_session(session_id)
        if session.status == IMPORTED and self.history is not None:
            self.history.open(session)

    async def catch_up(self, session_id: str, enough: int | None = None) -> None:
        """An imported session's history is read up to the file's current end (or until it
        has ``enough`` events)."""
        session = self.get_session(session_id)
        if session.status == IMPORTED and self.history is not None:
            try:
                await self.history.catch_up(session, enough)
            except OSError as exc:
                log.info("cannot read the history of %s: %s", session_id, exc)
            self.get_session(session_id)  # deleted meanwhile: 404

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
        elif session.stop_requested or (session.interrupt_requested and code == -signal.SIGINT):
            self._finish(session, protocol.STOPPED, code)
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
        if session.agent is not None:
            payload["agent"] = {
                "state": session.agent.state,
                "queued": session.agent.queued,
                "agentSessionId": session.agent.agent_session_id,
            }
        if session.status in protocol.ENDED_STATUSES:
            payload["exitCode"] = session.exit_code
            if session.exit_code is not None and session.exit_code < 0:
                payload["signal"] = signal.Signals(-session.exit_code).name
        self.store.append(session.id, protocol.STATUS, payload)

    async def delete_session(self, session_id: str) -> None:
        session = self.get_session(session_id)
        if self.history is not None:
            self.history.forget(session)  # its history file is not listed again
        self._forget(session)
        await self._terminate(session)

    def _forget(self, session: Session) -> None:
        """Remove a session and its history at once; its process is ended separately."""
        if session.conversation is not None:
            session.conversation.detach()  # what its turn still says goes nowhere
        self.sessions.pop(session.id, None)
        self.store.uncapped.discard(session.id)
        self.bus.close_session(session.id, SESSION_DELETED)
        self.store.forget_session(session.id)

    async def _terminate(self, session: Session) -> None:
        if session.process is not None:
            await session.process.terminate(self.settings.kill_grace_seconds)
        if session.conversation is not None:
            await session.conversation.close(signal.SIGKILL)

    def send_prompt(self, session_id: str, command: str) -> PromptAck:
        """Write a prompt line to the session's input (a claude session runs or queues it);
        returns the id of its ``prompt`` event."""
        session = self.get_session(session_id)
        if session.status == IMPORTED:
            raise SessionNotRunning(
                f"session {session_id!r} is imported history: continue it with "
                'POST /api/sessions {"kind": "claude", "resume": "' + session_id + '"}'
            )
        if session.conversation is not None and session.running:
            if self._closing:
                raise ShuttingDown("the server is shutting down")
            if not command.strip():
                raise InvalidInput("a prompt for Claude cannot be empty")
            return session.conversation.submit(command)
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
        return PromptAck(event.seq, False, 0)

    def send_signal(self, session_id: str, name: str) -> None:
        if name not in SIGNALS:
            raise InvalidInput(f"signal must be one of {', '.join(SIGNALS)}")
        if name == "SIGINT":
            self.interrupt(session_id)
            return
        session = self.get_session(session_id)
        signum = signal.SIGTERM if name == "SIGTERM" else signal.SIGKILL
        if session.conversation is not None and session.running:
            self._close_conversation_soon(session, session.conversation, signum)
            return
        process = self._live_process(session)
        session.stop_requested = True
        if signum == signal.SIGTERM:
            process.signal_all(signal.SIGTERM, signal.SIGHUP)
        else:
            process.signal_all(signal.SIGKILL)

    def interrupt(self, session_id: str) -> None:
        """What Ctrl-C does: SIGINT to the terminal's foreground job; for a conversation, the
        running turn (its queue goes on)."""
        session = self.get_session(session_id)
        if session.conversation is not None and session.running:
            session.conversation.interrupt()
            return
        process = self._live_process(session)
        session.interrupt_requested = True
        process.interrupt()

    def stop_session(self, session_id: str) -> None:
        """End a session gracefully, in the background: SIGTERM and SIGHUP to its processes and
        SIGKILL after the grace period; a conversation's running turn is interrupted, then
        the conversation closes. It ends ``stopped``."""
        session = self.get_session(session_id)
        grace = self.settings.stop_grace_seconds
        if session.conversation is not None and session.running:
            conversation = session.conversation
            self._close_conversation_soon(session, conversation, None)
            return
        process = self._live_process(session)
        session.stop_requested = True
        self._keep(asyncio.create_task(process.terminate(grace), name=f"stop {session.id}"))

    def _live_process(self, session: Session) -> SessionProcess:
        if session.status == IMPORTED:
            raise SessionNotRunning(f"session {session.id!r} is imported history")
        if not session.running or session.process is None:
            raise SessionNotRunning(f"session {session.id!r} is {session.status}")
        return session.process

    def _keep(self, task: asyncio.Task[None]) -> None:
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    def _close_conversation_soon(
        self, session: Session, conversation: Conversation, signum: int | None
    ) -> None:
        """Closed at once (no prompt is taken from now on); the turn ends in the background.
        ``signum`` None: a graceful stop (the turn is interrupted first)."""
        session.status = protocol.STOPPED
        self._keep(asyncio.create_task(self._close_conversation(session, conversation, signum)))

    async def _close_conversation(
        self, session: Session, conversation: Conversation, signum: int | None
    ) -> None:
        if signum is None:
            killed = await conversation.finish(self.settings.stop_grace_seconds)
        else:
            killed = await conversation.close(signum)
        session.conversation = None
        if session.id in self.sessions:
            self._finish(session, protocol.STOPPED, -signum if killed and signum else None)

    def resize(self, session_id: str, cols: int, rows: int) -> None:
        session = self.get_session(session_id)
        if session.kind == CLAUDE:
            raise NotATerminal(f"session {session_id!r} is a Claude session: it has no terminal")
        if not session.running or session.process is None:
            raise SessionNotRunning(f"session {session_id!r} is {session.status}")
        if not session.process.is_tty:
            raise NotATerminal(f"session {session_id!r} runs without a terminal")
        session.process.resize(cols, rows)
