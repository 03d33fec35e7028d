"""Sessions outlive their backend: the session host (backend/host) keeps their programs running
while the backend is killed, stopped with ``--keep-sessions``, or restarted, and the next backend
takes them on with every byte they wrote, each stored once, under ids that continue."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import new_session
from tests.server import Server, running_server

pytestmark = pytest.mark.slow

LINE = re.compile(r"^line-(\d+)\r?$", re.MULTILINE)
# A shell loop that prints numbered lines at a pace a kill lands in the middle of.
COUNT = 300
LOOP = f"i=0; while [ $i -lt {COUNT} ]; do i=$((i+1)); echo line-$i; sleep 0.01; done"


@pytest.fixture
def backend(tmp_path: Path) -> Any:
    with running_server(tmp_path / "data", "--heartbeat-interval", "1") as server:
        yield server


async def history(api: httpx.AsyncClient, sid: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        page = (
            await api.get(f"/api/session/{sid}/history", params={"after": after, "limit": 1000})
        ).json()
        events += page["events"]
        after = page["nextAfter"]
        if not page["hasMore"]:
            return events


def output(events: list[dict[str, Any]]) -> str:
    return "".join(e["data"]["content"] for e in events if e["type"] == "output")


async def wait_for_output(
    api: httpx.AsyncClient, sid: str, pattern: str, timeout: float = 20.0
) -> list[dict[str, Any]]:
    """The history once ``pattern`` (a regex) is in its output."""
    deadline = time.monotonic() + timeout
    while True:
        events = await history(api, sid)
        if re.search(pattern, output(events), re.MULTILINE):
            return events
        if time.monotonic() > deadline:
            raise AssertionError(f"no {pattern!r} in {output(events)[-2000:]!r}")
        await asyncio.sleep(0.05)


async def wait_for_status(
    api: httpx.AsyncClient, sid: str, wanted: str, timeout: float = 20.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        session: dict[str, Any] = (await api.get(f"/api/session/{sid}")).json()
        if session["status"] == wanted:
            return session
        if time.monotonic() > deadline:
            raise AssertionError(f"{sid} is {session['status']}, not {wanted}")
        await asyncio.sleep(0.05)


def line_writer(lines: int, go: Path | None = None) -> list[str]:
    """A program that writes ``line-1`` to ``line-N`` as fast as it can (once ``go`` exists)."""
    wait = f"while not os.path.exists({str(go)!r}): time.sleep(0.01)\n" if go else ""
    loop = f"for i in range(1, {lines + 1}): sys.stdout.write(f'line-{{i}}\\n')\n"
    return [sys.executable, "-c", f"import os, sys, time\n{wait}{loop}"]


def numbers(text: str) -> list[int]:
    return [int(n) for n in LINE.findall(text)]


def assert_whole(events: list[dict[str, Any]]) -> None:
    """Ids from 1 with no gap; every numbered line once, in order."""
    ids = [e["id"] for e in events]
    assert ids == list(range(1, len(ids) + 1))
    assert numbers(output(events)) == list(range(1, COUNT + 1))


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def session_processes(leader: int) -> list[str]:
    """``ps``'s lines for every process whose session id is ``leader``."""
    lines = subprocess.run(
        ["ps", "-eo", "pid=,sid=,stat=,args="], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    return [line for line in lines if line.split()[1] == str(leader) and "Z" not in line.split()[2]]


async def restart_and_check_the_shell(server: Server, sid: str, pid: int) -> None:
    """After the restart: still running (same program), every line stored once under
    contiguous ids, and input, prompts and signals reach it."""
    async with server.async_client() as api:
        session = (await api.get(f"/api/session/{sid}")).json()
        assert session["status"] == "running"
        assert session["pid"] == pid
        events = await wait_for_output(api, sid, f"^line-{COUNT}\r?$")
        assert_whole(events)
        # Keystrokes reach it...
        response = await api.post(f"/api/session/{sid}/input", json={"data": "echo in-$((6*7))\r"})
        assert response.status_code == 202, response.text
        await wait_for_output(api, sid, r"in-42\r?$")
        # ...and prompts.
        response = await api.post(
            f"/api/session/{sid}/prompt", json={"command": "echo pr-$((5*5))"}
        )
        assert response.status_code == 202, response.text
        await wait_for_output(api, sid, r"pr-25\r?$")
        # SIGINT reaches its foreground job: the shell says the job died of it (130).
        await api.post(f"/api/session/{sid}/input", json={"data": "sleep 1000.5\r"})
        await wait_for_foreground(api, sid, "sleep")
        response = await api.post(f"/api/session/{sid}/signal", json={"signal": "SIGINT"})
        assert response.status_code == 202, response.text
        await api.post(f"/api/session/{sid}/input", json={"data": "echo rc-$?\r"})
        await wait_for_output(api, sid, r"rc-130\r?$")
        # And SIGTERM ends it, as the user's stop.
        response = await api.post(f"/api/session/{sid}/signal", json={"signal": "SIGTERM"})
        assert response.status_code == 202, response.text
        ended = await wait_for_status(api, sid, "stopped")
        events = await history(api, sid)
    assert ended["exitCode"] is not None
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert session_processes(pid) == []


async def wait_for_foreground(api: httpx.AsyncClient, sid: str, name: str) -> None:
    for _ in range(200):
        session = (await api.get(f"/api/session/{sid}")).json()
        if (session.get("foreground") or {}).get("name") == name:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name} never came to the foreground of {sid}")


