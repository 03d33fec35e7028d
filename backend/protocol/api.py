"""The REST API's bodies, declared once: the web layer decodes requests into them (validation),
encodes responses from them, and generates ``/api/openapi.json`` from them.

A rule that spans fields (a command needs ``argv``) is checked in ``__post_init__`` (msgspec
reports a ValueError there as a validation error) and said again, for the document, in the
type's ``extra_json_schema``, next to it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from backend.protocol.events import AgentStateName, Status, Timestamp, Totals, Wire

MAX_PROMPT: Final = 1024 * 1024  # characters of one prompt (the body is at most 1 MiB anyway)
MAX_HISTORY_PAGE: Final = 10_000
MAX_SEARCH_PAGE: Final = 200
MAX_SCROLLBACK: Final = 1_000_000  # lines of history one snapshot may carry
TERMINAL_SIZE = Meta(ge=2, le=1000)

_NO_NUL = "[^\\u0000]*"
# An absolute path, or one under a home folder ("~", "~/src", "~alice/src").
_FOLDER = f"^(?:/|~){_NO_NUL}$"
# The most one argument may hold (Linux's MAX_ARG_STRLEN is 128 KiB).
MAX_ARGUMENT = 128 * 1024
# What ``resume`` may name: a session of ours, or a Claude Code session id (a UUID; it becomes
# an argument of claude, so nothing that could pass for an option gets through).
AGENT_ID: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_SESSION_ID = "session-[0-9A-Za-z_-]{1,80}"
_RESUME = f"^(?:{_SESSION_ID}|{AGENT_ID.pattern})$"

# A search's words: three characters in a row that are not spaces, controls or quotes
# (backend/text/query.py says why; its SEARCHABLE is the same pattern).
SEARCHABLE_PATTERN: Final = r'[^\x00-\x20\x7f-\x9f"]{3}'

# What a value that misses a pattern above is told, instead of the pattern itself.
PATTERN_MEANINGS: Final = {
    SEARCHABLE_PATTERN: "nothing to search for: give a word or phrase with three characters "
    "in a row",
    f"^{_NO_NUL}$": "must not contain NUL characters",
    _FOLDER: "must be an absolute path (or one under ~) without NUL characters",
    _RESUME: "must be a session id or a Claude Code session id",
}


def text(max_length: int, *, empty: bool = False, **extra: Any) -> Meta:
    """A string as the API takes it: no NUL, bounded, usually not empty."""
    return Meta(
        min_length=0 if empty else 1, max_length=max_length, pattern=f"^{_NO_NUL}$", **extra
    )


Name = Annotated[str, text(200)]
Folder = Annotated[
    str, Meta(min_length=1, max_length=4096, pattern=_FOLDER, description="An existing folder")
]
Kind = Literal["shell", "command", "claude"]


# -- requests ---------------------------------------------------------------------------------


class NewProject(Wire):
    """``POST /api/projects``: the project of a folder (the existing one if it has one)."""

    path: Folder
    name: Name | None = None


class NewSession(Wire):
    """``POST /api/sessions``. Give ``projectId``, or ``workingDir`` alone (its project is found
    or made); a claude session may give ``resume`` alone."""

    project_id: Annotated[str, text(100)] | None = None
    working_dir: Folder | None = None
    kind: Kind | None = None  # null: shell
    argv: list[Annotated[str, text(MAX_ARGUMENT)]] | None = None
    name: Name | None = None
    tty: bool = True
    cols: Annotated[int, TERMINAL_SIZE] = 120
    rows: Annotated[int, TERMINAL_SIZE] = 32
    resume: (
        Annotated[
            str,
            Meta(
                pattern=_RESUME,
                description="claude: a session id or a Claude Code session id to continue",
            ),
        ]
        | None
    ) = None

    def __post_init__(self) -> None:
        if self.kind is None:
            self.kind = "shell"
        if self.kind == "command" and not self.argv:
            raise ValueError("a command session needs argv")
        if self.resume is not None and self.kind != "claude":
            raise ValueError("resume is for claude sessions")
        # A session of ours says where it ran; a bare Claude Code id does not.
        placed = self.project_id is not None or self.working_dir is not None
        if not placed and not (self.resume and self.resume.startswith("session-")):
            raise ValueError("give projectId or workingDir")


NEW_SESSION_RULES: Final = {
    "anyOf": [
        *(
            {"required": [key], "properties": {key: {"type": "string"}}}
            for key in ("projectId", "workingDir")
        ),
        {
            "required": ["resume"],
            "properties": {"resume": {"type": "string", "pattern": "^session-"}},
        },
    ],
    "allOf": [
        {
            "if": {"required": ["kind"], "properties": {"kind": {"const": "command"}}},
            "then": {
                "required": ["argv"],
                "properties": {"argv": {"type": "array", "minItems": 1}},
            },
        },
        {
            "if": {"not": {"required": ["kind"], "properties": {"kind": {"const": "claude"}}}},
            "then": {"properties": {"resume": {"type": "null"}}},
        },
    ],
}
NewSessionBody = Annotated[NewSession, Meta(extra_json_schema=NEW_SESSION_RULES)]


class PromptBody(Wire):
    """``POST /api/session/{id}/prompt``: a line for the session's input, or a prompt."""

    command: Annotated[str, text(MAX_PROMPT, empty=True)]


