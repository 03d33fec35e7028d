"""Attaching to a terminal session: how long until a new client holds the current screen.

A backend gets one terminal session per history size (1, 10 and 100 MB by default). Each runs
``generator.py``, which prints that many bytes of coloured log lines in its PTY, then a last line
(the mark) and sleeps, so the session stays live and idle. Once the mark is on every session's
screen (``GET /screen``: the emulator has taken everything), the sizes take turns:

- **attach**: a lean client opens ``GET /events?attach=screen``; the time runs from its connect
  call to the read that completes the ``snapshot`` event (the SSE frame up to its blank line).
  The frame's size and its ``vt`` field's size (UTF-8) are recorded too;
- **screen**: ``GET /screen?format=text`` (and ``vt``, ``html``) on a kept-alive connection,
  from the request to the whole body.

The store keeps 50 MB of a session's events by default (``--max-session-mb``), so the 100 MB
session's history is trimmed; its emulator took all 100 MB.

``histories()`` is the hook for the browser's half of the figure ("the page shows the current
screen in at most 300 ms", issue 13): it yields the backend and its sessions, ready, for a
Playwright run to time the page against; ``python -m bench.terminal --serve`` does the same from
a shell and prints the URL, token and session ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness import (
    BENCH,
    HOST,
    PYTHON,
    ROOT,
    SESSIONDOCK,
    Cpus,
    Server,
    start_server,
    touch,
    wait_for_quiet,
)
from sseclient import request_bytes

MB = 1_000_000
LINE_BYTES = 100
MARK = "SESSIONDOCK-BENCH-OUTPUT-DONE"
HOLD = 3600.0  # seconds the sessions' programs sleep after their output
FILL_WAIT = 600.0
POLL = 0.25
ATTACH_WAIT = 30.0
SNAPSHOT = b"event: snapshot\n"
FRAME_END = b"\n\n"


@dataclass
class AttachRun:
    history_bytes: int
    scrollback: int | None  # the ?scrollback= asked for (None: the default, 1000 lines)
    seconds: float  # connect call → the read completing the snapshot event
    frame_bytes: int  # the snapshot event as sent (without the HTTP chunk framing)
    vt_bytes: int  # its ``vt`` field, UTF-8
    last_event_id: int


@dataclass
class ScreenRun:
    history_bytes: int
    format: str
    seconds: float  # request → whole body
    bytes: int  # the JSON body


@dataclass
class Histories:
    """A backend whose terminal sessions printed these many bytes each and now sit idle."""

    server: Server
    sessions: dict[int, str]  # history bytes → session id


async def screen_shows(server: Server, session_id: str, text: str, within: float) -> None:
    """Wait until ``text`` is on the session's screen (its emulator has taken the output)."""
    deadline = time.monotonic() + within
    while True:
        screen = await server.get_json(f"/api/session/{session_id}/screen?format=text")
        if text in screen["content"]:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{text!r} not on the screen of {session_id} after {within} s")
        await asyncio.sleep(POLL)


@contextlib.asynccontextmanager
async def histories(
    sizes: Sequence[int],
    workdir: Path,
    cpus: Cpus,
    *,
    root: Path = ROOT,
    args: Sequence[str] = (),
) -> AsyncIterator[Histories]:
    """Start a backend, print ``sizes`` bytes in one terminal session each, wait until every
    screen shows the end, and yield; stop everything on the way out."""
    server = start_server(SESSIONDOCK, workdir, cpus, root=root, args=args)
    try:
        go = workdir / f"go-{secrets.token_hex(4)}"
        sessions: dict[int, str] = {}
        for size in sizes:
            argv = [
                PYTHON, str(BENCH / "generator.py"), "--go", str(go), "--blast", str(size),
                "--colored", "--size", str(LINE_BYTES), "--mark", MARK, "--hold", str(HOLD),
                *cpus.client_args(),
            ]  # fmt: skip
            sessions[size], _ = await server.create_session(argv, tty=True)
        touch(go)
        for session_id in sessions.values():
            await screen_shows(server, session_id, MARK, FILL_WAIT)
        yield Histories(server, sessions)
    finally:
        await server.stop()