async def start_counting_shell(server: Server, workdir: Path) -> tuple[str, int]:
    async with server.async_client() as api:
        session = await new_session(api, workdir, kind="shell", argv=["sh"])
        sid = session["id"]
        await api.post(f"/api/session/{sid}/input", json={"data": LOOP + "\r"})
        await wait_for_output(api, sid, r"^line-20\r?$")
    return sid, int(session["pid"])


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as handle:
        return int(handle.read().rsplit(b")", 1)[1].split()[1])


async def test_a_shell_survives_kill_9_of_its_backend(backend: Server, workdir: Path) -> None:
    sid, pid = await start_counting_shell(backend, workdir)
    assert parent_of(pid) == backend.host_pid()  # the host's child, not the backend's
    backend.stop(signal.SIGKILL)
    await asyncio.sleep(0.5)  # it goes on printing with no backend attached
    assert alive(pid)
    backend.start(backend.port)
    await restart_and_check_the_shell(backend, sid, pid)


@pytest.mark.parametrize("how", ["serve --keep-sessions, then SIGTERM", "stop --keep-sessions"])
async def test_a_shell_runs_on_across_a_restart_that_keeps_sessions(
    tmp_path: Path, workdir: Path, how: str
) -> None:
    flag = ("--keep-sessions",) if how.startswith("serve") else ()
    with running_server(tmp_path / "data", "--heartbeat-interval", "1", *flag) as server:
        sid, pid = await start_counting_shell(server, workdir)
        if flag:
            assert server.stop(signal.SIGTERM) == 0  # a clean stop, not a crash
        else:
            stop = subprocess.run(
                [sys.executable, "-m", "backend", "stop", "--keep-sessions",
                 "--data-dir", str(server.data_dir)],
                capture_output=True, text=True, timeout=30,
            )  # fmt: skip
            assert stop.returncode == 0, stop.stderr
            assert "stopped the backend" in stop.stdout
            assert server.wait() == 0
        assert "sessions run on in the session host" in server.stderr()
        assert alive(pid)
        server.start(server.port)
        await restart_and_check_the_shell(server, sid, pid)


async def test_a_plain_stop_still_ends_the_sessions(backend: Server, workdir: Path) -> None:
    sid, pid = await start_counting_shell(backend, workdir)
    backend.restart(signal.SIGTERM)
    async with backend.async_client() as api:
        assert (await api.get(f"/api/session/{sid}")).json()["status"] == "interrupted"
    assert not alive(pid)
    assert session_processes(pid) == []


async def test_a_stopped_session_leaves_no_process_behind(backend: Server, workdir: Path) -> None:
    """Background jobs, and a grandchild whose parent exited, are of the session: Stop ends
    them all, after a re-adoption too."""
    async with backend.async_client() as api:
        session = await new_session(api, workdir, kind="shell", argv=["sh"])
        sid, pid = session["id"], int(session["pid"])
        await api.post(
            f"/api/session/{sid}/input",
            json={"data": "sleep 1000.1 & sleep 1000.2 & (sleep 1000.3 &); echo spawned\r"},
        )
        await wait_for_output(api, sid, r"spawned\r?$")
    await asyncio.sleep(0.2)
    assert len(session_processes(pid)) >= 4  # the shell and its three sleeps
    backend.stop(signal.SIGKILL)
    backend.start(backend.port)
    async with backend.async_client() as api:
        assert (await api.post(f"/api/session/{sid}/stop")).status_code == 202
        await wait_for_status(api, sid, "stopped")
    assert session_processes(pid) == []
    ps = subprocess.run(["ps", "-eo", "args="], capture_output=True, text=True).stdout
    assert "sleep 1000." not in ps


