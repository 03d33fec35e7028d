"""A session's program run by the session host (backend/host): it outlives this backend.

The host reads the program's output and sends it here in frames that say where in the stream
they start; this side decodes and coalesces them as for a local child, and each event says how
far it reaches (``mark``), stored in the event's transaction. Input, resizes and signals go from
here straight to the program, through a copy of its PTY (or stdin pipe) and by its pid.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from collections.abc import Awaitable

from backend.host import wire
from backend.host.client import HostLink
from backend.runtimes.process import (
    MIB,
    READ_SIZE,
    LaunchSpec,
    OutputCallback,
    Pace,
    ProgramProcess,
)

log = logging.getLogger(__name__)


class HostedProcess(ProgramProcess):
    # Shallow: the host keeps what the program writes, and its frames (up to a megabyte) would
    # fill a deep queue at once; with 8 MiB queued a PTY session under the host ran at
    # 0.79 of its in-process rate on the backend's core and 0.80 on one core for everything,
    # with 1 MiB at 1.08 and 0.99 (docs/benchmarks.md, "The session host (issue 18)").
    screen_backlog = (1 * MIB, MIB // 4)

    def __init__(
        self,
        link: HostLink,
        session_id: str,
        spec: LaunchSpec,
        on_output: OutputCallback,
        coalesce_seconds: float,
        pace: Pace | None = None,
    ) -> None:
        super().__init__(spec, on_output, coalesce_seconds, pace)
        self._link = link
        self.session_id = session_id
        self._exit: asyncio.Future[int | None] = self._loop.create_future()
        self._started: asyncio.Future[None] | None = None
        self._adopting = False
        self._paused = False
        self._detached = False

    def _streams(self, offsets: dict[str, int]) -> None:
        for stream in ("stdout",) if self.spec.tty else ("stdout", "stderr"):
            self._coalescer(stream, offsets.get(stream, 0))  # offsets tracked

    async def start(self) -> None:
        self._streams({})
        self._started = self._loop.create_future()
        self._link.register(self.session_id, self)
        spec = self.spec
        self._link.send(
            wire.Spawn(
                id=self.session_id,
                argv=list(spec.argv),
                cwd=spec.cwd,
                env=spec.env,
                tty=spec.tty,
                cols=spec.cols,
                rows=spec.rows,
            )
        )
        try:
            await self._started
        except BaseException:
            self._link.unregister(self.session_id, self)
            raise

    def adopt(self, held: wire.Held, offsets: dict[str, int]) -> None:
        """Take on a session the host ran while no backend was here, from what the store holds
        (``offsets``): the host sends what came after, and goes on."""
        self._streams(offsets)
        self._pid = held.pid
        self._adopting = True
        self._link.register(self.session_id, self)
        self._link.send(wire.Adopt(id=self.session_id, offsets=offsets))

    # -- the host's frames --------------------------------------------------------------------

    def spawned(self, pid: int, fds: list[int]) -> None:
        self._pid = pid
        self._take(fds)
        if self._started is not None and not self._started.done():
            self._started.set_result(None)

    def spawn_failed(self, code: int, message: str) -> None:
        if self._started is not None and not self._started.done():
            self._started.set_exception(OSError(code, message))

    def adopted(self, fds: list[int]) -> None:
        self._adopting = False
        self._take(fds)
        if self._pending_input:
            self._write_pending()

    def _take(self, fds: list[int]) -> None:
        for extra in fds[1:]:
            os.close(extra)
        if not fds:
            return
        # A copy of the host's descriptor: it shares its non-blocking mode.
        self._stdin_fd = fds[0]
        if self.spec.tty:
            self._terminal_came(fds[0])

    def output(self, frame: wire.Output) -> None:
        coalescer = self._readers.get(frame.stream)
        if coalescer is None:
            return
        data = frame.data
        skip = coalescer.position - frame.offset
        if skip > 0:  # sent again, and stored already
            data = data[skip:]
        elif skip < 0:
            log.error(
                "session %s: %d bytes of %s missing at offset %d",
                self.session_id,
                -skip,
                frame.stream,
                coalescer.position,
            )
            coalescer.position = frame.offset
        # The host sends up to a megabyte at a time; events hold at most 64 KiB.
        for start in range(0, len(data), READ_SIZE):
            coalescer.feed(data[start : start + READ_SIZE])

    def exited(self, code: int) -> None:
        self.returncode = code
        if not self._exit.done():
            self._exit.set_result(code)

    def host_lost(self) -> None:
        self.spawn_failed(errno.EPIPE, "the session host went away")
        if not self._exit.done():
            self._exit.set_result(None)

    # -- what the runtime asks ----------------------------------------------------------------

    def _exited(self) -> Awaitable[int | None]:
        return self._exit

    async def wait(self) -> int | None:
        code = await self._exit
        for coalescer in self._readers.values():
            coalescer.flush(final=True)
        self._close_descriptors()
        return code

    def mark(self, stream: str) -> int | None:
        coalescer = self._readers.get(stream)
        return coalescer.mark() if coalescer is not None else None

    def pause_reading(self) -> None:
        if not self._paused:
            self._paused = True
            self._link.send(wire.Pause(id=self.session_id))

    def resume_reading(self) -> None:
        if self._paused:
            self._paused = False
            self._link.send(wire.Resume(id=self.session_id))

    def _input_pending_start(self) -> bool:
        return self._adopting

    def _input_closed(self) -> None:
        if not self.spec.tty and not self._detached and self.returncode is None:
            self._link.send(wire.CloseInput(id=self.session_id))

    def detach(self) -> None:
        """This backend stops; the program runs on in the host. What was read is handed on
        (a character cut in two stays for the next backend); nothing more comes here."""
        self._detached = True
        for coalescer in self._readers.values():
            coalescer.flush()
        self._link.unregister(self.session_id, self)
        self._close_descriptors()

    def forget(self) -> None:
        """Its end is stored: the host may let it go."""
        self._link.unregister(self.session_id, self)
        self._link.send(wire.Forget(id=self.session_id))

    def _close_descriptors(self) -> None:
        pty = self._pty_fd
        self._drop_stdin()
        self._pty_fd = -1
        if pty >= 0:
            os.close(pty)
