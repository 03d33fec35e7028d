"""One session's program, in a PTY or on pipes, with coalesced output: run by the session host
(backend/host/client.py's ``HostedProcess``) or as the backend's own child (``SessionProcess``).

Output is read in chunks from non-blocking file descriptors (never by lines: a line can be longer
than any buffer), decoded as UTF-8 incrementally, and handed on as events of at most 64 KiB.
When an event goes depends on the load (``_Coalescer``): a quiet stream's output goes on the
next turn of the loop, or after the store's commit under way if it is busy (what arrives
meanwhile joins it); a loud one (its last event was large and recent) at most once per
coalescing window, so a process printing as fast as it can makes a bounded number of events.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
import os
import signal
import threading
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from backend.host.spawn import (
    LaunchSpec,
    OutputReader,
    process_state,
    set_winsize,
    signal_session,
    start_program,
)
from backend.trace import TRACE

__all__ = ["Foreground", "LaunchSpec", "ProgramProcess", "SessionProcess"]

log = logging.getLogger(__name__)

MIB = 1024 * 1024
READ_SIZE = 65536
MAX_EVENT_BYTES = 65536
# At exit, read at most this much more: a background job that keeps the terminal open and keeps
# writing must not hold the event loop.
MAX_DRAIN_READS = 64

# (stream name, text, the offset the text reaches in the stream: for hosted programs, else None)
OutputCallback = Callable[[str, str, int | None], None]
# Calls back when the next event can go: on the next loop turn, or after the store's commit.
Pace = Callable[[Callable[[], None]], None]
# A stream whose last event was at least this large, and sent less than a window ago, is loud:
# it waits out the window (about 1 MB/s at the default 3 ms: a person's shell never is).
LOUD_BYTES = 3072

# What sessions' output is read through: one buffer for each thread that reads (a loop's).
_per_thread = threading.local()


def _thread_reader() -> OutputReader:
    reader: OutputReader | None = getattr(_per_thread, "reader", None)
    if reader is None:
        reader = _per_thread.reader = OutputReader(READ_SIZE)
    return reader


@dataclass(frozen=True, slots=True)
class Foreground:
    """The process group in a terminal's foreground, and its leader's command name."""

    pid: int
    name: str


class _Coalescer:
    """Decodes one stream and hands text on: once 64 KiB are waiting; a loud stream's once per
    window; a quiet one's as soon as ``pace`` says the store can take it (at once when idle)."""

    def __init__(
        self,
        stream: str,
        emit: OutputCallback,
        window: float,
        loop: asyncio.AbstractEventLoop,
        pace: Pace,
        position: int | None = None,
    ) -> None:
        self.stream = stream
        # Bytes of the stream decoded so far, counted from the program's first byte when the
        # session host needs to know how far each event reaches (``position`` given).
        self.tracked = position is not None
        self.position = position or 0
        self._emit = emit
        self._window = window
        self._loop = loop
        self._pace = pace
        self._paced = False  # a call from ``pace`` is due
        self._last_size = 0  # bytes in the last event
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._parts: list[str] = []
        self._size = 0
        self._last_flush = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._traced: list[dict[str, Any]] = []  # bench lines in what is waiting (trace.py)

    def feed(self, data: bytes) -> None:
        if self._size and self._size + len(data) > MAX_EVENT_BYTES:
            self.flush()  # an event holds at most MAX_EVENT_BYTES
        if TRACE is not None:
            self._traced += TRACE.sampled(data)
        text = self._decoder.decode(data)
        self.position += len(data)
        if text:
            self._parts.append(text)
        self._size += len(data)
        if self._size >= MAX_EVENT_BYTES:
            self.flush()
        elif self._timer is None and not self._paced:
            since = self._loop.time() - self._last_flush
            if self._last_size >= LOUD_BYTES and since < self._window:
                # Loud: one event per window (fewer, larger events for every client).
                self._timer = self._loop.call_later(self._window - since, self.flush)
            else:
                # Quiet: out as soon as the store can take it (a line a person waits for).
                self._paced = True
                self._pace(self._paced_flush)

    def mark(self) -> int:
        """The offset of the first byte not yet in an event: what was decoded, less the start
        of a character whose next bytes have not come yet."""
        return self.position - len(self._decoder.getstate()[0])

    def _paced_flush(self) -> None:
        self._paced = False
        if self._timer is None:  # else the window's flush comes
            self.flush()

    def flush(self, final: bool = False) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if final:
            tail = self._decoder.decode(b"", final=True)
            if tail:
                self._parts.append(tail)
        self._last_flush = self._loop.time()
        self._last_size = self._size
        self._size = 0
        if self._parts:
            text = "".join(self._parts)
            self._parts.clear()
            if TRACE is not None:
                TRACE.emitting(self._traced)
                self._traced = []
            self._emit(self.stream, text, self.mark() if self.tracked else None)


