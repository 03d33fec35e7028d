"""The session host: runs sessions' programs for the backend, and keeps them when it goes.

One host per data dir (as tmux has one server), started by the backend when none answers on
``host.sock``, in a session of its own so that nothing of the backend's death reaches it. It
knows nothing of the store, the emulator or HTTP: it spawns programs, reads what they write,
keeps it until the backend says it is stored, and reports their exits. While no backend is
attached it reads on until a stream holds ``WINDOW`` unacknowledged bytes, then stops reading
it: the program blocks, nothing is lost. It exits as soon as it holds no session and no backend
is attached (a backend that stops waits for that).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import fcntl
import json
import logging
import os
import signal
import socket
import sys
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from backend.host import wire
from backend.host.spawn import (
    LaunchSpec,
    OutputReader,
    Started,
    signal_session,
    start_program,
)

log = logging.getLogger("sessiondock.host")

# Read at most this much per wakeup (one frame). The host's CPU is what it costs (it shares the
# machine with the backend): fewer, larger reads and frames are cheaper, so output pipes are
# made PIPE_SIZE deep, and a program that writes fast is read a megabyte at a time.
READ_SIZE = 1024 * 1024
PIPE_SIZE = 1024 * 1024
F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ (Linux; Python 3.10+ names it, not everywhere)
# The socket to the backend takes a whole frame in one call (the system may allow less: then
# a frame takes several, as the backend reads).
SEND_BUFFER = READ_SIZE
# Unacknowledged bytes a stream may hold before the host stops reading its program.
WINDOW = 4 * 1024 * 1024
# It ends this long after it holds no session and no backend is attached (the backend that
# stops waits for that: the data dir's files are then closed); the first backend has
# FIRST_CONNECT_SECONDS to connect.
IDLE_SECONDS = 0.0
FIRST_CONNECT_SECONDS = 30.0
# Stopping the host (SIGTERM): its programs get this long after SIGTERM and SIGHUP.
STOP_GRACE = 0.5


class Stream:
    """One output of a program: its descriptor, and what it wrote that is not yet stored (the
    chunks as read, each with the offset of its first byte)."""

    __slots__ = ("base", "chunks", "end", "fd", "index", "name", "reading", "sent")

    def __init__(self, name: str, fd: int) -> None:
        self.name = name
        self.index = wire.STREAMS.index(name)
        self.fd = fd  # -1 once it reached its end
        self.chunks: deque[tuple[int, bytes]] = deque()
        self.base = 0  # the oldest byte not acknowledged
        self.end = 0  # the next byte to read
        self.sent = 0  # the attached backend has everything before this
        self.reading = False

    @property
    def held(self) -> int:
        return self.end - self.base

    def take(self, data: bytes) -> None:
        self.chunks.append((self.end, data))
        self.end += len(data)

    def ack(self, offset: int) -> None:
        self.base = max(self.base, min(offset, self.end))
        self.sent = max(self.sent, self.base)
        chunks = self.chunks
        while chunks and chunks[0][0] + len(chunks[0][1]) <= self.base:
            chunks.popleft()

    def unsent(self) -> list[tuple[int, bytes | memoryview]]:
        """What the attached backend does not have yet, as (offset, bytes) pieces."""
        pieces: list[tuple[int, bytes | memoryview]] = []
        for start, data in reversed(self.chunks):
            if start + len(data) <= self.sent:
                break
            skip = self.sent - start
            pieces.append((self.sent, memoryview(data)[skip:]) if skip > 0 else (start, data))
        pieces.reverse()
        return pieces


class Program:
    """One session's program, from its start until the backend forgets it."""

    def __init__(self, host: Host, session_id: str, started: Started, tty: bool) -> None:
        self.host = host
        self.id = session_id
        self.wire_id = session_id.encode()
        self.proc = started.proc
        self.pid = started.proc.pid
        self.tty = tty
        self.stdin = started.stdin
        self.pty = started.pty
        self.streams = {name: Stream(name, fd) for name, fd in started.outputs.items()}
        if not tty:
            for fd in started.outputs.values():
                with contextlib.suppress(OSError):  # over the system's limit: as it is
                    fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_SIZE)
        self.exit_code: int | None = None
        self.exited = False  # exited, and what it wrote is read
        self.adopted = False  # the attached backend takes its output
        self.paused = False  # the backend asked (its store or screen is behind)
        self.forgotten = False
        self.waiter = asyncio.get_running_loop().create_task(self._wait())

    def held(self) -> wire.Held:
        return wire.Held(
            id=self.id, pid=self.pid, tty=self.tty, exit_code=self.exit_code, exited=self.exited
        )

    def control_fds(self) -> list[int]:
        """Copies of what the backend writes input to (and sizes the terminal by)."""
        return [os.dup(self.stdin)] if self.stdin >= 0 else []

    # -- output -------------------------------------------------------------------------------

    def update_readers(self) -> None:
        loop = asyncio.get_running_loop()
        for stream in self.streams.values():
            wanted = stream.fd >= 0 and not self.paused and stream.held < WINDOW
            if wanted and not stream.reading:
                loop.add_reader(stream.fd, self._read, stream)
            elif stream.reading and not wanted:
                loop.remove_reader(stream.fd)
            stream.reading = wanted

    def _read(self, stream: Stream) -> None:
        data, ended = self.host.reader.read(stream.fd)  # one wakeup, one frame
        if data:
            stream.take(data)
            self.send_pending(stream)
        if ended:
            self._close_stream(stream)
        elif stream.held >= WINDOW:
            self.update_readers()

    def _close_stream(self, stream: Stream) -> None:
        if stream.fd < 0:
            return
        if stream.reading:
            asyncio.get_running_loop().remove_reader(stream.fd)
            stream.reading = False
        if stream.fd == self.stdin:
            self.stdin = -1  # the PTY: its master is both
        os.close(stream.fd)
        stream.fd = -1

    def send_pending(self, stream: Stream) -> None:
        channel = self.host.channel
        if not self.adopted or channel is None or stream.sent >= stream.end:
            return
        for offset, data in stream.unsent():
            head = wire.output_head(self.wire_id, stream.index, offset, len(data))
            channel.send_pieces([head, data])
        stream.sent = stream.end

    def ack(self, name: str, offset: int) -> None:
        stream = self.streams.get(name)
        if stream is None or offset <= stream.base:
            return
        stream.ack(offset)
        self.update_readers()

    def adopt(self, offsets: dict[str, int]) -> None:
        """A backend takes the session on, with what its store holds up to ``offsets``."""
        for stream in self.streams.values():
            offset = offsets.get(stream.name, 0)
            if offset < stream.base:
                # Its store holds less than it acknowledged (a database put back from a copy?):
                # what is gone from here cannot be sent again.
                log.warning(
                    "%s: %s asked from %d, kept from %d", self.id, stream.name, offset, stream.base
                )
            stream.ack(offset)
            stream.sent = stream.base
        self.adopted = True

    def detach(self) -> None:
        """The backend went: what it did not acknowledge goes to the next one."""
        self.adopted = False
        self.paused = False
        for stream in self.streams.values():
            stream.sent = stream.base
        self.update_readers()

    # -- the end ------------------------------------------------------------------------------

    async def _wait(self) -> None:
        code = await self.proc.wait()
        # What it wrote before exiting is in the kernel's buffers: read it now, so the output
        # comes before the exit (whatever the window: a backend will come for it), but at most
        # a window more: a background job that keeps writing must not hold the host.
        for stream in self.streams.values():
            drained = stream.end
            while stream.fd >= 0 and stream.end - drained < WINDOW:
                data, ended = self.host.reader.read(stream.fd)
                if data:
                    stream.take(data)
                if ended or len(data) < READ_SIZE:
                    break
            self._close_stream(stream)
            self.send_pending(stream)
        self.close_input()
        self.exit_code = code
        self.exited = True
        log.info("%s: pid %d exited with %d", self.id, self.pid, code)
        if self.forgotten:
            self.host.drop(self)
        else:
            self.report_exit()

    def report_exit(self) -> None:
        channel = self.host.channel
        if self.exited and self.adopted and channel is not None and self.exit_code is not None:
            channel.send(wire.Exited(id=self.id, code=self.exit_code))

    def close_input(self) -> None:
        if self.stdin >= 0 and self.stdin != self.pty:
            os.close(self.stdin)
            self.stdin = -1

    def forget(self) -> None:
        """Nobody will come for it: end what is left of its session, then drop it."""
        self.forgotten = True
        self.adopted = False
        if self.exited:
            self.host.drop(self)
        else:
            signal_session(self.pid, signal.SIGKILL)

    def close(self) -> None:
        for stream in self.streams.values():
            self._close_stream(stream)
        self.close_input()


