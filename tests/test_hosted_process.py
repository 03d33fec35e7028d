"""A hosted program as the backend's runtimes drive it (backend/runtimes/hosted.py), against a
real session host and a real shell in a real PTY: what is asked of it before its terminal is
here (the host is starting it, or handing it over to a backend that started again) reaches it
once the terminal comes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable
from pathlib import Path

from backend.host.client import HostLink
from backend.host.spawn import LaunchSpec
from backend.runtimes.hosted import HostedProcess

# Each `read` waits for a line typed; then the terminal's size goes out ("rows cols").
PROGRAM = "read first; stty size; read second; stty size"


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_a_size_asked_before_the_terminal_came_is_the_programs_size(tmp_path: Path) -> None:
    written: list[str] = []

    def collect(stream: str, text: str, mark: int | None) -> None:
        written.append(text)

    def output() -> str:
        return "".join(written)

    spec = LaunchSpec(("sh", "-c", PROGRAM), str(tmp_path), dict(os.environ), True, 80, 24)
    first, second = HostLink(tmp_path), HostLink(tmp_path)
    ended = False
    try:
        await first.connect()
        process = HostedProcess(first, "s-1", spec, collect, 0.001)
        starting = asyncio.ensure_future(process.start())
        process.resize(132, 43)  # the host has not even been asked to start it
        await starting
        process.write(b"\n")
        await until(lambda: "43 132" in output())
        stored = process.mark("stdout")
        process.detach()
        await first.close(wait=False)  # this backend goes; the shell waits at its second read

        await second.connect()
        written.clear()
        again = HostedProcess(second, "s-1", spec, collect, 0.001)
        again.adopt(second.held["s-1"], {"stdout": stored or 0})
        again.resize(100, 30)  # before the host has handed the terminal over
        again.write(b"\n")  # waits for it too
        assert await asyncio.wait_for(again.wait(), 10) == 0
        assert "30 100" in output()
        assert "43 132" not in output()  # stored already: not sent again
        again.forget()
        await second.close(wait=True)
        ended = True
    finally:
        for link in (first, second):
            if not ended and link.host_pid is not None:  # a failure left it running
                with contextlib.suppress(ProcessLookupError):
                    os.kill(link.host_pid, signal.SIGTERM)
