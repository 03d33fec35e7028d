"""Replay: how long a client resuming with ``?lastEventId=`` waits for 10,000 stored events.

The history is made through the API: a session runs ``cat`` and is sent prompts, each stored as
a ``prompt`` event and echoed back as ``output``. A client then connects with a lastEventId that
many events before the end and is timed from its connect call to the read holding the last id.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

from harness import HOST, SESSIONDOCK, Cpus, Server, median, start_server
from sseclient import SSEConnection, Tally, Window, request_bytes

PROMPT_BATCH = 1000
PROMPT_CONCURRENCY = 32
MAX_BATCHES = 30
SETTLE_WAIT = 10.0
REPLAY_WAIT = 30.0


@dataclass
class ReplayRun:
    events: int  # the events asked for
    received: int  # the events that arrived
    bytes: int
    times_ms: list[float]  # one per connection, first one first
    fill_s: float  # time taken to store the history through the API

    @property
    def median_ms(self) -> float:
        return median(self.times_ms)


async def fill_history(server: Server, session_id: str, events: int) -> int:
    """Send prompts until the session has more than ``events`` events; return its last id."""
    semaphore = asyncio.Semaphore(PROMPT_CONCURRENCY)
    filler = "x" * 60

    async def prompt(n: int) -> None:
        async with semaphore:
            body = {"command": f"prompt {n:06d} {filler}"}
            await server.post_json(f"/api/session/{session_id}/prompt", body)

    last = 0
    sent = 0
    for _ in range(MAX_BATCHES):
        await asyncio.gather(*(prompt(n) for n in range(sent, sent + PROMPT_BATCH)))
        sent += PROMPT_BATCH
        last = int((await server.get_json(f"/api/session/{session_id}"))["lastEventId"])
        if last > events:
            return await settled_last_id(server, session_id)
    raise RuntimeError(f"only {last} events after {sent} prompts")


async def settled_last_id(server: Server, session_id: str) -> int:
    """The session's last id once the echo has stopped and everything is committed."""
    deadline = time.monotonic() + SETTLE_WAIT
    last = -1
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        now = int((await server.get_json(f"/api/session/{session_id}"))["lastEventId"])
        if now == last:
            break
        last = now
    # The history endpoint waits for the store to commit everything appended before it.
    await server.get_json(f"/api/session/{session_id}/history?after={last}&limit=1")
    return last


async def replay_once(
    server: Server, session_id: str, after: int, last: int
) -> tuple[float, Tally]:
    """Connect resuming after ``after``; return the ms until the event ``last`` was read."""
    loop = asyncio.get_running_loop()
    tally = Tally()
    path = server.events_path(session_id, f"?lastEventId={after}")
    request = request_bytes(HOST, server.port, path, server.token)
    started = time.monotonic_ns()
    _, connection = await loop.create_connection(
        lambda: SSEConnection(
            request, Window.always(), tally, watch=f"id: {last}\n".encode(), event_marker=b"id: "
        ),
        HOST,
        server.port,
    )
    try:
        arrived = await asyncio.wait_for(connection.watched, REPLAY_WAIT)
    finally:
        connection.close()
    return (arrived - started) / 1e6, tally


async def run_replay(*, events: int, repeats: int, workdir: Path, cpus: Cpus) -> ReplayRun:
    server = start_server(SESSIONDOCK, workdir, cpus)
    try:
        session_id, _ = await server.create_session(["cat"])
        started = time.monotonic()
        last = await fill_history(server, session_id, events)
        fill_s = time.monotonic() - started
        times: list[float] = []
        received = size = 0
        for _ in range(repeats):
            elapsed, tally = await replay_once(server, session_id, last - events, last)
            times.append(elapsed)
            received, size = tally.events, tally.bytes
    finally:
        await server.stop()
    return ReplayRun(events, received, size, times, fill_s)
