"""The URL table: every route of the server, in one place, with what each takes and returns.

The same table registers the handlers and generates ``/api/openapi.json`` (web/openapi.py).
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from backend import __version__
from backend.errors import InvalidInput
from backend.protocol import api
from backend.protocol.events import ALL_EVENTS
from backend.protocol.sse import MAX_EVENT_ID
from backend.text.export import MEDIA_TYPES
from backend.web import exports, handlers, sse
from backend.web.keys import OPENAPI
from backend.web.openapi import Handler, Route, openapi_document, query_names

_SESSION = (404,)
_WRITE = (400, 404, 408, 413, 415)  # a body to read, a session to find
_ACTION = (404, 409, 413, 415)  # no body; the session may not be running

ROUTES: Final = (
    Route(
        "GET", "/api/health", handlers.health, "Liveness check (no token needed)",
        {200: (api.Health, "The server is up")}, name="health", public=True,
    ),
    Route(
        "GET", "/api/openapi.json", handlers.openapi, "This document",
        {200: (None, "OpenAPI 3.1")}, name="openapi",
    ),
    Route(
        "GET", "/api/debug/metrics", handlers.metrics,
        "Event bus and SSE counters (the reference guide's shape, and more)",
        {200: (api.Metrics, "Metrics")}, name="metrics",
    ),
    Route(
        "POST", "/api/login-link", handlers.create_login_link,
        "A one-time link that signs a browser in (the token stays out of its URL and history)",
        {201: (api.LoginLink, "The link")}, name="login-link",
    ),
    Route(
        "GET", "/api/projects", handlers.list_projects, "All projects",
        {200: (api.Projects, "Projects")}, name="projects",
    ),
    Route(
        "POST", "/api/projects", handlers.create_project,
        "Add the project of a folder (returns the existing one if known)",
        {
            201: (api.Project, "Created"),
            200: (api.Project, "That folder's project already existed"),
        },
        errors=(400, 408, 413, 415, 507), body=api.NewProject,
    ),
    Route(
        "GET", "/api/projects/{id}", handlers.get_project, "A project with its own sessions",
        {200: (api.ProjectWithSessions, "The project")}, errors=(404,), name="project",
    ),
    Route(
        "DELETE", "/api/projects/{id}", handlers.delete_project,
        "Remove a project, stopping and deleting its sessions",
        {200: (api.Deleted, "Deleted")}, errors=(404, 507),
    ),
    Route(
        "GET", "/api/sessions", handlers.list_sessions, "All sessions, or one project's",
        {200: (api.Sessions, "Sessions")}, errors=(400, 404), query=api.SessionsQuery,
        name="sessions",
    ),
    Route(
        "POST", "/api/sessions", handlers.create_session, "Start a session",
        {201: (api.Session, "Started (status failed if it could not start)")},
        errors=(*_WRITE, 409, 503, 507), body=api.NewSessionBody,
    ),
    Route(
        "GET", "/api/session/{id}", handlers.get_session, "One session",
        {200: (api.Session, "The session")}, errors=_SESSION, name="session",
    ),
    Route(
        "DELETE", "/api/session/{id}", handlers.delete_session,
        "Stop a session and delete it with its history",
        {200: (api.Deleted, "Deleted")}, errors=(404, 507),
    ),
    Route(
        "GET", "/api/session/{id}/events", sse.session_events,
        "Server-Sent Events: replay after Last-Event-ID, then live",
        {200: (None, "An endless event stream")}, errors=(400, 404, 503), name="session-events",
        stream=[
            {
                "name": "lastEventId", "in": "query",
                "schema": {"type": "integer", "minimum": 0, "maximum": MAX_EVENT_ID},
            },
            {"name": "Last-Event-ID", "in": "header", "schema": {"type": "string"}},
            {"name": "attach", "in": "query", "schema": {"type": "string", "enum": ["screen"]}},
            {
                "name": "scrollback", "in": "query",
                "schema": {"type": "integer", "minimum": 0, "maximum": api.MAX_SCROLLBACK},
            },
        ],
        description=(
            "Events: connected, output, status, prompt, error, operations-detected, raw, "
            "resize, heartbeat, history-trimmed, storage-error, storage-restored, snapshot. "
            "Stored events carry `id: <seq>`. `attach=screen` (a terminal session) starts "
            "with a `snapshot` of the screen instead of the history, and so does a reconnect "
            "whose gap is too large to replay. `x-events` names each event's data schema."
        ),
        extra={
            "x-stream": True,
            "x-events": {
                name: {"$ref": f"#/components/schemas/{cls.__name__}"}
                for name, cls in ALL_EVENTS.items()
            },
        },
    ),
    Route(
        "GET", "/api/session/{id}/history", handlers.history,
        "Stored events after an id, oldest first (paging and export)",
        {200: (api.HistoryPage, "A page of events")}, errors=(400, 404, 503),
        query=api.HistoryQuery, name="session-history",
    ),
    Route(
        "GET", "/api/session/{id}/export", exports.export,
        "The session as a file, streamed: asciicast v2, Markdown, plain text or JSON lines",
        {200: (None, "The file, with its name in Content-Disposition")},
        errors=(400, 404, 503), query=api.ExportQuery, name="session-export",
        media=tuple(media.split(";")[0] for media in MEDIA_TYPES.values()),
    ),
    Route(
        "GET", "/api/search", handlers.search,
        "Search every session's output and conversations: newest hits first, a page at a time",
        {200: (api.SearchHits, "Hits")}, errors=(400, 503), query=api.SearchQuery,
        name="search",
    ),
    Route(
        "POST", "/api/session/{id}/prompt", handlers.send_prompt,
        "Write a line to the session's input (a claude session runs or queues it)",
        {202: (api.Accepted, "Written; eventId is its prompt event")},
        errors=(*_WRITE, 409, 503, 507), body=api.PromptBody, name="session-prompt",
    ),
    Route(
        "POST", "/api/session/{id}/signal", handlers.send_signal,
        "Signal the session: SIGINT is interrupt; SIGTERM and SIGKILL end it at once",
        {202: (api.Accepted, "Sent")}, errors=(*_WRITE, 409), body=api.SignalBody,
        name="session-signal",
    ),
    Route(
        "POST", "/api/session/{id}/interrupt", handlers.interrupt,
        "Ctrl-C: SIGINT to the terminal's foreground job, or a conversation's running turn",
        {202: (api.Accepted, "Sent")}, errors=_ACTION, name="session-interrupt",
    ),
    Route(
        "POST", "/api/session/{id}/permission", handlers.permission,
        "Answer a claude session's open permission request (allow or deny a tool, answer "
        "its questions, approve its plan)",
        {200: (api.PermissionAnswered, "Answered; eventId is its permission-resolved event")},
        errors=(*_WRITE, 409, 503, 507), body=api.PermissionAnswer, name="session-permission",
    ),
    Route(
        "POST", "/api/session/{id}/mode", handlers.set_mode,
        "Switch a claude session's permission mode (default, acceptEdits, plan, "
        "bypassPermissions)",
        {200: (api.ModeSet, "The mode and model now")},
        errors=(*_WRITE, 409, 502, 503, 507), body=api.ModeBody, name="session-mode",
    ),
    Route(
        "POST", "/api/session/{id}/model", handlers.set_model,
        "Switch a claude session's model",
        {200: (api.ModeSet, "The mode and model now")},
        errors=(*_WRITE, 409, 502, 503, 507), body=api.ModelBody, name="session-model",
    ),
    Route(
        "POST", "/api/session/{id}/stop", handlers.stop,
        "End the session gracefully; it ends with status stopped",
        {202: (api.Accepted, "Stopping")}, errors=_ACTION, name="session-stop",
    ),
    Route(
        "POST", "/api/session/{id}/resize", handlers.resize,
        "Set the terminal size of a session that runs in a PTY (stored as a resize event)",
        {200: (api.Resized, "Resized")}, errors=(*_WRITE, 409), body=api.ResizeBody,
        name="session-resize",
    ),
    Route(
        "POST", "/api/session/{id}/input", handlers.send_input,
        "Write keystrokes to a terminal session as they are (never stored)",
        {202: (api.Accepted, "Written")}, errors=(*_WRITE, 409), body=api.InputBody,
        name="session-input",
    ),
    Route(
        "GET", "/api/session/{id}/screen", handlers.screen,
        "A terminal session's screen now (an ended session's last one)",
        {200: (api.Screen, "The screen")}, errors=(400, 404, 409, 503),
        query=api.ScreenQuery, name="session-screen",
    ),
)  # fmt: skip


def checked_query(route: Route) -> Handler:
    """The route's handler, refusing query parameters it does not declare (a misspelt
    ``lastEventID`` would otherwise be ignored without a word). ``token`` is always allowed."""
    allowed = {"token", *query_names(route)}
    handler = route.handler

    async def check(request: web.Request) -> web.StreamResponse:
        unknown = sorted(set(request.query) - allowed)
        if unknown:
            raise InvalidInput(f"unknown query parameter {unknown[0]!r}")
        return await handler(request)

    return check


def api_document(version: str = __version__) -> dict[str, Any]:
    """The OpenAPI document of ``ROUTES``."""
    return openapi_document(ROUTES, version)


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/", handlers.index, name="index")
    r.add_get("/login/{code}", handlers.login, name="login")
    for route in ROUTES:
        handler = checked_query(route)
        if route.method == "GET":  # with HEAD, as aiohttp's add_get does
            r.add_get(route.path, handler, name=route.name)
        else:
            r.add_route(route.method, route.path, handler, name=route.name)
    # The web UI's files; never under /api/, so the router answers 404 and 405 there itself.
    r.add_get("/{path:(?!api/).+}", handlers.static_file, name="static")
    app[OPENAPI] = api_document()