class ProgramProcess(ABC):
    """What the backend does with a running program, wherever it runs: input, resizes and
    signals (through descriptors and pids of its own), output handed on as coalesced events.
    Subclasses say how it starts, how its output arrives and how its exit is learnt."""

    # How much output may wait for a terminal's emulator before the program waits, and how
    # little before it goes on (bytes: screen.py). In-process the PTY holds only some 64 KiB
    # ahead, so a deep queue keeps the program writing while the emulator catches up.
    screen_backlog: tuple[int, int] = (8 * MIB, 2 * MIB)

    def __init__(
        self,
        spec: LaunchSpec,
        on_output: OutputCallback,
        coalesce_seconds: float,
        pace: Pace | None = None,
    ):
        """``pace``: when output may go (``Store.after_commit``); by default, the next turn."""
        self.spec = spec
        self._on_output = on_output
        self._window = coalesce_seconds
        self._loop = asyncio.get_running_loop()
        self._pace: Pace = pace or self._next_turn
        self._readers: dict[str, _Coalescer] = {}  # by stream name
        self._stdin_fd = -1
        self._pty_fd = -1  # the terminal, for its size and its foreground job
        self._pending_input = bytearray()
        self._pending_size: tuple[int, int] | None = None
        self._close_input_when_written = False
        self._pid: int | None = None
        self.returncode: int | None = None

    def _next_turn(self, callback: Callable[[], None]) -> None:
        self._loop.call_soon(callback)

    def _coalescer(self, stream: str, position: int | None = None) -> _Coalescer:
        coalescer = _Coalescer(
            stream, self._on_output, self._window, self._loop, self._pace, position
        )
        self._readers[stream] = coalescer
        return coalescer

    @property
    def pid(self) -> int | None:
        return self._pid

    @property
    def is_tty(self) -> bool:
        return self.spec.tty

    @abstractmethod
    async def start(self) -> None:
        """Spawn the program. Raises OSError when it cannot be started."""

    @abstractmethod
    async def wait(self) -> int | None:
        """Wait for the program to exit, hand on every byte it wrote, and return its exit code
        (None: it was lost with what ran it)."""

    @abstractmethod
    def _exited(self) -> Awaitable[Any]:
        """Resolves when the program itself has exited (its output may still be coming)."""

    @abstractmethod
    def pause_reading(self) -> None:
        """Stop reading until ``resume_reading``: the program blocks once its buffer is full."""

    @abstractmethod
    def resume_reading(self) -> None: ...

    def mark(self, stream: str) -> int | None:
        """How far the events handed on so far reach in ``stream`` (the session host's offsets;
        None when nothing needs them)."""
        return None

    # -- input and control --------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Queue bytes for the program's stdin; written without ever blocking the loop."""
        if self._stdin_fd < 0 and not self._input_pending_start():
            raise BrokenPipeError("the session's input is closed")
        had_pending = bool(self._pending_input)
        self._pending_input += data
        if not had_pending:
            self._write_pending()

    def _input_pending_start(self) -> bool:
        """Whether input may queue before its descriptor is known (a session being adopted)."""
        return False

    def _write_pending(self) -> None:
        fd = self._stdin_fd
        if fd < 0:
            return
        try:
            written = os.write(fd, self._pending_input)
        except BlockingIOError:
            written = 0
        except OSError as exc:
            log.info("session input closed: %s", exc)
            self._pending_input.clear()
            self._loop.remove_writer(fd)
            return
        del self._pending_input[:written]
        if self._pending_input:
            self._loop.add_writer(fd, self._write_pending)
        else:
            self._loop.remove_writer(fd)
            if self._close_input_when_written:
                self._drop_stdin()

    def close_input(self) -> None:
        """End the program's input (EOF) once everything queued for it is written."""
        self._close_input_when_written = True
        if not self._pending_input:
            self._drop_stdin()

    def _drop_stdin(self) -> None:
        fd, self._stdin_fd = self._stdin_fd, -1
        self._pending_input.clear()
        if fd < 0:
            return
        self._loop.remove_writer(fd)
        if fd != self._pty_fd:
            os.close(fd)
        self._input_closed()

    def _input_closed(self) -> None:  # noqa: B027 - only hosted programs need it
        """The program's input was closed here (a hosted program's host must close it too)."""

    def resize(self, cols: int, rows: int) -> None:
        if self._pty_fd >= 0:
            set_winsize(self._pty_fd, cols, rows)
        elif self.spec.tty:
            # Its terminal is not here yet (the host is starting or handing over the program):
            # it gets this size when it comes.
            self._pending_size = (cols, rows)

    def _terminal_came(self, fd: int) -> None:
        """The program's terminal is ``fd`` from now on; a size asked for before it came is
        given to it."""
        self._pty_fd = fd
        if self._pending_size is not None:
            cols, rows = self._pending_size
            self._pending_size = None
            with contextlib.suppress(OSError):
                set_winsize(fd, cols, rows)

    def interrupt(self) -> None:
        """What Ctrl-C does: SIGINT to the terminal's foreground job (or the process group)."""
        if self._pid is None or self.returncode is not None:
            return
        group = self._pid
        if self._pty_fd >= 0:
            with contextlib.suppress(OSError):
                group = os.tcgetpgrp(self._pty_fd)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGINT)

    def foreground(self) -> Foreground | None:
        """The job in the terminal's foreground when it is not the session's own program (a
        shell running ``vim``); None when the program itself is in front, or there is no PTY."""
        if self._pid is None or self.returncode is not None or self._pty_fd < 0:
            return None
        try:
            group = os.tcgetpgrp(self._pty_fd)
        except OSError:
            return None
        if group <= 0 or group == self._pid:
            return None
        try:
            with open(f"/proc/{group}/comm", encoding="utf-8", errors="replace") as handle:
                name = handle.read().strip()
        except OSError:
            name = ""
        return Foreground(group, name)

    def signal_all(self, *signums: int) -> None:
        """Signal every process of the session, in every process group."""
        if self._pid is not None:
            signal_session(self._pid, *signums)

    async def terminate(
        self, grace: float, signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGHUP)
    ) -> bool:
        """SIGTERM and SIGHUP to the whole session (as when a terminal window closes;
        interactive shells ignore SIGTERM alone), then SIGKILL to what is left after ``grace``.
        Returns whether the program itself had to be killed (it outlived the grace period)."""
        if self._pid is None:
            return False
        self.signal_all(*signals)
        forced = False
        try:
            await asyncio.wait_for(asyncio.shield(self._exited()), grace)
        except TimeoutError:
            forced = True
            # Say what it was doing: a program stuck in the kernel (state D, its wchan) is not
            # one that ignores its signals.
            log.warning(
                "pid %d outlived the %.1f s grace period (%s); killing it",
                self._pid,
                grace,
                process_state(self._pid),
            )
        # Background jobs may outlive the leader: whatever remains of the session goes now.
        self.signal_all(signal.SIGKILL)
        await self._exited()
        return forced


