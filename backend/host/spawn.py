"""Starting a session's program: in a PTY or on pipes, in a session and process group of its own.

Shared by the session host and by the backend's in-process sessions (``--no-session-host``): a
program runs the same way under either. The parent keeps the PTY's master (or the pipes' ends);
the child gets SIGHUP when its parent dies, so no program outlives what can reach it unnoticed.
"""

from __future__ import annotations

import asyncio
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
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LaunchSpec:
    argv: tuple[str, ...]
    cwd: str
    env: dict[str, str]
    tty: bool
    cols: int = 120
    rows: int = 32


@dataclass(slots=True)
class Started:
    """A started program: its process, where its output comes from (stream name → descriptor,
    non-blocking), where its input goes, and its PTY's master (-1 on pipes)."""

    proc: asyncio.subprocess.Process
    outputs: dict[str, int] = field(default_factory=dict)
    stdin: int = -1
    pty: int = -1


async def start_program(spec: LaunchSpec) -> Started:
    """Spawn ``spec``'s program. Raises OSError when it cannot be started."""
    if spec.tty:
        master, slave = pty.openpty()
        set_winsize(master, spec.cols, spec.rows)
        try:
            proc = await asyncio.create_subprocess_exec(
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
        os.set_blocking(master, False)
        return Started(proc, {"stdout": master}, master, master)
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        proc = await asyncio.create_subprocess_exec(
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
    for fd in (in_w, out_r, err_r):
        os.set_blocking(fd, False)
    return Started(proc, {"stdout": out_r, "stderr": err_r}, in_w)


class OutputReader:
    """Reads programs' non-blocking outputs through one buffer of its own.

    A read hands out a PTY's few KiB at a time and a pipe's contents at most, and ``os.read``
    allocates its whole size for each: a megabyte per 4 KiB from a terminal (its pages faulted
    in, then given back). Here the bytes go into the same buffer every time, and each wakeup
    makes one ``bytes`` of what it got. One reader per thread that reads (it is not shared)."""

    def __init__(self, size: int) -> None:
        self._view = memoryview(bytearray(size))

    def read(self, fd: int) -> tuple[bytes, bool]:
        """Everything ``fd`` holds now, up to the buffer's size, in one piece (one wakeup, one
        piece), and whether it reached its end (EOF, or EIO from a PTY whose other side is
        closed)."""
        view = self._view
        size = 0
        ended = False
        while size < len(view):
            try:
                count = os.readv(fd, [view[size:]])
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno != errno.EIO:
                    log.warning("reading a program's output failed: %s", exc)
                count = 0
            if not count:
                ended = True
                break
            size += count
        return bytes(view[:size]), ended


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


def signal_session(leader: int, *signums: int) -> None:
    """Signal every process of the session ``leader`` leads, in every process group (a
    job-control shell puts each job in a group of its own), the leader's group when /proc
    cannot say."""
    members = session_members(leader)
    for signum in signums:
        for pid in members:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)
        if not members:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(leader, signum)


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


def set_winsize(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


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
    """In the child: get SIGHUP if its parent dies, even by SIGKILL (as a terminal's programs
    do when the terminal goes away), so no session outlives what runs it unnoticed."""
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
