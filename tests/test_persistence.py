"""History survives the backend: restarts, crashes, and clients that resume across them."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sqlite3
from pathlib import Path

import httpx
import pytest

from backend.store.schema import VERSION
from tests.conftest import new_session
from tests.server import Server, running_server
from tests.sse import Stream

TICKER = "i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.02; done"


def ended(event: object) -> bool:
    return getattr(event, "event", None) == "status" and event.data["status"] != "running"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("how", "args"),
    [(signal.SIGTERM, ()), (signal.SIGKILL, ("--no-session-host",))],
    ids=["SIGTERM", "SIGKILL-without-a-session-host"],
)
async def test_resume_across_backend_restart(
    tmp_path: Path, workdir: Path, how: int, args: tuple[str, ...]
) -> None:
    """A backend that stops ends its sessions; without a session host, so does one killed
    outright (tests/test_session_host.py: with one, they outlive it)."""
    with running_server(tmp_path / "data", "--heartbeat-interval", "1", *args) as server:
        await _resume_across_restart(server, workdir, how)


async def _resume_across_restart(server: Server, workdir: Path, how: int) -> None:
    async with server.async_client() as api:
        session = await new_session(
            api, workdir, kind="command", argv=["sh", "-c", TICKER], tty=False
        )
        sid = session["id"]
        before = Stream(api, sid)
        await before.__aenter__()
        await before.wait_for_output("tick-20\n")
        await before.close()
    pid = session["pid"]

    server.restart(how)  # the same port and data dir
    # Its children get SIGHUP when it dies, even killed outright.
    async with asyncio.timeout(5):
        while _alive(pid):
            await asyncio.sleep(0.05)

    async with server.async_client() as api:
        listed = (await api.get(f"/api/session/{sid}")).json()
        assert listed["status"] == "interrupted"
        assert listed["endedAt"] is not None
        async with Stream(api, sid, last_event_id=before.ids[-1]) as after:
            final = await after.wait_for(ended)
        async with Stream(api, sid) as whole:
            await whole.wait_for(ended)
    assert final.data["status"] == "interrupted"
    combined = before.ids + after.ids
    assert combined == whole.ids  # no gap, no duplicate
    assert combined == list(range(1, len(combined) + 1))
    assert before.output() + after.output() == whole.output()
    # Everything a client was ever sent is stored.
    lines = whole.output().splitlines()
    assert lines == [f"tick-{i}" for i in range(1, len(lines) + 1)]


async def test_projects_and_sessions_survive_restart(server: Server, tmp_path: Path) -> None:
    folders = [tmp_path / name for name in ("alpha", "beta")]
    async with server.async_client() as api:
        for folder in folders:
            folder.mkdir()
            await new_session(api, folder, kind="command", argv=["echo", folder.name], tty=False)
        await asyncio.sleep(0.3)
        projects = (await api.get("/api/projects")).json()
        sessions = (await api.get("/api/sessions")).json()
    server.restart()
    async with server.async_client() as api:
        assert (await api.get("/api/projects")).json() == projects
        after = (await api.get("/api/sessions")).json()
    assert [s["id"] for s in after["sessions"]] == [s["id"] for s in sessions["sessions"]]
    assert all(s["status"] == "exited" and s["exitCode"] == 0 for s in after["sessions"])


async def test_every_session_is_terminated_at_shutdown(server: Server, workdir: Path) -> None:
    import psutil

    async with server.async_client() as api:
        # A shell with a child of its own: both must go.
        session = await new_session(api, workdir, kind="shell", argv=["/bin/sh"])
        async with Stream(api, session["id"]) as stream:
            await api.post(
                f"/api/session/{session['id']}/prompt", json={"command": "sleep 300 & echo started"}
            )
            await stream.wait_for_output("started")
        # The shell runs its job in a process group of its own; both are in the session.
        group = [p for p in psutil.process_iter(["pid"]) if _sid(p.pid) == session["pid"]]
        assert len(group) >= 2
        assert len({os.getpgid(p.pid) for p in group}) >= 2
    assert server.stop() == 0
    await asyncio.sleep(0.2)
    assert [p for p in group if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def _sid(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except ProcessLookupError:
        return None


async def test_server_json_and_lock(server: Server, tmp_path: Path) -> None:
    info = server.data_dir / "server.json"
    assert info.stat().st_mode & 0o777 == 0o600

    assert json.loads(info.read_text()) == server.ready
    # A second backend on the same data dir refuses to start.
    from tests.server import Server as Other

    second = Other(server.data_dir)
    with pytest.raises(RuntimeError, match="another SessionDock backend is using"):
        second.start()
    assert second.proc is not None and second.proc.wait(5) == 2
    assert second.proc.stdin is not None
    second.proc.stdin.close()
    assert second.proc.stdout is not None
    second.proc.stdout.close()
    server.stop()
    assert not info.exists()
    with httpx.Client() as client, pytest.raises(httpx.ConnectError):
        client.get(f"{server.url}/api/health")


# The first release's schema, as its databases are on users' disks.
SCHEMA_V1 = """
CREATE TABLE projects (id TEXT PRIMARY KEY, name TEXT NOT NULL, path TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL);
CREATE TABLE sessions (id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE, name TEXT NOT NULL,
    kind TEXT NOT NULL, argv TEXT NOT NULL, working_dir TEXT NOT NULL, tty INTEGER NOT NULL,
    status TEXT NOT NULL, exit_code INTEGER, created_at INTEGER NOT NULL, ended_at INTEGER,
    last_event_id INTEGER NOT NULL DEFAULT 0, trimmed_through INTEGER NOT NULL DEFAULT 0,
    stored_bytes INTEGER NOT NULL DEFAULT 0);
