"""The backend supervisor against real backends; small fake programs only where no backend would
behave that way (silent, deaf to SIGTERM, flapping, noisy)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from desktop.supervisor import (
    PORT_FILE,
    REDACTED,
    BackendStartError,
    BackendSupervisor,
    SupervisorState,
    backend_command,
)

ROOT = Path(__file__).resolve().parents[2]
WAIT = 15.0

READY_LINE = (
    "json.dumps({'event': 'ready', 'url': 'http://127.0.0.1:9', 'port': 9, 'token': None,"
    " 'pid': os.getpid()})"
)

# Each run takes the next step of its plan (the last one repeats): "fail" exits 2 before the
# ready line, "die:S" is ready and exits 3 after S seconds, "live" is ready until ended.
FLAPPING = f"""
import json, os, sys, time
counter, *plan = sys.argv[1:]
run = int(open(counter).read()) if os.path.exists(counter) else 0
open(counter, "w").write(str(run + 1))
step = plan[min(run, len(plan) - 1)]
if step == "fail":
    print("fake: error: cannot start", file=sys.stderr, flush=True)
    sys.exit(2)
print({READY_LINE}, flush=True)
if step.startswith("die:"):
    time.sleep(float(step[4:]))
    print("fake: dying", file=sys.stderr, flush=True)
    sys.exit(3)
time.sleep(60)
"""

DEAF_TO_SIGTERM = f"""
import json, os, signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print({READY_LINE}, flush=True)
time.sleep(60)
"""

# Far more stderr than a pipe holds, and a stray line on stdout, all before the ready line.
NOISY = f"""
import json, os, sys, time
for n in range(20000):
    sys.stderr.write(f"noise {{n:05d}} " + "x" * 100 + "\\n")
print("a stray line", flush=True)
sys.stderr.write("the token is " + os.environ["SESSIONDOCK_TOKEN"] + "\\n")
sys.stderr.flush()
print({READY_LINE}, flush=True)
time.sleep(60)
"""

# Ready, then far more stdout than a pipe holds (a print() left in the backend), then stderr.
CHATTY = f"""
import json, os, sys, time
print({READY_LINE}, flush=True)
for n in range(20000):
    sys.stdout.write(f"chatter {{n:05d}} " + "x" * 100 + "\\n")
sys.stdout.flush()
print("fake: still going", file=sys.stderr, flush=True)
time.sleep(60)
"""

# Something a backend leaves behind that holds its stdout and stderr after it is gone: it writes
# to stdout until our end of the pipe is closed, then says so in a file.
HOLDER = """
import os, sys, time
open(sys.argv[1], "w").write(str(os.getpid()))
while True:
    try:
        print("holder: still here", flush=True)
    except BrokenPipeError:
        open(sys.argv[1], "a").write(" released")
        break
    time.sleep(0.05)
"""

LEAVES_A_HOLDER = f"""
import json, os, subprocess, sys, time
subprocess.Popen([sys.executable, "-c", {HOLDER!r}, sys.argv[1]])
print({READY_LINE}, flush=True)
time.sleep(60)
"""

SILENT = """
import os, sys, time
open(sys.argv[1], "w").write(str(os.getpid()))
time.sleep(60)
"""

# The app in miniature: supervise a backend, say its pid, then wait to be killed.
APP = """
import asyncio, sys
from desktop.supervisor import BackendSupervisor