class Host:
    def __init__(self, data_dir: Path, idle_seconds: float = IDLE_SECONDS) -> None:
        self.data_dir = data_dir
        self.idle_seconds = idle_seconds
        self.programs: dict[str, Program] = {}
        self.reader = OutputReader(READ_SIZE)
        self.channel: wire.Channel | None = None
        self._listener: socket.socket | None = None
        self._idle: asyncio.TimerHandle | None = None
        self._done: asyncio.Future[None] | None = None
        self._spawning: set[asyncio.Task[None]] = set()

    async def run(self, listener: socket.socket) -> int:
        """Serve on ``listener`` (bound and listening) until idle or stopped."""
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        listener.setblocking(False)
        self._listener = listener
        loop.add_reader(listener.fileno(), self._accept)
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._stop)
        loop.add_signal_handler(signal.SIGHUP, lambda: None)
        log.info("session host %d serves %s", os.getpid(), self.data_dir)
        self._idle = loop.call_later(FIRST_CONNECT_SECONDS, self._idle_exit)
        try:
            await self._done
        finally:
            loop.remove_reader(listener.fileno())
            # Unlinked before the lock is let go: a new host binds its own.
            with contextlib.suppress(OSError):
                os.unlink(wire.socket_address(self.data_dir))
            listener.close()
        return 0

    def _accept(self) -> None:
        assert self._listener is not None
        try:
            conn, _ = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        uid = wire.peer_uid(conn)
        if uid is not None and uid != os.getuid():
            log.warning("refused a connection from uid %d", uid)
            conn.close()
            return
        if self.channel is not None:
            log.info("a new backend connected: the previous one is let go")
            self.channel.close()
        self._cancel_idle()

        def closed() -> None:
            if self.channel is channel:
                self._detached()

        with contextlib.suppress(OSError):
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        channel = wire.Channel(conn, wire.decode_to_host, self._on_frame, closed)
        self.channel = channel
        for program in self.programs.values():
            program.detach()
        channel.send(
            wire.Hello(pid=os.getpid(), sessions=[p.held() for p in self.programs.values()])
        )

    def _detached(self) -> None:
        self.channel = None
        log.info("the backend went; %d sessions run on", len(self.programs))
        for program in self.programs.values():
            program.detach()
        self._check_idle()

    def _on_frame(self, frame: wire.ToHost) -> None:
        if isinstance(frame, wire.Spawn):
            task = asyncio.get_running_loop().create_task(self._spawn(frame))
            self._spawning.add(task)
            task.add_done_callback(self._spawned)
            return
        program = self.programs.get(frame.id)
        if program is None:
            log.info("%s: %s for a session not held here", frame.id, type(frame).__name__)
            return
        if isinstance(frame, wire.Ack):
            program.ack(frame.stream, frame.offset)
        elif isinstance(frame, wire.Adopt):
            program.adopt(frame.offsets)
            fds = program.control_fds()
            assert self.channel is not None
            self.channel.send(wire.Adopted(id=program.id, fds=len(fds)), fds)
            for stream in program.streams.values():
                program.send_pending(stream)
            program.update_readers()
            program.report_exit()
        elif isinstance(frame, wire.Pause | wire.Resume):
            program.paused = isinstance(frame, wire.Pause)
            program.update_readers()
        elif isinstance(frame, wire.CloseInput):
            program.close_input()
        elif isinstance(frame, wire.Forget):
            program.forget()

    async def _spawn(self, frame: wire.Spawn) -> None:
        self._cancel_idle()
        channel = self.channel
        spec = LaunchSpec(
            tuple(frame.argv), frame.cwd, frame.env, frame.tty, frame.cols, frame.rows
        )
        try:
            if frame.id in self.programs:
                raise OSError(errno.EEXIST, f"session {frame.id} runs already")
            started = await start_program(spec)
        except OSError as exc:
            if channel is not None:
                channel.send(
                    wire.SpawnFailed(
                        id=frame.id, errno=exc.errno or 0, message=exc.strerror or str(exc)
                    )
                )
            self._check_idle()
            return
        program = Program(self, frame.id, started, frame.tty)
        self.programs[frame.id] = program
        log.info("%s: started pid %d: %s", frame.id, program.pid, " ".join(frame.argv)[:200])
        if channel is None or channel is not self.channel:
            # The backend that asked went meanwhile: the next one never heard of it.
            program.forget()
            return
        program.adopted = True
        fds = program.control_fds()
        channel.send(wire.Spawned(id=frame.id, pid=program.pid, fds=len(fds)), fds)
        program.update_readers()

    def _spawned(self, task: asyncio.Task[None]) -> None:
        self._spawning.discard(task)
        self._check_idle()

    def drop(self, program: Program) -> None:
        program.close()
        if self.programs.get(program.id) is program:
            del self.programs[program.id]
        self._check_idle()

    def _check_idle(self) -> None:
        idle = self.channel is None and not self.programs and not self._spawning
        if idle and self._idle is None:
            loop = asyncio.get_running_loop()
            self._idle = loop.call_later(self.idle_seconds, self._idle_exit)

    def _cancel_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def _idle_exit(self) -> None:
        self._idle = None
        if self.channel is None and not self.programs and self._done is not None:
            log.info("no session and no backend: the host ends")
            if not self._done.done():
                self._done.set_result(None)

    def _stop(self) -> None:
        """SIGTERM: end every session's programs (then SIGKILL what is left), then exit."""
        asyncio.get_running_loop().create_task(self._stop_all())

    async def _stop_all(self) -> None:
        programs = list(self.programs.values())
        for program in programs:
            signal_session(program.pid, signal.SIGTERM, signal.SIGHUP)
        waiters = [p.waiter for p in programs]
        if waiters:
            await asyncio.wait(waiters, timeout=STOP_GRACE)
        for program in programs:
            signal_session(program.pid, signal.SIGKILL)
        if waiters:
            await asyncio.wait(waiters)
        if self._done is not None and not self._done.done():
            self._done.set_result(None)


