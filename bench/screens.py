"""Memory of idle terminal sessions: the backend's RSS with N sessions that each filled their
scrollback, minus the same with N sessions that printed nothing, per session.

Every session runs ``generator.py`` in a PTY of 120 x 32: with ``printed``, ``LINES`` coloured
lines of ``LINE_BYTES`` bytes (118 characters: one full row each, more than the default 10,000
lines of scrollback), then it sleeps; without, it only sleeps. All start together; once every
session is done (its mark on the screen, or, for a backend without ``/screen``, its last event
id still for ``STILL`` seconds), the backend is given ``SETTLE`` seconds and its RSS is read
(``/proc/PID/status``: VmRSS and RssAnon). The sessions' programs are not in the figure: they are
processes of their own.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from attach import MARK, screen_shows
from harness import (
    BENCH,
    PYTHON,
    ROOT,
    SESSIONDOCK,
    Cpus,
    Server,
    start_server,
    status_bytes,
    touch,
)

LINES = 11_000
LINE_BYTES = 147  # 28 bytes of SGR sequences, 118 characters, a newline
HOLD = 3600.0
FILL_WAIT = 300.0
STILL = 1.5
SETTLE = 2.0


@dataclass
class ScreensRun:
    tree: str
    sessions: int
    printed: bool
    rss: int  # bytes
    anon: int  # RssAnon, bytes


async def still(server: Server, session_ids: Sequence[str], seconds: float, within: float) -> None:
    """Wait until no session's last event id has moved for ``seconds`` (and each has events)."""
    deadline = time.monotonic() + within
    last: dict[str, int] = {}
    since = time.monotonic()
    while time.monotonic() - since < seconds:
        if time.monotonic() > deadline:
            raise RuntimeError(f"sessions still printing after {within} s")
        await asyncio.sleep(0.25)
        now = {
            s: int((await server.get_json(f"/api/session/{s}"))["lastEventId"]) for s in session_ids
        }
        if now != last or min(now.values()) == 0:
            last, since = now, time.monotonic()


async def run_screens(
    *,
    sessions: int,
    printed: bool,
    workdir: Path,
    cpus: Cpus,
    root: Path = ROOT,
    args: Sequence[str] = (),
    tree: str = "",
    has_screen: bool = True,
) -> ScreensRun:
    server = start_server(SESSIONDOCK, workdir, cpus, root=root, args=args)
    try:
        go = workdir / f"go-{secrets.token_hex(4)}"
        output = ["--blast", str(LINES * LINE_BYTES), "--colored", "--size", str(LINE_BYTES)]
        argv = [
            PYTHON, str(BENCH / "generator.py"), "--go", str(go), "--mark", MARK,
            "--hold", str(HOLD), *(output if printed else ["--duration", "0"]),
            *cpus.client_args(),
        ]  # fmt: skip
        ids = [(await server.create_session(argv, tty=True))[0] for _ in range(sessions)]
        touch(go)
        if has_screen:
            for session_id in ids:
                await screen_shows(server, session_id, MARK, FILL_WAIT)
        else:
            await still(server, ids, STILL, FILL_WAIT)
        await asyncio.sleep(SETTLE)
        rss, anon = status_bytes(server.pid, "VmRSS"), status_bytes(server.pid, "RssAnon")
    finally:
        await server.stop()
    return ScreensRun(tree, sessions, printed, rss, anon)
