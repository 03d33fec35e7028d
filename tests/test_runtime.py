"""Session processes: reading, decoding, coalescing, exit codes, terminals, many at once."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import new_session
from tests.server import Server
from tests.sse import Received, Stream


def ended(event: Received) -> bool:
    return event.event == "status" and event.data["status"] != "running"


async def run_to_end(api: httpx.AsyncClient, workdir: Path, argv: list[str], **body: Any) -> Stream:
    session = await new_session(api, workdir, kind="command", argv=argv, **body)
    async with Stream(api, session["id"]) as stream:
        await stream.wait_for(ended, timeout=30)
    return stream


async def test_line_longer_than_any_buffer(api: httpx.AsyncClient, workdir: Path) -> None:
    code = "import sys; sys.stdout.write('a' * 300000 + '\\n')"
    stream = await run_to_end(api, workdir, [sys.executable, "-c", code], tty=False)
    assert stream.output() == "a" * 300000 + "\n"
    sizes = [len(e.data["content"]) for e in stream.events if e.event == "output"]
    assert max(sizes) <= 65536
    assert len(sizes) >= 5


async def test_utf8_split_across_reads(api: httpx.AsyncClient, workdir: Path) -> None:
    code = (
        "import sys, time\n"
        "out = sys.stdout.buffer\n"
        "pieces = (b'price: \\xe2\\x82', b'\\xac 5 \\xf0\\x9f', b'\\x98\\x80\\n',\n"
        "          b'bad \\xff!\\n')\n"
        "for piece in pieces:\n"
        "    out.write(piece); out.flush(); time.sleep(0.05)\n"
    )
    stream = await run_to_end(api, workdir, [sys.executable, "-c", code], tty=False)
    assert stream.output() == "price: \u20ac 5 \U0001f600\nbad \ufffd!\n"


async def test_flood_is_coalesced(api: httpx.AsyncClient, workdir: Path) -> None:
    # Through a PTY each read returns at most a few KiB: without coalescing, that many events.
    total = 4_000_000
    stream = await run_to_end(api, workdir, ["sh", "-c", f"yes | head -c {total}"])
    outputs = [e for e in stream.events if e.event == "output"]
    text = "".join(e.data["content"] for e in outputs)
    assert text.replace("\r\n", "\n") == ("y\n" * (total // 2))
    assert all(len(e.data["content"]) <= 65536 for e in outputs)
    assert len(text) / len(outputs) > 16384, len(outputs)


async def test_exit_codes(api: httpx.AsyncClient, workdir: Path) -> None:
    ok = await run_to_end(api, workdir, ["true"])
    bad = await run_to_end(api, workdir, ["sh", "-c", "exit 3"])
    assert ok.events[-1].data["status"] == "exited" and ok.events[-1].data["exitCode"] == 0
    assert bad.events[-1].data["status"] == "failed" and bad.events[-1].data["exitCode"] == 3
    assert "signal" not in bad.events[-1].data


async def test_terminal_output_is_complete_at_exit(
    server: Server, api: httpx.AsyncClient, workdir: Path
) -> None:
    # The last bytes a process writes into its PTY arrive before its exit status, and the
    # EIO that reading the PTY then gives is the end of the stream, not an error.
    script = "printf '\\033[31mred\\033[0m\\n'; echo \"$TERM\"; seq 1 2000 | tail -n 1"
    stream = await run_to_end(api, workdir, ["sh", "-c", script])
    assert stream.output() == "\x1b[31mred\x1b[0m\r\nxterm-256color\r\n2000\r\n"
    assert [e.event for e in stream.events[-2:]] == ["output", "status"]
    assert not [e for e in stream.events if e.event == "error"]
    assert "Traceback" not in server.stderr() and "WARNING" not in server.stderr()


async def test_stdout_and_stderr_apart_without_terminal(
    api: httpx.AsyncClient, workdir: Path
) -> None:
    stream = await run_to_end(
        api, workdir, ["sh", "-c", "echo out; sleep 0.05; echo err >&2"], tty=False
    )
    kinds = {e.data["type"]: e.data["content"] for e in stream.events if e.event == "output"}
    assert kinds == {"stdout": "out\n", "stderr": "err\n"}


async def test_missing_executable_fails_cleanly(
    server: Server, api: httpx.AsyncClient, workdir: Path
) -> None:
    response = await api.post(
        "/api/sessions",
        json={"workingDir": str(workdir), "kind": "command", "argv": ["no-such-program-xyz"]},
    )
    assert response.status_code == 201
    session = response.json()
    assert session["status"] == "failed" and session["pid"] is None
    async with Stream(api, session["id"]) as stream:
        error = await stream.wait_for(lambda e: e.event == "error")
        status = await stream.wait_for(ended)
    assert "no-such-program-xyz" in error.data["message"]
    assert status.data["status"] == "failed"
    prompt = await api.post(f"/api/session/{session['id']}/prompt", json={"command": "x"})
    assert prompt.status_code == 409
    assert "Traceback" not in server.stderr()


async def test_many_sessions_at_once(api: httpx.AsyncClient, workdir: Path) -> None:
    sessions = await asyncio.gather(
        *(new_session(api, workdir, kind="command", argv=["sh", "-c", f"sleep 1; echo n{i}"])
          for i in range(20))
    )  # fmt: skip
    assert len({s["pid"] for s in sessions}) == 20
    streams = [Stream(api, s["id"]) for s in sessions]
    for stream in streams:
        await stream.__aenter__()
    try:
        for i, stream in enumerate(streams):
            await stream.wait_for(ended)
            assert stream.output() == f"n{i}\r\n"
    finally:
        for stream in streams:
            await stream.close()


async def test_interrupt_reaches_the_foreground_job(api: httpx.AsyncClient, workdir: Path) -> None:
    # As Ctrl-C in a terminal: the job in the foreground stops, the shell stays.
    session = await new_session(api, workdir, kind="shell", argv=["/bin/sh"])
    sid = session["id"]
    async with Stream(api, sid) as stream:
        await api.post(
            f"/api/session/{sid}/prompt", json={"command": "sleep 100; echo after-sleep"}
        )
        await asyncio.sleep(0.3)
        assert (
            await api.post(f"/api/session/{sid}/signal", json={"signal": "SIGINT"})
        ).status_code == 202
        await api.post(f"/api/session/{sid}/prompt", json={"command": "echo still-$((40+2))"})
        await stream.wait_for_output("still-42")
        assert (await api.get(f"/api/session/{sid}")).json()["status"] == "running"
        await api.post(f"/api/session/{sid}/signal", json={"signal": "SIGTERM"})
        status = await stream.wait_for(ended)
    assert status.data["status"] == "stopped" and status.data["signal"] in ("SIGHUP", "SIGTERM")


async def test_token_is_not_passed_to_sessions(tmp_path: Path, workdir: Path) -> None:
    server = Server(
        tmp_path / "d", env={"SESSIONDOCK_TOKEN": "env-token-abcdefghijklmnopqrstuvwxyz"}
    )
    server.token = "env-token-abcdefghijklmnopqrstuvwxyz"
    server.start()
    try:
        async with server.async_client() as api:
            stream = await run_to_end(api, workdir, ["env"], tty=False)
        assert "PATH=" in stream.output()
        assert "SESSIONDOCK_TOKEN" not in stream.output()
        assert server.token not in stream.output()
    finally:
        server.stop()


async def test_background_writer_cannot_hold_the_loop(
    api: httpx.AsyncClient, workdir: Path
) -> None:
    # The program exits but leaves a job that ignores SIGHUP and floods the terminal: reading
    # what is left at exit must stop somewhere, or the whole server would hang.
    script = "trap '' HUP; (yes &); sleep 0.2; echo leaving"
    session = await new_session(api, workdir, kind="command", argv=["sh", "-c", script])
    async with Stream(api, session["id"]) as stream:
        status = await stream.wait_for(ended, timeout=30)
        await stream.wait_for_output("leaving")
    assert status.data["status"] == "exited"
    health = await asyncio.wait_for(api.get("/api/health"), 2)
    assert health.status_code == 200
