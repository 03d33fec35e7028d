"""The small interface every session kind implements, and what a runtime may ask of the rest.

A *kind* (``RuntimeKind``) is one module's answer to "how does this sort of session run?": it
says which new-session requests it takes, prepares one (checks it, finds its folder, looks up
what it needs), and makes a ``SessionRuntime`` for each of its sessions. A kind may also run a
service for the whole backend (the imported kind lists Claude Code's history).

A *runtime* drives one session: it starts it, takes input, signals, resizes and stops it, and
reports through its ``SessionHost`` (events, its ending, its state to keep). It never touches the
store's records or the session list itself: the session manager owns those.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from backend.bus import EventBus
from backend.config import Settings
from backend.errors import NotAConversation, NotATerminal, SessionNotRunning
from backend.host.client import HostLink
from backend.protocol.api import Agent, Foreground, ModeSet, NewSession, ScreenFormat
from backend.protocol.events import Error, EventData, now_ms
from backend.protocol.sse import StoredEvent
from backend.store import ProjectRecord, SessionRecord, Store

if TYPE_CHECKING:
    from backend.runtimes.screen import View


@dataclass(frozen=True, slots=True)
class PromptAck:
    """A prompt was taken: its event's id, and whether (and where) it waits in a queue."""

    event_id: int
    queued: bool = False
    position: int = 0


@dataclass(slots=True)
class Plan:
    """A checked request for a new session, as its kind prepared it."""

    project: ProjectRecord
    working_dir: str
    name: str
    argv: list[str]
    tty: bool
    state: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    cols: int = 120
    rows: int = 32


class SessionHost(Protocol):
    """What a runtime may do with its own session (the session manager implements it)."""

    @property
    def record(self) -> SessionRecord:
        """The session as stored: read it, never change it."""

    @property
    def gone(self) -> bool:
        """The session was deleted: nothing more is recorded for it."""

    @property
    def closing(self) -> bool:
        """The backend is stopping."""

    @property
    def keeping(self) -> bool:
        """The backend stops and leaves what the session host runs running (``--keep-sessions``
        or ``sessiondock stop --keep-sessions``)."""

    def emit(self, data: EventData, mark: tuple[str, int] | None = None) -> StoredEvent:
        """Store an event of this session (its ``sessionId`` must be this session's);
        ``mark``: the session host's stream and offset its output reaches."""

    def status(self, **extra: Any) -> None:
        """Store a ``status`` event with the session's current status and what the runtime
        adds to it (``StatusChanged`` fields). Nothing once the session is deleted."""

    def end(self, status: str, exit_code: int | None) -> None:
        """The session ended: record its status and say so (a ``status`` event). Nothing once
        the session is deleted."""

    def save_state(self) -> None:
        """Write the runtime's ``state()`` to the store (it survives a restart). Nothing once
        the session is deleted."""


class Catalog(Protocol):
    """What a kind may look up or change in the session list (the session manager)."""

    def place(self, project_id: str | None, working_dir: str | None) -> tuple[ProjectRecord, str]:
        """The project and working folder a request names."""

    def project(self, project_id: str) -> ProjectRecord: ...

    def project_for_folder(self, folder: str) -> ProjectRecord:
        """The project of a folder, made if new; the folder may no longer exist."""

    def runtime_of(self, session_id: str) -> SessionRuntime | None: ...

    def runtimes(self) -> Iterable[SessionRuntime]:
        """Every session's runtime."""

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
        """Add a session a kind found (imported history) rather than one a client asked for."""

    async def drop_found(self, session_id: str) -> None:
        """Forget a found session whose source vanished before anyone opened it."""


@dataclass(frozen=True, slots=True)
class RuntimeContext:
    """What every kind and runtime shares: settings, the store's flow control, the bus (who
    watches), the environment sessions get, the session list, and the session host (None:
    programs are the backend's own children, ``--no-session-host``)."""

    settings: Settings
    store: Store
    bus: EventBus
    environment: Callable[[], Awaitable[dict[str, str]]]
    catalog: Catalog
    host: HostLink | None = None


