"""The backend's side of the session host: finding (or starting) it, and the frames per session.

``HostLink.connect`` connects to ``host.sock``, starting the host first when none answers, and
learns from its ``Hello`` which sessions it holds. Each session the backend runs there registers
an ``Endpoint`` (backend/runtimes/hosted.py) that gets that session's frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import json
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Protocol

from backend.host import wire

log = logging.getLogger(__name__)

# How long a new host may take to say it is ready, and to say hello.
START_TIMEOUT = 15.0
CONNECT_ATTEMPTS = 5
# A backend that stops, leaving no session in the host, waits at most this long for it to end.
HOST_END_WAIT = 3.0
# Acknowledgements go out together, at most this long after the commit (each one wakes the host,
# which shares the machine with the backend), or at once when a stream's has moved on by
# ACK_BYTES (the host stops reading a stream at 4 MiB unacknowledged).
ACK_DELAY = 0.02
ACK_BYTES = 1024 * 1024


class HostUnavailable(OSError):
    """No session host could be reached or started."""


class Endpoint(Protocol):
    """A hosted session's side of the link: it gets that session's frames."""

    def spawned(self, pid: int, fds: list[int]) -> None: ...

    def spawn_failed(self, code: int, message: str) -> None: ...

    def adopted(self, fds: list[int]) -> None: ...

    def output(self, frame: wire.Output) -> None: ...

    def exited(self, code: int) -> None: ...

    def host_lost(self) -> None:
        """The host went away (it crashed, or was killed): the session's program went with it."""