class PermissionAnswer(Wire):
    """``POST /api/session/{id}/permission``: the answer to an open permission request.
    ``updatedInput``: the input to run the tool with (the request's when left out; an
    AskUserQuestion's answers go here); ``message``: why, for a deny; ``remember``: suggestions
    of the request to keep ("always allow ...")."""

    request_id: Annotated[str, text(200)]
    behavior: Literal["allow", "deny"]
    updated_input: dict[str, Any] | UnsetType = UNSET
    message: Annotated[str, text(10_000, empty=True)] | UnsetType = UNSET
    remember: list[dict[str, Any]] | UnsetType = UNSET


class PermissionAnswered(Wire):
    request_id: str
    behavior: Literal["allow", "deny"]
    event_id: int  # the permission-resolved event's


class ModeBody(Wire):
    """``POST /api/session/{id}/mode``."""

    mode: PermissionMode


class ModelBody(Wire):
    """``POST /api/session/{id}/model``: a model name or alias Claude Code knows (it becomes
    an argument of claude: nothing that could pass for an option)."""

    model: Annotated[
        str, Meta(min_length=1, max_length=200, pattern="^[A-Za-z0-9][A-Za-z0-9._:\\[\\]-]*$")
    ]


class ModeSet(Wire):
    mode: str | None
    model: str | None


class SignalBody(Wire):
    signal: Literal["SIGINT", "SIGTERM", "SIGKILL"]


class ResizeBody(Wire):
    cols: Annotated[int, TERMINAL_SIZE]
    rows: Annotated[int, TERMINAL_SIZE]


MAX_INPUT_BYTES: Final = 64 * 1024


class InputBody(Wire):
    """``POST /api/session/{id}/input``: keystrokes or a paste, written to the terminal as they
    are (control characters included, no newline added); at most 64 KiB as UTF-8."""

    data: Annotated[str, Meta(min_length=1, max_length=MAX_INPUT_BYTES)]

    def __post_init__(self) -> None:
        # The body's JSON decoder already refused lone surrogates: this encodes.
        if len(self.data) * 4 > MAX_INPUT_BYTES and len(self.data.encode()) > MAX_INPUT_BYTES:
            raise ValueError(f"data is over {MAX_INPUT_BYTES // 1024} KiB as UTF-8")


ScreenFormat = Literal["text", "vt", "html"]


