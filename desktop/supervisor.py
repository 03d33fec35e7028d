"""Run the backend as the app's child process: start it, learn its URL, restart it when it dies.

Qt-free on purpose (plain asyncio), so it runs on the app's qasync loop and in plain tests.

The child is tied to the app by its stdin: the app holds the only write end of that pipe and the
backend runs with ``--exit-on-stdin-eof``, so when the app goes away by any means, SIGKILL included,
the kernel closes the pipe and the backend shuts itself down.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import platformdirs

log = logging.getLogger(__name__)

TOKEN_ENV = "SESSIONDOCK_TOKEN"
STDERR_LINES = 50
MAX_LINE = 64 * 1024  # a longer "line" is taken in pieces
DRAIN_TIMEOUT = 1.0  # a dead child's pipes reach EOF at once, unless something it left holds them
EXIT_GRACE = 2.0  # a child that closed stdout before its ready line is probably exiting already
KILL_AFTER = 3.0  # SIGTERM to SIGKILL when a start fails
RELEASE_WAIT = 5.0  # for the backend's "released" line, after SIGUSR1
REDACTED = "<token>"
PORT_TAKEN = "cannot listen on"  # the backend's one-line error when its port is taken
PORT_FILE = "desktop-port"  # in the data dir: the port the app's backend had last

StateKind = Literal["starting", "ready", "restarting", "failed", "stopped", "released"]


def default_data_dir() -> Path:
    """The backend's data dir unless one is given: the platform's user data dir, as the
    backend's own default (``sessiondock serve``)."""
    return Path(platformdirs.user_data_dir("sessiondock", appauthor=False))


async def running_backend(data_dir: Path) -> dict[str, Any] | None:
    """The ``server.json`` of a live backend that owns ``data_dir`` (its URL answers), if any."""
    try:
        info: dict[str, Any] = json.loads((data_dir / "server.json").read_text())
        # trust_env=False: a proxy from the environment must not see loopback traffic.
        async with httpx.AsyncClient(timeout=1.0, trust_env=False) as client:
            (await client.get(f"{info['url']}/api/health")).raise_for_status()
    except (OSError, ValueError, KeyError, TypeError, httpx.HTTPError):
        return None
    return info


def backend_command(data_dir: Path | str, extra_args: Sequence[str] = ()) -> list[str]:
    """The command that runs a backend for the app: any free port, tied to the app by its stdin."""
    options = [
        "serve", "--port", "0", "--exit-on-stdin-eof", "--data-dir", str(data_dir), *extra_args,
    ]  # fmt: skip
    if getattr(sys, "frozen", False):
        # A frozen bundle has one executable, which dispatches on argv; there is no ``-m``.
        return [sys.executable, *options]
    return [sys.executable, "-m", "backend", *options]


@dataclass(frozen=True, slots=True)
class Ready:
    """A running backend: where it listens, the token it accepts, and its process id."""

    url: str
    port: int
    token: str
    pid: int


@dataclass(frozen=True, slots=True)
class SupervisorState:
    """One change in the backend's life, as passed to ``on_state``.

    ``starting``: a backend is being launched (``attempt`` 0 for ``start()``, then 1, 2, ...).
    ``ready``: it answers at ``ready.url``; point the API and SSE clients there.
    ``restarting``: it died (``exit_code``, ``stderr_tail``); the next try is in ``retry_in`` s.
    ``failed``: a launch did not come up (``message``); ``retry_in`` is None when nothing will
    retry (a failed ``start()``), else a ``restarting`` follows.
    ``stopped``: ``stop()`` ended it (``exit_code``: 0 after a clean SIGTERM shutdown).
    """

    kind: StateKind
    ready: Ready | None = None
    attempt: int = 0
    retry_in: float | None = None
    exit_code: int | None = None
    message: str = ""
    stderr_tail: tuple[str, ...] = ()


