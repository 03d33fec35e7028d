"""One child process in its own process group, in a PTY or on pipes, with coalesced output.

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
import ctypes
import errno
import fcntl
import functools
import logging
import os
import pty
import signal
import struct
import sys
import termios
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from backend.trace import TRACE

log = logging.getLogger(__name__)

READ_SIZE = 65536
MAX_EVENT_BYTES = 65536
# At exit, read at most this much more: a background job that keeps the terminal open and keeps
# writing must not hold the event loop.
MAX_DRAIN_READS = 64

OutputCallback = Callable[[str, str], None]  # (stream name, text)
# Calls back when the next event can go: on the next loop turn, or after the store's commit.
Pace = Callable[[Callable[[], None]], None]
# A stream whose last event was at least this large, and sent less than a window ago, is loud:
# it waits out the window (about 1 MB/s at the default 3 ms: a person's shell never is).
LOUD_BYTES = 3072


@dataclass(frozen=True, slots=True)
class LaunchSpec:
    argv: tuple[str, ...]
    cwd: str
    env: dict[str, str]
    tty: bool
    cols: int = 120
    rows: int = 32


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
    ) -> None:
        self.stream = stream
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
            self._emit(self.stream, text)


class SessionProcess:
    """Starts, feeds, signals and reaps one session's process."""

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
        self._pace: Pace = pace or self._next_turn
        self._proc: asyncio.subprocess.Process | None = None
        self._readers: dict[int, _Coalescer] = {}
        self._paused = False
        self._stdin_fd = -1
        self._pty_fd = -1
        self._pending_input = bytearray()
        self._close_input_when_written = False
        self._loop = asyncio.get_running_loop()

    def _next_turn(self, callback: Callable[[], None]) -> None:
        self._loop.call_soon(callback)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    async def start(self) -> None:
        """Spawn the process. Raises OSError when it cannot be started."""
        spec = self.spec
        if spec.tty:
            master, slave = pty.openpty()
            _set_winsize(master, spec.cols, spec.rows)
            try:
                self._proc = await asyncio.create_subprocess_exec(
                    *spec.argv,
                    stdin=slave,
                    stdout=slave,
                    stderr=slave,
                    cwd=spec.cwd,
                    env=spec.env,
                    start_new_session=True,
                    preexec_fn=functools.partial(_setup_terminal_child, slave),
                )
            except BaseException:
                os.close(master)
                raise
            finally:
                os.close(slave)
            self._pty_fd = self._stdin_fd = master
            self._watch(master, "stdout")
        else:
            in_r, in_w = os.pipe()
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            try:
                self._proc = await asyncio.create_subprocess_exec(
                    *spec.argv,
                    stdin=in_r,
                    stdout=out_w,
                    stderr=err_w,
                    cwd=spec.cwd,
                    env=spec.env,
                    start_new_session=True,
                    preexec_fn=_hang_up_with_parent,
                )
            except BaseException:
                for fd in (in_w, out_r, err_r):
                    os.close(fd)
                raise
            finally:
                for fd in (in_r, out_w, err_w):
                    os.close(fd)
            self._stdin_fd = in_w
            os.set_blocking(in_w, False)
            self._watch(out_r, "stdout")
            self._watch(err_r, "stderr")

    def _watch(self, fd: int, stream: str) -> None:
        os.set_blocking(fd, False)
        self._readers[fd] = _Coalescer(
            stream, self._on_output, self._window, self._loop, self._pace
        )
        self._loop.add_reader(fd, self._read, fd)

    def _read(self, fd: int) -> None:
        # Everything waiting, up to READ_SIZE, in one wakeup: a PTY hands out a few KiB per
        # read, and a loop slowed by other work would otherwise make an event of each.
        chunks: list[bytes] = []
        size = 0
        ended = False
        while size < READ_SIZE:
            try:
                data = os.read(fd, READ_SIZE - size)
            except BlockingIOError:
                break
            except OSError as exc:
                # EIO from a PTY whose other side is closed is its end of stream.
                if exc.errno != errno.EIO:
                    log.warning("reading session output failed: %s", exc)
                data = b""
            if not data:
                ended = True
                break
            chunks.append(data)
            size += len(data)
        if chunks:
            self._readers[fd].feed(b"".join(chunks) if len(chunks) > 1 else chunks[0])
        if ended:
            self._close_reader(fd)

    def _close_reader(self, fd: int) -> None:
        coalescer = self._readers.pop(fd, None)
        if coalescer is None:
            return
        self._loop.remove_reader(fd)
        coalescer.flush(final=True)
        if fd == self._pty_fd:
            self._drop_stdin()
            self._pty_fd = -1
        os.close(fd)

    def pause_reading(self) -> None:
        """Stop reading until ``resume_reading``: the process blocks once its buffer is full."""
        if not self._paused:
            self._paused = True
            for fd in self._readers:
                self._loop.remove_reader(fd)

    def resume_reading(self) -> None:
        if self._paused:
            self._paused = False
            for fd in self._readers:
                self._loop.add_reader(fd, self._read, fd)

    async def wait(self) -> int:
        """Wait for the process to exit, hand on every byte it wrote, and return its exit code."""
        assert self._proc is not None
        code = await self._proc.wait()
        # Whatever it wrote before exiting is buffered in the kernel: read it all now, so the
        # output always precedes the exit status.
        for fd in list(self._readers):
            self._drain(fd)
        for fd in list(self._readers):
            self._close_reader(fd)
        self._drop_stdin()
        return code

    def _drain(self, fd: int) -> None:
        for _ in range(MAX_DRAIN_READS):
            if fd not in self._readers:
                return
            try:
                data = os.read(fd, READ_SIZE)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._close_reader(fd)
                return
            self._readers[fd].feed(data)

    # -- input and control --------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Queue bytes for the process's stdin; written without ever blocking the loop."""
        if self._stdin_fd < 0:
            raise BrokenPipeError("the session's input is closed")
        had_pending = bool(self._pending_input)
        self._pending_input += data
        if not had_pending:
            self._write_pending()

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
        """End the process's input (EOF) once everything queued for it is written."""
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

    @property
    def is_tty(self) -> bool:
        return self.spec.tty

    def resize(self, cols: int, rows: int) -> None:
        if self._pty_fd >= 0:
            _set_winsize(self._pty_fd, cols, rows)

    def interrupt(self) -> None:
        """What Ctrl-C does: SIGINT to the terminal's foreground job (or the process group)."""
        if self._proc is None or self._proc.returncode is not None:
            return
        group = self._proc.pid
        if self._pty_fd >= 0:
            with contextlib.suppress(OSError):
                group = os.tcgetpgrp(self._pty_fd)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGINT)

    def foreground(self) -> Foreground | None:
        """The job in the terminal's foreground when it is not the session's own program (a
        shell running ``vim``); None when the program itself is in front, or there is no PTY."""
        if self._proc is None or self._proc.returncode is not None or self._pty_fd < 0:
            return None
        try:
            group = os.tcgetpgrp(self._pty_fd)
        except OSError:
            return None
        if group <= 0 or group == self._proc.pid:
            return None
        try:
            with open(f"/proc/{group}/comm", encoding="utf-8", errors="replace") as handle:
                name = handle.read().strip()
        except OSError:
            name = ""
        return Foreground(group, name)

    def signal_all(self, *signums: int) -> None:
        """Signal every process of the session, in every process group (a job-control shell
        puts each job in a group of its own)."""
        if self._proc is None:
            return
        members = session_members(self._proc.pid)
        for signum in signums:
            for pid in members:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signum)
            if not members:  # no /proc: the leader's group is the best we can reach
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self._proc.pid, signum)

    async def terminate(
        self, grace: float, signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGHUP)
    ) -> bool:
        """SIGTERM and SIGHUP to the whole session (as when a terminal window closes;
        interactive shells ignore SIGTERM alone), then SIGKILL to what is left after ``grace``.
        Returns whether the program itself had to be killed (it outlived the grace period)."""
        if self._proc is None:
            return False
        self.signal_all(*signals)
        forced = False
        try:
            await asyncio.wait_for(asyncio.shield(self._proc.wait()), grace)
        except TimeoutError:
            forced = True
            # Say what it was doing: a program stuck in the kernel (state D, its wchan) is not
            # one that ignores its signals.
            log.warning(
                "pid %d outlived the %.1f s grace period (%s); killing it",
                self._proc.pid,
                grace,
                process_state(self._proc.pid),
            )
        # Background jobs may outlive the leader: whatever remains of the session goes now.
        self.signal_all(signal.SIGKILL)
        await self._proc.wait()
        return forced


