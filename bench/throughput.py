"""End-to-end throughput: a process writes N bytes as fast as it can; one SSE client reads them.

Timed from the moment the process may start (the go file) to the read holding the session's
``exited`` status, which the server sends only after every byte of output. MB/s counts the bytes
the process wrote (10^6 bytes per MB), not the larger JSON-escaped SSE stream. A run in which the
server cut the client off as too slow has no rate; it is reported as such.

For terminal sessions (``bench/terminal.py``) the output can be coloured log lines, the server
can run from another source tree (``root``), and two more figures are taken: the server's peak
RSS (VmHWM) over the run, and ``screen_lag``, how long after ``exited`` reached the client a
``GET /screen`` (queued behind whatever the session's emulator still had to take) answered.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil
from harness import (
    BENCH,
    HOST,
    PYTHON,
    ROOT,
    SESSIONDOCK,
    CpuMeter,
    Cpus,
    start_server,
    status_bytes,
    touch,
)
from sseclient import SSEConnection, Tally, Window, request_bytes

EXITED = b'"status":"exited"'
RUN_WAIT = 120.0


@dataclass
class ThroughputRun:
    tty: bool
    bytes_written: int
    bytes_read: int  # SSE body bytes the client read
    seconds: float
    cpu: dict[str, float]
    slow_dropped: int  # the server cut the client off as too slow (the run then has no rate)
    peak_rss: int = 0  # the server's VmHWM at the end of the run, bytes
    screen_lag: float = math.nan  # seconds from ``exited`` at the client to a /screen answer
    tree: str = ""  # which source tree served, when trees are compared
    placement: str = ""  # "pinned" (the server on a core of its own) or "free" (the OS places it)

    @property
    def completed(self) -> bool:
        return self.slow_dropped == 0 and not math.isnan(self.seconds)

    @property
    def server_ms_per_mb(self) -> float:
        """The server's CPU time per MB of output: what the rate is when its core is the limit."""
        return self.cpu["server"] * self.seconds * 1000 / (self.bytes_written / 1e6)

    @property
    def mb_per_s(self) -> float:
        return self.bytes_written / self.seconds / 1e6 if self.completed else math.nan


def children_cpu(pid: int) -> float:
    """CPU seconds of the process's children that it has reaped."""
    times = psutil.Process(pid).cpu_times()
    return float(times.children_user + times.children_system)


async def run_throughput(
    *,
    total: int,
    tty: bool,
    workdir: Path,
    cpus: Cpus,
    colored: bool = False,
    line_bytes: int = 100,
    root: Path = ROOT,
    args: Sequence[str] = (),
    screen_lag: bool = False,
    tree: str = "",
) -> ThroughputRun:
    server = start_server(SESSIONDOCK, workdir, cpus, root=root, args=args)
    try:
        go = workdir / f"go-{secrets.token_hex(4)}"
        style = ["--colored", "--size", str(line_bytes)] if colored else []
        argv = [
            PYTHON, str(BENCH / "generator.py"), "--go", str(go), "--blast", str(total),
            *style, *cpus.client_args(),
        ]  # fmt: skip
        session_id, _ = await server.create_session(argv, tty=tty)
        tally = Tally()
        request = request_bytes(HOST, server.port, server.events_path(session_id), server.token)
        _, connection = await asyncio.get_running_loop().create_connection(
            lambda: SSEConnection(request, Window.always(), tally, watch=EXITED),
            HOST,
            server.port,
        )
        try:
            await asyncio.wait_for(connection.ready, RUN_WAIT)
            meter = CpuMeter({"server": [server.pid]})  # the client is the harness itself
            meter.start()
            reaped = children_cpu(server.pid)
            started = time.monotonic_ns()
            touch(go)
            exited = 0
            try:
                exited = await asyncio.wait_for(connection.watched, RUN_WAIT)
                seconds = (exited - started) / 1e9
            except ConnectionError:
                seconds = math.nan  # the server closed the stream: see slow_dropped
            cpu = meter.stop()
            # The program has exited and the server reaped it: its CPU (a PTY's line
            # discipline works in the writer's time) is in the server's children's times.
            program_cores = (children_cpu(server.pid) - reaped) / max(1e-9, seconds)
            lag = math.nan
            if screen_lag and exited:
                await server.get_json(f"/api/session/{session_id}/screen?format=text")
                lag = (time.monotonic_ns() - exited) / 1e9
        finally:
            connection.close()
        metrics = await server.metrics()
        peak = status_bytes(server.pid, "VmHWM")
    finally:
        await server.stop()
    dropped = int(metrics["eventBus"]["slowClientsDropped"])
    cores = cpu.to_json()
    # The program's CPU is not other programs': take it out of ``other``.
    cores["program"] = program_cores
    cores["other"] = max(0.0, cores["other"] - program_cores)
    return ThroughputRun(tty, total, tally.bytes, seconds, cores, dropped, peak, lag, tree)
