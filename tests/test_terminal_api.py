"""Terminal sessions' API: raw input, the screen, attach with a snapshot, resize events, and the
screen across restarts and crashes. Real backends, real PTYs, real programs."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.runtimes.screen import SAVE_EVERY
from tests.conftest import EVENT_LOOPS, new_session
from tests.server import Server, running_server
from tests.sse import Stream
from vtengine.emulator import Emulator

SHELL = ["bash", "--norc", "--noprofile", "-i"]
# Reads stdin raw until it has N bytes, then writes them to a file: what /input sent, unchanged.
RAW_READER = """
import os, sys, tty

tty.setraw(0)
want, got = int(sys.argv[2]), b""
while len(got) < want:
    got += os.read(0, 65536)
open(sys.argv[1], "wb").write(got)
print("done", len(got))
"""


@pytest.fixture(scope="module", params=EVENT_LOOPS)
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One backend for the tests that need no restart, on each event loop in turn."""
    root = tmp_path_factory.mktemp("terminal")
    args = ("--heartbeat-interval", "1", "--event-loop", request.param)
    with running_server(root / "data", *args) as srv:
        yield srv


@pytest.fixture
async def client(shared: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with shared.async_client() as api:
        yield api


async def _shell(api: httpx.AsyncClient, workdir: Path, **body: Any) -> str:
    session = await new_session(api, workdir, kind="command", argv=SHELL, cols=80, rows=24, **body)
    await _type(api, session["id"], "PS1='$ '; unset PROMPT_COMMAND\r")
    await _until(api, session["id"], lambda text: text.endswith("$"))
    return str(session["id"])


async def _type(api: httpx.AsyncClient, session_id: str, data: str) -> None:
    response = await api.post(f"/api/session/{session_id}/input", json={"data": data})
    assert response.status_code == 202, response.text


async def _screen(api: httpx.AsyncClient, session_id: str, fmt: str = "text") -> dict[str, Any]:
    response = await api.get(f"/api/session/{session_id}/screen", params={"format": fmt})
    assert response.status_code == 200, response.text
    screen: dict[str, Any] = response.json()
    return screen


async def _until(
    api: httpx.AsyncClient,
    session_id: str,
    check: Callable[[str], bool],
    timeout: float = 15.0,
) -> dict[str, Any]:
    """Poll the screen until ``check`` holds for its text, stripped of trailing blank lines."""
    screen: dict[str, Any] = {}
    try:
        async with asyncio.timeout(timeout):
            while True:
                screen = await _screen(api, session_id)
                if check(screen["content"].rstrip("\n")):
                    return screen
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"the screen never matched:\n{screen.get('content')}") from None


async def _wait(condition: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.05)


def _drawn(vt: str, cols: int, rows: int) -> str:
    """What a fresh terminal shows after ``vt``: a client's view of a snapshot."""
    emulator = Emulator(cols, rows)
    try:
        emulator.feed(vt.encode())
        return emulator.screen_text()
    finally:
        emulator.close()


