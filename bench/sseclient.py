"""A lean SSE client for benchmarks: an asyncio Protocol that counts instead of parsing.

Benchmark clients must cost much less than the server they measure, so nothing here decodes
events. A connection counts what matters with ``bytes.count`` over each chunk it reads:

- lines: one ``@`` per generator line (nothing else on the wire contains ``@``);
- events: ``event: output`` once per output event, in both servers' streams (or another marker);
- latency: each ``!`` is followed by the 20-digit CLOCK_MONOTONIC time the line was written,
  compared with the time the chunk holding it was read.

Chunk borders of the HTTP chunked encoding only fall between events, never inside a token, but
reads can split anything, so the last bytes of each read are kept for the next one.
"""

from __future__ import annotations

import asyncio
import time
from array import array
from dataclasses import dataclass, field

LINE = b"@"
EVENT = b"event: output"
TOKEN = b"!"
TOKEN_DIGITS = 20
TAIL = TOKEN_DIGITS  # a token is 21 bytes: keep 20 so a split one is seen whole next time
MAX_SAMPLES = 2_000_000


@dataclass
class Window:
    """The CLOCK_MONOTONIC nanoseconds in which reads are counted, shared by all connections."""

    start: int = 2**63 - 1
    end: int = 2**63 - 1

    @classmethod
    def always(cls) -> Window:
        return cls(0, 2**63 - 1)


@dataclass
class Tally:
    """What the connections of one process counted inside the window."""

    lines: int = 0
    events: int = 0
    bytes: int = 0
    reads: int = 0
    bad_tokens: int = 0
    latencies_ns: array[int] = field(default_factory=lambda: array("q"))

    def to_json(self) -> dict[str, object]:
        return {
            "lines": self.lines,
            "events": self.events,
            "bytes": self.bytes,
            "reads": self.reads,
            "badTokens": self.bad_tokens,
            "latenciesNs": self.latencies_ns.tolist(),
        }


class SSEConnection(asyncio.Protocol):
    """One GET of an event stream. ``ready`` resolves at the first body byte, or fails;
    ``watched`` at the read that completes ``watch``, with the time of that read."""

    def __init__(
        self,
        request: bytes,
        window: Window,
        tally: Tally,
        *,
        watch: bytes = b"",
        event_marker: bytes = EVENT,
    ) -> None:
        self._request = request
        self._event = event_marker
        self._window = window
        self._tally = tally
        self._tail = b""
        self._head = b""
        self._in_body = False
        self._watch = watch
        self._watch_tail = b""
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.watched: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.total_bytes = 0
        self.failed = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(self.failed or f"closed: {exc}"))
        if self._watch and not self.watched.done():
            self.watched.set_exception(ConnectionError(f"closed before the watched bytes: {exc}"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        self.total_bytes += len(data)
        if not self._in_body:
            data = self._read_head(data)
            if not data:
                return
        if not self.ready.done():
            self.ready.set_result(None)
        if self._watch:
            self._look_for_watch(data, now)
        window = self._window
        if not window.start <= now < window.end:
            self._tail = data[-TAIL:]
            return
        tally = self._tally
        tally.reads += 1
        tally.bytes += len(data)
        tally.lines += data.count(LINE)
        buf = self._tail + data
        tally.events += buf.count(self._event, max(0, len(self._tail) - len(self._event) + 1))
        if TOKEN in buf:
            self._read_tokens(buf, now)
        self._tail = buf[-TAIL:]

    def _read_tokens(self, buf: bytes, now: int) -> None:
        tally = self._tally
        size = len(buf)
        i = buf.find(TOKEN)
        while i != -1 and i + TOKEN_DIGITS < size:
            digits = buf[i + 1 : i + 1 + TOKEN_DIGITS]
            if digits.isdigit():
                if len(tally.latencies_ns) < MAX_SAMPLES:
                    tally.latencies_ns.append(now - int(digits))
            else:
                tally.bad_tokens += 1
            i = buf.find(TOKEN, i + 1 + TOKEN_DIGITS)

    def _look_for_watch(self, data: bytes, now: int) -> None:
        buf = self._watch_tail + data
        if not self.watched.done() and self._watch in buf:
            self.watched.set_result(now)
        self._watch_tail = buf[-len(self._watch) :]

    def _read_head(self, data: bytes) -> bytes:
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end == -1:
            if len(self._head) > 65536:
                self._fail("response head too long")
            return b""
        head, body = self._head[:end], self._head[end + 4 :]
        self._head = b""
        status = head.split(b"\r\n", 1)[0]
        if b" 200 " not in status + b" ":
            self._fail(f"not 200: {status.decode(errors='replace')}")
            return b""
        self._in_body = True
        return body

    def _fail(self, message: str) -> None:
        self.failed = message
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(message))
        if self.transport is not None:
            self.transport.close()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def request_bytes(host: str, port: int, path: str, token: str | None, extra: str = "") -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{auth}Accept: text/event-stream\r\n"
        f"Cache-Control: no-cache\r\n{extra}\r\n"
    ).encode()


async def open_streams(
    host: str,
    port: int,
    path: str,
    token: str | None,
    count: int,
    window: Window,
    tally: Tally,
    *,
    batch: int = 100,
    within: float = 30.0,
) -> list[SSEConnection]:
    """Open ``count`` streams, ``batch`` at a time, all ready (a body byte read) ``within`` s."""
    loop = asyncio.get_running_loop()
    request = request_bytes(host, port, path, token)
    connections: list[SSEConnection] = []
    deadline = loop.time() + within
    try:
        for first in range(0, count, batch):
            group: list[SSEConnection] = []
            for _ in range(min(batch, count - first)):
                _, protocol = await loop.create_connection(
                    lambda: SSEConnection(request, window, tally), host, port
                )
                group.append(protocol)
            connections.extend(group)
            left = max(0.1, deadline - loop.time())
            await asyncio.wait_for(asyncio.gather(*(c.ready for c in group)), left)
    except BaseException:
        for connection in connections:
            connection.close()
        raise
    return connections
