"""desktop.sse_client: the decoder and backoff with strings and numbers, the stream against the
real backend (killed, restarted, dropping us, silent), and against a small scripted server for
what the backend never does (duplicates, comments after ids, wrong responses)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from desktop.api import ApiClient
from desktop.sse_client import (
    CONTROL_EVENTS,
    Backoff,
    Event,
    EventDecoder,
    SessionStream,
    StreamProtocolError,
    StreamState,
)
from tests.server import Server, running_server

FAST = 0.05  # backoff base for tests: retries come quickly but are still spread
TICKER = "i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.02; done"
KNOWN_TYPES = {"connected", "output", "status", "prompt", "error", "history-trimmed"}


# -- the decoder: strings in, events out


def test_decoder_drops_phantom_events_and_ids_of_control_events() -> None:
    decoder = EventDecoder()
    stream = (
        "retry: 2000\n\n"  # httpx-sse yields an empty event for this
        'event: connected\ndata: {"a":1}\n\n'
        'id: 7\nevent: output\ndata: {"content":"x"}\n\n'
        ": a comment after an id (httpx-sse issue #35)\n\n"
        "\n"  # a stray blank line
        'event: heartbeat\ndata: {"timestamp":1}\n\n'  # httpx-sse would say id 7 here
    )
    assert decoder.feed(stream) == [
        Event(None, "connected", {"a": 1}),
        Event(7, "output", {"content": "x"}),
        Event(None, "heartbeat", {"timestamp": 1}),
    ]


def test_the_client_knows_every_control_event_the_backend_sends() -> None:
    """A control event the backend adds is one the window must handle (or skip) knowingly."""
    from backend.protocol.events import CONTROL_EVENTS as SENT

    assert set(SENT) == CONTROL_EVENTS


def test_decoder_keeps_events_split_anywhere() -> None:
    wire = 'id: 12\nevent: output\ndata: {"content":"h\\u00e9llo"}\n\nid: 13\nevent: status\r\n'
    wire += 'data: {"status":"exited"}\r\n\r\n'
    for cut in range(1, len(wire)):
        decoder = EventDecoder()
        events = decoder.feed(wire[:cut]) + decoder.feed(wire[cut:])
        assert events == [
            Event(12, "output", {"content": "héllo"}),
            Event(13, "status", {"status": "exited"}),
        ], cut
    # An event the stream ended in the middle of is never dispatched.
    assert EventDecoder().feed('id: 1\nevent: output\ndata: {"content":"x"}\n') == []


@pytest.mark.parametrize(
    "wire",
    [
        "event: output\ndata: not json\n\n",
        "event: output\ndata: [1, 2]\n\n",
        'id: seven\nevent: output\ndata: {"content":"x"}\n\n',
    ],
)
def test_decoder_refuses_what_is_not_our_protocol(wire: str) -> None:
    with pytest.raises(StreamProtocolError):
        EventDecoder().feed(wire)


# -- backoff


def test_backoff_doubles_up_to_the_maximum() -> None:
    backoff = Backoff(1.0, 30.0, jitter="none")
    assert [backoff.next_delay() for _ in range(8)] == [1, 2, 4, 8, 16, 30, 30, 30]
    assert backoff.attempt == 8
    backoff.reset()
    assert backoff.attempt == 0 and backoff.next_delay() == 1.0
    backoff.attempt = 10_000  # retrying for weeks
    assert backoff.next_delay() == 30.0


@pytest.mark.parametrize(("jitter", "low"), [("full", 0.0), ("equal", 0.5)])
def test_backoff_jitter_stays_in_range(jitter: Any, low: float) -> None:
    rng = random.Random(1234)
    backoff = Backoff(1.0, 30.0, jitter=jitter, rand=rng.random)
    for _ in range(20):
        delays = [backoff.next_delay() for _ in range(10)]
        for attempt, delay in enumerate(delays, start=1):
            ceiling = min(30.0, 2.0 ** (attempt - 1))
            assert low * ceiling <= delay <= ceiling
        backoff.reset()
    # The extremes of the random draw map to the ends of the range.
    assert Backoff(2.0, jitter=jitter, rand=lambda: 0.0).next_delay() == 2.0 * low
    assert Backoff(2.0, jitter=jitter, rand=lambda: 1.0).next_delay() == 2.0


def test_backoff_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="base"):
        Backoff(0.0)
    with pytest.raises(ValueError, match="base"):
        Backoff(5.0, 1.0)


# -- the stream


class Recorder:
    """The callbacks of one SessionStream, kept for the test to wait on and inspect."""

    def __init__(self) -> None:
        self.batches: list[list[Event]] = []
        self.states: list[StreamState] = []
        self._changed = asyncio.Event()

    def on_events(self, events: list[Event]) -> None:
        self.batches.append(events)
        self._changed.set()

    def on_state(self, state: StreamState) -> None:
        self.states.append(state)
        self._changed.set()

    @property
    def events(self) -> list[Event]:
        return [event for batch in self.batches for event in batch]

    @property
    def ids(self) -> list[int]:
        return [e.id for e in self.events if e.id is not None]

    def kinds(self) -> list[str]:
        return [s.kind for s in self.states]

    def output(self) -> str:
        return "".join(e.data["content"] for e in self.events if e.type == "output")

    def ended(self) -> bool:
        return any(e.type == "status" and e.data["status"] != "running" for e in self.events)

    async def wait(self, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()


@contextlib.asynccontextmanager
async def streaming(
    url: str, token: str, session_id: str, **kwargs: Any
) -> AsyncIterator[tuple[SessionStream, Recorder]]:
    recorder = Recorder()
    kwargs.setdefault("heartbeat_interval", 1.0)  # the server fixture's
    kwargs.setdefault("backoff", Backoff(FAST, 10 * FAST))
    stream = SessionStream(
        url, token, session_id, on_events=recorder.on_events, on_state=recorder.on_state, **kwargs
    )
    stream.start()
    try:
        yield stream, recorder
    finally:
        await stream.stop()
    assert recorder.states[-1].kind == "closed"


async def stored_ids(server: Server, session_id: str) -> list[int]:
    async with ApiClient(server.url, server.token) as api:
        page = await api.history(session_id, limit=10_000)
    assert not page["hasMore"]
    return [e["id"] for e in page["events"]]


async def new_session(server: Server, workdir: Path, script: str) -> dict[str, Any]:
    async with ApiClient(server.url, server.token) as api:
        return await api.create_session(
            working_dir=workdir, kind="command", argv=["sh", "-c", script], tty=False
        )


async def test_output_arrives_in_order_in_batches(server: Server, workdir: Path) -> None:
    script = "for i in $(seq 1 300); do echo line-$i; sleep 0.001; done"
    session = await new_session(server, workdir, script)
    async with streaming(server.url, server.token, session["id"]) as (stream, live):
        await live.wait(live.ended)
    assert live.output().splitlines() == [f"line-{i}" for i in range(1, 301)]
    assert live.ids == await stored_ids(server, session["id"])  # 1, 2, 3, … as stored
    assert live.ids == list(range(1, len(live.ids) + 1))
    assert stream.last_event_id == live.ids[-1]
    assert live.events[0].type == "connected" and live.events[0].id is None
    # No heartbeat, no phantom: every event is one of ours, with its data.
    assert all(e.type in KNOWN_TYPES and e.data for e in live.events)
    assert live.kinds() == ["connecting", "connected", "closed"]

    # A late client gets the stored events replayed: all that one read holds in one call.
    async with streaming(server.url, server.token, session["id"]) as (_, late):
        await late.wait(late.ended)
    assert late.ids == live.ids
    assert len(late.batches) < len(late.events) / 10


async def test_resume_from_a_given_event(server: Server, workdir: Path) -> None:
    session = await new_session(server, workdir, "seq 1 50; sleep 0.2; seq 51 100")
    async with streaming(server.url, server.token, session["id"]) as (_, whole):
        await whole.wait(whole.ended)
    middle = whole.ids[len(whole.ids) // 2]
    async with streaming(server.url, server.token, session["id"], last_event_id=middle) as (
        stream,
        rest,
    ):
        await rest.wait(rest.ended)
    assert rest.events[0].type == "connected" and rest.events[0].data["lastEventId"] == middle
    assert rest.ids == [i for i in whole.ids if i > middle]
    assert stream.last_event_id == whole.ids[-1]


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
async def test_resumes_across_a_backend_restart(server: Server, workdir: Path, how: int) -> None:
    session = await new_session(server, workdir, TICKER)
    async with streaming(server.url, server.token, session["id"]) as (_, live):
        await live.wait(lambda: "tick-20\n" in live.output())
        server.restart(how)  # the same port and data dir
        if how == signal.SIGKILL:
            # The session ran on in the session host: it goes on ticking with the next
            # backend, until it is stopped.
            printed = len(live.output().splitlines())
            await live.wait(lambda: len(live.output().splitlines()) > printed + 5)
            with server.client() as api:
                assert api.post(f"/api/session/{session['id']}/stop").status_code == 202
        await live.wait(live.ended)
    ending = "stopped" if how == signal.SIGKILL else "interrupted"
    assert live.events[-1].data["status"] == ending
    assert live.ids == await stored_ids(server, session["id"])  # nothing lost, nothing twice
    lines = live.output().splitlines()
    assert lines == [f"tick-{i}" for i in range(1, len(lines) + 1)]
    retries = [s for s in live.states if s.kind == "reconnecting"]
    assert retries and all(s.error for s in retries)
    assert all(0 < (s.retry_in or 0) <= 10 * FAST for s in retries)
    assert [s.attempt for s in retries] == list(range(1, len(retries) + 1))
    assert live.kinds().count("connected") == 2
    assert [e.type for e in live.events].count("connected") == 2


@pytest.mark.slow
async def test_resumes_after_being_dropped_as_a_slow_client(tmp_path: Path, workdir: Path) -> None:
    with running_server(tmp_path / "d", "--client-buffer-mb", "1") as server:
        block = "x" * 1000
        count = 20_000  # 20 MB: far more than the socket buffers and the 1 MiB allowed to queue
        session = await new_session(server, workdir, f"seq 1 {count} | sed 's/$/-{block}/'")
        recorder = Recorder()

        def sluggish(events: list[Event]) -> None:
            recorder.on_events(events)
            if recorder.kinds().count("connected") < 2:
                time.sleep(0.05)  # a UI that cannot keep up, until the backend gives up on it

        stream = SessionStream(
            server.url,
            server.token,
            session["id"],
            on_events=sluggish,
            on_state=recorder.on_state,
            heartbeat_interval=1.0,
            backoff=Backoff(FAST, 10 * FAST),
        )
        stream.start()
        try:
            await recorder.wait(recorder.ended, timeout=60)
        finally:
            await stream.stop()
        async with ApiClient(server.url, server.token) as api:
            assert (await api.metrics())["sse"]["slowClientsDropped"] >= 1
        assert recorder.ids == await stored_ids(server, session["id"])
        lines = recorder.output().splitlines()
        assert lines == [f"{i}-{block}" for i in range(1, count + 1)]


async def test_a_silent_stream_times_out_and_reconnects(tmp_path: Path, workdir: Path) -> None:
    # The backend would send a heartbeat only after 30 s; the client expects one every 0.3 s,
    # so after ~0.9 s of silence it must give up on the connection and make a new one.
    with running_server(tmp_path / "d", "--heartbeat-interval", "30") as server:
        session = await new_session(server, workdir, "echo ready; exec cat")
        started = time.monotonic()
        async with streaming(server.url, server.token, session["id"], heartbeat_interval=0.3) as (
            _,
            silent,
        ):
            await silent.wait(lambda: silent.kinds().count("connected") >= 3)
        elapsed = time.monotonic() - started
    timeouts = [s for s in silent.states if s.kind == "reconnecting"]
    assert timeouts and all(s.error == "ReadTimeout" for s in timeouts)
    assert 1.5 < elapsed < 10
    assert silent.output() == "ready\n"  # once, though three connections replayed from the start
    assert len(silent.ids) == len(set(silent.ids))


async def test_unknown_session_is_gone_for_good(server: Server) -> None:
    async with streaming(server.url, server.token, "session-000000000000") as (stream, gone):
        await gone.wait(lambda: gone.kinds()[-1:] == ["gone"])
        await asyncio.sleep(10 * FAST)  # time for many retries, were there any
        assert gone.kinds() == ["connecting", "gone"]
        assert gone.states[-1].code == "session_not_found" and gone.states[-1].error
        assert stream.state.kind == "gone"
    assert gone.events == []


async def test_deleted_session_ends_the_stream_for_good(server: Server, workdir: Path) -> None:
    session = await new_session(server, workdir, "exec cat")
    async with streaming(server.url, server.token, session["id"]) as (_, live):
        await live.wait(lambda: live.kinds()[-1:] == ["connected"])
        async with ApiClient(server.url, server.token) as api:
            await api.delete_session(session["id"])
        await live.wait(lambda: live.kinds()[-1:] == ["gone"])
        await asyncio.sleep(10 * FAST)
        assert live.kinds()[-1] == "gone"
        assert live.kinds().count("connecting") == 2  # the first, and the one that found it gone


async def test_wrong_token_is_gone_until_set_endpoint(server: Server, workdir: Path) -> None:
    session = await new_session(server, workdir, "echo hi; exec cat")
    async with streaming(server.url, "wrong-token", session["id"]) as (stream, live):
        await live.wait(lambda: live.kinds()[-1:] == ["gone"])
        assert live.states[-1].code == "unauthorized"
        stream.set_endpoint(server.url, server.token)
        await live.wait(lambda: "hi\n" in live.output())
    assert live.kinds()[:4] == ["connecting", "gone", "connecting", "connected"]


async def test_set_endpoint_moves_to_a_restarted_backend(tmp_path: Path, workdir: Path) -> None:
    data = tmp_path / "data"
    first = Server(data, ["--heartbeat-interval", "1"]).start()
    second = Server(data, ["--heartbeat-interval", "1"], token="second-token-0123456789abcdef012")
    try:
        session = await new_session(first, workdir, TICKER)
        # Slow retries: only set_endpoint() can bring the stream back within the test's time.
        patient = Backoff(20.0, 30.0)
        async with streaming(first.url, first.token, session["id"], backoff=patient) as (
            stream,
            live,
        ):
            await live.wait(lambda: "tick-10\n" in live.output())
            first.stop()
            await live.wait(lambda: live.kinds()[-1:] == ["reconnecting"])
            assert (live.states[-1].retry_in or 0) >= 10
            second.start()  # another port and another token
            switched = time.monotonic()
            stream.set_endpoint(second.url, second.token)
            await live.wait(lambda: live.kinds().count("connected") == 2)
            await live.wait(live.ended)
            assert time.monotonic() - switched < 5
            assert stream.base_url == second.url
        assert live.ids == await stored_ids(second, session["id"])
    finally:
        for server in (first, second):
            if server.proc is not None and server.proc.poll() is None:
                server.stop()


async def test_set_endpoint_while_connected_reconnects_at_once(
    server: Server, workdir: Path
) -> None:
    session = await new_session(server, workdir, TICKER)
    patient = Backoff(20.0, 30.0)
    async with streaming(server.url, server.token, session["id"], backoff=patient) as (
        stream,
        live,
    ):
        await live.wait(lambda: "tick-10\n" in live.output())
        # The same backend under another name: the live connection is dropped for a new one.
        # Called twice in a row, the second one wins.
        stream.set_endpoint("http://127.0.0.1:9", "nobody-listens-there")
        stream.set_endpoint(server.url.replace("127.0.0.1", "localhost"), server.token)
        await live.wait(lambda: live.kinds().count("connected") == 2)
        seen = len(live.ids)
        await live.wait(lambda: len(live.ids) > seen + 5)
    assert "reconnecting" not in live.kinds()
    assert live.ids == list(range(1, len(live.ids) + 1))
    lines = live.output().splitlines()
    assert lines == [f"tick-{i}" for i in range(1, len(lines) + 1)]


async def test_a_failing_callback_is_reported_and_the_stream_goes_on(
    server: Server, workdir: Path
) -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: reported.append(context))
    session = await new_session(server, workdir, "echo one; sleep 0.3; echo two")
    recorder = Recorder()

    def clumsy(events: list[Event]) -> None:
        recorder.on_events(events)
        raise RuntimeError("the UI tripped")

    stream = SessionStream(
        server.url, server.token, session["id"], on_events=clumsy, heartbeat_interval=1.0
    )
    stream.start()
    try:
        await recorder.wait(recorder.ended)
    finally:
        await stream.stop()
        loop.set_exception_handler(None)
    assert recorder.output() == "one\ntwo\n"
    assert reported and all(isinstance(c["exception"], RuntimeError) for c in reported)


async def test_stop_before_start_and_twice(server: Server) -> None:
    recorder = Recorder()
    stream = SessionStream(server.url, server.token, "session-x", on_events=recorder.on_events)
    await stream.stop()
    await stream.stop()
    with pytest.raises(RuntimeError, match="stopped"):
        stream.start()
    assert recorder.batches == []


# -- a scripted server, for what the backend never does


Script = Callable[[web.Request, int], Awaitable[web.StreamResponse]]


@contextlib.asynccontextmanager
async def scripted(script: Script) -> AsyncIterator[tuple[str, list[web.Request]]]:
    """An HTTP server whose n-th request to the events route is answered by ``script``."""
    requests: list[web.Request] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        requests.append(request)
        return await script(request, len(requests))

    app = web.Application()
    app.router.add_get("/api/session/{id}/events", handler)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", requests
    finally:
        await runner.cleanup()


def frames(*ids: int) -> bytes:
    return b"".join(f'id: {i}\nevent: output\ndata: {{"content":"{i};"}}\n\n'.encode() for i in ids)


async def sse(request: web.Request, body: bytes, *, linger: float = 0.0) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    await response.write(body)
    await asyncio.sleep(linger)
    return response


async def test_repeated_events_are_never_delivered_twice() -> None:
    async def script(request: web.Request, n: int) -> web.StreamResponse:
        if n == 1:
            # Fifty events in one write, then a phantom-making comment after an id.
            return await sse(request, frames(*range(1, 51)) + b": keep-alive\n\n")
        # A resume that ignores Last-Event-ID (a caching proxy, say): old events come again.
        return await sse(request, frames(*range(40, 61)), linger=5)

    async with (
        scripted(script) as (url, requests),
        streaming(url, "t", "s", heartbeat_interval=5) as (stream, recorder),
    ):
        await recorder.wait(lambda: stream.last_event_id == 60)
    assert recorder.ids == list(range(1, 61))
    assert recorder.output() == "".join(f"{i};" for i in range(1, 61))
    assert [len(b) for b in recorder.batches] == [50, 10]
    assert "Last-Event-ID" not in requests[0].headers
    assert requests[1].headers["Last-Event-ID"] == "50"
    assert requests[1].headers["Authorization"] == "Bearer t"


async def test_wrong_responses_are_retried_with_backoff() -> None:
    async def script(request: web.Request, n: int) -> web.StreamResponse:
        if n == 1:
            return web.json_response({"error": "busy", "code": "shutting_down"}, status=503)
        if n == 2:
            return web.Response(text="<html>a login page</html>", content_type="text/html")
        if n == 3:
            return await sse(request, b"event: output\ndata: {broken\n\n")
        return await sse(request, frames(1), linger=5)

    async with (
        scripted(script) as (url, _),
        streaming(url, "t", "s", heartbeat_interval=5) as (stream, recorder),
    ):
        await recorder.wait(lambda: stream.last_event_id == 1)
    retries = [s for s in recorder.states if s.kind == "reconnecting"]
    assert [s.attempt for s in retries] == [1, 2, 3]
    assert retries[0].error == "HTTP 503: busy"
    assert "text/html" in (retries[1].error or "")
    assert "StreamProtocolError" in (retries[2].error or "")
    assert all(0 < (r.retry_in or 0) <= FAST * 2**i for i, r in enumerate(retries))


async def test_history_trimmed_notice_is_passed_on(tmp_path: Path, workdir: Path) -> None:
    with running_server(tmp_path / "d", "--max-session-mb", "0.05") as server:
        script = "for i in $(seq 1 400); do printf 'chunk-%04d-%0200d\\n' $i 0; done"
        session = await new_session(server, workdir, script)
        async with ApiClient(server.url, server.token) as api:
            async with asyncio.timeout(15):
                while (await api.get_session(session["id"]))["status"] == "running":
                    await asyncio.sleep(0.05)
        async with streaming(server.url, server.token, session["id"]) as (_, late):
            await late.wait(late.ended)
        stored = await stored_ids(server, session["id"])
    assert [e.type for e in late.events[:2]] == ["connected", "history-trimmed"]
    notice = late.events[1]
    assert notice.id is None and notice.data["firstAvailableId"] == stored[0] > 1
    assert late.ids == stored


async def test_runs_on_a_loop_without_asyncgen_hooks() -> None:
    """qasync's loop installs no async-generator hooks: nothing may depend on them."""
    hooks = sys.get_asyncgen_hooks()

    async def script(request: web.Request, n: int) -> web.StreamResponse:
        if n == 1:  # the decoder fails in the middle of reading
            return await sse(request, frames(1) + b"event: output\ndata: {broken\n\n", linger=5)
        return await sse(request, frames(1, 2), linger=5)

    async with scripted(script) as (url, requests):
        sys.set_asyncgen_hooks(firstiter=None, finalizer=None)
        try:
            async with streaming(url, "t", "s", heartbeat_interval=5) as (stream, recorder):
                await recorder.wait(lambda: stream.last_event_id == 2)
                stream.set_endpoint(url, "t2")  # cancels a read in the middle
                await recorder.wait(lambda: len(requests) == 3)
            gc.collect()  # abandoned generators would complain now, as unraisable errors
        finally:
            sys.set_asyncgen_hooks(*hooks)
    assert recorder.ids == [1, 2]
    assert requests[2].headers["Authorization"] == "Bearer t2"
    assert requests[2].headers["Last-Event-ID"] == "2"


def test_the_clients_import_no_qt() -> None:
    code = (
        "import sys, desktop.api, desktop.sse_client; "
        "assert not {'PySide6', 'qasync'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