class SessionRuntime(ABC):
    """How one session runs. Actions it does not support raise the right domain error."""

    def __init__(self, host: SessionHost, context: RuntimeContext) -> None:
        self.host = host
        self.context = context
        self.tasks: set[asyncio.Task[Any]] = set()

    @property
    def session_id(self) -> str:
        return self.host.record.id

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self, plan: Plan) -> None:  # noqa: B027 - found sessions do not start
        """Start a new session (a launch failure ends it ``failed``, with an ``error`` event)."""

    @abstractmethod
    def restore(self) -> None:
        """A stored session, loaded at start: pick up where the last backend left it."""

    async def shutdown(self) -> None:
        """The backend is stopping: end what runs (recorded ``interrupted``) and wait."""
        await self.wait_tasks()

    async def delete(self) -> None:
        """The session was deleted (``host.gone``): end what runs, record nothing."""
        await self.shutdown()

    @property
    @abstractmethod
    def running(self) -> bool:
        """Whether it takes input and signals now."""

    # -- actions ------------------------------------------------------------------------------

    def write(self, text: str) -> PromptAck:
        raise self.not_running()

    def interrupt(self) -> None:
        """What Ctrl-C does."""
        raise self.not_running()

    def stop(self) -> None:
        """End it gracefully, in the background; it ends ``stopped``."""
        raise self.not_running()

    def kill(self, signum: int) -> None:
        """End it at once with SIGTERM or SIGKILL; it ends ``stopped``."""
        raise self.not_running()

    def resize(self, cols: int, rows: int) -> None:
        raise self.not_a_terminal()

    def input(self, data: bytes) -> None:
        """Write keystrokes to its terminal as they are (never stored)."""
        raise self.not_a_terminal()

    async def view(self, fmt: ScreenFormat, scrollback: int | None = None) -> View:
        """Its terminal's screen now, as ``fmt``; as VT with ``scrollback`` lines of history
        when that is given (a snapshot)."""
        raise self.not_a_terminal()

    def answer(
        self,
        request_id: str,
        behavior: str,
        updated_input: dict[str, Any] | None,
        message: str | None,
        remember: list[dict[str, Any]] | None,
    ) -> int:
        """Answer an open permission request of its agent; the resolution event's id."""
        raise self.not_a_conversation()

    async def set_mode(self, mode: str) -> ModeSet:
        """Switch its agent's permission mode."""
        raise self.not_a_conversation()

    async def set_model(self, model: str) -> ModeSet:
        raise self.not_a_conversation()

    def open(self) -> None:  # noqa: B027 - most sessions need nothing for it
        """A client started streaming it."""

    async def catch_up(self, enough: int | None = None) -> None:  # noqa: B027
        """Bring its stored events up to date before a history read (``enough``: events wanted)."""

    # -- what it adds to the session object ---------------------------------------------------

    def pid(self) -> int | None:
        return None

    def agent(self) -> Agent | None:
        return None

    def foreground(self) -> Foreground | None:
        return None

    def state(self) -> dict[str, Any]:
        """What to keep across restarts (``host.save_state`` writes it)."""
        return {}

    def status_extra(self) -> dict[str, Any]:
        """Fields every ``status`` event of this session carries (``StatusChanged`` names)."""
        return {}

    def claimed_ids(self) -> Iterable[str]:
        """Ids of outside records this session shows (Claude Code session ids): they are not
        imported again, and deleting the session dismisses them."""
        return ()

    # -- helpers ------------------------------------------------------------------------------

    def report(self, message: str) -> None:
        """An ``error`` event the user should see (nothing once the session is deleted)."""
        if not self.host.gone:
            self.host.emit(Error(session_id=self.session_id, timestamp=now_ms(), message=message))

    def not_a_terminal(self) -> NotATerminal:
        return NotATerminal(f"session {self.session_id!r} has no terminal")

    def not_a_conversation(self) -> NotAConversation:
        return NotAConversation(f"session {self.session_id!r} has no live Claude conversation")

    def not_running(self) -> SessionNotRunning:
        return SessionNotRunning(f"session {self.session_id!r} is {self.host.record.status}")

    def spawn(self, coroutine: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        """Run a task this runtime owns (awaited by ``wait_tasks``)."""
        task: asyncio.Task[Any] = asyncio.ensure_future(coroutine)
        task.set_name(f"{name} {self.session_id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def wait_tasks(self) -> None:
        while self.tasks:
            await asyncio.gather(*tuple(self.tasks), return_exceptions=True)


class RuntimeKind(ABC):
    """One sort of session: which requests it takes, and the runtime of each of its sessions."""

    name: ClassVar[str]  # stored with each session: which kind restores it

    def __init__(self, context: RuntimeContext) -> None:
        self.context = context

    def accepts(self, request: NewSession) -> bool:
        """Whether this kind runs a session a client asks for (found sessions: never)."""
        return False

    async def prepare(self, request: NewSession) -> Plan:
        """Check a request and make its plan (InvalidInput, ProjectNotFound…)."""
        raise NotImplementedError(f"{self.name} sessions are not made on request")

    @abstractmethod
    def runtime(self, host: SessionHost) -> SessionRuntime:
        """The runtime of one session of this kind."""

    async def start(self) -> None:  # noqa: B027 - most kinds have no service
        """The backend started (and every stored session is restored)."""

    async def refresh(self) -> None:  # noqa: B027
        """Sessions are about to be listed: bring found sessions up to date."""

    async def stop(self) -> None:  # noqa: B027
        """The backend is stopping (before the sessions shut down)."""
