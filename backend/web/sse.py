"""``GET /api/session/{id}/events``: one client's stream of a session's events.

The order matters: subscribe first, then replay from the store, then go live skipping what the
replay already sent. The bus only publishes committed events, so an event is either in the
replay's snapshot or arrives through the subscription (or both), never neither.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable

from aiohttp import web

from backend.bus import SLOW, Subscriber
from backend.errors import InvalidInput, TooManyStreams
from backend.protocol.events import Connected, Heartbeat, HistoryTrimmed, now_ms
from backend.protocol.sse import (
    MAX_EVENT_ID,
    encode_control,
    encode_event,
    encode_retry,
    parse_last_event_id,
)
from backend.store import Store
from backend.web.keys import BUS, MANAGER, SETTINGS, STORE, STREAMS

log = logging.getLogger(__name__)

# Events per replay read: at most 256 x 64 KiB in memory at once, even for big events.
REPLAY_PAGE = 256
SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
    "Connection": "keep-alive",
}


def resume_point(request: web.Request) -> int | None:
    """The seq to resume after. The header wins: a browser's own reconnect keeps the old URL."""
    raw = request.headers.get("Last-Event-ID", "").strip() or request.query.get("lastEventId")
    if raw is None or not raw.strip():
        return None
    value = parse_last_event_id(raw)
    if value is None:
        raise InvalidInput(f"lastEventId must be an integer from 0 to {MAX_EVENT_ID}")
    return value


def _on_close_for(request: web.Request) -> Callable[[str], None]:
    def on_close(reason: str) -> None:
        # A slow client is stuck in a write: closing the socket is the only way to reach it.
        if reason == SLOW and request.transport is not None:
            request.transport.abort()

    return on_close


async def session_events(request: web.Request) -> web.StreamResponse:
    session_id = request.match_info["id"]
    manager = request.app[MANAGER]
    manager.get_session(session_id)  # 404 before any stream starts
    after = resume_point(request)
    stats = request.app[STREAMS]
    if stats.full:
        stats.refused()
        raise TooManyStreams(
            f"the server already holds {stats.open} event streams, as many as it may "
            "(--max-streams); try again later, or close views you no longer watch"
        )
    if request.method == "HEAD":
        return web.Response(headers=SSE_HEADERS)
    settings = request.app[SETTINGS]
    store = request.app[STORE]
    bus = request.app[BUS]

    client_id = secrets.token_hex(6)
    subscriber = bus.subscribe(session_id, client_id, settings.client_buffer_bytes)
    subscriber.on_close = _on_close_for(request)
    manager.open_session(session_id)  # an imported session reads and follows its file
    response = web.StreamResponse(headers=SSE_HEADERS)
    stats.opened(session_id)
    try:
        await response.prepare(request)
        connected = Connected(
            session_id=session_id,
            client_id=client_id,
            last_event_id=after,
            session_last_event_id=store.events.last_seq(session_id),
            heartbeat_interval=settings.heartbeat_interval,  # for a client's watchdog
        )
        await response.write(encode_retry(settings.retry_ms) + encode_control(connected))
        last_sent = await _replay(response, store, subscriber, after or 0)
        while subscriber.close_reason is None:
            events = await subscriber.take()
            if subscriber.close_reason is not None:
                break
            frames = [event.frame for event in events if event.seq > last_sent]
            if events:
                last_sent = max(last_sent, events[-1].seq)
            if frames:
                await response.write(b"".join(frames))
            elif not events:
                await response.write(_heartbeat())
    except ConnectionError:
        pass  # the client went away; everything it had is stored
    except Exception:
        # Headers are out: the error middleware can no longer answer. End the stream; the
        # client reconnects with its Last-Event-ID.
        log.exception("stream of session %s failed", session_id)
    finally:
        bus.unsubscribe(subscriber)
        stats.closed(session_id)
    return response


async def _replay(
    response: web.StreamResponse, store: Store, subscriber: Subscriber, after: int
) -> int:
    """Send the stored events after ``after``; return the last seq sent.

    Ids are contiguous, and only retention removes events (from the front), so a page that
    starts past ``last_sent + 1`` means the events in between were trimmed: say so."""
    last_sent = after
    while subscriber.close_reason is None:
        page = await store.events.read(subscriber.session_id, last_sent, REPLAY_PAGE)
        if not page:
            break
        if page[0].seq > last_sent + 1:
            notice = HistoryTrimmed(
                session_id=subscriber.session_id,
                requested_after=last_sent,
                first_available_id=page[0].seq,
                timestamp=now_ms(),
            )
            await response.write(encode_control(notice))
        # Frames built here are not cached on the events: a replay of a long history must not
        # hold it twice.
        await response.write(b"".join(encode_event(e.type, e.data, e.seq) for e in page))
        last_sent = page[-1].seq
        if len(page) < REPLAY_PAGE:
            break
    return last_sent


def _heartbeat() -> bytes:
    return encode_control(Heartbeat(timestamp=now_ms()))
