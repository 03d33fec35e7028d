"""A reconnecting client for one session's event stream (``GET /api/session/{id}/events``).

Three parts, the first two without I/O:

- ``EventDecoder`` turns the text of a stream into ``Event``s, one list per chunk read, so all the
  events of the bytes at hand reach the UI in one call.
- ``Backoff`` says how long to wait before the next attempt.
- ``SessionStream`` owns a task that connects, reads, and reconnects with ``Last-Event-ID`` until
  it is stopped or the session is gone. It reports through two plain callbacks, which the Qt side
  turns into signals; nothing here imports Qt, so it runs on any asyncio loop.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any, Literal, cast

import httpx

from desktop.api import api_error, bearer, segment
from desktop.event_stream import EventStreamDecoder

CONNECTED = "connected"
HEARTBEAT = "heartbeat"
HISTORY_TRIMMED = "history-trimmed"
# The backend cannot store events (disk full, read-only database): the session is paused until
# STORAGE_RESTORED. Told when it starts, and after the replay to a client that connects meanwhile.
STORAGE_ERROR = "storage-error"
STORAGE_RESTORED = "storage-restored"
# A terminal's screen, sent only to a stream opened with ?attach=screen (the terminal widget's):
# "reset and draw this". Never stored; its id is the last stored event it covers.
SNAPSHOT = "snapshot"
# A piece of the text Claude is writing, live only: the whole message is stored when it lands.
DELTA = "delta"
# The events about the stream, never stored (backend/protocol/events.py).
CONTROL_EVENTS = frozenset(
    {CONNECTED, HEARTBEAT, HISTORY_TRIMMED, STORAGE_ERROR, STORAGE_RESTORED, SNAPSHOT, DELTA}
)


@dataclass(frozen=True, slots=True)
class Event:
    """One event of the stream. ``id`` is the stored event's seq; control events
    (``CONTROL_EVENTS``: ``connected``, ``history-trimmed``, ``storage-error``…) have none."""

    id: int | None
    type: str
    data: dict[str, Any]


def output_text(data: dict[str, Any]) -> str:
    """The text of an ``output`` event's data."""
    content = data.get("content", "")
    return content if isinstance(content, str) else str(content)


class StreamProtocolError(Exception):
    """The server sent something that is not an event stream of JSON events."""


class EventDecoder:
    """Text of an event stream in, ``Event``s out: no I/O, so it is tested with strings.

    It returns every event a piece of text completes, so that all the events of one read reach
    the UI in one call. An event gets the id of its own ``id:`` line, or None: not the last id
    seen, which is right for a browser's reconnect but wrong for telling stored events apart.
    Events with empty data (a keep-alive) are skipped.
    """

    def __init__(self) -> None:
        self._stream = EventStreamDecoder()

    def feed(self, text: str) -> list[Event]:
        return [
            _event(sse.type, sse.data, sse.id or "") for sse in self._stream.feed(text) if sse.data
        ]


def _event(kind: str, data: str, raw_id: str) -> Event:
    try:
        payload = json.loads(data)
    except ValueError as exc:
        raise StreamProtocolError(
            f"{kind} event with data that is not JSON: {data[:80]!r}"
        ) from exc
    if not isinstance(payload, dict):
        raise StreamProtocolError(f"{kind} event whose data is not a JSON object")
    if not raw_id:
        return Event(None, kind, payload)
    if not (raw_id.isascii() and raw_id.isdigit()):
        raise StreamProtocolError(f"{kind} event with id {raw_id[:40]!r}, not a seq")
    return Event(int(raw_id), kind, payload)


Jitter = Literal["full", "equal", "none"]


class Backoff:
    """Delays between reconnection attempts: ``base`` doubling up to ``maximum``, with jitter.

    ``full`` jitter draws from ``[0, ceiling]``, ``equal`` from ``[ceiling/2, ceiling]`` (the
    default: never a burst of instant retries, and still spread), ``none`` is the ceiling itself.
    ``next_delay()`` counts an attempt; ``reset()`` starts over after a good connection.
    """

    def __init__(
        self,
        base: float = 1.0,
        maximum: float = 30.0,
        *,
        jitter: Jitter = "equal",
        rand: Callable[[], float] = random.random,
    ) -> None:
        if not 0 < base <= maximum:
            raise ValueError("Backoff needs 0 < base <= maximum")
        self.base = base
        self.maximum = maximum
        self.jitter = jitter
        self._rand = rand
        self.attempt = 0

    def ceiling(self, attempt: int) -> float:
        """The longest delay before attempt number ``attempt`` (1-based)."""
        # The exponent is capped so that a client left retrying for weeks never overflows.
        return min(self.maximum, self.base * 2.0 ** min(max(attempt - 1, 0), 64))

    def next_delay(self) -> float:
        self.attempt += 1
        ceiling = self.ceiling(self.attempt)
        if self.jitter == "full":
            return ceiling * self._rand()
        if self.jitter == "equal":
            return ceiling / 2 + ceiling / 2 * self._rand()
        return ceiling

    def reset(self) -> None:
        self.attempt = 0