class BackendStartError(Exception):
    """The backend did not come up; ``stderr_tail`` holds the last lines it wrote."""

    def __init__(
        self, message: str, stderr_tail: Sequence[str] = (), exit_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.stderr_tail = list(stderr_tail)
        self.exit_code = exit_code


def describe_exit(code: int | None) -> str:
    if code is None:
        return "is still running"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
        return f"was killed by signal {-code}"
    return f"exited with code {code}"


class _Child(asyncio.SubprocessProtocol):
    """One backend process, seen through its pipes: the ready line on stdout, the last lines it
    wrote to stderr, and its exit.

    Built on ``loop.subprocess_exec`` with this protocol rather than on
    ``asyncio.subprocess.Process``, whose pipes only a private attribute could close: every byte
    is taken as it comes (a chatty child never blocks on a full pipe), the exit is known when
    the process ends (not when its pipes close), and ``close()`` releases the pipes even while
    something the child left behind still holds their other ends.
    """

    def __init__(self, token: str) -> None:
        loop = asyncio.get_running_loop()
        self.tail: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self.up_since = 0.0
        self._token = token
        self._transport: asyncio.SubprocessTransport | None = None
        self._partial = {1: b"", 2: b""}  # stdout and stderr: the line still being received
        self._ready_line: asyncio.Future[dict[str, Any] | None] = loop.create_future()
        self._released: asyncio.Future[None] = loop.create_future()
        self._exited: asyncio.Future[int] = loop.create_future()
        self._drained: asyncio.Future[None] = loop.create_future()

    @classmethod
    async def spawn(cls, command: Sequence[str], env: dict[str, str], token: str) -> _Child:
        _, child = await asyncio.get_running_loop().subprocess_exec(
            lambda: cls(token),
            *command,
            stdin=subprocess.PIPE,  # kept open: its EOF tells the backend we are gone
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            # A session of its own: a terminal's Ctrl-C or hang-up reaches the app, which ends
            # the backend in order (or, released, leaves it running).
            start_new_session=True,
        )
        return child

    @property
    def transport(self) -> asyncio.SubprocessTransport:
        assert self._transport is not None
        return self._transport

    @property
    def pid(self) -> int:
        return self.transport.get_pid()

    @property
    def returncode(self) -> int | None:
        return self.transport.get_returncode()

    # -- the protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.SubprocessTransport)
        self._transport = transport

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        assert isinstance(data, bytes)
        *lines, pending = (self._partial[fd] + data).split(b"\n")
        while len(pending) > MAX_LINE:
            lines.append(pending[:MAX_LINE])
            pending = pending[MAX_LINE:]
        self._partial[fd] = pending
        for line in lines:
            self._line(fd, line)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd not in self._partial:
            return  # stdin
        if last := self._partial.pop(fd):
            self._line(fd, last)
        if fd == 1 and not self._ready_line.done():
            self._ready_line.set_result(None)
        if not self._partial and not self._drained.done():
            self._drained.set_result(None)

    def process_exited(self) -> None:
        code = self.transport.get_returncode()
        assert code is not None
        self._exited.set_result(code)

    def _line(self, fd: int, raw: bytes) -> None:
        if fd == 2:
            # The backend keeps its token out of its log; an older one logged it in its browser
            # URL, and a token must never reach our log or a dialog.
            line = self.redact(raw.decode("utf-8", "replace").rstrip("\r"))
            self.tail.append(line)
            log.debug("backend %d: %s", self.pid, line)
            return
        with contextlib.suppress(ValueError):
            data = json.loads(raw)
            event = data.get("event") if isinstance(data, dict) else None
            if event == "ready" and not self._ready_line.done():
                self._ready_line.set_result(data)
                return
            if event == "released" and not self._released.done():
                self._released.set_result(None)
                return
        log.warning("backend %d wrote to stdout: %s", self.pid, self.redact(repr(raw)))

    def redact(self, text: str) -> str:
        return text.replace(self._token, REDACTED) if self._token else text

    # -- what the supervisor asks

    async def read_ready(self) -> dict[str, Any] | None:
        """The ready line's fields; None when stdout closed first."""
        return await asyncio.shield(self._ready_line)

    async def wait(self) -> int:
        """The exit code, once the process has exited."""
        return await asyncio.shield(self._exited)

    async def end(self, kill_after: float, grace: float = 0.0) -> int:
        """Stop the process (SIGTERM, then SIGKILL), release its pipes; its exit code."""
        if self.returncode is None and grace > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await self.wait()
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.transport.terminate()
            try:
                async with asyncio.timeout(kill_after):
                    await self.wait()
            except TimeoutError:
                log.warning("backend %d ignored SIGTERM for %g s; killing it", self.pid, kill_after)
                with contextlib.suppress(ProcessLookupError):
                    self.transport.kill()
        code = await self.wait()
        await self.close()
        return code

    async def release(self, within: float) -> None:
        """Let the backend outlive us: SIGUSR1, its "released" line, then our pipes closed.
        Raises TimeoutError if it does not answer ``within`` seconds (it is still ours then)."""
        self.transport.send_signal(signal.SIGUSR1)
        async with asyncio.timeout(within):
            await asyncio.shield(self._released)
        # asyncio's transport kills a child that still runs when it is closed (or collected):
        # this one is no longer ours to end. Its Popen, told it has ended, leaves it be.
        popen = self.transport.get_extra_info("subprocess")
        popen.returncode = 0
        self.transport.close()  # our pipes: its stdin's EOF no longer stops it
        await asyncio.sleep(0)

    async def close(self) -> None:
        """Release the pipes of a process that has exited. Idempotent."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN_TIMEOUT):
                await asyncio.shield(self._drained)  # what it wrote last, unless held open
        self.transport.close()
        await asyncio.sleep(0)  # run the pipes' connection_lost before anyone closes the loop


async def _cancel_and_wait(task: asyncio.Task[Any]) -> None:
    task.cancel()
    await asyncio.wait({task})
    if not task.cancelled() and task.exception() is not None:
        log.error("task %s failed", task.get_name(), exc_info=task.exception())


class BackendSupervisor:
    """Runs the backend as a child process and keeps it running until ``stop()``.

    ``start()`` launches it and returns its ``Ready``. If it later dies, it is restarted after a
    backoff (``backoff_initial`` doubling up to ``backoff_max``); a child that stayed up for
    ``stable_after`` seconds starts the backoff over. Every change is passed to ``on_state``;
    a restart comes up with the same token and data dir, and on the same port unless another
    program took it meanwhile (then on a free one), so that browser tabs open on the backend
    find it again. With ``port_file`` the port is remembered there for the next app too.

    The token reaches the child through ``SESSIONDOCK_TOKEN`` in its environment, never on its
    command line, where any local user could read it.
    """

    def __init__(
        self,
        data_dir: Path | str,
        *,
        command: Sequence[str] | None = None,
        token: str | None = None,
        ready_timeout: float = 20.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
        stable_after: float = 30.0,
        on_state: Callable[[SupervisorState], None] | None = None,
        port_file: Path | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self._port_file = port_file
        self._port = _read_port(port_file)  # the port to ask for first; 0: any free one
        self._command = list(command) if command is not None else backend_command(self.data_dir)
        self._token = token or secrets.token_urlsafe(32)
        self._ready_timeout = ready_timeout
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._stable_after = stable_after
        self._on_state = on_state
        self._child: _Child | None = None
        self._tail: collections.deque[str] = collections.deque()
        self._ready: Ready | None = None
        self._task: asyncio.Task[None] | None = None
        self._active = False
        self._stopping = False
        self._stop_lock = asyncio.Lock()

    @property
    def token(self) -> str:
        return self._token

    @property
    def ready(self) -> Ready | None:
        """The running backend, or None while it is down."""
        return self._ready

    @property
    def stderr_tail(self) -> list[str]:
        """The last lines the current (or last) backend wrote to stderr, token redacted."""
        return list(self._tail)

    async def start(self) -> Ready:
        """Launch the backend and wait for its ready line; then keep it running.

        Raises BackendStartError if it exits first or stays silent for ``ready_timeout`` seconds
        (it is killed then); nothing retries in that case.
        """
        if self._active:
            raise RuntimeError("the backend supervisor is already running")
        self._active = True
        self._stopping = False
        self._emit(SupervisorState("starting"))
        try:
            child, ready = await self._launch()
        except BackendStartError as exc:
            self._active = False
            if self._stopping:  # stop() ended it while it started
                message = "stopped before the backend was ready"
                raise BackendStartError(message, exc.stderr_tail, exc.exit_code) from exc
            self._emit(_failed(exc, attempt=0, retry_in=None))
            raise
        except BaseException:
            self._active = False
            raise
        self._task = asyncio.create_task(self._supervise(child), name="backend supervisor")
        return ready

    async def stop(self, timeout: float = 3.0) -> None:  # noqa: ASYNC109 - SIGTERM's grace
        """End the backend (SIGTERM, then SIGKILL after ``timeout`` s) with no more restarts."""
        async with self._stop_lock:
            supervised, child = await self._end_supervision()
            if not supervised and child is None:
                return
            code = await child.end(timeout) if child is not None else None
            self._ready = None
            self._active = False
            self._emit(SupervisorState("stopped", exit_code=code))

    async def release(self, within: float = RELEASE_WAIT) -> bool:
        """Leave the backend running after the app has gone ("Keep running" on quit), with no
        more supervision. False if it did not take the release (then it is stopped)."""
        async with self._stop_lock:
            _, child = await self._end_supervision()
            if child is None:
                return False
            self._ready = None
            self._active = False
            if child.returncode is None:
                try:
                    await child.release(within)
                except (TimeoutError, ProcessLookupError):
                    log.warning("backend %d did not take the release; stopping it", child.pid)
                else:
                    self._emit(SupervisorState("released"))
                    return True
            code = await child.end(KILL_AFTER)
            self._emit(SupervisorState("stopped", exit_code=code))
            return False

    async def _end_supervision(self) -> tuple[bool, _Child | None]:
        """No more restarts: whether a supervising task ran (a launch it was making ends that
        child itself), and the child, now the caller's to end or release."""
        self._stopping = True
        task, self._task = self._task, None
        if task is not None:
            await _cancel_and_wait(task)
        child, self._child = self._child, None
        return task is not None, child

    def _backoff(self, attempt: int) -> float:
        return min(self._backoff_initial * 2.0 ** (attempt - 1), self._backoff_max)

    async def _launch(self) -> tuple[_Child, Ready]:
        """Start a backend on the port it had; on a free one if that is taken."""
        if self._port:
            try:
                return await self._launch_on(self._port)
            except BackendStartError as exc:
                if PORT_TAKEN not in exc.message or self._stopping:
                    raise
                log.warning("port %d is taken; the backend takes a free one", self._port)
        return await self._launch_on(0)

    async def _launch_on(self, port: int) -> tuple[_Child, Ready]:
        env = {**os.environ, TOKEN_ENV: self._token}
        command = _with_port(self._command, port)
        try:
            child = await _Child.spawn(command, env, self._token)
        except OSError as exc:
            message = f"cannot run the backend {self._command[0]}: {exc.strerror or exc}"
            raise BackendStartError(message) from None
        self._child = child
        self._tail = child.tail
        try:
            return await self._until_ready(child)
        except BaseException:
            if self._child is child:  # it has been ended
                self._child = None
            raise

    async def _until_ready(self, child: _Child) -> tuple[_Child, Ready]:
        """Wait for the child's ready line; end the child if it does not come."""
        if self._stopping:  # stop() came while the process was being created
            code = await child.end(KILL_AFTER)
            raise BackendStartError("stopped before the backend was ready", child.tail, code)
        try:
            async with asyncio.timeout(self._ready_timeout):
                info = await child.read_ready()
        except TimeoutError:
            code = await child.end(KILL_AFTER)
            message = f"the backend was not ready within {self._ready_timeout:g} s"
            raise BackendStartError(message, child.tail, code) from None
        except BaseException:
            await child.end(KILL_AFTER)
            raise
        if info is None:
            code = await child.end(KILL_AFTER, grace=EXIT_GRACE)
            last = next((line for line in reversed(child.tail) if line.strip()), "")
            message = f"the backend {describe_exit(code)} before it was ready"
            raise BackendStartError(f"{message}: {last}" if last else message, child.tail, code)
        try:
            ready = Ready(
                url=str(info["url"]),
                port=int(info["port"]),
                token=info["token"] if isinstance(info.get("token"), str) else self._token,
                pid=int(info.get("pid") or child.pid),
            )
        except (KeyError, TypeError, ValueError):
            code = await child.end(KILL_AFTER)
            message = "the backend's ready line is malformed"
            raise BackendStartError(message, child.tail, code) from None
        child.up_since = asyncio.get_running_loop().time()
        self._ready = ready
        self._remember_port(ready.port)
        log.info("backend %d is ready at %s", child.pid, ready.url)
        self._emit(SupervisorState("ready", ready=ready))
        return child, ready

    async def _supervise(self, child: _Child) -> None:
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            code: int | None = await child.wait()
            up_for = loop.time() - child.up_since
            self._ready = None
            await child.close()
            tail = tuple(child.tail)
            message = f"the backend {describe_exit(code)}"
            log.warning("backend %d %s after %.1f s", child.pid, describe_exit(code), up_for)
            if up_for >= self._stable_after:
                attempt = 0  # it had settled: this is a new failure, not the same one again
            while True:
                attempt += 1
                delay = self._backoff(attempt)
                self._emit(
                    SupervisorState(
                        "restarting",
                        attempt=attempt,
                        retry_in=delay,
                        exit_code=code,
                        message=message,
                        stderr_tail=tail,
                    )
                )
                await asyncio.sleep(delay)
                self._emit(SupervisorState("starting", attempt=attempt))
                try:
                    child, _ = await self._launch()
                except BackendStartError as exc:
                    log.warning("backend restart %d failed: %s", attempt, exc.message)
                    self._emit(_failed(exc, attempt, retry_in=self._backoff(attempt + 1)))
                    code, tail, message = exc.exit_code, tuple(exc.stderr_tail), exc.message
                    continue
                break

    def _remember_port(self, port: int) -> None:
        self._port = port
        if self._port_file is None or _read_port(self._port_file) == port:
            return
        try:
            self._port_file.parent.mkdir(parents=True, exist_ok=True)
            partial = self._port_file.with_name(self._port_file.name + ".partial")
            partial.write_text(f"{port}\n", encoding="utf-8")
            partial.replace(self._port_file)
        except OSError as exc:  # the next app then picks a free port: no harm beyond that
            log.warning("cannot remember the backend's port in %s: %s", self._port_file, exc)

    def _emit(self, state: SupervisorState) -> None:
        if self._on_state is None:
            return
        try:
            self._on_state(state)
        except Exception:
            # A broken listener must not stop the supervision of the backend.
            log.exception("on_state failed on a %r state", state.kind)


def _read_port(path: Path | None) -> int:
    """The port remembered in ``path``; 0 (any) when there is none or it is not a port."""
    if path is None:
        return 0
    try:
        port = int(path.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return 0
    return port if 0 < port < 65536 else 0


def _with_port(command: Sequence[str], port: int) -> list[str]:
    """``command`` asking for ``port`` (a command without ``--port`` is left as it is)."""
    command = list(command)
    if "--port" in command[:-1]:
        command[command.index("--port") + 1] = str(port)
    return command


def _failed(exc: BackendStartError, attempt: int, retry_in: float | None) -> SupervisorState:
    return SupervisorState(
        "failed", attempt=attempt, retry_in=retry_in, exit_code=exc.exit_code,
        message=exc.message, stderr_tail=tuple(exc.stderr_tail),
    )  # fmt: skip
