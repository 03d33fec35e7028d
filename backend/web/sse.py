"""``GET /api/session/{id}/events``: one client's stream of a session's events.

The order matters: subscribe first, then replay from the store, then go live skipping what the
replay already sent. The bus only publishes committed events, so an event is either in the
replay's snapshot or arrives through the subscription (or both), never neither.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections.abc import Callable

from aiohttp import web

from backend.bus import SLOW, Subscriber
from backend.errors import DatabaseUnreadable, InvalidInput, NotATerminal, TooManyStreams
from backend.protocol.api import MAX_SCROLLBACK
from backend.protocol.events import (
    Connected,
    Heartbeat,
    HistoryTrimmed,
    Snapshot,
    StorageError,
    StorageRestored,
    now_ms,
)
from backend.protocol.sse import (
    MAX_EVENT_ID,
    StoredEvent,
    encode_control,
    encode_data,
    encode_event,
    encode_retry,
    parse_last_event_id,
)
from backend.store import Failure, Store
from backend.trace import TRACE
from backend.web.keys import BUS, MANAGER, SETTINGS, STORE, STREAMS

log = logging.getLogger(__name__)

# Events per replay read: at most 256 x 64 KiB in memory at once, even for big events.
REPLAY_PAGE = 256
# With attach=screen, a reconnect replays its gap when it is at most a page of at most this
# many bytes; a longer one gets a snapshot instead (it draws the same screen, sooner).
REPLAY_MAX_BYTES = 1024 * 1024
DEFAULT_SCROLLBACK = 1000  # lines of history in a snapshot unless ?scrollback= says
# A live stream's events go straight to its socket while less than this waits in the
# transport (what aiohttp's own writer lets pile up before it waits for the client).
DIRECT_WRITE_LIMIT = 64 * 1024
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


def attach_options(request: web.Request) -> int | None:
    """``?attach=screen``: the scrollback lines its snapshots carry; else None."""
    attach = request.query.get("attach", "")
    raw = request.query.get("scrollback", "")
    if attach not in ("", "screen"):
        raise InvalidInput("attach: must be 'screen'")
    if raw and not (raw.isascii() and raw.isdigit() and int(raw) <= MAX_SCROLLBACK):
        raise InvalidInput(f"scrollback must be an integer from 0 to {MAX_SCROLLBACK}")
    if attach != "screen":
        return None
    return int(raw) if raw else DEFAULT_SCROLLBACK


def replayable(after: int | None, first: list[StoredEvent]) -> bool:
    """Whether a client resuming after ``after`` gets the events it missed rather than a
    snapshot: it resumes, nothing it missed was trimmed, and the gap is short."""
    if after is None:
        return False
    if not first:
        return True
    return (
        first[0].seq == after + 1
        and len(first) < REPLAY_PAGE
        and sum(len(event.data) for event in first) <= REPLAY_MAX_BYTES
    )


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
    scrollback = attach_options(request)
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
    # Counted from here, before the first await: a burst of requests must not all pass the
    # check above while each waits for its first page.
    stats.opened(session_id)
    try:
        manager.open_session(session_id)  # an imported session reads and follows its file
        # The first page is read before the headers go out: a database that cannot be read
        # is then a JSON 503 the client can show, not a stream that ends after `connected`.
        # With attach=screen and no resume point the history is not replayed: read nothing
        # of it (a snapshot follows, and the page after it is read before the headers).
        fresh_attach = scrollback is not None and after is None
        first = [] if fresh_attach else await store.events.read(session_id, after or 0, REPLAY_PAGE)
        connected = Connected(
            session_id=session_id,
            client_id=client_id,
            last_event_id=after,
            session_last_event_id=store.events.last_seq(session_id),
            heartbeat_interval=settings.heartbeat_interval,  # for a client's watchdog
        )
        snapshot = b""
        if scrollback is not None and not replayable(after, first):
            try:
                snapshot, after = await _snapshot(request, session_id, scrollback)
            except NotATerminal:  # nothing to draw: the stream is the plain one
                if fresh_attach:
                    first = await store.events.read(session_id, 0, REPLAY_PAGE)
            else:
                first = await store.events.read(session_id, after, REPLAY_PAGE)
        return await _stream(request, subscriber, connected, snapshot, after or 0, first)
    finally:
        bus.unsubscribe(subscriber)
        stats.closed(session_id)


async def _snapshot(request: web.Request, session_id: str, scrollback: int) -> tuple[bytes, int]:
    """A ``snapshot`` event of the session's screen, and the last event it covers."""
    _, view = await request.app[MANAGER].screen(session_id, "vt", scrollback)
    snapshot = Snapshot(
        session_id=session_id,
        cols=view.cols,
        rows=view.rows,
        vt=view.content,
        alt_screen=view.alt_screen,
        last_event_id=view.last_seq,
        timestamp=now_ms(),
    )
    return encode_event(Snapshot.event, encode_data(snapshot), view.last_seq), view.last_seq