async def main():
    supervisor = BackendSupervisor(sys.argv[1])
    ready = await supervisor.start()
    print(ready.pid, flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


def python(script: str, *args: str) -> list[str]:
    return [sys.executable, "-c", script, *args]


class States:
    """Records every state the supervisor reports, in order, and lets a test wait for the next."""

    def __init__(self) -> None:
        self.seen: list[SupervisorState] = []
        self._queue: asyncio.Queue[SupervisorState] = asyncio.Queue()

    def __call__(self, state: SupervisorState) -> None:
        self.seen.append(state)
        self._queue.put_nowait(state)

    async def next(self, timeout: float = WAIT) -> SupervisorState:
        return await asyncio.wait_for(self._queue.get(), timeout)

    async def until(self, kind: str, timeout: float = WAIT) -> SupervisorState:
        async with asyncio.timeout(timeout):
            while (state := await self._queue.get()).kind != kind:
                pass
        return state

    def kinds(self) -> list[str]:
        return [state.kind for state in self.seen]


Make = Callable[..., tuple[BackendSupervisor, States]]


@pytest.fixture
async def make(tmp_path: Path) -> AsyncIterator[Make]:
    """Supervisors that are stopped at the end of the test, whatever happened in it."""
    made: list[BackendSupervisor] = []

    def make(data_dir: Path | None = None, **options: Any) -> tuple[BackendSupervisor, States]:
        states = States()
        supervisor = BackendSupervisor(data_dir or tmp_path / "data", on_state=states, **options)
        made.append(supervisor)
        return supervisor, states

    yield make
    for supervisor in made:
        await supervisor.stop()


def is_gone(pid: int) -> bool:
    # A zombie counts as gone: it has exited and only waits for a reaper (PID 1 here may not reap).
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def wait_gone(pid: int, timeout: float = 5.0) -> float:
    """Seconds until ``pid`` has exited; fails the test after ``timeout``."""
    started = time.monotonic()
    while not is_gone(pid):
        assert time.monotonic() - started < timeout, f"process {pid} is still running"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def committed(data_dir: Path, query: str, row: tuple[Any, ...]) -> None:
    """Wait until ``row`` is in the backend's database, as another process sees it."""
    async with asyncio.timeout(WAIT):
        while True:
            with contextlib.closing(sqlite3.connect(data_dir / "sessiondock.sqlite3")) as db:
                if row in db.execute(query).fetchall():
                    return
            await asyncio.sleep(0.02)


def my_children() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if not is_gone(p.pid)]


def test_backend_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    options = ["--port", "0", "--exit-on-stdin-eof", "--data-dir", str(tmp_path)]
    assert backend_command(tmp_path) == [sys.executable, "-m", "backend", "serve", *options]
    assert backend_command(tmp_path, ["--log-level", "debug"])[-2:] == ["--log-level", "debug"]
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert backend_command(tmp_path) == [sys.executable, "serve", *options]


async def test_start_serves_the_api_with_its_token(make: Make, tmp_path: Path) -> None:
    supervisor, states = make()
    ready = await supervisor.start()
    assert ready.url == f"http://127.0.0.1:{ready.port}" and ready.port > 0
    assert ready.token == supervisor.token and len(ready.token) >= 43
    assert supervisor.ready == ready and states.kinds() == ["starting", "ready"]
    assert states.seen[1].ready == ready

    async with httpx.AsyncClient(base_url=ready.url, timeout=10) as client:
        assert (await client.get("/api/health")).status_code == 200
        assert (await client.get("/api/projects")).status_code == 401
        auth = {"Authorization": f"Bearer {ready.token}"}
        response = await client.get("/api/projects", headers=auth)
        assert response.status_code == 200 and response.json() == {"projects": []}

    # The token travels in the environment, which only its user can read, not in argv.
    process = psutil.Process(ready.pid)
    assert "--exit-on-stdin-eof" in process.cmdline()
    assert ready.token not in " ".join(process.cmdline())  # what /proc/<pid>/cmdline shows
    assert process.environ()["SESSIONDOCK_TOKEN"] == ready.token
    assert json.loads((tmp_path / "data" / "server.json").read_text())["pid"] == ready.pid

    # Its stderr is read (the browser-URL line), with the token kept out of it.
    async with asyncio.timeout(WAIT):
        while not any("is running" in line for line in supervisor.stderr_tail):
            await asyncio.sleep(0.05)
    assert ready.token not in "\n".join(supervisor.stderr_tail)