class ScreenQuery(Wire):
    """``GET /api/session/{id}/screen``'s query: plain text rows, VT bytes or HTML; with
    ``vt``, ``scrollback`` lines of history above the screen too (a snapshot, as
    ``attach=screen`` sends: a client fetches a deep one behind a quick first frame). The other
    formats show the screen only, whatever ``scrollback`` says."""

    format: ScreenFormat = "text"
    scrollback: Annotated[int, Meta(ge=0, le=MAX_SCROLLBACK)] | None = None


class HistoryQuery(Wire):
    """``GET /api/session/{id}/history``'s query: events after ``after``, at most ``limit``."""

    after: Annotated[int, Meta(ge=0, le=2**62)] = 0
    limit: Annotated[int, Meta(ge=1, le=MAX_HISTORY_PAGE)] = 1000


class SearchQuery(Wire):
    """``GET /api/search``'s query: words and "quoted phrases" (all must be found), newest
    hits first, ``limit`` a page; ``cursor`` is a page's ``nextCursor``."""

    q: Annotated[str, Meta(max_length=1000, pattern=SEARCHABLE_PATTERN)]
    project_id: Annotated[str, text(100)] | None = None
    session_id: Annotated[str, text(100)] | None = None
    kind: Kind | None = None
    limit: Annotated[int, Meta(ge=1, le=MAX_SEARCH_PAGE)] = 50
    cursor: Annotated[str, Meta(pattern="^[0-9]{1,18}$")] | None = None


ExportFormat = Literal["cast", "md", "txt", "jsonl"]


class ExportQuery(Wire):
    """``GET /api/session/{id}/export``'s query."""

    format: ExportFormat = "jsonl"


class SessionsQuery(Wire):
    """``GET /api/sessions``'s query: one project's sessions only."""

    project_id: str | UnsetType = UNSET


# -- responses --------------------------------------------------------------------------------


class SearchHit(Wire):
    """Where a search was found: a session's event, the line it is in (``snippet``, cut to
    about 200 characters) and where in it each word or phrase is (``[start, end)``)."""

    session_id: str
    project_id: str
    session_name: str
    event_id: int
    timestamp: Timestamp
    snippet: str
    highlights: list[tuple[int, int]]


class SearchHits(Wire):
    hits: list[SearchHit]
    next_cursor: str | None  # null: no more


class Project(Wire):
    """A folder with its sessions. ``path`` is the folder's real absolute path."""

    id: str
    name: str
    path: str
    created_at: int


PermissionMode = Literal["default", "acceptEdits", "plan", "bypassPermissions"]


class PendingPermission(Wire):
    """An open permission request (its ``permission-request`` event's fields)."""

    request_id: str
    tool: str
    input: dict[str, Any]
    tool_use_id: str | None
    suggestions: list[Any]
    blocked_path: str | None
    timestamp: Timestamp
    event_id: int | None = None  # the permission-request event's id


class SlashCommand(Wire):
    """A slash command the conversation's Claude Code offers (from its ``initialize`` answer)."""

    name: str
    description: str = ""
    argument_hint: str = ""


class Agent(Wire):
    """A claude session's conversation (docs/api.md, Agent sessions)."""

    agent_session_id: str | None
    state: AgentStateName
    queued: Annotated[int, Meta(ge=0)]
    totals: Totals
    source: str | None  # the history file of an imported session
    pending: list[PendingPermission] = msgspec.field(default_factory=list)
    mode: str | None = None  # the permission mode, once known
    model: str | None = None
    commands: list[SlashCommand] = msgspec.field(default_factory=list)
    live: bool = False  # a claude process holds the conversation now


class Foreground(Wire):
    """The job in a terminal's foreground when it is not the session's own program."""

    pid: int
    name: str


class Session(Wire):
    """A session as clients see it (docs/api.md, Objects)."""

    id: str
    project_id: str
    name: str
    kind: Kind
    argv: list[str]
    working_dir: str
    tty: bool
    status: Status
    exit_code: int | None
    signal: str | None  # the signal's name when one ended it (exitCode is its number, negative)
    created_at: int
    ended_at: int | None
    last_event_id: Annotated[int, Meta(ge=0)]
    pid: int | None
    agent: Agent | None
    foreground: Foreground | None