async def test_input_errors(client: httpx.AsyncClient, workdir: Path) -> None:
    shell = await _shell(client, workdir)
    pipes = await new_session(client, workdir, kind="command", argv=["sleep", "30"], tty=False)
    ended = await new_session(client, workdir, kind="command", argv=["true"])
    await _wait(
        lambda: _status_is(client, ended["id"], "exited"),
    )
    url = f"/api/session/{shell}/input"
    bad_bodies: list[Any] = [
        {},
        {"data": ""},
        {"data": 5},
        {"data": "é" * 40_000},  # 80,000 bytes as UTF-8
        ["x"],
    ]
    for body in bad_bodies:
        response = await client.post(url, json=body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["code"] == "invalid_input"
    lone = await client.post(url, content=b'{"data": "\\ud800"}', headers=_json())
    assert lone.status_code == 400 and "Unicode" in lone.json()["error"]
    assert (await client.post(url, json={"data": "#" * 65536})).status_code == 202
    await _type(client, shell, "\x15")  # Ctrl-U: the line goes

    missing = await client.post("/api/session/session-nope/input", json={"data": "x"})
    assert (missing.status_code, missing.json()["code"]) == (404, "session_not_found")
    for session_id, code in ((pipes["id"], "not_a_terminal"), (ended["id"], "session_not_running")):
        response = await client.post(f"/api/session/{session_id}/input", json={"data": "x"})
        assert (response.status_code, response.json()["code"]) == (409, code)
    screen = await client.get(f"/api/session/{pipes['id']}/screen")
    assert (screen.status_code, screen.json()["code"]) == (409, "not_a_terminal")
    for params in ({"format": "png"}, {"format": "vt", "scrollback": "-1"}):
        response = await client.get(f"/api/session/{shell}/screen", params=params)
        assert (response.status_code, response.json()["code"]) == (400, "invalid_input"), params
    for params in ({"attach": "lines"}, {"attach": "screen", "scrollback": "-1"}):
        response = await client.get(f"/api/session/{shell}/events", params=params)
        assert response.status_code == 400, params
    await client.post(f"/api/session/{pipes['id']}/stop")


def _json() -> dict[str, str]:
    return {"Content-Type": "application/json"}


async def _status_is(api: httpx.AsyncClient, session_id: str, status: str) -> bool:
    return bool((await api.get(f"/api/session/{session_id}")).json()["status"] == status)


async def test_keystrokes_reach_the_program_and_are_never_stored(
    client: httpx.AsyncClient, shared: Server, workdir: Path
) -> None:
    shell = await _shell(client, workdir)
    # A password typed at a prompt that does not echo it.
    await _type(client, shell, 'read -rs pw; echo "got ${#pw} ${pw//?/*}"\r')
    await asyncio.sleep(0.2)
    for key in "hunter2-secret":
        await _type(client, shell, key)
    await _type(client, shell, "\r")
    await _until(client, shell, lambda text: "got 14 **************" in text)
    # Esc, Ctrl-C and arrows are bytes like any other: history recall with the up arrow.
    await _type(client, shell, "echo one\r")
    # Up (the last line back), left three times, "tw", Ctrl-E (the end), two backspaces.
    await _type(client, shell, "\x1b[A\x1b[D\x1b[D\x1b[Dtw\x05\x7f\x7f\r")
    await _until(client, shell, lambda text: text.splitlines()[-2:] == ["two", "$"])

    history = (await client.get(f"/api/session/{shell}/history", params={"limit": 10000})).json()
    assert "hunter2" not in json.dumps(history)
    assert not [e for e in history["events"] if e["type"] == "prompt"]  # input makes no events
    database = sqlite3.connect(shared.data_dir / "sessiondock.sqlite3")
    try:
        rows = database.execute("SELECT data FROM events WHERE session_id = ?", (shell,))
        assert not [data for (data,) in rows if "hunter2" in data]
    finally:
        database.close()


async def test_the_pty_is_the_shells_controlling_terminal_and_ctrl_c_reaches_its_job(
    client: httpx.AsyncClient, workdir: Path
) -> None:
    """Each loop spawns the child its own way (uvloop runs ``preexec_fn`` before its setsid):
    either way the shell leads a session of its own, on the PTY, with job control."""
    shell = await _shell(client, workdir)
    await _type(client, shell, 'echo "sid=$(ps -o sid= -p $$ | tr -d " ") pid=$$ $(tty)"\r')
    screen = await _until(client, shell, lambda text: "pid=" in text.splitlines()[-2])
    found = re.search(r"sid=(\d+) pid=(\d+) (\S+)", screen["content"])
    assert found is not None, screen["content"]
    assert found[1] == found[2] and found[3].startswith("/dev/pts/")
    await _type(client, shell, "sleep 30; echo slept\r")
    await asyncio.sleep(0.3)
    await _type(client, shell, "\x03")  # Ctrl-C: SIGINT to the foreground job, not the shell
    await _type(client, shell, "echo after $?\r")
    await _until(client, shell, lambda text: text.splitlines()[-2:] == ["after 130", "$"])
    assert "slept" not in (await _screen(client, shell))["content"].splitlines()


async def test_concurrent_inputs_arrive_whole_and_in_order(
    client: httpx.AsyncClient, workdir: Path
) -> None:
    script = workdir / "reader.py"
    script.write_text(RAW_READER)
    size, count = 3000, 12
    session = await new_session(
        client,
        workdir,
        kind="command",
        argv=[sys.executable, str(script), str(workdir / "got"), str(size * count)],
    )
    await asyncio.sleep(0.5)  # the reader sets its terminal raw first
    letters = "ABCDEFGHIJKL"
    others = [httpx.AsyncClient(base_url=str(client.base_url), headers=client.headers)]
    try:
        clients = [client, *others]
        sends = [
            clients[i % 2].post(
                f"/api/session/{session['id']}/input", json={"data": letters[i] * size}
            )
            for i in range(count)
        ]
        results = await asyncio.gather(*sends)
    finally:
        for other in others:
            await other.aclose()
    assert [r.status_code for r in results] == [202] * count
    await _wait(lambda: _status_is(client, session["id"], "exited"))
    got = (workdir / "got").read_text()
    runs = [got[i : i + size] for i in range(0, len(got), size)]
    assert sorted(run[0] for run in runs) == sorted(letters)
    assert all(run == run[0] * size for run in runs)  # no request was split by another


async def test_attach_with_a_snapshot(client: httpx.AsyncClient, workdir: Path) -> None:
    shell = await _shell(client, workdir)
    await _type(client, shell, "printf '\\e]2;my title\\a'; seq 1 40; printf '\\e[?1h'\r")
    screen = await _until(client, shell, lambda text: text.endswith("40\n$"))
    assert screen["title"] == "my title" and not screen["altScreen"]
    assert (screen["cols"], screen["rows"]) == (80, 24)
    vt = await _screen(client, shell, "vt")  # the visible screen, none of the history
    assert _drawn(vt["content"], 80, 24) == screen["content"]
    assert "seq 1 40" not in vt["content"]
    html = await _screen(client, shell, "html")
    assert "40" in html["content"] and html["content"].lstrip().startswith("<")

    async with Stream(client, shell, params={"attach": "screen", "scrollback": "100"}) as stream:
        snapshot = await stream.wait_for(lambda e: e.event == "snapshot")
        assert stream.events[0].event == "connected" and stream.events[1] is snapshot
        data = snapshot.data
        assert snapshot.id == data["lastEventId"] >= screen["lastEventId"]
        assert (data["cols"], data["rows"], data["altScreen"]) == (80, 24, False)
        # A fresh terminal that draws the snapshot shows the same screen, and has the modes.
        assert _drawn(data["vt"], 80, 24) == (await _screen(client, shell))["content"]
        assert "\x1b[?1h" in data["vt"]  # application cursor keys
        assert "seq 1 40" in data["vt"]  # and the history above the screen
        # /screen draws the same snapshot on request (a deeper one behind a quick first frame).
        deep = (
            await client.get(
                f"/api/session/{shell}/screen", params={"format": "vt", "scrollback": "100"}
            )
        ).json()
        assert deep["content"] == data["vt"] and deep["lastEventId"] == snapshot.id
        # Live events follow, after the snapshot's id.
        await _type(client, shell, "echo live\r")
        await stream.wait_for_output("live")
        assert min(e.id for e in stream.events[2:] if e.id is not None) > snapshot.id

    # Without attach=screen the stream is what it always was: the whole history.
    async with Stream(client, shell) as plain:
        await plain.wait_for_output("live")
        assert not [e for e in plain.events if e.event == "snapshot"]
        assert plain.ids[0] == 1
    # A session without a terminal streams as without attach=screen.
    pipes = await new_session(client, workdir, kind="command", argv=["echo", "hi"], tty=False)
    async with Stream(client, pipes["id"], params={"attach": "screen"}) as piped:
        await piped.wait_for_output("hi")
        assert not [e for e in piped.events if e.event == "snapshot"]


async def test_reconnect_replays_a_short_gap_and_snapshots_a_long_one(
    client: httpx.AsyncClient, workdir: Path
) -> None:
    shell = await _shell(client, workdir)
    mark = (await _screen(client, shell))["lastEventId"]
    await _type(client, shell, "echo short gap\r")
    await _until(client, shell, lambda text: "short gap\n$" in text)
    params = {"attach": "screen"}
    async with Stream(client, shell, last_event_id=mark, params=params) as resumed:
        await resumed.wait_for_output("short gap")
        assert not [e for e in resumed.events if e.event == "snapshot"]
        assert resumed.ids[0] == mark + 1

    mark = (await _screen(client, shell))["lastEventId"]
    # Over a megabyte after the resume point: a snapshot draws it faster than a replay.
    await _type(client, shell, "head -c 3000000 /dev/zero | tr '\\0' x; echo; echo long gap\r")
    await _until(client, shell, lambda text: "long gap\n$" in text, timeout=30)
    async with Stream(client, shell, last_event_id=mark, params=params) as resumed:
        snapshot = await resumed.wait_for(lambda e: e.event == "snapshot")
        assert "long gap" in _drawn(snapshot.data["vt"], 80, 24)
        assert not [e for e in resumed.events if e.event == "output"]


async def test_resize_is_an_event_and_reflows_the_screen(
    client: httpx.AsyncClient, workdir: Path
) -> None:
    shell = await _shell(client, workdir)
    async with Stream(client, shell) as stream:
        response = await client.post(f"/api/session/{shell}/resize", json={"cols": 100, "rows": 30})
        assert response.json() == {"cols": 100, "rows": 30}
        resize = await stream.wait_for(lambda e: e.event == "resize")
        assert (resize.data["cols"], resize.data["rows"]) == (100, 30)
    await _type(client, shell, "stty size\r")
    screen = await _until(client, shell, lambda text: "30 100\n$" in text)
    assert (screen["cols"], screen["rows"]) == (100, 30)


@pytest.mark.every_event_loop
async def test_the_screen_survives_a_restart_and_a_crash(tmp_path: Path, workdir: Path) -> None:
    with running_server(tmp_path / "data") as server:
        async with server.async_client() as api:
            ended = await _shell(api, workdir)
            await _type(api, ended, "printf '\\e[1;31mred\\e[0m\\n'; exit 3\r")
            await _wait(lambda: _status_is(api, ended, "failed"))
            # The record says "failed" as soon as the shell is gone; the screen follows the
            # events, which are published once committed: its last line can come a moment later.
            before = await _until(api, ended, lambda text: text.splitlines()[-1] == "exit")
            # Over SAVE_EVERY of output, so a state is kept on the way, then a last line.
            running = await _shell(api, workdir)
            lines = SAVE_EVERY // 80 + 5000
            await _type(api, running, f"seq -f '%079g' {lines}; echo the end\r")
            await _until(api, running, lambda text: "the end\n$" in text, timeout=60)
            live = await _screen(api, running)
        server.stop()
        assert before["content"].rstrip("\n").splitlines()[-1] == "exit"
        # A graceful stop kept the final screen of both.
        server.start()
        async with server.async_client() as api:
            after = await _screen(api, ended)
            assert after["content"] == before["content"]
            assert (
                after["lastEventId"]
                == (await api.get(f"/api/session/{ended}")).json()["lastEventId"]
            )
            assert "red" in (await _screen(api, ended, "html"))["content"]
            # (Its shell may have written a last line as it was hung up.)
            last_rows = live["content"].rstrip("\n").splitlines()[-3:-1]
            assert "\n".join(last_rows) in (await _screen(api, running))["content"]
            # A crash while one runs: the kept state plus what followed it.
            third = await _shell(api, workdir)
            await _type(api, third, f"seq -f '%079g' {lines}; echo crashed after this\r")
            await _until(api, third, lambda text: "crashed after this\n$" in text, timeout=60)
            crashed = await _screen(api, third)
        server.stop(signal.SIGKILL)
        kept = _kept_states(server.data_dir / "sessiondock.sqlite3")
        assert third in kept, "no state was kept on the way"
        server.start()
        async with server.async_client() as api:
            rebuilt = await _screen(api, third)
            assert rebuilt["content"] == crashed["content"]
        # What a rebuild replays after the kept state stays near SAVE_EVERY, not the history.
        after_state = _bytes_after(server.data_dir / "sessiondock.sqlite3", third, kept[third])
        assert after_state <= SAVE_EVERY + 256 * 1024
        server.stop()


def _kept_states(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("SELECT session_id, seq FROM screens").fetchall())
    finally:
        conn.close()


def _bytes_after(db: Path, session_id: str, seq: int) -> int:
    conn = sqlite3.connect(db)
    try:
        row = conn.execute(
            "SELECT coalesce(sum(length(data)), 0) FROM events WHERE session_id = ? AND seq > ?",
            (session_id, seq),
        ).fetchone()
        return int(row[0])
    finally:
        conn.close()
