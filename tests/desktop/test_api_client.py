"""desktop.api.ApiClient against the real backend."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from desktop.api import ApiClient, ApiError, BackendUnavailable, api_error
from tests.server import Server, running_server


@pytest.fixture
async def client(server: Server) -> AsyncIterator[ApiClient]:
    async with ApiClient(server.url, server.token) as api:
        yield api


async def wait_for_status(client: ApiClient, session_id: str, wanted: set[str]) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while (session := await client.get_session(session_id))["status"] not in wanted:
            await asyncio.sleep(0.05)
    return session


def real(path: Path) -> str:
    """The path as the backend reports it: absolute, links resolved."""
    return os.path.realpath(path)


def free_port() -> int:
    """A loopback port with nothing listening on it (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_health_and_projects(client: ApiClient, workdir: Path) -> None:
    health = await client.health()
    assert health["status"] == "ok" and health["version"]

    project = await client.create_project(workdir, name="demo")
    assert project["name"] == "demo" and project["path"] == real(workdir)
    assert (await client.create_project(str(workdir)))["id"] == project["id"]  # one per folder
    assert [p["id"] for p in await client.list_projects()] == [project["id"]]
    detail = await client.get_project(project["id"])
    assert detail["sessions"] == [] and detail["path"] == project["path"]

    await client.delete_project(project["id"])
    assert await client.list_projects() == []


async def test_session_lifecycle(client: ApiClient, workdir: Path) -> None:
    project = await client.create_project(workdir)
    session = await client.create_session(project["id"], kind="command", argv=["cat"], tty=False)
    sid = session["id"]
    assert session["status"] == "running" and session["projectId"] == project["id"]
    assert session["argv"] == ["cat"] and session["tty"] is False
    assert [s["id"] for s in await client.list_sessions(project["id"])] == [sid]
    assert [s["id"] for s in await client.list_sessions()] == [sid]
    assert (await client.get_session(sid))["id"] == sid

    event_id = await client.send_prompt(sid, "hello")
    async with asyncio.timeout(10):
        while not any(e["type"] == "output" for e in (await client.history(sid))["events"]):
            await asyncio.sleep(0.05)
    page = await client.history(sid)
    prompt = next(e for e in page["events"] if e["type"] == "prompt")
    assert prompt["id"] == event_id and prompt["data"]["command"] == "hello"
    output = "".join(e["data"]["content"] for e in page["events"] if e["type"] == "output")
    assert output == "hello\n"
    first = await client.history(sid, after=0, limit=1)
    assert len(first["events"]) == 1 and first["hasMore"] is True
    rest = await client.history(sid, after=first["nextAfter"])
    assert [e["id"] for e in first["events"] + rest["events"]] == [e["id"] for e in page["events"]]

    metrics = await client.metrics()
    assert metrics["sessions"] == {"total": 1, "running": 1}

    await client.send_signal(sid, "SIGTERM")
    ended = await wait_for_status(client, sid, {"stopped"})
    assert ended["exitCode"] is not None
    await client.delete_session(sid)
    assert await client.list_sessions() == []


async def test_shell_in_working_dir_and_resize(client: ApiClient, workdir: Path) -> None:
    session = await client.create_session(working_dir=workdir, cols=100, rows=30, name="sh")
    assert session["kind"] == "shell" and session["tty"] is True and session["name"] == "sh"
    assert session["workingDir"] == real(workdir)
    assert await client.resize(session["id"], 132, 43) == {"cols": 132, "rows": 43}
    with pytest.raises(ValueError, match="project_id or working_dir"):
        await client.create_session()


async def test_error_codes(client: ApiClient, workdir: Path) -> None:
    with pytest.raises(ApiError) as missing:
        await client.get_session("session-000000000000")
    assert (missing.value.status, missing.value.code) == (404, "session_not_found")
    assert missing.value.message
    with pytest.raises(ApiError) as no_project:
        await client.get_project("project-000000000000")
    assert (no_project.value.status, no_project.value.code) == (404, "project_not_found")

    pipes = await client.create_session(
        working_dir=workdir, kind="command", argv=["cat"], tty=False
    )
    with pytest.raises(ApiError) as not_a_terminal:
        await client.resize(pipes["id"], 80, 24)
    assert (not_a_terminal.value.status, not_a_terminal.value.code) == (409, "not_a_terminal")
    await client.send_signal(pipes["id"], "SIGKILL")
    await wait_for_status(client, pipes["id"], {"stopped"})
    with pytest.raises(ApiError) as not_running:
        await client.send_prompt(pipes["id"], "ls")
    assert (not_running.value.status, not_running.value.code) == (409, "session_not_running")

    shell = await client.create_session(working_dir=workdir)
    with pytest.raises(ApiError) as too_small:
        await client.resize(shell["id"], 1, 24)
    assert (too_small.value.status, too_small.value.code) == (400, "invalid_input")
    with pytest.raises(ApiError) as no_argv:
        await client.create_session(working_dir=workdir, kind="command")
    assert (no_argv.value.status, no_argv.value.code) == (400, "invalid_input")
    with pytest.raises(ApiError) as bad_path:
        await client.create_project(workdir / "does-not-exist")
    assert (bad_path.value.status, bad_path.value.code) == (400, "folder_not_found")


def test_a_user_is_shown_the_backend_s_own_sentence() -> None:
    """The backend's error body is a sentence for a user (a 507 says the disk is full and what
    to do); anything else (a proxy's page) is shown with its status."""
    sentence = "cannot store anything now: the disk is full. Nothing already stored is lost"
    ours = api_error(httpx.Response(507, json={"error": sentence, "code": "insufficient_storage"}))
    assert (ours.status, ours.code, ours.for_user()) == (507, "insufficient_storage", sentence)
    proxy = api_error(httpx.Response(502, text="<html>Bad Gateway</html>"))
    assert proxy.for_user() == "502 http_502: <html>Bad Gateway</html>"


async def test_wrong_token_is_401(server: Server) -> None:
    async with ApiClient(server.url, "wrong-token") as api:
        assert (await api.health())["status"] == "ok"  # the one open route
        with pytest.raises(ApiError) as refused:
            await api.list_projects()
    assert (refused.value.status, refused.value.code) == (401, "unauthorized")


async def test_nothing_listening_is_backend_unavailable() -> None:
    async with ApiClient(f"http://127.0.0.1:{free_port()}", "token", timeout=2) as api:
        with pytest.raises(BackendUnavailable):
            await api.health()
        with pytest.raises(BackendUnavailable):
            await api.create_project("/tmp")


async def test_a_backend_restarted_on_the_same_port_is_used_at_once(
    server: Server, workdir: Path
) -> None:
    async with ApiClient(server.url, server.token) as api:
        project = await api.create_project(workdir)  # leaves a pooled keep-alive connection
        server.restart()
        assert [p["id"] for p in await api.list_projects()] == [project["id"]]


async def test_set_endpoint_follows_a_restarted_backend(tmp_path: Path, workdir: Path) -> None:
    with running_server(tmp_path / "data") as first:
        async with ApiClient(first.url, first.token) as api:
            project = await api.create_project(workdir)
            first.stop()
            with pytest.raises(BackendUnavailable):
                await api.list_projects()
            # The app restarts its backend: same data, another port and another token.
            second = Server(tmp_path / "data", token="another-token-0123456789abcdef0123")
            second.start()
            try:
                api.set_endpoint(second.url, second.token)
                assert api.base_url.rstrip("/") == second.url.rstrip("/")
                assert [p["id"] for p in await api.list_projects()] == [project["id"]]
            finally:
                second.stop()


async def test_interrupt_and_stop(client: ApiClient, workdir: Path) -> None:
    command = "trap 'echo caught' INT; echo ready; while :; do sleep 0.05; done"
    session = await client.create_session(
        working_dir=workdir, kind="command", argv=["/bin/sh", "-c", command]
    )
    sid = session["id"]

    async def output() -> str:
        events = (await client.history(sid))["events"]
        return "".join(e["data"]["content"] for e in events if e["type"] == "output")

    async with asyncio.timeout(10):
        while "ready" not in await output():
            await asyncio.sleep(0.05)
    await client.interrupt(sid)
    async with asyncio.timeout(10):
        while "caught" not in await output():
            await asyncio.sleep(0.05)
    assert (await client.get_session(sid))["status"] == "running"
    await client.stop(sid)
    ended = await wait_for_status(client, sid, {"stopped"})
    assert ended["exitCode"] == -15
    for action in (client.interrupt, client.stop):
        with pytest.raises(ApiError) as not_running:
            await action(sid)
        assert (not_running.value.status, not_running.value.code) == (409, "session_not_running")
        with pytest.raises(ApiError) as unknown:
            await action("session-000000000000")
        assert (unknown.value.status, unknown.value.code) == (404, "session_not_found")


async def test_a_request_left_unanswered_fails_after_the_timeout(server: Server) -> None:
    assert server.proc is not None
    async with ApiClient(server.url, server.token, timeout=0.5) as api:
        await api.health()
        server.proc.send_signal(signal.SIGSTOP)  # the connection stays open and says nothing
        try:
            started = asyncio.get_running_loop().time()
            with pytest.raises(BackendUnavailable, match=r"did not answer within 0\.5 s"):
                await api.list_projects()
            assert asyncio.get_running_loop().time() - started < 2
        finally:
            server.proc.send_signal(signal.SIGCONT)