async def test_an_exit_while_the_backend_is_down_is_reported_after(
    backend: Server, workdir: Path
) -> None:
    """The program ends while no backend is attached: the next one stores what it wrote and
    its real exit code, and the host lets it go (then ends, once nothing needs it)."""
    script = "echo started; read line; echo got-$line; echo bye >&2; exit 7"
    async with backend.async_client() as api:
        session = await new_session(
            api, workdir, kind="command", argv=["sh", "-c", script], tty=False
        )
        sid, pid = session["id"], int(session["pid"])
        await wait_for_output(api, sid, "^started$")
        await api.post(f"/api/session/{sid}/prompt", json={"command": "x"})
        # It exits about now; kill the backend before or after, it must not matter.
        backend.stop(signal.SIGKILL)
    for _ in range(100):
        if not alive(pid):
            break
        await asyncio.sleep(0.05)
    assert not alive(pid)
    host = backend.host_pid()
    assert host is not None  # it keeps the exit until a backend stores it
    backend.start(backend.port)
    async with backend.async_client() as api:
        ended = await wait_for_status(api, sid, "failed")
        events = await history(api, sid)
    assert ended["exitCode"] == 7
    assert output(events).replace("bye\n", "") == "started\ngot-x\n"
    assert "bye\n" in output(events)
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    backend.stop()
    for _ in range(100):
        if backend.host_pid() is None:
            break
        await asyncio.sleep(0.05)
    assert backend.host_pid() is None  # nothing left for it to hold: it ended


async def test_output_waits_in_the_host_and_then_the_program_while_no_backend_is_there(
    backend: Server, workdir: Path
) -> None:
    """With no backend the host keeps what the program writes up to its window, then stops
    reading: the program blocks. The next backend gets all of it, once, in order."""
    lines = 600_000  # about 7 MB: more than the host keeps, and the pipe
    go = workdir / "go"
    async with backend.async_client() as api:
        session = await new_session(
            api, workdir, kind="command", argv=line_writer(lines, go), tty=False
        )
        sid, pid = session["id"], int(session["pid"])
        backend.stop(signal.SIGKILL)
    go.touch()  # it writes only now, with no backend there
    await asyncio.sleep(2.0)
    assert alive(pid)  # blocked writing (it prints 10 MB in well under a second otherwise)
    backend.start(backend.port)
    async with backend.async_client() as api:
        await wait_for_status(api, sid, "exited", timeout=60)
        events = await history(api, sid)
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert numbers(output(events)) == list(range(1, lines + 1))


async def test_repeated_kills_lose_and_repeat_nothing(backend: Server, workdir: Path) -> None:
    """The backend killed again and again while a program prints as fast as it can: every
    line is stored exactly once (what was stored says where the host resumes)."""
    lines = 600_000  # about 7 MB: more than the host keeps, so it blocks meanwhile
    async with backend.async_client() as api:
        session = await new_session(
            api, workdir, kind="command", argv=line_writer(lines), tty=False
        )
        sid = session["id"]
    for delay in (0.05, 0.2, 0.1, 0.3):
        await asyncio.sleep(delay)
        backend.stop(signal.SIGKILL)
        backend.start(backend.port)
    async with backend.async_client() as api:
        await wait_for_status(api, sid, "exited", timeout=60)
        events = await history(api, sid)
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert numbers(output(events)) == list(range(1, lines + 1))


async def test_a_killed_host_ends_its_sessions_visibly(backend: Server, workdir: Path) -> None:
    """The host dies (it should not; it was killed): its sessions are ended, with a word why,
    and the next session starts a new host."""
    async with backend.async_client() as api:
        session = await new_session(api, workdir, kind="shell", argv=["sh"])
        sid = session["id"]
        host = backend.host_pid()
        assert host is not None
        os.kill(host, signal.SIGKILL)
        await wait_for_status(api, sid, "interrupted")
        events = await history(api, sid)
        assert any(e["type"] == "error" and "session host" in e["data"]["message"] for e in events)
        again = await new_session(api, workdir, kind="command", argv=["echo", "fine"], tty=False)
        await wait_for_status(api, again["id"], "exited")
        assert output(await history(api, again["id"])) == "fine\n"
    assert backend.host_pid() not in (None, host)


async def test_the_hosts_socket_is_private(backend: Server, workdir: Path) -> None:
    async with backend.async_client() as api:
        await new_session(api, workdir, kind="shell", argv=["sh"])
    mode = (backend.data_dir / "host.sock").stat().st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600
    assert stat.S_IMODE(backend.data_dir.stat().st_mode) == 0o700


async def test_without_a_session_host_sessions_are_the_backends_children(
    tmp_path: Path, workdir: Path
) -> None:
    with running_server(tmp_path / "data", "--no-session-host") as server:
        async with server.async_client() as api:
            session = await new_session(api, workdir, kind="shell", argv=["sh"])
        assert server.proc is not None
        assert parent_of(session["pid"]) == server.proc.pid
        assert server.host_pid() is None
