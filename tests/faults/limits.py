"""What the fault tests do to a backend child before it starts, and raw-socket clients.

Each ``preexec`` function runs in the child between fork and exec (``Server.preexec``).
"""

from __future__ import annotations

import ctypes
import resource
import socket
from collections.abc import Callable

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
