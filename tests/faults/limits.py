"""What the fault tests do to a backend child before it starts, and raw-socket clients.

Each ``preexec`` function runs in the child between fork and exec (``Server.preexec``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import re
import resource
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

# <linux/prctl.h> and <linux/capability.h>
PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE = 1
CAP_DAC_READ_SEARCH = 2


def descriptor_limit(limit: int) -> Callable[[], None]:
    """``ulimit -n limit`` for the child."""

    def preexec() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    return preexec


def file_modes_bind() -> None:
    """The child stays root but loses the capabilities that let root ignore file modes (tests
    run as root, as CI does): a folder of another user with mode 0700 is then closed to it."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        # Dropped from the bounding set, it is gone from the program exec'd next.
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def request(port: int, raw: bytes, timeout: float = 10.0) -> bytes:
    """Send ``raw`` on a new connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(raw)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@contextlib.contextmanager
def descriptors_for_the_test(needed: int) -> Iterator[None]:
    """This process (the clients) may hold ``needed`` descriptors, or the test is skipped."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        yield
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"the tests' own descriptor limit is {hard}, under {needed}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@dataclass
class Raw:
    """A raw HTTP/1.1 connection: what a test sent, and what came back."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    received: bytes = b""
    ended: bool = False  # the server closed the connection

    @classmethod
    async def open(cls, port: int, data: bytes, timeout: float = 10.0) -> Raw:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
        writer.write(data)
        return cls(reader, writer)

    @property
    def status(self) -> int | None:
        head, _, _ = self.received.partition(b"\r\n")
        parts = head.split(b" ")
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None

    @property
    def ids(self) -> list[int]:
        """The ids of the stored events of an event stream, in order."""
        return [int(n) for n in re.findall(rb"(?m)^id: (\d+)$", self.received)]

    async def read_head(self, timeout: float) -> int | None:
        """Wait for the response's status line and headers; the status (None: none came)."""
        await self.read_until(lambda raw: b"\r\n\r\n" in raw.received, timeout)
        return self.status

    async def read_until(self, done: Callable[[Raw], bool], timeout: float) -> bool:
        """Read until ``done(self)`` or the end; whether ``done`` came within ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not done(self) and not self.ended:
            try:
                chunk = await asyncio.wait_for(self.reader.read(65536), deadline - loop.time())
            except TimeoutError:
                return False
            except ConnectionError:
                chunk = b""
            self.received += chunk
            self.ended = not chunk
        return done(self)

    async def closed_within(self, timeout: float) -> float | None:
        """Read until the server closes the connection; how long that took (None: it did not
        within ``timeout`` seconds)."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        closed = await self.read_until(lambda raw: raw.ended, timeout)
        return loop.time() - start if closed else None

    def close(self) -> None:
        self.writer.close()
