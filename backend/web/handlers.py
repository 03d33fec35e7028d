"""REST handlers: each reads its declared input, calls the session manager, returns its type."""

from __future__ import annotations

import msgspec
from aiohttp import web

from backend import __version__
from backend.protocol import api
from backend.protocol.events import now_ms
from backend.resources import web_dir
from backend.store import ProjectRecord
from backend.text import query as search_query
from backend.web import validate
from backend.web.keys import (
    BUS,
    CONNECTIONS,
    LOGIN_LINKS,
    MANAGER,
    OPENAPI,
    SETTINGS,
    STORE,
    STREAMS,
)
from backend.web.middleware import COOKIE, error_response, respond, token_matches

# Revalidate the web UI's files every time (a cheap 304): after an upgrade no tab may run an
# old app.js against a new output.js.
UI_HEADERS = {"Cache-Control": "no-cache"}


async def health(request: web.Request) -> web.Response:
    failure = request.app[STORE].failure
    if failure is None:
        return respond(api.Health(status="ok", version=__version__))
    return respond(
        api.Health(
            status="degraded", version=__version__, reason=failure.reason, since=failure.since
        )
    )


async def list_projects(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    await manager.refresh()  # history may have new projects
    projects = [_project(p) for p in manager.projects.values()]
    return respond(api.Projects(projects=projects))


def _project(project: ProjectRecord) -> api.Project:
    return api.Project(
        id=project.id, name=project.name, path=project.path, created_at=project.created_at
    )


async def create_project(request: web.Request) -> web.Response:
    body: api.NewProject = await validate.body(request, api.NewProject)
    project, created = request.app[MANAGER].create_project(body.path, body.name)
    await request.app[STORE].flush()  # answered once it would survive a crash
    return respond(_project(project), status=201 if created else 200)


async def get_project(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    await manager.refresh()
    project = manager.project(request.match_info["id"])
    sessions = [manager.describe(s) for s in manager.list_sessions(project.id)]
    described = _project(project)
    return respond(
        api.ProjectWithSessions(
            id=described.id,
            name=described.name,
            path=described.path,
            created_at=described.created_at,
            sessions=sessions,
        )
    )


async def delete_project(request: web.Request) -> web.Response:
    await request.app[MANAGER].delete_project(request.match_info["id"])
    await request.app[STORE].flush()
    return respond(api.Deleted())


async def list_sessions(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    await manager.refresh()
    wanted = validate.query(request, api.SessionsQuery).project_id
    project_id = wanted if isinstance(wanted, str) else None
    if project_id is not None:
        manager.project(project_id)
    sessions = [manager.describe(s) for s in manager.list_sessions(project_id)]
    return respond(api.Sessions(sessions=sessions))


async def create_session(request: web.Request) -> web.Response:
    body: api.NewSession = await validate.body(request, api.NewSessionBody)
    manager = request.app[MANAGER]
    session = await manager.create_session(body)
    await request.app[STORE].flush()
    return respond(manager.describe(session), status=201)


async def get_session(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    return respond(manager.describe(manager.get_session(request.match_info["id"])))


async def delete_session(request: web.Request) -> web.Response:
    await request.app[MANAGER].delete_session(request.match_info["id"])
    await request.app[STORE].flush()
    return respond(api.Deleted())


async def send_prompt(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    session_id = request.match_info["id"]
    manager.get_session(session_id)  # an unknown session is 404 whatever the body says
    body: api.PromptBody = await validate.body(request, api.PromptBody)
    ack = manager.send_prompt(session_id, body.command)
    # The prompt event is stored before we say so (not the other sessions' backlog with it).
    await request.app[STORE].flush(session_id=session_id)
    accepted = api.Accepted(event_id=ack.event_id, queued=ack.queued, position=ack.position)
    return respond(accepted, status=202)


async def send_signal(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    session_id = request.match_info["id"]
    manager.get_session(session_id)
    body: api.SignalBody = await validate.body(request, api.SignalBody)
    manager.send_signal(session_id, body.signal)
    return respond(api.Accepted(), status=202)


async def interrupt(request: web.Request) -> web.Response:
    request.app[MANAGER].interrupt(request.match_info["id"])
    return respond(api.Accepted(), status=202)


async def permission(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    session_id = request.match_info["id"]
    manager.get_session(session_id)
    body: api.PermissionAnswer = await validate.body(request, api.PermissionAnswer)
    event_id = manager.answer_permission(session_id, body)
    # Stored before we say so: a client that reloads sees the request resolved.
    await request.app[STORE].flush(session_id=session_id)
    answered = api.PermissionAnswered(
        request_id=body.request_id, behavior=body.behavior, event_id=event_id
    )
    return respond(answered)


async def set_mode(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    session_id = request.match_info["id"]
    manager.get_session(session_id)
    body: api.ModeBody = await validate.body(request, api.ModeBody)
    return respond(await manager.set_mode(session_id, body.mode))


async def set_model(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    session_id = request.match_info["id"]
    manager.get_session(session_id)
    body: api.ModelBody = await validate.body(request, api.ModelBody)
    return respond(await manager.set_model(session_id, body.model))


async def stop(request: web.Request) -> web.Response:
    request.app[MANAGER].stop_session(request.match_info["id"])
    return respond(api.Accepted(), status=202)


async def resize(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    session_id = request.match_info["id"]
    manager.get_session(session_id)
    body: api.ResizeBody = await validate.body(request, api.ResizeBody)
    manager.resize(session_id, body.cols, body.rows)
    return respond(api.Resized(cols=body.cols, rows=body.rows))


async def send_input(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    session_id = request.match_info["id"]
    manager.get_session(session_id)
    body: api.InputBody = await validate.body(request, api.InputBody)
    manager.input(session_id, body.data.encode())
    return respond(api.Accepted(), status=202)


async def screen(request: web.Request) -> web.Response:
    query = validate.query(request, api.ScreenQuery)
    scrollback = query.scrollback if query.format == "vt" else None  # history is drawn as VT
    manager = request.app[MANAGER]
    session, view = await manager.screen(request.match_info["id"], query.format, scrollback)
    return respond(
        api.Screen(
            session_id=session.id,
            cols=view.cols,
            rows=view.rows,
            cursor=api.Cursor(x=view.cursor_x, y=view.cursor_y, visible=view.cursor_visible),
            alt_screen=view.alt_screen,
            title=view.title,
            last_event_id=view.last_seq,
            format=query.format,
            content=view.content,
        )
    )


async def history(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    session = manager.get_session(request.match_info["id"])
    page = validate.query(request, api.HistoryQuery)
    store = request.app[STORE]
    if store.failure is None:  # else: what is stored is all there is to read, at once
        # A found session (imported history): read its source far enough for this page, and
        # one more event, for hasMore.
        await manager.catch_up(session.id, enough=page.after + page.limit + 1)
        await store.flush(write=False)  # include everything appended before this request
    events = await store.events.read(session.id, page.after, page.limit + 1)
    shown = events[: page.limit]
    return respond(
        api.HistoryPage(
            session_id=session.id,
            events=[
                api.HistoryEvent(
                    id=e.seq, type=e.type, data=msgspec.Raw(e.data.encode()), timestamp=e.timestamp
                )
                for e in shown
            ],
            has_more=len(events) > page.limit,
            next_after=shown[-1].seq if shown else page.after,
            last_event_id=store.events.last_seq(session.id),
            trimmed_through=store.events.trimmed_through(session.id),
        )
    )


async def search(request: web.Request) -> web.Response:
    params = validate.query(request, api.SearchQuery)
    query = search_query.parse(params.q)
    store = request.app[STORE]
    found = await store.search.find(
        query,
        project_id=params.project_id,
        session_id=params.session_id,
        kind=params.kind,
        before=int(params.cursor) if params.cursor is not None else None,
        limit=params.limit + 1,  # one more: whether there is a next page
    )
    hits = found[: params.limit]
    return respond(
        api.SearchHits(
            hits=[
                api.SearchHit(
                    session_id=h.session_id,
                    project_id=h.project_id,
                    session_name=h.session_name,
                    event_id=h.event_id,
                    timestamp=h.timestamp,
                    snippet=h.snippet,
                    highlights=h.highlights,
                )
                for h in hits
            ],
            next_cursor=str(hits[-1].row) if len(found) > params.limit else None,
        )
    )


async def metrics(request: web.Request) -> web.Response:
    app = request.app
    store, bus, manager = app[STORE], app[BUS], app[MANAGER]
    indexed, pending = store.index_progress
    return respond(
        api.Metrics(
            event_bus=bus.metrics(),
            sse=app[STREAMS].metrics(bus.slow_clients_dropped),
            connections=app[CONNECTIONS].metrics(),
            store=api.StoreMetrics(
                queued_writes=store.backlog,
                events_persisted=store.events_persisted,
                write_failures=store.write_failures,
                failing_since=store.failure.since if store.failure else None,
            ),
            search=api.SearchMetrics(indexed_events=indexed, pending_events=pending),
            sessions=api.SessionCounts(
                total=len(manager.sessions),
                running=sum(s.runtime.running for s in manager.sessions.values()),
            ),
            timestamp=now_ms(),
        )
    )


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])


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


def _set_token_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    # Behind a TLS proxy the cookie is Secure. Trusting X-Forwarded-Proto is safe here: the
    # backend listens on loopback only, and a forged header only makes the cookie stricter.
    https = request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/", secure=https)


async def index(request: web.Request) -> web.StreamResponse:
    """The web UI. ``/?token=...`` trades the token for a cookie and drops it from the URL."""
    token = request.query.get("token")
    expected = request.app[SETTINGS].token
    if token is not None and expected is not None and token_matches(expected, token):
        response = web.HTTPSeeOther("/")
        _set_token_cookie(request, response, token)
        raise response
    return web.FileResponse(web_dir() / "index.html", headers=UI_HEADERS)


async def create_login_link(request: web.Request) -> web.Response:
    """A one-time link that signs a browser in (web/login.py): the token stays out of URLs."""
    links = request.app[LOGIN_LINKS]
    code = links.make()
    # The address this request came to: the app's loopback URL, or a proxy's host.
    path = request.app.router["login"].url_for(code=code)
    url = str(request.url.origin().join(path))
    return respond(api.LoginLink(url=url, expires_in=links.seconds), status=201)


async def login(request: web.Request) -> web.StreamResponse:
    """``/login/{code}``: a valid code, once, becomes the token's cookie; then the web UI."""
    if not request.app[LOGIN_LINKS].use(request.match_info["code"]):
        message = "this login link was used or has expired: ask the app for a new one"
        return error_response(403, "login_link_invalid", message)
    response = web.HTTPSeeOther("/")
    token = request.app[SETTINGS].token
    if token is not None:
        _set_token_cookie(request, response, token)
    raise response
