"""Finding 1: the disk fills while a session prints and clients stream.

The data dir sits on a small tmpfs of its own; a filler file takes the rest of it, and deleting
the filler gives the space back. Every id a client saw must then be in ``/history`` with the
same content, no id may come twice, and the session must still be running.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.disk import fill
from tests.server import Server, running_server
from tests.sse import Received, Stream

# Lines of a hundred-odd bytes, a thousand a second: enough to fill a batch every few
# milliseconds, little enough to leave the two CPUs to the server.
PRINTER = (
    "import itertools, time\n"
    "for i in itertools.count():\n"
    "    print(f'line {i:08d} ' + 'x' * 100, flush=True)\n"
    "    time.sleep(0.001)\n"
)


def start(disk: Path, *args: str) -> Server:
    """A backend whose data dir is the small disk (its log is written outside it). Without the
    search index: on 8 MB its trigram index (several times the text, docs/benchmarks.md) would
    take the room these tests free, and they count each time the store fails and recovers."""
    return Server(disk, ["--heartbeat-interval", "1", "--no-search-index", *args]).start()


async def printing_session(api: httpx.AsyncClient, workdir: Path) -> str:
    response = await api.post(
        "/api/sessions",
        json={
            "workingDir": str(workdir),
            "kind": "command",
            "argv": [sys.executable, "-u", "-c", PRINTER],
            "tty": False,
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def history(api: httpx.AsyncClient, session_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        response = await api.get(
            f"/api/session/{session_id}/history", params={"after": after, "limit": 5000}
        )
        assert response.status_code == 200, response.text
        page = response.json()
        events += page["events"]
        after = page["nextAfter"]
        if not page["hasMore"]:
            return events


def check_nothing_lost(
    seen: list[list[Received]], stored: list[dict[str, Any]], trimmed_through: int = 0
) -> int:
    """Every id any client saw is stored with the same data (unless retention trimmed it); the
    stored ids run on from the trimmed ones without a gap; no id twice, anywhere."""
    ids = [event["id"] for event in stored]
    assert ids == list(range(trimmed_through + 1, trimmed_through + 1 + len(ids))), "a gap"
    by_id = {event["id"]: event for event in stored}
    checked = 0
    for events in seen:
        client_ids = [e.id for e in events if e.id is not None]
        assert len(client_ids) == len(set(client_ids)), "a client got an id twice"
        assert client_ids == sorted(client_ids), "a client got ids out of order"
        for event in events:
            if event.id is None or event.id <= trimmed_through:
                continue
            assert event.id in by_id, f"id {event.id} was streamed but is not stored"
            assert by_id[event.id]["type"] == event.event
            assert by_id[event.id]["data"] == event.data, f"id {event.id} changed"
            checked += 1
    return checked


async def fill_while_printing(disk: Path, stream: Stream, chars: int) -> Path:
    """Once ``chars`` of output came, fill the disk; return the filler when the stream says."""
    await stream.wait_for_chars(chars)
    filler = fill(disk)
    await stream.wait_for(lambda e: e.event == "storage-error", timeout=30)
    return filler


async def health(api: httpx.AsyncClient) -> dict[str, Any]:
    response = await api.get("/api/health")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.timeout(180)
async def test_a_full_disk_pauses_the_session_and_loses_nothing_three_times(
    disk: Path, workdir: Path
) -> None:
    """The soak of issue 12."""
    server = start(disk)
    try:
        async with server.async_client() as api:
            session_id = await printing_session(api, workdir)
            streams = [Stream(api, session_id) for _ in range(3)]
            for stream in streams:
                await stream.__aenter__()
            for cycle in range(3):
                await asyncio.gather(
                    *(s.wait_for_chars(s.output_chars + 100_000, timeout=60) for s in streams)
                )
                filler = fill(disk)
                for stream in streams:
                    await stream.wait_for(
                        lambda e, n=cycle + 1, s=stream: (
                            e.event == "storage-error"
                            and sum(x.event == "storage-error" for x in s.events) >= n
                        ),
                        timeout=30,
                    )
                state = await health(api)
                assert state["status"] == "degraded", state
                assert "disk is full" in state["reason"]
                refused = await api.post("/api/projects", json={"path": str(workdir)})
                assert refused.status_code == 507, refused.text
                assert refused.json()["code"] == "insufficient_storage"
                assert "disk is full" in refused.json()["error"]
                metrics = (await api.get("/api/debug/metrics")).json()["store"]
                assert metrics["writeFailures"] >= 1 and metrics["failingSince"] is not None
                # While it is full the session is paused: what waits in memory stays small.
                await asyncio.sleep(1.5)
                paused = (await api.get("/api/debug/metrics")).json()["store"]
                assert paused["queuedWrites"] <= metrics["queuedWrites"] + 1, (metrics, paused)
                filler.unlink()
                for stream in streams:
                    await stream.wait_for(
                        lambda e, n=cycle + 1, s=stream: (
                            e.event == "storage-restored"
                            and sum(x.event == "storage-restored" for x in s.events) >= n
                        ),
                        timeout=30,
                    )
                assert (await health(api))["status"] == "ok"
            await asyncio.gather(
                *(s.wait_for_chars(s.output_chars + 100_000, timeout=60) for s in streams)
            )
            session = (await api.get(f"/api/session/{session_id}")).json()
            assert session["status"] == "running"
            for stream in streams:
                await stream.close()
                assert not stream.misfits
                assert sum(e.event == "storage-error" for e in stream.events) == 3
            stored = await history(api, session_id)
            checked = check_nothing_lost([s.events for s in streams], stored)
            print(f"soak: {checked} streamed events checked against {len(stored)} stored")
            assert checked > 0
        log = server.stderr()
        # Once per change of state, not once per batch or retry.
        assert log.count("the store cannot write") == 3, log[-3000:]
        assert log.count("the store writes again") == 3, log[-3000:]
        assert "Traceback" not in log, log[-3000:]
    finally:
        server.stop()
    # What the writer counts of a session (for retention) was taken back with each failed
    # batch: it must match what is stored, not what was tried.
    with contextlib.closing(sqlite3.connect(disk / "sessiondock.sqlite3")) as db:
        counted = db.execute(
            "SELECT stored_bytes, last_event_id FROM sessions WHERE id = ?", (session_id,)
        ).fetchone()
        actual = db.execute(
            "SELECT SUM(length(data)), MAX(seq) FROM events WHERE session_id = ?", (session_id,)
        ).fetchone()
    assert counted == actual


@pytest.mark.timeout(120)
async def test_a_backend_killed_while_the_disk_is_full_reuses_no_id(
    disk: Path, workdir: Path
) -> None:
    server = start(disk)
    try:
        async with server.async_client() as api:
            session_id = await printing_session(api, workdir)
            async with Stream(api, session_id) as stream:
                filler = await fill_while_printing(disk, stream, 20_000)
                await asyncio.sleep(1)  # output keeps coming, and waits in memory
                server.stop(signal.SIGKILL)
                seen = list(stream.events)
        filler.unlink()
        server.start()
        async with server.async_client() as api:
            # The restarted backend goes on numbering from what was stored.
            async with Stream(api, session_id) as stream:
                await stream.wait_for(lambda e: e.event == "status", timeout=30)
            stored = await history(api, session_id)
            check_nothing_lost([seen], stored)
            last_seen = max(e.id for e in seen if e.id is not None)
            assert stored[-1]["id"] > last_seen
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.stop()


@pytest.mark.timeout(60)
async def test_writes_that_only_signal_still_work_while_the_disk_is_full(
    disk: Path, workdir: Path
) -> None:
    """A user must be able to stop the session that filled the disk."""
    with running_server(disk) as server:
        async with server.async_client() as api:
            session_id = await printing_session(api, workdir)
            async with Stream(api, session_id) as stream:
                filler = await fill_while_printing(disk, stream, 5_000)
                response = await api.post(f"/api/session/{session_id}/stop")
                assert response.status_code == 202, response.text
                prompt = await api.post(f"/api/session/{session_id}/prompt", json={"command": "x"})
                assert prompt.status_code == 507
                filler.unlink()
                await stream.wait_for(
                    lambda e: e.event == "status" and e.data["status"] == "stopped", timeout=30
                )


@pytest.mark.timeout(60)
async def test_a_backend_stopped_while_the_disk_is_full_exits_and_says_what_it_dropped(
    disk: Path, workdir: Path
) -> None:
    server = start(disk)
    async with server.async_client() as api:
        session_id = await printing_session(api, workdir)
        async with Stream(api, session_id) as stream:
            filler = await fill_while_printing(disk, stream, 5_000)
    assert server.stop(timeout=15) == 0
    filler.unlink()
    assert "unstored events (no client saw them)" in server.stderr()
    assert "Traceback" not in server.stderr()
