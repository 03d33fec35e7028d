"""Issue 12, finding 2: half-sent requests are closed after a few seconds, and many of them do
not keep anyone else out, even with few descriptors.

On the old code a connection that sent ``GET / HTTP/1.1\\r\\nX: `` and nothing more was kept
for an hour (aiohttp's keep-alive timeout), and 300 of them made valid requests time out. The
timeouts are shortened here (``--header-timeout``, ``--body-timeout``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.limits import Raw, descriptor_limit, descriptors_for_the_test
from tests.server import Server, running_server

TIMEOUT = 2.0  # header and body timeouts of these servers
SLACK = 1.5  # how much later than its timeout a connection may be closed
LINGER = 10.0  # aiohttp reads what is left of an unread body this long before closing
HALF_SENT = b"GET / HTTP/1.1\r\nX: "
MAX_LOG = 64 * 1024


def options() -> tuple[str, ...]:
    return ("--header-timeout", str(TIMEOUT), "--body-timeout", str(TIMEOUT))


@pytest.fixture
def quick(tmp_path: Path) -> Iterator[Server]:
    with running_server(tmp_path / "data", "--heartbeat-interval", "1", *options()) as srv:
        yield srv


def post(server: Server, path: str, length: int, sent: bytes, token: bool = True) -> bytes:
    """A POST whose body says ``length`` bytes and brings ``sent``."""
    auth = f"Authorization: Bearer {server.token}\r\n" if token else ""
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode() + sent


async def test_half_sent_headers_are_closed_after_the_timeout(quick: Server) -> None:
    raws = [await Raw.open(quick.port, data) for data in (b"", HALF_SENT, b"GET / HTTP/1.1\r\n")]
    took = await asyncio.gather(*(raw.closed_within(TIMEOUT + SLACK + 5) for raw in raws))
    for raw, seconds in zip(raws, took, strict=True):
        assert seconds is not None and TIMEOUT - 0.5 < seconds < TIMEOUT + SLACK, seconds
        assert raw.received == b"", "closed without an answer, as nginx does"
        raw.close()


async def test_a_trickle_of_header_bytes_does_not_hold_the_connection(quick: Server) -> None:
    raw = await Raw.open(quick.port, b"GET / HTTP/1.1\r\n")

    async def trickle() -> None:
        while True:
            await asyncio.sleep(0.3)
            raw.writer.write(b"X")

    task = asyncio.create_task(trickle())
    try:
        assert await raw.closed_within(TIMEOUT + SLACK) is not None
    finally:
        task.cancel()
        raw.close()


async def test_an_idle_keep_alive_connection_is_closed(quick: Server) -> None:
    raw = await Raw.open(quick.port, b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert await raw.read_head(timeout=5) == 200
    took = await raw.closed_within(TIMEOUT + SLACK + 5)
    assert took is not None and took < TIMEOUT + SLACK
    raw.close()


async def test_a_stream_outlives_the_timeouts(quick: Server, workdir: Path) -> None:
    async with quick.async_client() as api:
        session = (await api.post("/api/sessions", json={"workingDir": str(workdir)})).json()
    request = (
        f"GET /api/session/{session['id']}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {quick.token}\r\n\r\n"
    ).encode()
    raw = await Raw.open(quick.port, request)
    assert await raw.read_head(timeout=5) == 200
    assert await raw.closed_within(3 * TIMEOUT) is None
    assert raw.received.count(b"event: heartbeat") >= 3
    raw.close()


async def test_a_half_sent_body_is_a_408(quick: Server, workdir: Path) -> None:
    body = json.dumps({"path": str(workdir)}).encode()
    raw = await Raw.open(quick.port, post(quick, "/api/projects", len(body), body[:5]))
    assert await raw.read_head(timeout=TIMEOUT + SLACK) == 408
    await raw.read_until(lambda r: r.received.endswith(b"}"), 1)
    _, _, answer = raw.received.partition(b"\r\n\r\n")
    assert json.loads(answer)["code"] == "request_timeout"
    assert b"\r\nConnection: close\r\n" in raw.received
    assert await raw.closed_within(LINGER + SLACK) is not None
    raw.close()
    async with quick.async_client() as api:
        assert (await api.get("/api/projects")).json()["projects"] == []


async def test_a_body_that_keeps_coming_slowly_is_read(quick: Server, workdir: Path) -> None:
    body = json.dumps({"path": str(workdir)}).encode()
    raw = await Raw.open(quick.port, post(quick, "/api/projects", len(body), b""))
    for i in range(len(body)):  # one byte at a time, each well within the timeout
        raw.writer.write(body[i : i + 1])
        await asyncio.sleep(TIMEOUT / 10)
    assert await raw.read_head(timeout=5) == 201
    raw.close()


async def test_an_unread_half_sent_body_is_closed(quick: Server) -> None:
    # No token: answered at once, and the rest of the body never comes.
    raw = await Raw.open(quick.port, post(quick, "/api/projects", 1000, b"{", token=False))
    assert await raw.read_head(timeout=5) == 401
    assert await raw.closed_within(LINGER + SLACK) is not None
    raw.close()


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[Server]:
    with (
        descriptors_for_the_test(2048),
        running_server(
            tmp_path / "data", "--heartbeat-interval", "1", *options(),
            preexec=descriptor_limit(256),
        ) as srv,
    ):  # fmt: skip
        yield srv


@pytest.mark.slow
async def test_300_half_sent_requests_do_not_keep_others_out(
    limited: Server, workdir: Path
) -> None:
    opened: list[Raw] = []

    async def half_sent(count: int) -> None:
        async def one() -> None:
            with contextlib.suppress(TimeoutError):  # the listen queue is full: SYN dropped
                opened.append(await Raw.open(limited.port, HALF_SENT, timeout=2))

        await asyncio.gather(*(one() for _ in range(count)))

    try:
        # Half of them come before valid requests, half while they are on their way; then
        # more keep coming, and valid requests go on being answered.
        await half_sent(150)
        async with limited.async_client() as api:
            checks = asyncio.gather(
                api.get("/api/health"),
                api.post("/api/sessions", json={"workingDir": str(workdir)}),
                api.get("/api/projects"),
            )
            await half_sent(150)
            answers = [response.status_code for response in await checks]
            assert answers == [200, 201, 200]
            for _ in range(3):
                await half_sent(100)
                # On a new connection: the server closes one left idle longer than its header
                # timeout (half_sent can take that long), and a request on it could cross the
                # close (seen: httpx.ReadError).
                async with limited.async_client() as fresh:
                    assert (await fresh.get("/api/health")).status_code == 200

            assert len(opened) >= 300
            took = await asyncio.gather(*(raw.closed_within(TIMEOUT + SLACK + 5) for raw in opened))
            assert None not in took, "every half-sent request is closed"
        # A new connection: the server closes one left idle longer than its header timeout,
        # as it did during that wait, and a request on it could cross the close.
        async with limited.async_client() as api:
            connections = (await api.get("/api/debug/metrics")).json()["connections"]
            assert connections["headerTimeouts"] + connections["shed"] >= len(opened)
    finally:
        for raw in opened:
            raw.close()

    assert limited.stderr_path is not None
    assert limited.stderr_path.stat().st_size < MAX_LOG, limited.stderr()[-2000:]