async def _stream(
    request: web.Request,
    subscriber: Subscriber,
    connected: Connected,
    snapshot: bytes,
    after: int,
    first: list[StoredEvent],
) -> web.StreamResponse:
    """Send ``connected``, the snapshot if any, the replay after ``after`` that starts with
    ``first``, then live events."""
    session_id = subscriber.session_id
    settings = request.app[SETTINGS]
    response = web.StreamResponse(headers=SSE_HEADERS)
    try:
        await response.prepare(request)
        await response.write(encode_retry(settings.retry_ms) + encode_control(connected) + snapshot)
        store = request.app[STORE]
        told: Failure | None = None  # the storage failure this client was last told of
        live = _Live(request, response, subscriber)
        live.last_sent = await _replay(response, store, subscriber, after, first)
        while subscriber.close_reason is None:
            if store.failure is not told:
                await response.write(_storage_notice(store.failure))
                told = store.failure
            events = await subscriber.take(live.sink)
            taken = time.monotonic_ns() if TRACE is not None else 0
            if subscriber.close_reason is not None:
                break
            frames = [e.frame for e in events if e.seq > live.last_sent or e.transient]
            if events:  # a transient event's seq is 0
                newest = events[-1].seq or max(e.seq for e in events)
                live.last_sent = max(live.last_sent, newest)
            if frames:
                await response.write(b"".join(frames))
                if TRACE is not None:
                    TRACE.wrote(session_id, [e.seq for e in events], taken)
            elif not events and store.failure is told:
                await response.write(_heartbeat())
    except ConnectionError:
        pass  # the client went away; everything it had is stored
    except DatabaseUnreadable as exc:
        # A later page of the replay failed. Say why the stream ends; the client's reconnect
        # then gets the 503.
        now = now_ms()
        notice = StorageError(reason=exc.message, since=now, timestamp=now)
        with contextlib.suppress(ConnectionError):
            await response.write(encode_control(notice))
    except Exception:
        # Headers are out: the error middleware can no longer answer. End the stream; the
        # client reconnects with its Last-Event-ID.
        log.exception("stream of session %s failed", session_id)
    return response


class _Live:
    """A stream once it is live: the last id it sent, and the bus's straight way to its
    client (``sink``), taken while the stream's writer waits with nothing queued."""

    def __init__(
        self, request: web.Request, response: web.StreamResponse, subscriber: Subscriber
    ) -> None:
        self.last_sent = 0
        self._subscriber = subscriber
        self._transport = request.transport
        # What the response's own writer would add: HTTP/1.1's chunk around each write.
        self._chunked = response.headers.get("Transfer-Encoding", "").lower() == "chunked"

    def sink(self, event: StoredEvent) -> bool:
        """Write ``event`` to the client now (one write: its frame, made once for all); False
        when the client has not taken what it was sent (its writer then queues and waits)."""
        transport = self._transport
        if (
            transport is None
            or transport.is_closing()
            or transport.get_write_buffer_size() > DIRECT_WRITE_LIMIT
        ):
            return False
        if event.transient or event.seq > self.last_sent:  # (the replay may have sent it)
            transport.write(event.chunk if self._chunked else event.frame)
            if not event.transient:
                self.last_sent = event.seq
            self._subscriber.active_at = time.monotonic()
            if TRACE is not None:
                TRACE.wrote(event.session_id, [event.seq], time.monotonic_ns())
        return True


async def _replay(
    response: web.StreamResponse,
    store: Store,
    subscriber: Subscriber,
    after: int,
    page: list[StoredEvent],
) -> int:
    """Send the stored events after ``after``, from ``page`` (the first, already read) on;
    return the last seq sent.

    Ids are contiguous, and only retention removes events (from the front), so a page that
    starts past ``last_sent + 1`` means the events in between were trimmed: say so."""
    last_sent = after
    while page and subscriber.close_reason is None:
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
        page = await store.events.read(subscriber.session_id, last_sent, REPLAY_PAGE)
    return last_sent


def _storage_notice(failure: Failure | None) -> bytes:
    if failure is None:
        return encode_control(StorageRestored(timestamp=now_ms()))
    notice = StorageError(reason=failure.reason, since=failure.since, timestamp=now_ms())
    return encode_control(notice)


def _heartbeat() -> bytes:
    return encode_control(Heartbeat(timestamp=now_ms()))
