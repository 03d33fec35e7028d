"""The event stream: headers, order, fan-out, resume, heartbeats, metrics, slow clients, leaks."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.conftest import new_session
from tests.server import Server
from tests.sse import Stream

# The backend on each event loop it serves on: asyncio's, and uvloop's (--event-loop).
pytestmark = pytest.mark.every_event_loop

COUNT_SCRIPT = "for i in $(seq 1 {n}); do echo line-$i; sleep {pause}; done"


async def counting_session(
    api: httpx.AsyncClient, workdir: Path, n: int, pause: float = 0.005
) -> dict[str, Any]:
    script = COUNT_SCRIPT.format(n=n, pause=pause)
    return await new_session(api, workdir, kind="command", argv=["sh", "-c", script], tty=False)


def ended(event: Any) -> bool:
    return event.event == "status" and event.data["status"] in ("exited", "failed")


async def metrics(api: httpx.AsyncClient) -> dict[str, Any]:
    data: dict[str, Any] = (await api.get("/api/debug/metrics")).json()
    return data


async def test_unknown_session_is_404_json(api: httpx.AsyncClient) -> None:
    response = await api.get("/api/session/session-nope/events")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["code"] == "session_not_found"


async def test_bad_last_event_id_query_is_400(api: httpx.AsyncClient, workdir: Path) -> None:
    session = await new_session(api, workdir, kind="command", argv=["true"])
    response = await api.get(f"/api/session/{session['id']}/events", params={"lastEventId": "x"})
    assert response.status_code == 400


async def test_headers_and_first_events(api: httpx.AsyncClient, workdir: Path) -> None:
    session = await new_session(api, workdir, kind="command", argv=["echo", "hi"], tty=False)
    headers = {"Accept-Encoding": "gzip, br, deflate"}
    async with api.stream("GET", f"/api/session/{session['id']}/events", headers=headers) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "text/event-stream"
        assert resp.headers["cache-control"] == "no-cache"
        assert resp.headers["x-accel-buffering"] == "no"
        assert "content-encoding" not in resp.headers
        head = b""
        async for chunk in resp.aiter_raw():
            head += chunk
            if b"event: connected" in head and head.endswith(b"\n\n"):
                break
    assert head.startswith(b"retry: 2000\n\nevent: connected\ndata: {")
    assert b"id:" not in head.split(b"event: connected")[1].split(b"\n\n")[0]


async def test_output_status_and_strictly_increasing_ids(
    api: httpx.AsyncClient, workdir: Path
) -> None:
    session = await counting_session(api, workdir, 20)
    async with Stream(api, session["id"]) as stream:
        final = await stream.wait_for(ended)
    assert final.data == {"sessionId": session["id"], "status": "exited", "exitCode": 0,
                          "timestamp": final.data["timestamp"]}  # fmt: skip
    assert stream.ids == list(range(1, len(stream.ids) + 1))
    assert stream.events[1].event == "status" and stream.events[1].data["status"] == "running"
    assert stream.output() == "".join(f"line-{i}\n" for i in range(1, 21))
    outputs = [e for e in stream.events if e.event == "output"]
    assert all(e.data["type"] == "stdout" and e.data["sessionId"] == session["id"] for e in outputs)
    assert all(isinstance(e.data["timestamp"], int) for e in outputs)


async def test_two_clients_see_identical_ids(api: httpx.AsyncClient, workdir: Path) -> None:
    session = await counting_session(api, workdir, 50, pause=0.01)
    async with Stream(api, session["id"]) as first, Stream(api, session["id"]) as second:
        await first.wait_for(ended)
        await second.wait_for(ended)
    stored = [e for e in first.events if e.id is not None]
    assert stored == [e for e in second.events if e.id is not None]
    assert first.events[0].data["clientId"] != second.events[0].data["clientId"]


async def test_resume_after_forced_disconnect(api: httpx.AsyncClient, workdir: Path) -> None:
    session = await counting_session(api, workdir, 200, pause=0.005)
    async with Stream(api, session["id"]) as reference:
        first = Stream(api, session["id"])
        await first.__aenter__()
        await first.wait_for_output("line-40\n")
        await first.close()  # the client drops mid-stream
        resumed_from = first.ids[-1]
        await asyncio.sleep(0.2)  # the session goes on without it
        async with Stream(api, session["id"], last_event_id=resumed_from) as second:
            await second.wait_for(ended)
            assert second.events[0].data["lastEventId"] == resumed_from
        await reference.wait_for(ended)
    combined = first.ids + second.ids
    assert combined == reference.ids  # nothing lost, nothing twice
    assert first.output() + second.output() == reference.output()


async def test_resume_with_query_parameter(api: httpx.AsyncClient, workdir: Path) -> None:
    session = await counting_session(api, workdir, 10, pause=0)
    async with Stream(api, session["id"]) as whole:
        await whole.wait_for(ended)
    middle = whole.ids[len(whole.ids) // 2]
    async with Stream(api, session["id"], params={"lastEventId": str(middle)}) as tail:
        await tail.wait_for(ended)
    assert tail.ids == [i for i in whole.ids if i > middle]
    # The header wins over the query: a browser's own reconnect keeps the first URL.
    async with Stream(
        api, session["id"], last_event_id=whole.ids[-2], params={"lastEventId": "0"}
    ) as last:
        await last.wait_for(ended)
    assert last.ids == whole.ids[-1:]


async def test_heartbeat_after_silence(api: httpx.AsyncClient, workdir: Path) -> None:
    session = await new_session(api, workdir, kind="command", argv=["sleep", "30"], tty=False)
    raw = b""
    async with api.stream("GET", f"/api/session/{session['id']}/events") as resp:
        started = time.monotonic()
        async with asyncio.timeout(5):
            async for chunk in resp.aiter_raw():
                raw += chunk
                if raw.count(b"event: heartbeat") == 2 and raw.endswith(b"\n\n"):
                    break
        waited = time.monotonic() - started
    frames = raw.split(b"\n\n")
    beats = [f for f in frames if b"event: heartbeat" in f]
    assert all(not f.startswith(b"id:") and b"\nid:" not in f for f in beats)
    assert all(b'data: {"timestamp":' in f for f in beats)
    # --heartbeat-interval 1: two beats after about two seconds of silence, not sooner.
    assert 1.5 < waited < 4.5, waited


async def test_metrics_count_connections(api: httpx.AsyncClient, workdir: Path) -> None:
    session = await new_session(api, workdir, kind="command", argv=["sleep", "30"], tty=False)
    sid = session["id"]
    before = await metrics(api)
    streams = [Stream(api, sid) for _ in range(3)]
    for stream in streams:
        await stream.__aenter__()
    during = await metrics(api)
    assert during["sse"]["sessions"] == {sid: 3}
    assert during["sse"]["totalConnections"] == 3
    assert during["sse"]["totalSessions"] == 1
    assert during["sse"]["activeHeartbeats"] == 3
    assert during["sse"]["totalCreated"] == before["sse"]["totalCreated"] + 3
    assert during["eventBus"]["listenerCounts"] == {sid: 3}
    assert during["eventBus"]["activeListeners"] == 3
    assert during["eventBus"]["eventsByType"]["status"] >= 1
    for stream in streams:
        await stream.close()
    async with asyncio.timeout(5):
        while (after := await metrics(api))["sse"]["totalConnections"]:
            await asyncio.sleep(0.02)
    assert after["sse"]["totalClosed"] == before["sse"]["totalClosed"] + 3
    assert after["sse"]["sessions"] == {} and after["eventBus"]["activeListeners"] == 0
    assert set(after) >= {"eventBus", "sse", "timestamp"}

    emitted = after["eventBus"]["eventsEmitted"]
    await api.post(f"/api/session/{sid}/signal", json={"signal": "SIGTERM"})
    async with asyncio.timeout(5):
        while (await metrics(api))["eventBus"]["eventsEmitted"] == emitted:
            await asyncio.sleep(0.02)
    assert (await metrics(api))["eventBus"]["eventsEmitted"] == emitted + 1  # the exit status


async def test_slow_client_is_dropped_and_fast_one_keeps_up(tmp_path: Path, workdir: Path) -> None:
    from tests.server import running_server

    with running_server(tmp_path / "d", "--client-buffer-mb", "1") as server:
        async with server.async_client() as api:
            # A prompt-driven session: each line typed comes back at once (cat through pipes).
            session = await new_session(api, workdir, kind="command", argv=["cat"], tty=False)
            sid = session["id"]
            slow = socket.socket()
            slow.setsockopt(
                socket.SOL_SOCKET, socket.SO_RCVBUF, 4096
            )  # before connect: small window
            slow.connect(("127.0.0.1", server.port))
            slow.sendall(
                f"GET /api/session/{sid}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {server.token}\r\n\r\n".encode()
            )
            try:
                async with Stream(api, sid) as fast:
                    # Flood: far more than the slow client's socket buffers and its 1 MiB
                    # budget. The fast client reads each line before the next is sent, so it
                    # is never behind; the slow one never reads at all.
                    block = "x" * 60_000
                    for i in range(120):
                        line = f"{i:03d}{block}"
                        await api.post(f"/api/session/{sid}/prompt", json={"command": line})
                        await fast.wait_for_chars((i + 1) * (len(line) + 1))
                    async with asyncio.timeout(20):
                        while (await metrics(api))["sse"]["slowClientsDropped"] < 1:
                            await asyncio.sleep(0.05)
                    # The stuck client held nothing up: the fast one has every line, and
                    # the next one arrives as usual.
                    await api.post(f"/api/session/{sid}/prompt", json={"command": "after-flood"})
                    await fast.wait_for_output("after-flood\n")
                    assert fast.output().count(block) == 120
                    assert fast.ids == list(range(1, fast.ids[-1] + 1))
                    # The slow client's connection was closed by the server.
                    slow.setblocking(False)
                    async with asyncio.timeout(10):
                        while await _still_open(slow):
                            await asyncio.sleep(0.05)
                    assert (await metrics(api))["sse"]["totalConnections"] == 1  # the fast one
            finally:
                slow.close()
            m = await metrics(api)
            assert m["eventBus"]["slowClientsDropped"] == 1


async def _still_open(sock: socket.socket) -> bool:
    """Drain what the socket holds; False once the server has closed it."""
    try:
        while True:
            if not sock.recv(65536):
                return False
    except BlockingIOError:
        return True
    except ConnectionResetError:
        return False


async def test_history_trim_is_announced(tmp_path: Path, workdir: Path) -> None:
    from tests.server import running_server

    with running_server(tmp_path / "d", "--max-session-mb", "0.05") as server:
        async with server.async_client() as api:
            script = (
                "for i in $(seq 1 400); do printf 'chunk-%04d-%0200d\\n' $i 0; sleep 0.001; done"
            )
            session = await new_session(
                api, workdir, kind="command", argv=["sh", "-c", script], tty=False
            )
            async with Stream(api, session["id"]) as live:
                await live.wait_for(ended)
            assert "chunk-0001-" in live.output()  # a live client missed nothing
            async with Stream(api, session["id"]) as late:
                await late.wait_for(ended)
            notice = late.events[1]
            assert notice.event == "history-trimmed" and notice.id is None
            assert notice.data["requestedAfter"] == 0
            first_kept = notice.data["firstAvailableId"]
            assert first_kept > 1
            assert late.ids[0] == first_kept
            assert late.ids == [i for i in live.ids if i >= first_kept]
            history = (await api.get(f"/api/session/{session['id']}/history")).json()
            assert history["trimmedThrough"] == first_kept - 1
            stored = sum(
                len(e["data"]["content"]) for e in history["events"] if e["type"] == "output"
            )
            assert stored <= 0.05 * 1024 * 1024
            # A client resuming after the trimmed part is told nothing.
            async with Stream(api, session["id"], last_event_id=first_kept) as resumed:
                await resumed.wait_for(ended)
            assert all(e.event != "history-trimmed" for e in resumed.events)


async def test_thousand_connect_disconnect_cycles_leak_nothing(
    server: Server, api: httpx.AsyncClient, workdir: Path
) -> None:
    session = await new_session(api, workdir, kind="command", argv=["sleep", "120"], tty=False)
    sid = session["id"]
    baseline = await metrics(api)
    process = psutil.Process(server.proc.pid)  # type: ignore[union-attr]

    async def cycles(n: int) -> None:
        for _ in range(n):
            async with api.stream("GET", f"/api/session/{sid}/events") as resp:
                async for chunk in resp.aiter_raw():
                    if b"event: connected" in chunk:
                        break

    await cycles(100)  # warm up allocator pools before the memory baseline
    rss_before = process.memory_info().rss
    await asyncio.gather(*(cycles(225) for _ in range(4)))
    async with asyncio.timeout(10):
        while (now := await metrics(api))["sse"]["totalConnections"]:
            await asyncio.sleep(0.05)
    rss_after = process.memory_info().rss
    assert now["sse"]["totalCreated"] - baseline["sse"]["totalCreated"] == 1000
    assert now["sse"]["totalClosed"] - baseline["sse"]["totalClosed"] == 1000
    assert now["sse"]["sessions"] == {} and now["sse"]["activeHeartbeats"] == 0
    assert now["eventBus"]["activeListeners"] == 0 and now["eventBus"]["listenerCounts"] == {}
    # 900 cycles that each held a stream: a leak of even 5 KB each would show as 4.5 MB.
    assert rss_after - rss_before < 3 * 1024 * 1024, (rss_before, rss_after)
    assert len(os.listdir(f"/proc/{server.proc.pid}/fd")) < 64  # type: ignore[union-attr]


async def test_a_client_that_keeps_up_is_never_cut_off(
    server: Server, api: httpx.AsyncClient, workdir: Path
) -> None:
    # 80 MB as fast as a pipe goes, past the store's 50 MB cap (so trims run meanwhile), read by
    # a client that only counts bytes. Big commits must not land in its queue all at once.
    script = "head -c 60000000 /dev/zero | base64 -w 1000"
    session = await new_session(api, workdir, kind="command", argv=["sh", "-c", script], tty=False)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        f"GET /api/session/{session['id']}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {server.token}\r\n\r\n".encode()
    )
    received = 0
    tail = b""
    try:
        async with asyncio.timeout(60):
            while b'"status":"exited"' not in tail:
                chunk = await reader.read(1 << 20)
                assert chunk, "the server closed the stream"
                received += len(chunk)
                tail = (tail + chunk)[-4096:]
    finally:
        writer.close()
        await writer.wait_closed()
    assert received > 80_000_000
    assert (await metrics(api))["eventBus"]["slowClientsDropped"] == 0


async def test_live_events_reach_an_http_1_0_client_unchunked_and_an_http_1_1_one_chunked(
    server: Server, api: httpx.AsyncClient, workdir: Path
) -> None:
    """Live events go from the bus straight to the socket: framed as the response is (chunks
    for HTTP/1.1, the bare stream for HTTP/1.0, which has no chunks)."""
    script = "sleep 0.5; echo first-line; sleep 0.3; echo second-line"
    session = await new_session(api, workdir, kind="command", argv=["bash", "-c", script])
    port = int(server.url.rsplit(":", 1)[1])
    bodies = {}
    for version in ("1.0", "1.1"):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            f"GET /api/session/{session['id']}/events HTTP/{version}\r\n"
            f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {server.token}\r\n\r\n".encode()
        )
        received = b""
        deadline = time.monotonic() + 10
        while b"second-line" not in received and time.monotonic() < deadline:
            received += await asyncio.wait_for(reader.read(65536), 10)
        writer.close()
        head, _, body = received.partition(b"\r\n\r\n")
        bodies[version] = (head, body)
    head, body = bodies["1.0"]
    assert b"Transfer-Encoding" not in head
    # The bare stream: each event's lines one after another, nothing between them.
    assert b"event: output\ndata: " in body and b"second-line" in body
    assert b"\n\r\n" not in body
    head, body = bodies["1.1"]
    assert b"Transfer-Encoding: chunked" in head
    chunks = []  # "<hex size>\r\n<data>\r\n", as far as it came
    while b"\r\n" in body:
        size, rest = body.split(b"\r\n", 1)
        if len(rest) < int(size, 16) + 2:
            break
        chunks.append(rest[: int(size, 16)])
        assert rest[int(size, 16) : int(size, 16) + 2] == b"\r\n"
        body = rest[int(size, 16) + 2 :]
    (live,) = [c for c in chunks if b"second-line" in c]
    assert live.startswith(b"id: ") and live.endswith(b"\n\n")  # one whole event, one chunk
