"""The URL table: every route of the server, in one place."""

from __future__ import annotations

from aiohttp import web

from backend.web import handlers, sse


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/", handlers.index, name="index")
    r.add_get("/api/health", handlers.health, name="health")
    r.add_get("/api/openapi.json", handlers.openapi, name="openapi")
    r.add_get("/api/debug/metrics", handlers.metrics, name="metrics")
    r.add_get("/api/projects", handlers.list_projects, name="projects")
    r.add_post("/api/projects", handlers.create_project)
    r.add_get("/api/projects/{id}", handlers.get_project, name="project")
    r.add_delete("/api/projects/{id}", handlers.delete_project)
    r.add_get("/api/sessions", handlers.list_sessions, name="sessions")
    r.add_post("/api/sessions", handlers.create_session)
    r.add_get("/api/session/{id}", handlers.get_session, name="session")
    r.add_delete("/api/session/{id}", handlers.delete_session)
    r.add_get("/api/session/{id}/events", sse.session_events, name="session-events")
    r.add_get("/api/session/{id}/history", handlers.history, name="session-history")
    r.add_post("/api/session/{id}/prompt", handlers.send_prompt, name="session-prompt")
    r.add_post("/api/session/{id}/signal", handlers.send_signal, name="session-signal")
    r.add_post("/api/session/{id}/interrupt", handlers.interrupt, name="session-interrupt")
    r.add_post("/api/session/{id}/stop", handlers.stop, name="session-stop")
    r.add_post("/api/session/{id}/resize", handlers.resize, name="session-resize")
    # The web UI's files; never under /api/, so the router answers 404 and 405 there itself.
    r.add_get("/{path:(?!api/).+}", handlers.static_file, name="static")
