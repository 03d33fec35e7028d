"""The yardstick: a plain aiohttp + aiohttp-sse fan-out server, written the way its examples are.

``POST /sessions {"argv": [...]}`` spawns a process on pipes; a task reads its output line by
line and puts each line, as the same JSON payload SessionDock sends, into an unbounded queue per
connected client (aiohttp-sse's chat example). ``GET /session/{id}/events`` sends every queued
line with ``EventSourceResponse.send``, one event per line. No store, no coalescing, no auth.

Started like the real backend: ``--port 0`` and one ready JSON line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp_sse import EventSourceResponse


class Session:
    """One process and the queues of the clients watching it."""

    def __init__(self, session_id: str, proc: asyncio.subprocess.Process) -> None:
        self.id = session_id
        self.proc = proc
        self.queues: set[asyncio.Queue[tuple[int, str]]] = set()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        seq = 0
        while line := await self.proc.stdout.readline():
            seq += 1
            payload = {
                "sessionId": self.id,
                "type": "stdout",
                "content": line.decode(errors="replace"),
                "timestamp": int(time.time() * 1000),
            }
            data = json.dumps(payload, separators=(",", ":"))
            for queue in self.queues:
                queue.put_nowait((seq, data))
        await self.proc.wait()


SESSIONS = web.AppKey("sessions", dict[str, Session])


async def create_session(request: web.Request) -> web.Response:
    body = await request.json()
    proc = await asyncio.create_subprocess_exec(
        *body["argv"], stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE
    )
    sessions = request.app[SESSIONS]
    session = Session(f"session-{len(sessions) + 1}", proc)
    sessions[session.id] = session
    return web.json_response({"id": session.id, "pid": proc.pid}, status=201)


async def session_events(request: web.Request) -> web.StreamResponse:
    session = request.app[SESSIONS].get(request.match_info["id"])
    if session is None:
        raise web.HTTPNotFound()
    queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
    response = EventSourceResponse()
    await response.prepare(request)
    session.queues.add(queue)
    try:
        async with response:
            await response.send(json.dumps({"sessionId": session.id}), event="connected")
            while response.is_connected():
                seq, data = await queue.get()
                await response.send(data, id=str(seq), event="output")
    except ConnectionError:
        pass
    finally:
        session.queues.discard(queue)
    return response


async def processes(app: web.Application) -> AsyncIterator[None]:
    app[SESSIONS] = {}
    yield
    for session in app[SESSIONS].values():
        if session.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                session.proc.kill()
            await session.proc.wait()
        session.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await session.reader


def make_app() -> web.Application:
    app = web.Application()
    app.cleanup_ctx.append(processes)
    app.router.add_post("/sessions", create_session)
    app.router.add_get("/session/{id}/events", session_events)
    return app


def _stop_at_eof(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """The benchmark holds our stdin: if it dies, so do we."""
    with contextlib.suppress(OSError, ValueError):
        while os.read(0, 65536):
            pass
    loop.call_soon_threadsafe(stop.set)


async def serve(port: int, watch_stdin: bool) -> None:
    runner = web.AppRunner(make_app(), shutdown_timeout=0.5, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = int(runner.addresses[0][1])
    ready = {
        "event": "ready",
        "port": bound,
        "url": f"http://127.0.0.1:{bound}",
        "pid": os.getpid(),
    }
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if watch_stdin:
        threading.Thread(target=_stop_at_eof, args=(loop, stop), daemon=True).start()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--exit-on-stdin-eof", action="store_true", help="stop when stdin closes")
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.exit_on_stdin_eof))
    return 0


if __name__ == "__main__":
    sys.exit(main())