class ProjectWithSessions(Project):
    sessions: list[Session]


class Projects(Wire):
    projects: list[Project]


class Sessions(Wire):
    sessions: list[Session]


class Accepted(Wire):
    """A prompt or a signal was taken; ``eventId`` is the prompt's event."""

    accepted: Literal[True] = True
    event_id: int | UnsetType = UNSET
    queued: bool | UnsetType = UNSET  # claude: the prompt waits for the running turn
    position: Annotated[int, Meta(ge=0)] | UnsetType = UNSET


class LoginLink(Wire):
    """A one-time link that signs a browser in; it works once, within ``expiresIn`` seconds."""

    url: str
    expires_in: float


class Deleted(Wire):
    deleted: Literal[True] = True


class Resized(Wire):
    cols: int
    rows: int


class Cursor(Wire):
    """The cursor's cell on the visible screen, from the top left, 0-based."""

    x: int
    y: int
    visible: bool


class Screen(Wire):
    """A terminal session's visible screen. ``content`` is, by ``format``: the rows as plain
    text joined by newlines (trailing blanks trimmed), VT bytes that draw it on a reset
    terminal of ``cols`` x ``rows``, or an HTML fragment. ``lastEventId`` is the last event
    it includes."""

    session_id: str
    cols: int
    rows: int
    cursor: Cursor
    alt_screen: bool
    title: str
    last_event_id: int
    format: ScreenFormat
    content: str


class Health(Wire, omit_defaults=True):
    """``degraded``: the server answers, but cannot store (``reason``, since ``since``)."""

    status: Literal["ok", "degraded"]
    version: str
    reason: str | None = None
    since: Timestamp | None = None


class HistoryEvent(Wire):
    """A stored event: ``data`` is the event's data as streamed (docs/api.md, Events)."""

    id: Annotated[int, Meta(ge=1)]
    type: str
    data: Annotated[msgspec.Raw, Meta(extra_json_schema={"type": "object"})]
    timestamp: int


class HistoryPage(Wire):
    session_id: str
    events: list[HistoryEvent]
    has_more: bool
    next_after: int
    last_event_id: int
    trimmed_through: int


class ErrorBody(Wire):
    """Every error: a sentence for people and a code for programs."""

    error: str
    code: str


class EventBusMetrics(Wire):
    """The reference guide's ``eventBus`` object, plus queue depths."""

    events_emitted: int
    events_by_type: dict[str, int]
    listener_counts: dict[str, int]
    active_listeners: int
    slow_clients_dropped: int
    max_queue_depth: int
    queued_events: int


class StreamMetrics(Wire):
    """The reference guide's ``sse`` object, with the limit of open streams (``--max-streams``)
    and how many were refused for it (503 ``too_many_streams``)."""

    total_sessions: int
    total_connections: int
    sessions: dict[str, int]
    total_created: int
    total_closed: int
    active_heartbeats: int
    slow_clients_dropped: int
    max_streams: int
    total_refused: int


class ConnectionMetrics(Wire):
    """Client connections: open now, closed for not sending a request's headers within
    ``--header-timeout``, and closed to free descriptors when the process ran out of them."""

    open: int
    header_timeouts: int
    shed: int


class StoreMetrics(Wire):
    queued_writes: int
    events_persisted: int
    write_failures: int  # commits the database refused (each retry counts)
    failing_since: Timestamp | None  # while it refuses them


class SearchMetrics(Wire):
    """The search index: events it read since the backend started, and events stored that it
    has still to read (an existing database is indexed in the background)."""

    indexed_events: int
    pending_events: int


class SessionCounts(Wire):
    total: int
    running: int


class Metrics(Wire):
    event_bus: EventBusMetrics
    sse: StreamMetrics
    connections: ConnectionMetrics
    store: StoreMetrics
    search: SearchMetrics
    sessions: SessionCounts
    timestamp: int
