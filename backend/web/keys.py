"""Typed keys for what the application holds (no module-level state anywhere)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from backend.bus import EventBus
from backend.config import Settings
from backend.sessions import SessionManager
from backend.store import Store
from backend.web.connections import Connections
from backend.web.login import LoginLinks
from backend.web.stats import StreamStats

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
BUS = web.AppKey("bus", EventBus)
MANAGER = web.AppKey("manager", SessionManager)
STREAMS = web.AppKey("streams", StreamStats)
CONNECTIONS = web.AppKey("connections", Connections)
LOGIN_LINKS = web.AppKey("login_links", LoginLinks)  # one-time login links not yet used
OPENAPI = web.AppKey("openapi", dict[str, Any])  # built once from the route table
BACKGROUND = web.AppKey("background", set[asyncio.Task[web.StreamResponse]])
