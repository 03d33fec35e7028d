"""Every event a session's stream carries, declared once.

Each event type is a ``msgspec.Struct``: runtimes build them, the store encodes them (with
``msgspec.json``), the OpenAPI document describes them, and a test decodes every event the test
suite stored against its type. Optional fields default to ``UNSET`` and are then left out of the
JSON, so an event carries only what it says.

Stored events (``STORED_EVENTS``) all carry ``sessionId`` and ``timestamp`` and get an id;
control events (``connected``, ``heartbeat``, ``history-trimmed``…) are never stored and carry no
``id:`` line, so they do not move a browser's Last-Event-ID; the one exception is ``snapshot``,
whose id is the last stored event it covers.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, ClassVar, Final, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

# Session statuses.
RUNNING: Final = "running"
EXITED: Final = "exited"  # exit code 0
FAILED: Final = "failed"  # a non-zero code, a signal nobody here sent, or it could not start
STOPPED: Final = "stopped"  # a user ended it (stop, interrupt or a terminating signal)
INTERRUPTED: Final = "interrupted"  # the backend stopped or died while it ran
IMPORTED: Final = "imported"  # a Claude Code session read from its history file
Status = Literal["running", "exited", "failed", "stopped", "interrupted", "imported"]
ENDED_STATUSES: Final = frozenset({EXITED, FAILED, STOPPED, INTERRUPTED})

# What ``output`` content is: a program's streams, or a conversation's parts.
OutputType = Literal["stdout", "stderr", "assistant", "thinking", "tool-result"]
OperationType = Literal["read", "write", "edit", "delete", "bash", "other"]
# waiting: a turn waits for a person (a tool to approve, a question to answer).
AgentStateName = Literal["idle", "working", "waiting"]
# How an open permission request ended: answered, withdrawn by the CLI (an interrupt), or void
# because the process that asked is gone (it died, the session stopped, the backend restarted).
Resolution = Literal["allow", "deny", "cancelled", "expired"]

SessionId = Annotated[str, Meta(min_length=1, description="The session the event belongs to")]
Timestamp = Annotated[int, Meta(ge=0, description="Milliseconds since the epoch")]


def now_ms() -> int:
    """Milliseconds since the epoch, the unit JavaScript's ``Date.now()`` uses."""
    return int(time.time() * 1000)


class Wire(msgspec.Struct, kw_only=True, rename="camel"):
    """Base of every wire type: keyword construction, camelCase names in JSON."""


# -- parts of events --------------------------------------------------------------------------


class Totals(Wire):
    """A conversation's running sums (also ``agent.totals`` on the session)."""

    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    duration_ms: int = 0
    turns: int = 0


class Turn(Wire):
    """One turn's end, from its ``result`` line; ``interrupted`` (and no cost) when a signal
    or a stop ended it first."""

    cost_usd: float
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_creation_tokens: int
    duration_ms: int
    num_turns: int
    is_error: bool
    subtype: str
    interrupted: bool


class AgentStatus(Wire):
    """A conversation's state in a ``status`` event."""

    state: AgentStateName
    queued: Annotated[int, Meta(ge=0)]
    agent_session_id: str | None


class Operation(Wire):
    """One tool call: what it does and to which file or command (docs/api.md, Operation)."""

    tool: str
    type: OperationType
    tool_use_id: str
    path: str | UnsetType = UNSET
    command: str | UnsetType = UNSET
    diff: str | UnsetType = UNSET
    truncated: bool | UnsetType = UNSET


# -- stored events ----------------------------------------------------------------------------


class EventData(Wire):
    """Base of stored events. ``event`` is the SSE event name."""

    event: ClassVar[str]
    session_id: SessionId
    timestamp: Timestamp


class Output(EventData):
    """Text a program wrote (ANSI escapes included), or a part of a conversation."""

    event: ClassVar[str] = "output"
    type: OutputType
    content: str
    # tool-result only
    tool_use_id: str | UnsetType = UNSET
    tool: str | UnsetType = UNSET
    is_error: bool | UnsetType = UNSET
    truncated: bool | UnsetType = UNSET


class StatusChanged(EventData):
    """The session's status; when ended also ``exitCode`` (and ``signal`` if one ended it).
    A conversation's status also says what its agent does, and at a turn's end what it cost."""

    event: ClassVar[str] = "status"
    status: Status
    exit_code: int | UnsetType | None = UNSET
    signal: str | UnsetType = UNSET
    agent: AgentStatus | UnsetType = UNSET
    turn: Turn | UnsetType = UNSET
    totals: Totals | UnsetType = UNSET


class Prompt(EventData):
    """A line written to the session's input, or a prompt for its agent."""

    event: ClassVar[str] = "prompt"
    command: str
    queued: bool | UnsetType = UNSET  # a conversation's prompt waits for the running turn
    position: Annotated[int, Meta(ge=1)] | UnsetType = UNSET


class Error(EventData):
    """Something went wrong that the user should see (a launch failure, a malformed line)."""

    event: ClassVar[str] = "error"
    message: str
    line: str | UnsetType = UNSET  # a malformed line's first 200 characters


