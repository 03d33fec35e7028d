"""Keystroke echo: one character sent to a terminal session, until its echo reaches a client.

A session runs ``cat > /dev/null`` in a PTY; the terminal's line discipline echoes what is typed,
as a shell's line editor would. One lean client streams the session's events. Each keystroke is
a letter, sent with ``POST /input`` on a kept-alive connection once the previous echo has arrived
and a short pause has passed; the time runs from the request to the read that completes an
``output`` event holding that letter. Every ``LINE`` keystrokes an Enter (not timed; its echo is
awaited) ends the line, so the terminal's line buffer never fills.

A backend without ``/input`` (the tree before the emulator) is sent ``POST /prompt`` instead: the
letter and a newline, stored as a ``prompt`` event before it is written. That path does more
(a stored event, the newline), so compare the two with that in mind.

*Loaded*: another terminal session prints coloured lines as fast as it can for the whole run,
and a client (a separate process) streams it; its rate (SSE bytes a second, over the first
``LOUD_WINDOW`` seconds of the keystrokes) is reported with the run.
"""

from __future__ import annotations

import asyncio
import math
import re
import secrets
import string
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness import (
    BENCH,
    HOST,
    PYTHON,
    ROOT,
    SESSIONDOCK,
    ClientProcess,
    CpuMeter,
    Cpus,
    Server,
    start_server,
    touch,
)
from sseclient import request_bytes

LETTERS = string.ascii_lowercase
# cat's own output would mix lines with the echoes; the terminal echoes all the same.
CAT = ["sh", "-c", "exec cat > /dev/null"]
LINE = 40  # keystrokes between two (untimed) Enters
PAUSE = 0.01  # seconds between an echo and the next keystroke
ECHO_WAIT = 10.0
WARMUP = 20  # keystrokes sent first and not counted
LOUD_BYTES = 10**12  # the loud session's output: more than any run takes
LOUD_WARMUP = 1.0
LOUD_WINDOW = 3.0  # seconds over which the loud stream is counted
# An output event's data, whole (a read can end anywhere): its timestamp and its content.
OUTPUT = re.compile(
    rb'event: output\ndata: \{[^\n]*?"timestamp":(?P<timestamp>\d+),[^\n]*?'
    rb'"content":"(?P<content>(?:[^"\\]|\\.)*)"[^\n]*\n\n'
)
ENTER_ECHO = rb"\r\n"  # as JSON has it


@dataclass
class EchoRun:
    tree: str
    via: str  # "input" or "prompt"
    loaded: bool
    latencies_ms: list[float] = field(default_factory=list)
    # From the request to the echo's event ``timestamp`` (the runtime made the event: the
    # keystroke went through the PTY and the echo was read), wall clock, to the millisecond;
    # the rest of the latency is the store's commit, the bus and the stream.
    to_event_ms: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    loud_mb_per_s: float = math.nan  # SSE bytes the loud session's client read, per second
    placement: str = ""  # "pinned" or "free", as in bench/terminal.py


class EchoReader(asyncio.Protocol):
    """A session's event stream. ``expect(text)`` resolves with the CLOCK_MONOTONIC time of the
    first read after the call that completes an ``output`` event whose content (as JSON) holds
    ``text``; echoes coalesced into one event, or split over two, are found all the same."""

    def __init__(self, request: bytes) -> None:
        self._request = request
        self._buffer = b""
        self._text = b""
        self._waiter: asyncio.Future[int] | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.emitted_ms = 0  # the matched event's ``timestamp`` (wall clock, ms)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        if not self.ready.done():
            self.ready.set_result(None)
        if self._waiter is None or self._waiter.done():
            return
        # Only this session's events come, and few while keys are typed: keep them all.
        self._buffer += data
        for match in OUTPUT.finditer(self._buffer):
            if self._text in match["content"]:
                self.emitted_ms = int(match["timestamp"])
                self._waiter.set_result(now)
                return

    def connection_lost(self, exc: Exception | None) -> None:
        for future in (self.ready, self._waiter):
            if future is not None and not future.done():
                future.set_exception(ConnectionError(f"stream closed: {exc}"))

    def expect(self, text: bytes) -> asyncio.Future[int]:
        self._text = text
        self._buffer = b""
        self._waiter = asyncio.get_running_loop().create_future()
        return self._waiter


async def _keystrokes(
    server: Server, session_id: str, reader: EchoReader, count: int, via: str, run: EchoRun
) -> None:
    path = f"/api/session/{session_id}/{via}"
    for number in range(WARMUP + count):
        letter = LETTERS[number % len(LETTERS)]
        body = {"data": letter} if via == "input" else {"command": letter}
        echoed = reader.expect(letter.encode())
        started, started_wall = time.monotonic_ns(), time.time_ns()
        async with server.client().post(path, json=body) as response:
            response.raise_for_status()
        at = await asyncio.wait_for(echoed, ECHO_WAIT)
        if number >= WARMUP:
            run.latencies_ms.append((at - started) / 1e6)
            if reader.emitted_ms:
                run.to_event_ms.append(reader.emitted_ms - started_wall / 1e6)
        if via == "input" and number % LINE == LINE - 1:
            entered = reader.expect(ENTER_ECHO)
            async with server.client().post(path, json={"data": "\r"}) as response:
                response.raise_for_status()
            await asyncio.wait_for(entered, ECHO_WAIT)
        await asyncio.sleep(PAUSE)


async def run_echo(
    *,
    count: int,
    loaded: bool,
    workdir: Path,
    cpus: Cpus,
    via: str = "input",
    root: Path = ROOT,
    args: Sequence[str] = (),
    tree: str = "",
) -> EchoRun:
    server = start_server(SESSIONDOCK, workdir, cpus, root=root, args=args)
    loud: ClientProcess | None = None
    loud_pid = 0
    try:
        session_id, _ = await server.create_session(CAT, tty=True)
        request = request_bytes(HOST, server.port, server.events_path(session_id), server.token)
        transport, reader = await asyncio.get_running_loop().create_connection(
            lambda: EchoReader(request), HOST, server.port
        )
        try:
            await asyncio.wait_for(reader.ready, ECHO_WAIT)
            if loaded:
                go = workdir / f"go-{secrets.token_hex(4)}"
                argv = [
                    PYTHON, str(BENCH / "generator.py"), "--go", str(go), "--blast",
                    str(LOUD_BYTES), "--colored", *cpus.client_args(),
                ]  # fmt: skip
                loud_id, loud_pid = await server.create_session(argv, tty=True)
                loud = await ClientProcess.start(server, server.events_path(loud_id), 1, cpus)
                await loud.read(ECHO_WAIT)
                touch(go)
                await asyncio.sleep(LOUD_WARMUP)
                # The loud stream's rate, over the first seconds of the keystrokes (which take
                # longer: count x PAUSE at least).
                start = time.monotonic_ns()
                await loud.send({"start": start, "end": start + int(LOUD_WINDOW * 1e9)})
            run = EchoRun(tree, via, loaded)
            meter = CpuMeter({"server": [server.pid], "program": [loud_pid] if loaded else []})
            meter.start()
            await _keystrokes(server, session_id, reader, count, via, run)
            run.cpu = meter.stop().to_json()
        finally:
            transport.close()
        if loud is not None:
            counted = await loud.read(ECHO_WAIT + LOUD_WINDOW)
            run.loud_mb_per_s = int(counted["bytes"]) / LOUD_WINDOW / 1e6
        return run
    finally:
        if loud is not None:
            loud.proc.kill()
            await loud.proc.wait()
        await server.stop()
