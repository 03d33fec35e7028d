"""The application factory: what the server holds, and how it starts and stops."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from backend.bus import SHUTDOWN, EventBus
from backend.config import Settings
from backend.sessions import SessionManager
from backend.store import Store
from backend.web.connections import Connections
from backend.web.keys import (
    BACKGROUND,
    BUS,
    CONNECTIONS,
    LOGIN_LINKS,
    MANAGER,
    SETTINGS,
    STORE,
    STREAMS,
)
from backend.web.login import LoginLinks
from backend.web.middleware import MIDDLEWARES
from backend.web.routes import setup_routes
from backend.web.stats import StreamStats


def make_app(settings: Settings) -> web.Application:
    """Build the app; the store opens and the sessions load when it starts."""
    app = web.Application(middlewares=MIDDLEWARES, client_max_size=settings.max_body_bytes)
    bus = EventBus()
    store = Store(
        settings.db_path,
        max_session_bytes=settings.max_session_bytes,
        search_index=settings.search_index,
    )
    store.on_committed = bus.publish
    store.on_health = bus.wake_all  # each stream then tells its client (web/sse.py)
    app[SETTINGS] = settings
    app[BUS] = bus
    app[STORE] = store
    app[MANAGER] = SessionManager(settings, store, bus)
    app[STREAMS] = StreamStats(settings.max_streams)
    app[CONNECTIONS] = Connections(settings.header_timeout)
    app[LOGIN_LINKS] = LoginLinks()
    app[BACKGROUND] = set()
    setup_routes(app)
    app.cleanup_ctx.append(_run_sessions)
    app.cleanup_ctx.append(_send_heartbeats)
    app.on_shutdown.append(_end_streams)
    return app


async def _run_sessions(app: web.Application) -> AsyncIterator[None]:
    manager = app[MANAGER]
    await manager.start()
    try:
        yield
    finally:
        await manager.stop()
        if app[BACKGROUND]:
            await asyncio.gather(*app[BACKGROUND], return_exceptions=True)
        await app[STORE].close()
        await manager.close_host()


async def _send_heartbeats(app: web.Application) -> AsyncIterator[None]:
    """Sweep for idle streams a few times per interval: a heartbeat goes out after between one
    and one and a quarter intervals of silence."""
    interval = app[SETTINGS].heartbeat_interval
    bus = app[BUS]

    async def sweep() -> None:
        while True:
            await asyncio.sleep(max(0.02, interval / 4))
            bus.wake_idle(interval)

    task = asyncio.create_task(sweep(), name="heartbeats")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _end_streams(app: web.Application) -> None:
    """Streams would otherwise hold the shutdown until aiohttp's timeout."""
    app[BUS].close_all(SHUTDOWN)