class Taken(Exception):
    """Another host runs for this data dir."""


def claim(data_dir: Path) -> tuple[int, socket.socket]:
    """Take the data dir's host lock and bind its socket (0600); ``Taken`` if another host
    holds the lock. The lock file says which pid holds it."""
    lock = os.open(data_dir / wire.LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(lock)
        raise Taken(str(data_dir)) from None
    address = wire.socket_address(data_dir)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(address)  # a host that died left it: the lock says none runs now
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_mask = os.umask(0o177)  # 0600 from the start, not after a chmod
    try:
        listener.bind(address)
    finally:
        os.umask(old_mask)
    listener.listen(16)
    return lock, listener


def _close_all_but(keep: set[int]) -> None:
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        fds = list(range(3, 1024))
    for fd in fds:
        if fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)


def _say(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sessiondock host", description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--idle-seconds", type=float, default=IDLE_SECONDS)
    parser.add_argument(
        "--foreground",
        action="store_true",
        help="serve in this process (by default it forks, and the parent exits once ready)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s host[%(process)d] %(levelname)s %(message)s"
    )
    data_dir = args.data_dir.absolute()
    try:
        lock, listener = claim(data_dir)
    except Taken:
        _say("taken")
        return 0
    except OSError as exc:
        print(f"sessiondock host: error: {exc}", file=sys.stderr)
        return 2
    if not args.foreground:
        # The backend that starts us waits for its child: the host is its grandchild, so that
        # nothing waits for the host, and the host is nobody's zombie.
        pid = os.fork()
        if pid:
            _say("ready", pid=pid)
            os._exit(0)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.close(null)
        # Whatever else the backend's loop left open in us (uvloop passes the ends of its
        # pipes on): held here, its stdout pipe would never reach its end.
        _close_all_but({0, 1, 2, lock, listener.fileno(), *wire.open_folders()})
    else:
        _say("ready", pid=os.getpid())
    os.ftruncate(lock, 0)
    os.write(lock, f"{os.getpid()}\n".encode())  # who holds it, for a person (or a test)
    try:
        return asyncio.run(Host(data_dir, args.idle_seconds).run(listener))
    finally:
        os.close(lock)
