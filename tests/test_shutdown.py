"""SIGTERM with many open streams: every stream ends cleanly, the store is flushed, exit 0 fast."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import new_session
from tests.server import Server

# The backend on each event loop it serves on: asyncio's, and uvloop's (--event-loop).
pytestmark = pytest.mark.every_event_loop


async def test_sigterm_with_100_open_streams(server: Server, workdir: Path) -> None:
    async with server.async_client(limits=httpx.Limits(max_connections=200)) as api:
        session = await new_session(
            api,
            workdir,
            kind="command",
            argv=["sh", "-c", "while true; do echo x; sleep 0.01; done"],
        )
        opened = 0
        ends: list[str] = []

        async def watch() -> None:
            nonlocal opened
            async with api.stream("GET", f"/api/session/{session['id']}/events") as resp:
                opened += 1
                try:
                    async for _ in resp.aiter_raw():
                        pass
                    ends.append("clean")
                except httpx.HTTPError as exc:
                    ends.append(type(exc).__name__)

        watchers = [asyncio.create_task(watch()) for _ in range(100)]
        async with asyncio.timeout(20):
            while (await api.get("/api/debug/metrics")).json()["sse"]["totalConnections"] < 100:
                await asyncio.sleep(0.05)
            # The server counts a stream before its client has read the response's head.
            while opened < 100:
                await asyncio.sleep(0.05)
        assert opened == 100
        last = (await api.get(f"/api/session/{session['id']}")).json()["lastEventId"]

        started = time.monotonic()
        assert server.proc is not None
        server.proc.terminate()
        code = await asyncio.to_thread(server.wait, 10)
        elapsed = time.monotonic() - started
        await asyncio.wait_for(asyncio.gather(*watchers), 5)
    assert code == 0
    assert elapsed < 2.0, elapsed  # the bound, with 100 open streams
    assert ends == ["clean"] * 100  # each stream ended as a finished response, not a reset

    # Everything was flushed: the history after restart runs to the interrupted status.
    server.start()
    async with server.async_client() as api:
        history = (
            await api.get(
                f"/api/session/{session['id']}/history", params={"after": last, "limit": 10000}
            )
        ).json()
    assert history["events"][-1]["type"] == "status"
    assert history["events"][-1]["data"]["status"] == "interrupted"
    ids = [e["id"] for e in history["events"]]
    assert ids == list(range(last + 1, last + 1 + len(ids)))