class SnapshotReader(asyncio.Protocol):
    """One ``GET /events?attach=screen``: ``done`` resolves with the CLOCK_MONOTONIC time of the
    read that completes the snapshot event; ``body`` keeps what came (chunk framing included)."""

    def __init__(self, request: bytes) -> None:
        self._request = request
        self.body = bytearray()
        self._start = -1
        self.done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        scan_from = max(0, len(self.body) - len(SNAPSHOT))
        self.body += data
        if self.done.done():
            return
        if self._start < 0:
            self._start = self.body.find(SNAPSHOT, scan_from)
            if self._start < 0:
                return
            scan_from = self._start
        if self.body.find(FRAME_END, max(scan_from, self._start)) != -1:
            self.done.set_result(now)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError(f"closed before the snapshot: {exc}"))

    def frame(self) -> tuple[int, int, int]:
        """The snapshot frame's size, its ``vt`` size and its id."""
        start = self.body.rfind(b"id: ", 0, self._start)
        end = self.body.find(FRAME_END, self._start) + len(FRAME_END)
        frame = bytes(self.body[start:end])
        head, _, data = frame.partition(b"\ndata: ")
        vt = json.loads(data)["vt"]
        return len(frame), len(vt.encode()), int(head.split(b"\n")[0][4:])


async def attach_once(server: Server, session_id: str, scrollback: int | None) -> AttachRun:
    query = "?attach=screen" + ("" if scrollback is None else f"&scrollback={scrollback}")
    request = request_bytes(HOST, server.port, server.events_path(session_id, query), server.token)
    loop = asyncio.get_running_loop()
    started = time.monotonic_ns()
    transport, reader = await loop.create_connection(
        lambda: SnapshotReader(request), HOST, server.port
    )
    try:
        done = await asyncio.wait_for(reader.done, ATTACH_WAIT)
    finally:
        transport.close()
    frame_bytes, vt_bytes, last_id = reader.frame()
    return AttachRun(0, scrollback, (done - started) / 1e9, frame_bytes, vt_bytes, last_id)


async def screen_once(server: Server, session_id: str, fmt: str) -> ScreenRun:
    started = time.monotonic()
    async with server.client().get(f"/api/session/{session_id}/screen?format={fmt}") as response:
        response.raise_for_status()
        body = await response.read()
    return ScreenRun(0, fmt, time.monotonic() - started, len(body))


async def attach_rounds(
    ready: Histories,
    rounds: int,
    *,
    scrollbacks: Sequence[int] = (),
    quiet_wait: float = 0.0,
    pause: float = 0.2,
) -> tuple[list[AttachRun], list[ScreenRun]]:
    """``rounds`` of: per history size, the sizes in turn (each round starts with the next one),
    one attach (on the largest, one more per ``scrollbacks`` value) and one ``GET /screen`` of
    each format. ``quiet_wait``: wait up to this long for a quiet machine per round."""
    attaches: list[AttachRun] = []
    screens: list[ScreenRun] = []
    sizes = list(ready.sessions)
    for number in range(rounds):
        if quiet_wait:
            await wait_for_quiet(quiet_wait)
        turn = number % len(sizes)
        for size in sizes[turn:] + sizes[:turn]:
            session_id = ready.sessions[size]
            for scrollback in (None, *scrollbacks) if size == max(sizes) else (None,):
                attach = await attach_once(ready.server, session_id, scrollback)
                attach.history_bytes = size
                attaches.append(attach)
                await asyncio.sleep(pause)
            for fmt in ("text", "vt", "html"):
                screen = await screen_once(ready.server, session_id, fmt)
                screen.history_bytes = size
                screens.append(screen)
            await asyncio.sleep(pause)
    return attaches, screens