class OperationsDetected(EventData):
    """An agent's tool calls, with the assistant text around them."""

    event: ClassVar[str] = "operations-detected"
    operations: list[Operation]
    response: str


class Raw(EventData):
    """A line of the agent's output of a type SessionDock does not know, kept as it was."""

    event: ClassVar[str] = "raw"
    line: dict[str, Any]


class Resize(EventData):
    """A terminal session's size changed (``POST /resize``; the last one wins): its emulator
    reflowed and its program got SIGWINCH. Kept so that replay and export follow the size."""

    event: ClassVar[str] = "resize"
    cols: int
    rows: int


class PermissionRequest(EventData):
    """Claude Code asks before it uses a tool (``can_use_tool``), or asks a question
    (``AskUserQuestion``) or to leave plan mode (``ExitPlanMode``): open until a
    ``permission-resolved`` with the same ``requestId``."""

    event: ClassVar[str] = "permission-request"
    request_id: str
    tool: str
    input: dict[str, Any]
    tool_use_id: str | None = None
    suggestions: list[Any] = msgspec.field(default_factory=list)  # the CLI's, as it sent them
    blocked_path: str | None = None


class PermissionResolved(EventData):
    """A permission request ended: answered (``allow``, ``deny``), withdrawn by the CLI
    (``cancelled``), or void because its process is gone (``expired``)."""

    event: ClassVar[str] = "permission-resolved"
    request_id: str
    behavior: Resolution
    message: str | UnsetType = UNSET  # a deny's message


class ModeChanged(EventData):
    """The conversation's permission mode (``default``, ``acceptEdits``, ``plan``,
    ``bypassPermissions``) or model changed; each carries both as they now are."""

    event: ClassVar[str] = "mode"
    mode: str | None
    model: str | None


STORED_EVENTS: Final[dict[str, type[EventData]]] = {
    cls.event: cls
    for cls in (
        Output,
        StatusChanged,
        Prompt,
        Error,
        OperationsDetected,
        Raw,
        Resize,
        PermissionRequest,
        PermissionResolved,
        ModeChanged,
    )
}


# -- control events ---------------------------------------------------------------------------


class Connected(Wire):
    """First event of every stream: where it resumes, and how often heartbeats come."""

    event: ClassVar[str] = "connected"
    session_id: str
    client_id: str
    last_event_id: int | None
    session_last_event_id: int
    heartbeat_interval: float


class Heartbeat(Wire):
    """Sent after ``--heartbeat-interval`` seconds of silence."""

    event: ClassVar[str] = "heartbeat"
    timestamp: Timestamp


class HistoryTrimmed(Wire):
    """Events up to ``firstAvailableId - 1`` were removed by retention before this client
    could replay them."""

    event: ClassVar[str] = "history-trimmed"
    session_id: str
    requested_after: int
    first_available_id: int
    timestamp: Timestamp


class StorageError(Wire):
    """The server cannot store events now (``reason``, since ``since``): the session is paused
    and nothing new is accepted; nothing already sent is lost. Sent when it starts, and first
    thing to a client that connects meanwhile."""

    event: ClassVar[str] = "storage-error"
    reason: str
    since: Timestamp
    timestamp: Timestamp


class StorageRestored(Wire):
    """The server stores events again; the session goes on."""

    event: ClassVar[str] = "storage-restored"
    timestamp: Timestamp


class Snapshot(Wire):
    """A terminal session's current screen (``attach=screen``): reset the terminal, size it
    ``cols`` x ``rows`` and write ``vt``, which draws the scrollback, the screen, colours,
    title and cursor and sets every mode that changes what the terminal sends (with the primary
    screen behind an alternate one). Sent with ``id: lastEventId``, the last event it covers:
    the events after it follow. A client treats a snapshot at any time as "reset and draw this".
    Never stored."""

    event: ClassVar[str] = "snapshot"
    session_id: str
    cols: int
    rows: int
    vt: str
    alt_screen: bool
    last_event_id: int
    timestamp: Timestamp


class Delta(Wire):
    """A piece of the text Claude is writing, as it streams (``stream_event`` text deltas).
    Never stored and without an id: the whole message is stored as an ``output`` event of type
    ``assistant`` when it lands, and replaces the deltas of ``messageId``."""

    event: ClassVar[str] = "delta"
    session_id: str
    message_id: str
    index: int  # the content block
    text: str


CONTROL_EVENTS: Final[dict[str, type[Wire]]] = {
    cls.event: cls
    for cls in (
        Connected,
        Heartbeat,
        HistoryTrimmed,
        StorageError,
        StorageRestored,
        Snapshot,
        Delta,
    )
}
ALL_EVENTS: Final[dict[str, type[Wire]]] = {**STORED_EVENTS, **CONTROL_EVENTS}


def validate(event: str, data: str | bytes) -> Wire:
    """Decode an event's data strictly against its declared type (ValidationError if it does
    not fit, KeyError for an unknown event name)."""
    return msgspec.json.decode(data, type=ALL_EVENTS[event])