def process_state(pid: int) -> str:
    """``pid``'s state letter and where in the kernel it waits (Linux /proc), for a log line."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
        with open(f"/proc/{pid}/wchan", "rb") as handle:
            wchan = handle.read().decode(errors="replace") or "-"
    except OSError:
        return "state unknown"
    state = stat[stat.rfind(b")") + 2 :].split()[:1]
    return f"state {state[0].decode() if state else '?'}, waiting in {wchan}"


def session_members(session_id: int) -> list[int]:
    """The processes whose session id is ``session_id`` (Linux /proc; [] elsewhere)."""
    members = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: the fields follow the last ")".
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 3 and int(fields[3]) == session_id:
            members.append(int(entry))
    return members


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()  # looked up in the parent: the child only makes the call
_PR_SET_PDEATHSIG = 1


def _hang_up_with_parent() -> None:
    """In the child: get SIGHUP if the backend dies, even by SIGKILL (as a terminal's programs
    do when the terminal goes away), so no session outlives a crashed backend unnoticed."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGHUP)


def _setup_terminal_child(terminal: int) -> None:
    """In the child: a session of its own whose controlling terminal is the PTY, so job
    control, Ctrl-C and SIGWINCH work as in a real terminal.

    Done here whatever the loop does around it: asyncio's runs ``preexec_fn`` after its setsid
    and its dup2 of the PTY onto fd 0, uvloop's right after fork, before both (its setsid then
    fails quietly). So the session is made here unless it exists, and the PTY is named by the
    parent's descriptor, still open in the child either way."""
    if os.getsid(0) != os.getpid():
        os.setsid()
    fcntl.ioctl(terminal, termios.TIOCSCTTY, 0)
    _hang_up_with_parent()


def _set_winsize(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