def host_command() -> list[str]:
    """How to run the host: this executable's ``host`` command in a bundle, else the module."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "host"]
    return [sys.executable, "-m", "backend.host"]


class HostLink:
    """The backend's connection to its data dir's session host."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.held: dict[str, wire.Held] = {}  # what the host held when we connected
        self.host_pid: int | None = None
        self._endpoints: dict[str, Endpoint] = {}
        self._channel: wire.Channel | None = None
        self._hello: asyncio.Future[wire.Hello] | None = None
        self._connecting: asyncio.Lock | None = None
        self._acks: dict[tuple[str, str], int] = {}  # committed, not yet sent
        self._acked: dict[tuple[str, str], int] = {}  # sent
        self._ack_timer: asyncio.TimerHandle | None = None
        self.closing = False

    @property
    def connected(self) -> bool:
        return self._channel is not None and not self._channel.closed

    async def connect(self) -> None:
        """Connect to the host, starting one if none runs (``HostUnavailable`` on failure)."""
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self.connected:
                return
            last: Exception | None = None
            for _ in range(CONNECT_ATTEMPTS):
                try:
                    hello = await self._attach()
                except (OSError, TimeoutError, EOFError) as exc:
                    last = exc
                    await self._start_host()
                    continue
                self.held = {held.id: held for held in hello.sessions}
                self.host_pid = hello.pid
                log.log(
                    logging.INFO if hello.sessions else logging.DEBUG,
                    "session host %d holds %d sessions",
                    hello.pid,
                    len(hello.sessions),
                )
                return
            raise HostUnavailable(
                errno.EHOSTUNREACH, f"no session host for {self.data_dir}: {last}"
            )

    async def _attach(self) -> wire.Hello:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, wire.socket_address(self.data_dir))
        except OSError:
            sock.close()
            raise
        self._hello = loop.create_future()
        channel = wire.Channel(
            sock, wire.decode_to_backend, self._on_frame, lambda: self._closed(channel)
        )
        self._channel = channel
        try:
            return await asyncio.wait_for(asyncio.shield(self._hello), START_TIMEOUT)
        except BaseException:
            channel.close()
            raise

    async def _start_host(self) -> None:
        log_file = self.data_dir / wire.LOG_NAME
        fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            proc = await asyncio.create_subprocess_exec(
                *host_command(),
                "--data-dir",
                str(self.data_dir),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=fd,
                # Nothing of the backend's end (its process group's signals) reaches it.
                start_new_session=True,
            )
        finally:
            os.close(fd)
        try:
            # It forks: the host runs on, the process we started exits once it is ready.
            out, _ = await asyncio.wait_for(proc.communicate(), START_TIMEOUT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            log.error("the session host did not start in %.0f s (see %s)", START_TIMEOUT, log_file)
            return
        for line in out.splitlines():
            with contextlib.suppress(ValueError, AttributeError):
                log.debug("session host: %s", json.loads(line).get("event"))

    def _on_frame(self, frame: wire.ToBackend) -> None:
        if isinstance(frame, wire.Hello):
            if self._hello is not None and not self._hello.done():
                self._hello.set_result(frame)
            return
        endpoint = self._endpoints.get(frame.id)
        channel = self._channel
        assert channel is not None
        if isinstance(frame, wire.Output):
            if endpoint is not None:
                endpoint.output(frame)
        elif isinstance(frame, wire.Spawned):
            fds = channel.take_fds(frame.fds)
            if endpoint is None:
                _close_all(fds)
            else:
                endpoint.spawned(frame.pid, fds)
        elif isinstance(frame, wire.Adopted):
            fds = channel.take_fds(frame.fds)
            if endpoint is None:
                _close_all(fds)
            else:
                endpoint.adopted(fds)
        elif isinstance(frame, wire.SpawnFailed):
            if endpoint is not None:
                endpoint.spawn_failed(frame.errno, frame.message)
        elif isinstance(frame, wire.Exited) and endpoint is not None:
            endpoint.exited(frame.code)

    def _closed(self, channel: wire.Channel) -> None:
        if channel is not self._channel:
            return
        self._channel = None
        if self._hello is not None and not self._hello.done():
            self._hello.set_exception(EOFError("the session host closed the connection"))
        if self.closing:
            return
        log.error("the session host went away: its sessions ended with it")
        endpoints, self._endpoints = self._endpoints, {}
        for endpoint in endpoints.values():
            endpoint.host_lost()

    # -- for the sessions ---------------------------------------------------------------------

    def register(self, session_id: str, endpoint: Endpoint) -> None:
        self._endpoints[session_id] = endpoint

    def unregister(self, session_id: str, endpoint: Endpoint) -> None:
        if self._endpoints.get(session_id) is endpoint:
            del self._endpoints[session_id]
            for key in [k for k in self._acked if k[0] == session_id]:
                del self._acked[key]

    def send(self, frame: wire.Frame) -> None:
        if self._channel is not None:
            self._channel.send(frame)

    def ack(self, marks: dict[tuple[str, str], int]) -> None:
        """The store committed these offsets (``Store.on_marks``): the host may let them go."""
        urgent = False
        for key, offset in marks.items():
            if key[0] in self._endpoints:
                self._acks[key] = offset
                urgent = urgent or offset - self._acked.get(key, 0) >= ACK_BYTES
        if urgent:
            self._send_acks()
        elif self._acks and self._ack_timer is None:
            loop = asyncio.get_running_loop()
            self._ack_timer = loop.call_later(ACK_DELAY, self._send_acks)

    def _send_acks(self) -> None:
        if self._ack_timer is not None:
            self._ack_timer.cancel()
            self._ack_timer = None
        acks, self._acks = self._acks, {}
        if self._channel is None:
            return
        for (session_id, stream), offset in acks.items():
            if session_id in self._endpoints:
                self._channel.send(wire.Ack(id=session_id, stream=stream, offset=offset))
                self._acked[session_id, stream] = offset

    def forget_unclaimed(self) -> None:
        """Sessions the host holds that no session here adopted (their end is stored, or they
        were never stored): the host ends what is left of them."""
        for session_id in self.held.keys() - self._endpoints.keys():
            log.info("session %s: held by the host, not ours: ended", session_id)
            self.send(wire.Forget(id=session_id))

    async def close(self, *, wait: bool) -> None:
        """Let go of the host (its sessions run on if they were not ended); with ``wait``, wait
        a little for it to end (it holds nothing more), so that it holds no file of the data
        dir open once this backend has stopped."""
        self.closing = True
        if self._channel is None:
            return
        self._send_acks()
        self._channel.close()
        if not wait:
            return
        lock = os.open(self.data_dir / wire.LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            for _ in range(round(HOST_END_WAIT / 0.01)):
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    await asyncio.sleep(0.01)
                    continue
                return  # free: the host has ended
            log.warning("the session host did not end within %.0f s", HOST_END_WAIT)
        finally:
            os.close(lock)


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)
