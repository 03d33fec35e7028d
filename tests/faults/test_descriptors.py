"""Issue 12, finding 2: out of file descriptors, the server goes on serving.

The backend runs with ``ulimit -n 256``. Of 400 event streams asked for at once, each is
answered: a stream, or a JSON 503 ``too_many_streams``; the streams replay and go live; health
and REST answer meanwhile; the log stays small. On the old code 159 of 400 got no answer, none
of the others got live output, and the log grew by megabytes a minute.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.faults.limits import Raw, descriptor_limit, descriptors_for_the_test
from tests.server import Server, running_server

LIMIT = 256
STREAMS = 400
MAX_LOG = 64 * 1024  # bytes of stderr for the whole test
TICKER = ["sh", "-c", "while :; do echo tick; sleep 0.2; done"]


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[Server]:
    with (
        descriptors_for_the_test(4 * STREAMS),
        running_server(
            tmp_path / "data", "--heartbeat-interval", "1", preexec=descriptor_limit(LIMIT)
        ) as srv,
    ):
        yield srv


def stream_request(server: Server, session_id: str) -> bytes:
    return (
        f"GET /api/session/{session_id}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {server.token}\r\n\r\n"
    ).encode()


def body_of(raw: Raw) -> dict[str, object]:
    _, _, body = raw.received.partition(b"\r\n\r\n")
    parsed: dict[str, object] = json.loads(body)
    return parsed


async def timed_get(api: httpx.AsyncClient, path: str) -> tuple[int, float]:
    start = time.monotonic()
    response = await api.get(path)
    return response.status_code, time.monotonic() - start


@pytest.mark.slow
async def test_streams_beyond_the_descriptor_limit(limited: Server, workdir: Path) -> None:
    async with limited.async_client() as api:
        created = await api.post(
            "/api/sessions",
            json={"workingDir": str(workdir), "kind": "command", "argv": TICKER, "tty": False},
        )
        session = created.json()
        metrics = (await api.get("/api/debug/metrics")).json()
        max_streams = metrics["sse"]["maxStreams"]
        assert max_streams == int(LIMIT * 0.8), "the default follows the descriptor limit"

        # All at once, as many browser tabs and scripts would.
        request = stream_request(limited, session["id"])

        async def ask() -> tuple[Raw | None, int | None]:
            try:
                raw = await Raw.open(limited.port, request, timeout=30)
            except TimeoutError:
                return None, None
            return raw, await raw.read_head(timeout=30)

        asked = await asyncio.gather(*(ask() for _ in range(STREAMS)))
        unanswered = [raw for raw, status in asked if status is None]
        for raw in unanswered:
            if raw is not None:
                raw.close()
        assert not unanswered, f"{len(unanswered)} of {STREAMS} got no answer"
        accepted = [raw for raw, status in asked if raw is not None and status == 200]
        refused = [raw for raw, status in asked if raw is not None and status == 503]
        assert len(accepted) == max_streams and len(refused) == STREAMS - max_streams
        for raw in refused:
            assert b"\r\nRetry-After: 5\r\n" in raw.received
            body = body_of(raw)
            assert body["code"] == "too_many_streams" and "--max-streams" in str(body["error"])
            assert await raw.closed_within(5) is not None, "a refusal frees its descriptor"
            raw.close()

        # While every stream is open: health and REST answer, and the counts are right.
        for path in ("/api/health", "/api/sessions", f"/api/session/{session['id']}/history"):
            status, took = await timed_get(api, path)
            assert status == 200 and took < 2, (path, status, took)
        sse = (await api.get("/api/debug/metrics")).json()["sse"]
        assert sse["totalConnections"] == max_streams
        assert sse["totalRefused"] == STREAMS - max_streams

        # Every accepted stream replayed the session from its first event and goes on live.
        live_from = (await api.get(f"/api/session/{session['id']}")).json()["lastEventId"]
        live = await asyncio.gather(
            *(raw.read_until(lambda r: max(r.ids, default=0) > live_from, 15) for raw in accepted)
        )
        assert all(live), f"{live.count(False)} of {len(accepted)} streams got no live output"
        assert all(raw.ids[0] == 1 for raw in accepted)

        # One stream closes: one more may open.
        accepted[0].close()
        assert await accepted[0].closed_within(5) is not None
        await asyncio.sleep(0.5)
        again = await Raw.open(limited.port, request)
        assert await again.read_head(timeout=10) == 200
        again.close()
        for raw in accepted[1:]:
            raw.close()

    assert limited.stderr_path is not None
    assert limited.stderr_path.stat().st_size < MAX_LOG, limited.stderr()[-2000:]


async def test_max_streams(tmp_path: Path, workdir: Path) -> None:
    with running_server(tmp_path / "data", "--max-streams", "2") as server:
        async with server.async_client() as api:
            session = (await api.post("/api/sessions", json={"workingDir": str(workdir)})).json()
            request = stream_request(server, session["id"])
            first, second = [await Raw.open(server.port, request) for _ in range(2)]
            assert [await first.read_head(5), await second.read_head(5)] == [200, 200]
            url = f"/api/session/{session['id']}/events"
            assert (await api.head(url)).status_code == 503  # what a GET would start with
            third = await api.get(url)
            assert third.status_code == 503 and third.headers["Retry-After"] == "5"
            assert third.headers["Connection"] == "close"
            assert third.json()["code"] == "too_many_streams"
            sse = (await api.get("/api/debug/metrics")).json()["sse"]
            assert (sse["maxStreams"], sse["totalConnections"], sse["totalRefused"]) == (2, 2, 2)
            first.close()
            second.close()
