"""REST handlers: each reads its input, calls the session manager, and returns JSON."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from backend import __version__
from backend.openapi import openapi_document
from backend.protocol import MAX_EVENT_ID
from backend.resources import web_dir
from backend.sessions import SessionRequest
from backend.web import validate
from backend.web.keys import BUS, MANAGER, SETTINGS, STORE, STREAMS
from backend.web.middleware import COOKIE, token_matches

MAX_PROMPT = 1024 * 1024
# Revalidate the web UI's files every time (a cheap 304): after an upgrade no tab may run an
# old app.js against a new output.js.
UI_HEADERS = {"Cache-Control": "no-cache"}
MAX_HISTORY_PAGE = 10_000


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


async def health(request: web.Request) -> web.Response:
    return _json({"status": "ok", "version": __version__})


async def list_projects(request: web.Request) -> web.Response:
    await request.app[MANAGER].refresh_history()  # history may have new projects
    projects = request.app[MANAGER].projects.values()
    return _json({"projects": [p.to_json() for p in projects]})


async def create_project(request: web.Request) -> web.Response:
    body = await validate.json_body(request)
    path = validate.required_string(body, "path")
    name = validate.string(body, "name", max_length=200)
    project, created = request.app[MANAGER].create_project(path, name)
    await request.app[STORE].flush()  # answered once it would survive a crash
    return _json(project.to_json(), status=201 if created else 200)


async def get_project(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    await manager.refresh_history()
    project = manager.get_project(request.match_info["id"])
    sessions = [manager.session_json(s) for s in manager.list_sessions(project.id)]
    return _json({**project.to_json(), "sessions": sessions})


async def delete_project(request: web.Request) -> web.Response:
    await request.app[MANAGER].delete_project(request.match_info["id"])
    await request.app[STORE].flush()
    return _json({"deleted": True})


async def list_sessions(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    await manager.refresh_history()
    project_id = request.query.get("projectId")
    if project_id is not None:
        manager.get_project(project_id)
    sessions = [manager.session_json(s) for s in manager.list_sessions(project_id)]
    return _json({"sessions": sessions})


async def create_session(request: web.Request) -> web.Response:
    body = await validate.json_body(request)
    session_request = SessionRequest(
        project_id=validate.string(body, "projectId", max_length=100),
        working_dir=validate.string(body, "workingDir"),
        kind=validate.string(body, "kind", max_length=50) or "shell",
        argv=validate.string_list(body, "argv"),
        name=validate.string(body, "name", max_length=200),
        tty=validate.boolean(body, "tty", True),
        cols=validate.integer(body, "cols", 120, low=2, high=1000),
        rows=validate.integer(body, "rows", 32, low=2, high=1000),
        resume=validate.string(body, "resume", max_length=100),
    )
    manager = request.app[MANAGER]
    session = await manager.create_session(session_request)
    await request.app[STORE].flush()
    return _json(manager.session_json(session), status=201)


async def get_session(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    return _json(manager.session_json(manager.get_session(request.match_info["id"])))


async def delete_session(request: web.Request) -> web.Response:
    await request.app[MANAGER].delete_session(request.match_info["id"])
    await request.app[STORE].flush()
    return _json({"deleted": True})


async def send_prompt(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    session_id = request.match_info["id"]
    manager.get_session(session_id)  # an unknown session is 404 whatever the body says
    body = await validate.json_body(request)
    command = validate.required_string(body, "command", empty=True, max_length=MAX_PROMPT)
    ack = manager.send_prompt(session_id, command)
    await request.app[STORE].flush()  # the prompt event is stored before we say so
    return _json(
        {"accepted": True, "eventId": ack.event_id, "queued": ack.queued, "position": ack.position},
        status=202,
    )


async def send_signal(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    session_id = request.match_info["id"]
    manager.get_session(session_id)
    body = await validate.json_body(request)
    manager.send_signal(session_id, validate.required_string(body, "signal", max_length=20))
    return _json({"accepted": True}, status=202)


async def interrupt(request: web.Request) -> web.Response:
    request.app[MANAGER].interrupt(request.match_info["id"])
    return _json({"accepted": True}, status=202)


async def stop(request: web.Request) -> web.Response:
    request.app[MANAGER].stop_session(request.match_info["id"])
    return _json({"accepted": True}, status=202)


async def resize(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    session_id = request.match_info["id"]
    manager.get_session(session_id)
    body = await validate.json_body(request)
    cols = validate.integer(body, "cols", 0, low=2, high=1000)
    rows = validate.integer(body, "rows", 0, low=2, high=1000)
    manager.resize(session_id, cols, rows)
    return _json({"cols": cols, "rows": rows})


async def history(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    session = manager.get_session(request.match_info["id"])
    after = validate.query_int(request, "after", 0, low=0, high=MAX_EVENT_ID)
    limit = validate.query_int(request, "limit", 1000, low=1, high=MAX_HISTORY_PAGE)
    store = request.app[STORE]
    # An imported session: read its file far enough for this page (and one more, for hasMore).
    await manager.catch_up(session.id, enough=after + limit + 1)
    await store.flush()  # include everything appended before this request
    events = await store.read_events(session.id, after, limit + 1)
    page = events[:limit]
    return _json(
        {
            "sessionId": session.id,
            "events": [event.to_json() for event in page],
            "hasMore": len(events) > limit,
            "nextAfter": page[-1].seq if page else after,
            "lastEventId": store.last_seq(session.id),
            "trimmedThrough": store.trimmed_through(session.id),
        }
    )


async def metrics(request: web.Request) -> web.Response:
    app = request.app
    store = app[STORE]
    return _json(
        {
            "eventBus": app[BUS].metrics(),
            "sse": {**app[STREAMS].metrics(), "slowClientsDropped": app[BUS].slow_clients_dropped},
            "store": {"queuedWrites": store.backlog, "eventsPersisted": store.events_persisted},
            "sessions": {
                "total": len(app[MANAGER].sessions),
                "running": sum(s.running for s in app[MANAGER].sessions.values()),
            },
            "timestamp": int(time.time() * 1000),
        }
    )


async def openapi(request: web.Request) -> web.Response:
    return _json(openapi_document(__version__))


async def static_file(request: web.Request) -> web.FileResponse:
    """A file of the web UI; anything else is a JSON 404."""
    root = web_dir().resolve()
    name = request.match_info["path"]
    if "\0" in name:
        raise web.HTTPNotFound(reason="Not Found")
    path = (root / name).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise web.HTTPNotFound(reason="Not Found")
    return web.FileResponse(path, headers=UI_HEADERS)


async def index(request: web.Request) -> web.StreamResponse:
    """The web UI. ``/?token=...`` trades the token for a cookie and drops it from the URL."""
    token = request.query.get("token")
    expected = request.app[SETTINGS].token
    if token is not None and expected is not None and token_matches(expected, token):
        response = web.HTTPSeeOther("/")
        # Behind a TLS proxy the cookie is Secure. Trusting X-Forwarded-Proto is safe here: the
        # backend listens on loopback only, and a forged header only makes the cookie stricter.
        https = request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"
        response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/", secure=https)
        raise response
    return web.FileResponse(web_dir() / "index.html", headers=UI_HEADERS)