class SessionProcess(ProgramProcess):
    """A program that is the backend's own child (``--no-session-host``, and agents): it dies
    with the backend."""

    def __init__(
        self,
        spec: LaunchSpec,
        on_output: OutputCallback,
        coalesce_seconds: float,
        pace: Pace | None = None,
    ):
        super().__init__(spec, on_output, coalesce_seconds, pace)
        self._proc: asyncio.subprocess.Process | None = None
        self._fds: dict[int, str] = {}  # output descriptor → stream
        self._paused = False

    async def start(self) -> None:
        started = await start_program(self.spec)
        self._proc = started.proc
        self._pid = started.proc.pid
        self._stdin_fd = started.stdin
        if started.pty >= 0:
            self._terminal_came(started.pty)
        for stream, fd in started.outputs.items():
            self._fds[fd] = stream
            self._coalescer(stream)
            self._loop.add_reader(fd, self._read, fd)

    def _exited(self) -> Awaitable[int]:
        assert self._proc is not None
        return self._proc.wait()

    def _read(self, fd: int) -> None:
        self._take(fd)

    def _take(self, fd: int) -> bool:
        """Everything ``fd`` holds now, up to READ_SIZE, in one piece (a loop slowed by other
        work would otherwise make an event of each of a PTY's few-KiB reads); whether more may
        be waiting."""
        data, ended = _thread_reader().read(fd)
        if data:
            self._readers[self._fds[fd]].feed(data)
        if ended:
            self._close_reader(fd)
            return False
        return len(data) == READ_SIZE

    def _close_reader(self, fd: int) -> None:
        stream = self._fds.pop(fd, None)
        if stream is None:
            return
        if not self._paused:
            self._loop.remove_reader(fd)
        self._readers[stream].flush(final=True)
        if fd == self._pty_fd:
            self._drop_stdin()
            self._pty_fd = -1
        os.close(fd)

    def pause_reading(self) -> None:
        if not self._paused:
            self._paused = True
            for fd in self._fds:
                self._loop.remove_reader(fd)

    def resume_reading(self) -> None:
        if self._paused:
            self._paused = False
            for fd in self._fds:
                self._loop.add_reader(fd, self._read, fd)

    async def wait(self) -> int:
        assert self._proc is not None
        code = await self._proc.wait()
        self.returncode = code
        # Whatever it wrote before exiting is buffered in the kernel: read it all now, so the
        # output always precedes the exit status.
        for fd in list(self._fds):
            self._drain(fd)
        for fd in list(self._fds):
            self._close_reader(fd)
        self._drop_stdin()
        return code

    def _drain(self, fd: int) -> None:
        for _ in range(MAX_DRAIN_READS):
            if fd not in self._fds or not self._take(fd):
                return
