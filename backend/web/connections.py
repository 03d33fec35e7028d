"""Client connections, watched: a deadline for each request's headers, and the connections that
give way when the process runs out of file descriptors.

Every connection is a descriptor. aiohttp lets a client take any time over a request's headers,
so clients that send half a request and stop would hold descriptors until none are left, for
anyone. Here each connection gets a deadline (``--header-timeout``), armed when it opens and
after each response, and off while a request is handled (``track``, the outermost middleware);
and when an accept fails for want of descriptors, the connections that have waited longest for
a request are closed, so that the next accept finds one free.

The watch wraps the protocol factory that ``loop.create_server`` takes (aiohttp's
``web.Server``, used this way in its "Low Level Server" documentation); every call is passed on.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Callable
from typing import Any, cast

from backend.protocol.api import ConnectionMetrics

log = logging.getLogger(__name__)

# What asyncio's accept loop reports through the loop's exception handler when a descriptor
# (or kernel memory) is missing; it removes its reader and tries again a second later.
OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
# A connection must have waited this long for a request before it gives way to a new one: a
# client that just connected is about to send its request.
SHED_AFTER = 1.0
LOG_INTERVAL = 1.0


class Connections:
    """The open connections of one server, and what happened to them (for the metrics)."""

    def __init__(self, header_timeout: float) -> None:
        self.header_timeout = header_timeout
        self.open = 0
        self.header_timeouts = 0
        self.shed = 0
        # Connections waiting for a request, oldest first, with the loop time they began to.
        self._waiting: dict[Watched, float] = {}
        self._accept_failures = 0
        self._last_report = -LOG_INTERVAL

    def protocol_factory(self, inner: Callable[[], asyncio.Protocol]) -> Callable[[], Watched]:
        """``inner`` (aiohttp's server) with every connection watched."""
        return lambda: Watched(inner(), self)

    def waiting(self, connection: Watched, since: float | None) -> None:
        self._waiting.pop(connection, None)
        if since is not None:
            self._waiting[connection] = since

    def shed_waiting(self, now: float) -> int:
        """Close the connections that have waited at least ``SHED_AFTER`` for a request."""
        stale = [c for c, since in self._waiting.items() if now - since >= SHED_AFTER and c.idle]
        for connection in stale:
            connection.close()
        self.shed += len(stale)
        return len(stale)

    def exception_handler(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """The loop's exception handler: an accept that failed for want of descriptors frees
        some and is reported at most once a second (asyncio logs each one, with a traceback,
        and in a burst it fails a hundred times per loop cycle); all else is asyncio's."""
        exc = context.get("exception")
        if not ("socket" in context and isinstance(exc, OSError) and exc.errno in OUT_OF_RESOURCES):
            loop.default_exception_handler(context)
            return
        now = loop.time()
        self.shed_waiting(now)
        self._accept_failures += 1
        if now - self._last_report >= LOG_INTERVAL:
            log.warning(
                "cannot accept a connection: %s (%d failures since the last such line; %d "
                "waiting connections closed so far to make room); new clients wait in the "
                "listen queue (docs/operations.md, Running out of file descriptors)",
                exc.strerror,
                self._accept_failures,
                self.shed,
            )
            self._accept_failures = 0
            self._last_report = now

    def metrics(self) -> ConnectionMetrics:
        return ConnectionMetrics(
            open=self.open, header_timeouts=self.header_timeouts, shed=self.shed
        )


class Watched(asyncio.Protocol):
    """One connection: aiohttp's protocol, and a deadline for the next request's headers."""

    def __init__(self, inner: asyncio.Protocol, connections: Connections) -> None:
        self._inner = inner
        self._connections = connections
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._requests = 0
        self._writing_paused = False

    # -- asyncio.Protocol, passed on ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream's transport (uvloop's is one without being asyncio.Transport's subclass).
        self._transport = cast(asyncio.Transport, transport)
        self._connections.open += 1
        self._wait()
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._connections.open -= 1
        self._stop_waiting()
        self._transport = None
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._writing_paused = True
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._inner.resume_writing()

    # -- requests (from ``track``) --------------------------------------------------------------

    def request_started(self) -> None:
        self._requests += 1
        self._stop_waiting()

    def request_done(self) -> None:
        self._requests -= 1
        if self._requests == 0 and self._transport is not None:
            self._wait()

    @property
    def idle(self) -> bool:
        """Open, with nothing left to send: no response is still going out to a slow reader."""
        transport = self._transport
        return (
            transport is not None
            and not self._writing_paused
            and not transport.get_write_buffer_size()
        )

    def close(self) -> None:
        self._stop_waiting()
        if self._transport is not None:
            self._transport.close()

    # -- the deadline ---------------------------------------------------------------------------

    def _wait(self) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._connections.header_timeout, self._expire)
        self._connections.waiting(self, loop.time())

    def _stop_waiting(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._connections.waiting(self, None)

    def _expire(self) -> None:
        self._timer = None
        if self._transport is None:
            return
        if not self.idle:
            self._wait()  # the last response is still going out to a slow reader
            return
        self._connections.header_timeouts += 1
        self.close()
