"""End-to-end throughput: a process writes N bytes as fast as it can; one SSE client reads them.

Timed from the moment the process may start (the go file) to the read holding the session's
``exited`` status, which the server sends only after every byte of output. MB/s counts the bytes
the process wrote (10^6 bytes per MB), not the larger JSON-escaped SSE stream. A run in which the
server cut the client off as too slow has no rate; it is reported as such.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from harness import (
    BENCH,
    HOST,
    PYTHON,
    SESSIONDOCK,
    CpuMeter,
    Cpus,
    start_server,
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

    @property
    def completed(self) -> bool:
        return self.slow_dropped == 0 and not math.isnan(self.seconds)

    @property
    def mb_per_s(self) -> float:
        return self.bytes_written / self.seconds / 1e6 if self.completed else math.nan


async def run_throughput(*, total: int, tty: bool, workdir: Path, cpus: Cpus) -> ThroughputRun:
    server = start_server(SESSIONDOCK, workdir, cpus)
    try:
        go = workdir / f"go-{secrets.token_hex(4)}"
        argv = [
            PYTHON, str(BENCH / "generator.py"), "--go", str(go), "--blast", str(total),
            *cpus.client_args(),
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
            started = time.monotonic_ns()
            touch(go)
            try:
                seconds = (await asyncio.wait_for(connection.watched, RUN_WAIT) - started) / 1e9
            except ConnectionError:
                seconds = math.nan  # the server closed the stream: see slow_dropped
            cpu = meter.stop()
        finally:
            connection.close()
        metrics = await server.metrics()
    finally:
        await server.stop()
    dropped = int(metrics["eventBus"]["slowClientsDropped"])
    return ThroughputRun(tty, total, tally.bytes, seconds, cpu.to_json(), dropped)
