"""Run the real backend as a child process on a loopback port, as users and the desktop app do."""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

READY_TIMEOUT = 15.0
# The event loop the backends a test starts serve on (``--event-loop``): tests marked
# ``every_event_loop`` run once on each (tests/conftest.py sets it per test).
serve_on = "asyncio"


@dataclass
class Server:
    """One running backend. ``restart()`` keeps the data dir, so history must survive it."""

    data_dir: Path
    args: list[str] = field(default_factory=list)
    token: str = "test-token-0123456789abcdef0123456789"
    proc: subprocess.Popen[bytes] | None = None
    ready: dict[str, Any] = field(default_factory=dict)
    stderr_path: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    # Run in the child before the backend starts: resource limits, dropped privileges.
    preexec: Callable[[], None] | None = None
    event_loop: str = field(default_factory=lambda: serve_on)  # --event-loop, kept on restart

    @property
    def url(self) -> str:
        return str(self.ready["url"])

    @property
    def port(self) -> int:
        return int(self.ready["port"])

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def claude_home(self) -> Path:
        """Claude Code's folder for this server: empty unless a test puts history there (so
        the machine's own ~/.claude never leaks into a test)."""
        return self.data_dir.parent / f"{self.data_dir.name}-claude"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "backend", "serve", "--port", "0",
            "--data-dir", str(self.data_dir),
            "--claude-home", str(self.claude_home),
            *(["--event-loop", self.event_loop] if self.event_loop != "asyncio" else []),
            *self.args,
        ]  # fmt: skip

    def start(self, port: int | None = None) -> Server:
        cmd = self.command()
        if port is not None:
            cmd[cmd.index("--port") + 1] = str(port)
        self.stderr_path = self.data_dir.parent / f"{self.data_dir.name}-stderr.log"
        stderr = open(self.stderr_path, "ab")  # noqa: SIM115 - the child owns it
        # A home of its own: the sessions' shells must not run the machine's startup files
        # (this machine's .bashrc rehashes pyenv under a lock that a killed shell leaves behind).
        home = self.data_dir.parent / f"{self.data_dir.name}-home"
        home.mkdir(parents=True, exist_ok=True)
        # The token goes in the environment, as the desktop app gives it: on the command line
        # other users would see it (and the backend warns).
        env = {
            **os.environ, "PYTHONUNBUFFERED": "1", "HOME": str(home),
            "SESSIONDOCK_TOKEN": self.token, **self.env,
        }  # fmt: skip
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
            preexec_fn=self.preexec,
        )
        stderr.close()
        try:
            self.ready = json.loads(self._read_ready_line())
        except BaseException:
            self.proc.kill()  # a backend that never said it was ready is not left behind
            self.wait()
            raise
        return self

    def _read_ready_line(self) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if selector.select(timeout=0.1):
                line = self.proc.stdout.readline().decode()
                if line:
                    return line
                break
        raise RuntimeError(f"backend did not start:\n{self.stderr()}")

    def stderr(self) -> str:
        return self.stderr_path.read_text() if self.stderr_path else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait(timeout)

    def wait(self, timeout: float = 10.0) -> int:
        """Wait for the backend to exit and release its pipes; its exit code."""
        assert self.proc is not None
        code = self.proc.wait(timeout)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()
        return code

    def restart(self, sig: int = signal.SIGTERM) -> Server:
        port = self.port
        self.stop(sig)
        return self.start(port)

    def host_pid(self) -> int | None:
        """The pid of the data dir's session host, while one runs."""
        try:
            pid = int((self.data_dir / "host.lock").read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        return pid if b"host" in cmdline and os.fsencode(self.data_dir) in cmdline else None

    def end_host(self, timeout: float = 10.0) -> None:
        """Stop the data dir's session host, if one runs (its sessions end): a test that left
        sessions running in it, by killing its backend, leaves nothing behind."""
        pid = self.host_pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.host_pid() == pid and time.monotonic() < deadline:
            time.sleep(0.02)
        if self.host_pid() == pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=10, **kwargs)

    def async_client(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers=self.headers, timeout=10, **kwargs)


@contextlib.contextmanager
def running_server(
    data_dir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    preexec: Callable[[], None] | None = None,
) -> Iterator[Server]:
    server = Server(data_dir, list(args), env=env or {}, preexec=preexec).start()
    try:
        yield server
    finally:
        if server.proc is not None and server.proc.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.stop()
            if server.proc.poll() is None:
                server.proc.kill()
                server.wait()
        server.end_host()