CREATE INDEX sessions_by_project ON sessions(project_id);
CREATE TABLE events (session_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL,
    data TEXT NOT NULL, ts INTEGER NOT NULL, PRIMARY KEY (session_id, seq)) WITHOUT ROWID;
PRAGMA user_version=1;
"""


async def test_a_first_release_database_is_upgraded_in_place(tmp_path: Path, workdir: Path) -> None:
    data = tmp_path / "old"
    data.mkdir()
    conn = sqlite3.connect(data / "sessiondock.sqlite3")
    conn.executescript(SCHEMA_V1)
    conn.execute("INSERT INTO projects VALUES ('project-1', 'old', ?, 1)", (str(workdir),))
    conn.execute(
        "INSERT INTO sessions VALUES ('session-1', 'project-1', 'sh', 'command', '[\"sh\"]', ?, "
        "1, 'exited', 0, 1, 2, 2, 0, 20)",
        (str(workdir),),
    )
    output = '{"sessionId":"session-1","type":"stdout","content":"kept","timestamp":1}'
    conn.execute("INSERT INTO events VALUES ('session-1', 1, 'output', ?, 1)", (output,))
    # The first releases stored a failed launch's error without a timestamp.
    error = '{"sessionId":"session-1","message":"could not start \'x\'"}'
    conn.execute("INSERT INTO events VALUES ('session-1', 2, 'error', ?, 7)", (error,))
    conn.commit()
    conn.close()

    with running_server(data) as server, server.client() as api:
        (session,) = api.get("/api/sessions").json()["sessions"]
        events = api.get("/api/session/session-1/history").json()["events"]
        created = api.post(
            "/api/sessions", json={"projectId": "project-1", "kind": "claude"}
        ).json()
    assert (session["id"], session["agent"], session["lastEventId"]) == ("session-1", None, 2)
    assert events[0]["data"]["content"] == "kept"
    assert events[1]["data"] == {
        "sessionId": "session-1", "message": "could not start 'x'", "timestamp": 7,
    }  # fmt: skip
    assert created["kind"] == "claude"  # stored in the new columns
    conn = sqlite3.connect(data / "sessiondock.sqlite3")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == VERSION
    runtime, state = conn.execute(
        "SELECT runtime, state FROM sessions WHERE id = ?", (created["id"],)
    ).fetchone()
    assert runtime == "conversation" and json.loads(state)["state"] == "idle"
    conn.close()


V2_DATABASE = Path(__file__).parent / "fixtures" / "store" / "v2.sqlite3"


def _rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def test_a_database_of_the_previous_release_is_upgraded_without_losing_an_event(
    tmp_path: Path,
) -> None:
    """tests/fixtures/store/v2.sqlite3 was written by schema version 2 (make_database.py)."""
    data = tmp_path / "data"
    data.mkdir()
    db = data / "sessiondock.sqlite3"
    shutil.copyfile(V2_DATABASE, db)
    before_events = _rows(db, "SELECT session_id, seq, type, data, ts FROM events ORDER BY 1, 2")
    before_sessions = {
        row[0]: row
        for row in _rows(
            db, "SELECT id, kind, status, exit_code, agent, source_offset FROM sessions"
        )
    }
    (dismissed,) = _rows(db, "SELECT id FROM dismissed_agent_ids")
    assert len(before_sessions) == 4 and len(before_events) > 40

    with running_server(data) as server, server.client() as api:
        sessions = {s["id"]: s for s in api.get("/api/sessions").json()["sessions"]}
        histories = {
            sid: api.get(f"/api/session/{sid}/history", params={"limit": 10000}).json()["events"]
            for sid in sessions
        }
    assert set(sessions) == set(before_sessions)
    for sid, (_, kind, status, exit_code, agent, _) in before_sessions.items():
        listed = sessions[sid]
        assert (listed["kind"], listed["status"], listed["exitCode"]) == (kind, status, exit_code)
        if agent is not None:
            stored = json.loads(str(agent))
            assert listed["agent"]["agentSessionId"] == stored["agentSessionId"]
            assert listed["agent"]["totals"] == stored["totals"]
            assert listed["agent"]["source"] == stored["source"]
    # Every event of the old file is still there, the same, in the same place.
    after = {
        (sid, e["id"]): (e["type"], e["data"], e["timestamp"])
        for sid, events in histories.items()
        for e in events
    }
    for sid, seq, kind, data_text, ts in before_events:
        assert after[(sid, seq)] == (kind, json.loads(str(data_text)), ts)

    assert _rows(db, "PRAGMA user_version") == [(VERSION,)]
    assert _rows(db, "SELECT id FROM dismissed_imports") == [dismissed]
    columns = {row[1] for row in _rows(db, "PRAGMA table_info(sessions)")}
    assert {"runtime", "state"} <= columns and not {"agent", "source_offset"} & columns
    # The imported session keeps how far its file was read.
    imported_id = next(sid for sid, row in before_sessions.items() if row[2] == "imported")
    (state,) = _rows(db, f"SELECT state FROM sessions WHERE id = '{imported_id}'")
    assert json.loads(str(state[0]))["sourceOffset"] == before_sessions[imported_id][5]