async def test_stop_terminates_and_leaves_nothing(make: Make, tmp_path: Path) -> None:
    supervisor, states = make()
    ready = await supervisor.start()
    # The backend prints its ready line a moment before it handles SIGTERM; once it has answered
    # a request, it does (a SIGTERM in between kills it at once: exit -15, server.json left).
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.get(f"{ready.url}/api/health")).status_code == 200
    await supervisor.stop()
    # Exit code 0 is the backend's own clean shutdown on SIGTERM (SIGKILL would be -9).
    assert states.seen[-1] == SupervisorState("stopped", exit_code=0)
    assert is_gone(ready.pid) and my_children() == []
    assert not (tmp_path / "data" / "server.json").exists()
    assert supervisor.ready is None
    await supervisor.stop()  # idempotent: nothing more happens
    assert states.kinds() == ["starting", "ready", "stopped"]


async def test_stop_kills_a_child_deaf_to_sigterm(make: Make) -> None:
    supervisor, states = make(command=python(DEAF_TO_SIGTERM))
    ready = await supervisor.start()
    started = time.monotonic()
    await supervisor.stop(timeout=0.5)
    assert 0.5 <= time.monotonic() - started < 3
    assert states.seen[-1].exit_code == -signal.SIGKILL
    assert is_gone(ready.pid)