StateKind = Literal["connecting", "connected", "reconnecting", "gone", "closed"]


@dataclass(frozen=True, slots=True)
class StreamState:
    """Where a ``SessionStream`` is.

    - ``connecting``: a request is on its way; ``attempt`` failed attempts came before it.
    - ``connected``: the stream is open (200, ``text/event-stream``).
    - ``reconnecting``: the last attempt or stream failed (``error`` says how); attempt number
      ``attempt`` starts in ``retry_in`` seconds.
    - ``gone``: no more attempts. The session does not exist (404, ``code`` is the backend's
      ``session_not_found``) or the token was refused (401, ``unauthorized``). ``set_endpoint()``
      tries again.
    - ``closed``: not started yet, or ``stop()`` was called.
    """

    kind: StateKind
    attempt: int = 0
    retry_in: float | None = None
    error: str | None = None
    code: str | None = None


class _Gone(Exception):
    def __init__(self, message: str, code: str | None) -> None:
        super().__init__(message)
        self.code = code


def _describe(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class SessionStream:
    """A session's events, delivered once each and in order, across disconnects and restarts.

    ``on_events`` gets every event but heartbeats, in lists: one per read from the network.
    ``on_state`` gets each ``StreamState``. Both are called on the loop's thread, from the
    stream's task; an exception they raise goes to the loop's exception handler and the stream
    goes on. Each reconnect sends ``Last-Event-ID`` (the last stored event delivered), so nothing
    is missed or repeated; a stored event at or below it is dropped all the same.

    The read timeout is three heartbeat intervals: a stream that says nothing for that long is
    dead (a backend that froze, a network that went away) and is replaced.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        session_id: str,
        *,
        on_events: Callable[[list[Event]], None],
        on_state: Callable[[StreamState], None] | None = None,
        last_event_id: int | None = None,
        heartbeat_interval: float = 15.0,
        connect_timeout: float = 5.0,
        backoff: Backoff | None = None,
        params: dict[str, str] | None = None,
    ) -> None:
        if heartbeat_interval <= 0 or connect_timeout <= 0:
            raise ValueError("heartbeat_interval and connect_timeout must be positive")
        self.session_id = session_id
        self._base_url = base_url
        self._token = token
        self._on_events = on_events
        self._on_state = on_state
        self._last_event_id = last_event_id
        self._params = dict(params or {})  # the stream's query: attach=screen, scrollback=N
        self._timeout = httpx.Timeout(
            connect=connect_timeout,
            read=3 * heartbeat_interval,
            write=connect_timeout,
            pool=connect_timeout,
        )
        self._backoff = backoff or Backoff()
        self._state = StreamState("closed")
        self._task: asyncio.Task[None] | None = None
        self._scope: asyncio.Timeout | None = None  # expired early by set_endpoint()
        self._switched = False
        self._stopped = False

    @property
    def last_event_id(self) -> int | None:
        """The id of the last stored event delivered (or the one given at construction)."""
        return self._last_event_id

    @property
    def state(self) -> StreamState:
        return self._state

    @property
    def base_url(self) -> str:
        return self._base_url

    def start(self) -> None:
        """Start connecting, in a task this object owns. Call it on the running loop."""
        if self._stopped:
            raise RuntimeError("a stopped SessionStream cannot start again")
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"SessionStream {self.session_id}"
            )

    async def stop(self) -> None:
        """Close the stream for good: cancel the task and wait for it. Ends in ``closed``."""
        self._stopped = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise  # our caller is being cancelled too
        if self._state.kind != "closed":
            self._set_state(StreamState("closed", attempt=self._backoff.attempt))

    def set_endpoint(self, base_url: str, token: str) -> None:
        """Use a (restarted) backend at ``base_url`` with ``token`` from now on: the stream
        reconnects at once, resuming after ``last_event_id``, also if it was ``gone``."""
        self._base_url = base_url
        self._token = token
        if self._stopped or self._task is None:
            return  # start() will use them
        self._switched = True
        if self._task.done():
            self.start()
        elif self._scope is not None and not self._scope.expired():
            # Expire the current attempt now. Already expiring: a switch is under way and will
            # read the new address.
            self._scope.reschedule(asyncio.get_running_loop().time())

    # -- the task

    async def _run(self) -> None:
        try:
            async with httpx.AsyncClient(timeout=self._timeout, trust_env=False) as client:
                await self._connect_until_gone(client)
        except _Gone as gone:
            self._set_state(
                StreamState("gone", attempt=self._backoff.attempt, error=str(gone), code=gone.code)
            )
        except Exception as exc:
            # A bug of ours: say so where errors are shown, and stop pretending to stream.
            asyncio.get_running_loop().call_exception_handler(
                {"message": f"SessionStream {self.session_id} failed", "exception": exc}
            )
            self._set_state(
                StreamState("gone", attempt=self._backoff.attempt, error=_describe(exc))
            )

    async def _connect_until_gone(self, client: httpx.AsyncClient) -> None:
        while True:
            if self._switched:
                self._switched = False
                self._backoff.reset()
            scope = asyncio.timeout(None)
            try:
                async with scope:
                    self._scope = scope
                    error = await self._connect_once(client)
                    delay = self._backoff.next_delay()
                    self._set_state(
                        StreamState(
                            "reconnecting",
                            attempt=self._backoff.attempt,
                            retry_in=delay,
                            error=error,
                        )
                    )
                    await asyncio.sleep(delay)
            except TimeoutError:
                if not scope.expired():
                    raise
                # set_endpoint(): go again at once, at the new address.
            finally:
                self._scope = None

    async def _connect_once(self, client: httpx.AsyncClient) -> str:
        """Connect and read until the stream ends; why it ended. Raises ``_Gone`` for good."""
        self._set_state(StreamState("connecting", attempt=self._backoff.attempt))
        url = f"{self._base_url.rstrip('/')}/api/session/{segment(self.session_id)}/events"
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
        headers.update(bearer(self._token))
        if self._last_event_id is not None:
            headers["Last-Event-ID"] = str(self._last_event_id)
        try:
            async with client.stream("GET", url, headers=headers, params=self._params) as response:
                if response.status_code in (401, 404):
                    await response.aread()
                    error = api_error(response)
                    raise _Gone(f"{error.status} {error.message}", error.code)
                if response.status_code != 200:
                    await response.aread()
                    return f"HTTP {response.status_code}: {api_error(response).message}"
                content_type = response.headers.get("Content-Type", "").partition(";")[0]
                if content_type.strip().lower() != "text/event-stream":
                    return f"expected text/event-stream, got {content_type!r}"
                self._set_state(StreamState("connected", attempt=self._backoff.attempt))
                await self._read(response)
        except (httpx.TransportError, StreamProtocolError) as exc:
            return _describe(exc)
        return "the server ended the stream"

    async def _read(self, response: httpx.Response) -> None:
        decoder = EventDecoder()
        # httpx types aiter_text() as an iterator; it is an async generator over a chain of them.
        chunks = cast(AsyncGenerator[str, None], response.aiter_text())
        try:
            async for text in chunks:
                if self._deliver(decoder.feed(text)):
                    # A live stream (more than the greeting): the next failure starts afresh.
                    self._backoff.reset()
        finally:
            # Leaving the loop early (a protocol error) abandons the generators inside httpx.
            # Closing the response first makes their clean-up a no-op; otherwise httpcore's
            # awaits a lock when it is finalized, outside any task on a loop without asyncgen
            # hooks (qasync's), and fails.
            await response.aclose()
            await chunks.aclose()

    def _deliver(self, events: list[Event]) -> bool:
        """Hand on the new events; whether any showed the stream is alive."""
        fresh: list[Event] = []
        alive = False
        for event in events:
            if event.type != CONNECTED:
                alive = True
            if event.type == HEARTBEAT:
                continue
            if event.type == SNAPSHOT:
                # A whole screen, never a repeat: it replaces what was drawn, whatever its id.
                if event.id is not None:
                    self._last_event_id = max(event.id, self._last_event_id or 0)
            elif event.id is not None:
                if self._last_event_id is not None and event.id <= self._last_event_id:
                    continue  # already delivered: never show anything twice
                self._last_event_id = event.id
            fresh.append(event)
        if fresh:
            self._call(self._on_events, fresh)
        return alive

    def _set_state(self, state: StreamState) -> None:
        self._state = state
        if self._on_state is not None:
            self._call(self._on_state, state)

    def _call(self, callback: Callable[[Any], None], argument: Any) -> None:
        try:
            callback(argument)
        except Exception as exc:
            asyncio.get_running_loop().call_exception_handler(
                {"message": f"SessionStream {self.session_id} callback failed", "exception": exc}
            )
