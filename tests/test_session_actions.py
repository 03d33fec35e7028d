"""The session actions both clients use: interrupt, stop, and the ``stopped`` status."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.conftest import new_session
from tests.server import running_server
from tests.sse import Received, Stream


def ended(event: Received) -> bool:
    return event.event == "status" and event.data["status"] != "running"


async def foreground(api: httpx.AsyncClient, session_id: str) -> dict[str, object] | None:
    session = (await api.get(f"/api/session/{session_id}")).json()
    job: dict[str, object] | None = session["foreground"]
    return job


async def wait_for_foreground(
    api: httpx.AsyncClient,
    session_id: str,
    busy: bool,
    name: str | None = None,
    timeout: float = 10.0,
) -> dict[str, object] | None:
    """Until a job (``name``, if given) is in front, or none is. Between its fork and its exec a
    job is briefly a copy of the shell, so a name is worth waiting for."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        job = await foreground(api, session_id)
        if (job is not None) == busy and (name is None or (job or {}).get("name") == name):
            return job
        assert asyncio.get_running_loop().time() < deadline, f"foreground stayed {job}"
        await asyncio.sleep(0.05)


async def test_interrupt_stops_the_foreground_job_and_keeps_the_shell(
    api: httpx.AsyncClient, workdir: Path
) -> None:
    session = await new_session(api, workdir, kind="shell", argv=["/bin/bash", "--norc", "-i"])
    sid = session["id"]
    assert await wait_for_foreground(api, sid, busy=False) is None
    async with Stream(api, sid) as stream:
        await api.post(f"/api/session/{sid}/prompt", json={"command": "sleep 100"})
        job = await wait_for_foreground(api, sid, busy=True, name="sleep")
        assert job is not None and job["pid"] != session["pid"]
        response = await api.post(f"/api/session/{sid}/interrupt")
        assert response.status_code == 202 and response.json() == {"accepted": True}
        assert await wait_for_foreground(api, sid, busy=False) is None
        await api.post(f"/api/session/{sid}/prompt", json={"command": "echo alive-$((6*7))"})
        await stream.wait_for_output("alive-42")
    assert (await api.get(f"/api/session/{sid}")).json()["status"] == "running"
    assert not [e for e in stream.events if ended(e)]


async def test_stop_ends_a_shell_as_stopped(api: httpx.AsyncClient, workdir: Path) -> None:
    session = await new_session(api, workdir, kind="shell", argv=["/bin/bash", "--norc", "-i"])
    sid = session["id"]
    async with Stream(api, sid) as stream:
        await api.post(f"/api/session/{sid}/prompt", json={"command": "sleep 100"})
        await wait_for_foreground(api, sid, busy=True, name="sleep")
        response = await api.post(f"/api/session/{sid}/stop")
        assert response.status_code == 202
        status = await stream.wait_for(ended)
    assert status.data["status"] == "stopped"
    assert status.data["signal"] in ("SIGHUP", "SIGTERM")
    assert status.data["exitCode"] < 0
    listed = (await api.get(f"/api/session/{sid}")).json()
    assert listed["status"] == "stopped" and listed["pid"] is None
    assert (listed["exitCode"], listed["signal"]) == (
        status.data["exitCode"],
        status.data["signal"],
    )
    assert listed["foreground"] is None


async def test_stop_kills_what_ignores_it_after_the_grace_period(
    tmp_path: Path, workdir: Path
) -> None:
    script = "trap '' TERM HUP; echo ready; while :; do sleep 0.1; done"
    with running_server(tmp_path / "data", "--stop-grace", "0.5") as server:
        async with server.async_client() as api:
            session = await new_session(api, workdir, kind="command", argv=["sh", "-c", script])
            sid = session["id"]
            async with Stream(api, sid) as stream:
                await stream.wait_for_output("ready")
                started = asyncio.get_running_loop().time()
                assert (await api.post(f"/api/session/{sid}/stop")).status_code == 202
                status = await stream.wait_for(ended)
                waited = asyncio.get_running_loop().time() - started
        log = server.stderr()
    assert status.data["status"] == "stopped"
    assert status.data["signal"] == "SIGKILL" and status.data["exitCode"] == -9
    assert waited >= 0.4  # it had its grace period first
    # The log says which process outlived it, and what it was doing (sh waits for its sleep).
    line = next(line for line in log.splitlines() if "outlived the 0.5 s grace period" in line)
    # Sleeping in a wait (S), or caught forking its next sleep (D, kernel_clone) on a busy machine.
    assert f"pid {session['pid']} " in line, line
    assert "(state S, waiting in " in line or "(state D, waiting in " in line, line


async def test_interrupting_a_command_that_dies_of_it_is_a_stop(
    api: httpx.AsyncClient, workdir: Path
) -> None:
    session = await new_session(api, workdir, kind="command", argv=["sleep", "30"])
    sid = session["id"]
    async with Stream(api, sid) as stream:
        assert (await api.post(f"/api/session/{sid}/interrupt")).status_code == 202
        status = await stream.wait_for(ended)
    assert status.data["status"] == "stopped"
    assert status.data["signal"] == "SIGINT" and status.data["exitCode"] == -2


async def test_a_command_that_fails_on_its_own_is_still_failed(
    api: httpx.AsyncClient, workdir: Path
) -> None:
    # Only an ending a user asked for is "stopped"; a program that dies of a signal it sent
    # itself failed.
    session = await new_session(api, workdir, kind="command", argv=["sh", "-c", "kill -TERM $$"])
    async with Stream(api, session["id"]) as stream:
        status = await stream.wait_for(ended)
    assert status.data["status"] == "failed" and status.data["signal"] == "SIGTERM"


@pytest.mark.parametrize("action", ["interrupt", "stop"])
async def test_actions_on_an_ended_or_unknown_session(
    api: httpx.AsyncClient, workdir: Path, action: str
) -> None:
    session = await new_session(api, workdir, kind="command", argv=["true"])
    sid = session["id"]
    async with Stream(api, sid) as stream:
        await stream.wait_for(ended)
    response = await api.post(f"/api/session/{sid}/{action}")
    assert response.status_code == 409 and response.json()["code"] == "session_not_running"
    response = await api.post(f"/api/session/session-000000000000/{action}")
    assert response.status_code == 404 and response.json()["code"] == "session_not_found"
