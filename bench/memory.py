"""Memory per idle connection: the server's RSS with N idle streams open, minus before, over N.

The session's process prints nothing, so the streams stay idle. A few streams are opened and
closed first, so that what any first stream allocates once (imports, buffers) is in the baseline.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import psutil
from harness import ClientProcess, Cpus, start_server

WARM_STREAMS = 50
SETTLE = 1.0
CONNECT_WAIT = 60.0
IDLE_SECONDS = 300  # the session's process: long enough for any run, never forever


@dataclass
class MemoryRun:
    server: str
    streams: int
    rss_before: int
    rss_after: int

    @property
    def bytes_per_stream(self) -> float:
        return (self.rss_after - self.rss_before) / self.streams


async def run_memory(kind: str, *, streams: int, workdir: Path, cpus: Cpus) -> MemoryRun:
    server = start_server(kind, workdir, cpus)
    try:
        session_id, _ = await server.create_session(["sleep", str(IDLE_SECONDS)])
        path = server.events_path(session_id)
        rss = psutil.Process(server.pid).memory_info
        warm = await ClientProcess.start(server, path, WARM_STREAMS, cpus)
        await warm.read(CONNECT_WAIT)
        await warm.close()
        await asyncio.sleep(SETTLE)
        before = rss().rss
        clients = await ClientProcess.start(server, path, streams, cpus)
        try:
            ready = await clients.read(CONNECT_WAIT)
            if ready["ready"] != streams:
                raise RuntimeError(f"only {ready['ready']} of {streams} streams opened")
            await asyncio.sleep(SETTLE)
            after = rss().rss
        finally:
            await clients.close()
    finally:
        await server.stop()
    return MemoryRun(kind, streams, before, after)