async def test_unusable_data_dir_fails_with_the_backends_words(make: Make, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    supervisor, states = make(blocker / "data")
    with pytest.raises(BackendStartError) as caught:
        await supervisor.start()
    error = caught.value
    assert error.exit_code == 2
    assert "exited with code 2" in error.message and "cannot use data dir" in error.message
    assert any("sessiondock: error: cannot use data dir" in line for line in error.stderr_tail)
    assert states.kinds() == ["starting", "failed"]
    assert states.seen[-1].retry_in is None and states.seen[-1].message == error.message
    assert my_children() == []


async def test_a_data_dir_in_use_is_refused(make: Make) -> None:
    first, _ = make()
    await first.start()
    second, _ = make()
    with pytest.raises(BackendStartError, match="another SessionDock backend is using"):
        await second.start()
    assert len(my_children()) == 1


async def test_a_silent_child_is_killed_after_the_ready_timeout(make: Make, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    supervisor, states = make(command=python(SILENT, str(pid_file)), ready_timeout=1)
    started = time.monotonic()
    with pytest.raises(BackendStartError, match="not ready within 1 s"):
        await supervisor.start()
    assert 1 <= time.monotonic() - started < 5
    assert is_gone(int(pid_file.read_text())) and my_children() == []
    assert states.kinds() == ["starting", "failed"]


async def test_stop_during_start(make: Make, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    supervisor, states = make(command=python(SILENT, str(pid_file)), ready_timeout=WAIT)
    starting = asyncio.create_task(supervisor.start())
    async with asyncio.timeout(WAIT):
        while not pid_file.exists() or not pid_file.read_text():
            await asyncio.sleep(0.02)
    await supervisor.stop()
    with pytest.raises(BackendStartError, match="stopped before the backend was ready"):
        await starting
    assert states.kinds() == ["starting", "stopped"]
    assert is_gone(int(pid_file.read_text())) and my_children() == []


async def test_start_again_after_stop(make: Make) -> None:
    supervisor, states = make()
    first = await supervisor.start()
    with pytest.raises(RuntimeError, match="already running"):
        await supervisor.start()
    await supervisor.stop()
    second = await supervisor.start()
    assert second.pid != first.pid and second.token == first.token
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.get(f"{second.url}/api/health")).status_code == 200
    await supervisor.stop()
    assert states.kinds() == ["starting", "ready", "stopped", "starting", "ready", "stopped"]


async def test_stderr_never_blocks_the_child(make: Make) -> None:
    supervisor, _ = make(command=python(NOISY))
    await supervisor.start()  # 2 MB of stderr and a stray stdout line before the ready line
    async with asyncio.timeout(WAIT):
        while not supervisor.stderr_tail[-1].startswith("the token is"):
            await asyncio.sleep(0.05)
    tail = supervisor.stderr_tail
    assert len(tail) == 50
    assert tail[-2].startswith("noise 19999 ") and tail[-1] == f"the token is {REDACTED}"


async def test_stdout_after_the_ready_line_never_blocks_the_child(make: Make) -> None:
    supervisor, _ = make(command=python(CHATTY))
    await supervisor.start()
    async with asyncio.timeout(WAIT):
        while "fake: still going" not in supervisor.stderr_tail:
            await asyncio.sleep(0.05)


async def test_stop_releases_pipes_that_a_leftover_process_holds(
    make: Make, tmp_path: Path
) -> None:
    report = tmp_path / "holder"
    supervisor, _ = make(command=python(LEAVES_A_HOLDER, str(report)))
    await supervisor.start()
    async with asyncio.timeout(WAIT):
        while not report.exists() or not report.read_text():
            await asyncio.sleep(0.05)
    holder = int(report.read_text())
    try:
        started = time.monotonic()
        await supervisor.stop()
        assert time.monotonic() - started < 3.0  # DRAIN_TIMEOUT, not until the holder exits
        await wait_gone(holder)  # it saw its stdout closed: nothing of ours is left open
        assert report.read_text() == f"{holder} released"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(holder, signal.SIGKILL)


async def test_a_killed_backend_comes_back_on_its_port(make: Make, tmp_path: Path) -> None:
    supervisor, states = make(backoff_initial=0.1)
    first = await supervisor.start()
    auth = {"Authorization": f"Bearer {first.token}"}
    async with httpx.AsyncClient(headers=auth, timeout=10) as client:
        response = await client.post(f"{first.url}/api/projects", json={"path": str(ROOT)})
        assert response.status_code == 201
        # The backend answers 201 before its writer thread commits; kill it only once committed.
        await committed(tmp_path / "data", "SELECT path FROM projects", (str(ROOT),))

        os.kill(first.pid, signal.SIGKILL)
        restarting = await states.until("restarting")
        assert restarting.attempt == 1 and restarting.retry_in == 0.1
        assert restarting.exit_code == -signal.SIGKILL and "killed by SIGKILL" in restarting.message
        assert any("is running" in line for line in restarting.stderr_tail)
        assert (await states.next()).kind == "starting"
        ready = (await states.next()).ready
        assert ready is not None and supervisor.ready == ready
        assert ready.token == first.token and ready.pid != first.pid
        assert ready.port == first.port and ready.url == first.url  # open tabs find it again
        await wait_gone(first.pid)

        # The same data dir: what the first backend stored, the second one serves.
        response = await client.get(f"{ready.url}/api/projects")
        assert [p["path"] for p in response.json()["projects"]] == [str(ROOT)]
    await supervisor.stop()
    assert states.seen[-1] == SupervisorState("stopped", exit_code=0)
    assert my_children() == []


async def test_a_port_taken_meanwhile_gives_a_free_one_which_is_remembered(
    make: Make, tmp_path: Path
) -> None:
    port_file = tmp_path / "data" / PORT_FILE
    supervisor, states = make(backoff_initial=1.0, port_file=port_file)  # time to squat
    first = await supervisor.start()
    assert port_file.read_text().strip() == str(first.port)
    os.kill(first.pid, signal.SIGKILL)
    await states.until("restarting")
    await wait_gone(first.pid)
    # Another program takes the port before the backend is back.
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        async with asyncio.timeout(WAIT):  # the killed backend's socket may take a moment
            while True:
                try:
                    squatter.bind(("127.0.0.1", first.port))
                    break
                except OSError:
                    await asyncio.sleep(0.02)
        squatter.listen()
        ready = (await states.until("ready")).ready
        assert ready is not None and ready.port != first.port
        assert not [s for s in states.seen if s.kind == "failed"]  # no failure shown for it
    assert port_file.read_text().strip() == str(ready.port)
    await supervisor.stop()


async def test_the_next_app_asks_for_the_port_the_last_one_had(make: Make, tmp_path: Path) -> None:
    port_file = tmp_path / "data" / PORT_FILE
    first, _ = make(port_file=port_file)
    port = (await first.start()).port
    await first.stop()
    second, _ = make(port_file=port_file)
    assert (await second.start()).port == port
    await second.stop()
    port_file.write_text("not a port\n")  # a damaged file: any free port, then remembered
    third, _ = make(port_file=port_file)
    ready = await third.start()
    assert port_file.read_text().strip() == str(ready.port)


async def test_a_released_backend_runs_on_unsupervised(make: Make, tmp_path: Path) -> None:
    supervisor, states = make(backoff_initial=0.1)
    ready = await supervisor.start()
    assert await supervisor.release()
    assert states.seen[-1] == SupervisorState("released") and supervisor.ready is None
    await asyncio.sleep(0.5)  # its stdin is closed: a backend not released would have gone
    assert not is_gone(ready.pid)
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.get(f"{ready.url}/api/health")).status_code == 200
    os.kill(ready.pid, signal.SIGTERM)
    await wait_gone(ready.pid)
    await asyncio.sleep(0.3)
    assert [s.kind for s in states.seen].count("restarting") == 0  # nobody brought it back
    assert "released by the app" in (tmp_path / "data" / "backend.log").read_text()


async def test_restarts_back_off_and_start_over_once_stable(make: Make, tmp_path: Path) -> None:
    plan = ["die:0.1", "fail", "fail", "die:1.5", "fail", "live"]
    supervisor, states = make(
        command=python(FLAPPING, str(tmp_path / "runs"), *plan),
        backoff_initial=0.05,
        backoff_max=0.1,
        stable_after=0.8,
    )
    await supervisor.start()
    for _ in range(3):  # run 0 (start), run 3 and run 5 are ready
        await states.until("ready")
    await supervisor.stop()
    got = [
        (s.kind, s.attempt, s.retry_in, s.exit_code)
        for s in states.seen
        if s.kind in ("restarting", "failed", "ready", "stopped")
    ]
    assert got == [
        ("ready", 0, None, None),
        ("restarting", 1, 0.05, 3),
        ("failed", 1, 0.1, 2),
        ("restarting", 2, 0.1, 2),  # doubled
        ("failed", 2, 0.1, 2),
        ("restarting", 3, 0.1, 2),  # capped at backoff_max
        ("ready", 0, None, None),
        ("restarting", 1, 0.05, 3),  # it was up for longer than stable_after: back to the start
        ("failed", 1, 0.1, 2),
        ("restarting", 2, 0.1, 2),
        ("ready", 0, None, None),
        ("stopped", 0, None, -signal.SIGTERM),
    ]
    restarting = next(s for s in states.seen if s.kind == "restarting")
    assert restarting.stderr_tail == ("fake: dying",)
    failed = next(s for s in states.seen if s.kind == "failed")
    assert failed.message.endswith("fake: error: cannot start")
    assert (tmp_path / "runs").read_text() == "6" and my_children() == []


def test_no_backend_outlives_an_app_killed_with_sigkill(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    log = tmp_path / "app-stderr.log"
    with log.open("wb") as stderr:
        app = subprocess.Popen(
            python(APP, str(data_dir)), cwd=ROOT, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=stderr,
        )  # fmt: skip
    assert app.stdout is not None
    try:
        readable, _, _ = select.select([app.stdout], [], [], WAIT)
        assert readable, log.read_text()
        backend_pid = int(app.stdout.readline())
        assert psutil.Process(backend_pid).ppid() == app.pid
        app.kill()
        assert app.wait(5) == -signal.SIGKILL
        started = time.monotonic()
        while not is_gone(backend_pid):
            assert time.monotonic() - started < 5, "the backend outlived the app"
            time.sleep(0.05)
        # It shut itself down cleanly (it removes server.json on the way out).
        assert not (data_dir / "server.json").exists()
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
        app.stdout.close()
