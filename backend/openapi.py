"""The OpenAPI 3.1 description of the API, served at ``/api/openapi.json`` and fuzzed in tests."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Schema]:
    reasons = {
        400: "Missing, malformed or invalid input",
        401: "Missing or wrong token",
        403: "Host or Origin not allowed",
        404: "No such project or session",
        409: "The session is not in a state that allows this",
        413: "Request body over 1 MiB",
        415: "Request body is not application/json",
        503: "The server is shutting down",
    }
    return {str(s): _json(_ref("Error"), reasons[s]) for s in (401, 403, *statuses)}


def _body(schema: Schema) -> Schema:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


_NO_NUL = "^[^\\u0000]*$"


def _text(
    max_length: int | None = 4096, *, empty: bool = False, optional: bool = False, **extra: Any
) -> Schema:
    """A string as the server reads it (web/validate.py): no NUL, bounded, usually not empty.

    An optional one may be null, which means the same as leaving it out.
    """
    schema: Schema = {"type": ["string", "null"] if optional else "string", "pattern": _NO_NUL}
    if not empty:
        schema["minLength"] = 1
    if max_length is not None:
        schema["maxLength"] = max_length
    return {**schema, **extra}


_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_WRITE_ERRORS = (400, 404, 413, 415)


def _schemas() -> dict[str, Schema]:
    nullable_int = {"type": ["integer", "null"]}
    return {
        "Error": {
            "type": "object",
            "required": ["error", "code"],
            "properties": {"error": {"type": "string"}, "code": {"type": "string"}},
        },
        "Project": {
            "type": "object",
            "required": ["id", "name", "path", "createdAt"],
            "properties": {
                "id": {"type": "string"},
                "name": {"type": "string"},
                "path": {"type": "string"},
                "createdAt": {"type": "integer"},
            },
        },
        "ProjectWithSessions": {
            "allOf": [
                _ref("Project"),
                {
                    "type": "object",
                    "required": ["sessions"],
                    "properties": {"sessions": {"type": "array", "items": _ref("Session")}},
                },
            ]
        },
        "Session": {
            "type": "object",
            "required": [
                "id",
                "projectId",
                "name",
                "kind",
                "argv",
                "workingDir",
                "tty",
                "status",
                "exitCode",
                "createdAt",
                "endedAt",
                "lastEventId",
                "pid",
                "agent",
                "foreground",
            ],
            "properties": {
                "id": {"type": "string"},
                "projectId": {"type": "string"},
                "name": {"type": "string"},
                "kind": {"type": "string", "enum": ["shell", "command", "claude"]},
                "argv": {"type": "array", "items": {"type": "string"}},
                "workingDir": {"type": "string"},
                "tty": {"type": "boolean"},
                "status": {
                    "type": "string",
                    "enum": [
                        "running",
                        "exited",
                        "failed",
                        "interrupted",
                        "stopped",
                        "imported",
                    ],
                },
                "exitCode": nullable_int,
                "createdAt": {"type": "integer"},
                "endedAt": nullable_int,
                "lastEventId": {"type": "integer", "minimum": 0},
                "pid": nullable_int,
                "agent": {"oneOf": [{"type": "null"}, _ref("Agent")]},
                "foreground": {
                    "description": "A shell's foreground job other than the shell itself",
                    "oneOf": [
                        {"type": "null"},
                        {
                            "type": "object",
                            "required": ["pid", "name"],
                            "properties": {
                                "pid": {"type": "integer"},
                                "name": {"type": "string"},
                            },
                        },
                    ],
                },
            },
        },
        "Agent": {
            "type": "object",
            "description": "A claude session's conversation (docs/api.md, Agent sessions)",
            "required": ["agentSessionId", "state", "queued", "totals", "source"],
            "properties": {
                "agentSessionId": {"type": ["string", "null"]},
                "state": {"enum": ["idle", "working"]},
                "queued": {"type": "integer", "minimum": 0},
                "totals": {
                    "type": "object",
                    "required": ["costUsd", "inputTokens", "outputTokens", "durationMs", "turns"],
                    "properties": {
                        "costUsd": {"type": "number"},
                        "inputTokens": {"type": "integer"},
                        "outputTokens": {"type": "integer"},
                        "cacheReadTokens": {"type": "integer"},
                        "cacheCreationTokens": {"type": "integer"},
                        "durationMs": {"type": "integer"},
                        "turns": {"type": "integer"},
                    },
                },
                "source": {"type": ["string", "null"]},
            },
        },
        "NewSession": {
            "type": "object",
            "description": "Give projectId, or workingDir alone (its project is found or made); "
            "a claude session may give resume alone.",
            "anyOf": [
                {"required": [key], "properties": {key: {"type": "string"}}}
                for key in ("projectId", "workingDir", "resume")
            ],
            "properties": {
                "projectId": _text(100, optional=True),
                "workingDir": _text(optional=True, description="An existing absolute path"),
                "kind": {"enum": ["shell", "command", "claude", None], "default": "shell"},
                "resume": _text(
                    100,
                    optional=True,
                    description="claude: a session id or Claude Code session id to continue",
                ),
                "argv": {"type": ["array", "null"], "items": _text(None)},
                "name": _text(200, optional=True),
                "tty": {"type": "boolean", "default": True},
                "cols": {"type": "integer", "minimum": 2, "maximum": 1000, "default": 120},
                "rows": {"type": "integer", "minimum": 2, "maximum": 1000, "default": 32},
            },
        },
        "StoredEvent": {
            "type": "object",
            "required": ["id", "type", "data", "timestamp"],
            "properties": {
                "id": {"type": "integer", "minimum": 1},
                "type": {"type": "string"},
                "data": {"type": "object"},
                "timestamp": {"type": "integer"},
            },
        },
        "Accepted": {
            "type": "object",
            "required": ["accepted"],
            "properties": {
                "accepted": {"const": True},
                "eventId": {"type": "integer"},
                "queued": {"type": "boolean", "description": "claude: waits for the turn"},
                "position": {"type": "integer", "minimum": 0},
            },
        },
        "Deleted": {
            "type": "object",
            "required": ["deleted"],
            "properties": {"deleted": {"const": True}},
        },
    }


def _paths() -> dict[str, Schema]:
    return {
        "/api/health": {
            "get": {
                "summary": "Liveness check (no token needed)",
                "security": [],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["status", "version"],
                            "properties": {
                                "status": {"const": "ok"},
                                "version": {"type": "string"},
                            },
                        },
                        "The server is up",
                    ),
                    "403": _json(_ref("Error"), "Host not allowed"),
                },
            }
        },
        "/api/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1"), **_errors()},
            }
        },
        "/api/debug/metrics": {
            "get": {
                "summary": "Event bus and SSE counters (the reference guide's shape, and more)",
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["eventBus", "sse", "timestamp"],
                            "properties": {
                                "eventBus": {
                                    "type": "object",
                                    "required": [
                                        "eventsEmitted",
                                        "eventsByType",
                                        "listenerCounts",
                                        "activeListeners",
                                    ],
                                },
                                "sse": {
                                    "type": "object",
                                    "required": [
                                        "totalSessions",
                                        "totalConnections",
                                        "sessions",
                                        "totalCreated",
                                        "totalClosed",
                                        "activeHeartbeats",
                                    ],
                                },
                                "timestamp": {"type": "integer"},
                            },
                        },
                        "Metrics",
                    ),
                    **_errors(),
                },
            }
        },
        "/api/projects": {
            "get": {
                "summary": "All projects",
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["projects"],
                            "properties": {"projects": {"type": "array", "items": _ref("Project")}},
                        },
                        "Projects",
                    ),
                    **_errors(),
                },
            },
            "post": {
                "summary": "Add the project of a folder (returns the existing one if known)",
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["path"],
                        "properties": {
                            "path": _text(description="An existing absolute directory"),
                            "name": _text(200, optional=True),
                        },
                    }
                ),
                "responses": {
                    "201": _json(_ref("Project"), "Created"),
                    "200": _json(_ref("Project"), "That folder's project already existed"),
                    **_errors(400, 413, 415),
                },
            },
        },
        "/api/projects/{id}": {
            "parameters": [_ID],
            "get": {
                "summary": "A project with its own sessions",
                "responses": {
                    "200": _json(_ref("ProjectWithSessions"), "The project"),
                    **_errors(404),
                },
            },
            "delete": {
                "summary": "Remove a project, stopping and deleting its sessions",
                "responses": {"200": _json(_ref("Deleted"), "Deleted"), **_errors(404)},
            },
        },
        "/api/sessions": {
            "get": {
                "summary": "All sessions, or one project's",
                "parameters": [{"name": "projectId", "in": "query", "schema": {"type": "string"}}],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["sessions"],
                            "properties": {"sessions": {"type": "array", "items": _ref("Session")}},
                        },
                        "Sessions",
                    ),
                    **_errors(404),
                },
            },
            "post": {
                "summary": "Start a session",
                "requestBody": _body(_ref("NewSession")),
                "responses": {
                    "201": _json(_ref("Session"), "Started (status failed if it could not start)"),
                    **_errors(*_WRITE_ERRORS, 503),
                },
            },
        },
        "/api/session/{id}": {
            "parameters": [_ID],
            "get": {
                "summary": "One session",
                "responses": {"200": _json(_ref("Session"), "The session"), **_errors(404)},
            },
            "delete": {
                "summary": "Stop a session and delete it with its history",
                "responses": {"200": _json(_ref("Deleted"), "Deleted"), **_errors(404)},
            },
        },
        "/api/session/{id}/prompt": {
            "parameters": [_ID],
            "post": {
                "summary": "Write a line to the session's input",
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["command"],
                        "properties": {"command": _text(1024 * 1024, empty=True)},
                    }
                ),
                "responses": {
                    "202": _json(_ref("Accepted"), "Written; eventId is its prompt event"),
                    **_errors(*_WRITE_ERRORS, 409),
                },
            },
        },
        "/api/session/{id}/signal": {
            "parameters": [_ID],
            "post": {
                "summary": "Signal the session's process group",
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["signal"],
                        "properties": {
                            "signal": {"type": "string", "enum": ["SIGINT", "SIGTERM", "SIGKILL"]}
                        },
                    }
                ),
                "responses": {
                    "202": _json(_ref("Accepted"), "Sent"),
                    **_errors(*_WRITE_ERRORS, 409),
                },
            },
        },
        "/api/session/{id}/interrupt": {
            "parameters": [_ID],
            "post": {
                "summary": "Ctrl-C: SIGINT to the terminal's foreground job, or a "
                "conversation's running turn",
                "responses": {
                    "202": _json(_ref("Accepted"), "Sent"),
                    **_errors(404, 409, 413, 415),
                },
            },
        },
        "/api/session/{id}/stop": {
            "parameters": [_ID],
            "post": {
                "summary": "End the session gracefully; it ends with status stopped",
                "responses": {
                    "202": _json(_ref("Accepted"), "Stopping"),
                    **_errors(404, 409, 413, 415),
                },
            },
        },
        "/api/session/{id}/resize": {
            "parameters": [_ID],
            "post": {
                "summary": "Set the terminal size of a session that runs in a PTY",
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["cols", "rows"],
                        "properties": {
                            "cols": {"type": "integer", "minimum": 2, "maximum": 1000},
                            "rows": {"type": "integer", "minimum": 2, "maximum": 1000},
                        },
                    }
                ),
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["cols", "rows"],
                            "properties": {
                                "cols": {"type": "integer"},
                                "rows": {"type": "integer"},
                            },
                        },
                        "Resized",
                    ),
                    **_errors(*_WRITE_ERRORS, 409),
                },
            },
        },
        "/api/session/{id}/history": {
            "parameters": [_ID],
            "get": {
                "summary": "Stored events after an id, oldest first (paging and export)",
                "parameters": [
                    {
                        "name": "after",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 0, "maximum": 2**62, "default": 0},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": 10000,
                            "default": 1000,
                        },
                    },
                ],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": [
                                "sessionId",
                                "events",
                                "hasMore",
                                "nextAfter",
                                "lastEventId",
                                "trimmedThrough",
                            ],
                            "properties": {
                                "sessionId": {"type": "string"},
                                "events": {"type": "array", "items": _ref("StoredEvent")},
                                "hasMore": {"type": "boolean"},
                                "nextAfter": {"type": "integer"},
                                "lastEventId": {"type": "integer"},
                                "trimmedThrough": {"type": "integer"},
                            },
                        },
                        "A page of events",
                    ),
                    **_errors(400, 404),
                },
            },
        },
        "/api/session/{id}/events": {
            "parameters": [
                _ID,
                {"name": "lastEventId", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                {"name": "Last-Event-ID", "in": "header", "schema": {"type": "string"}},
            ],
            "get": {
                "summary": "Server-Sent Events: replay after Last-Event-ID, then live",
                "description": (
                    "Events: connected, output, status, prompt, error, heartbeat, "
                    "history-trimmed. Stored events carry `id: <seq>`."
                ),
                "x-stream": True,
                "responses": {
                    "200": {
                        "description": "An endless event stream",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    **_errors(400, 404),
                },
            },
        },
    }


def openapi_document(version: str) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "SessionDock",
            "version": version,
            "description": "Run shell and agent sessions and stream their events. See docs/api.md.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"queryToken": []}, {"cookie": []}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "queryToken": {"type": "apiKey", "in": "query", "name": "token"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "sessiondock_token"},
            },
            "schemas": _schemas(),
        },
        "paths": _paths(),
    }
