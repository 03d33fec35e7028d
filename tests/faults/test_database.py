"""A database the backend cannot use: read-only, foreign, not SQLite, newer, damaged before
start (one line and exit 2), or damaged while it runs (503 for what needs the damaged pages)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from backend.store.schema import SCHEMA, VERSION
from backend.web.sse import REPLAY_PAGE
from tests.faults.limits import file_modes_bind
from tests.server import Server, running_server
from tests.sse import Stream

DB = "sessiondock.sqlite3"
# Lines of 3 KB, each with its own mark at the end, which lands in its event's overflow page
# (SQLite keeps only the first 489 bytes of such a row in the b-tree's own page). Paced, so
# that most lines are an event of their own: enough events for two replay pages and more. A
# slow machine may still join lines, or split one between two events (an event never passes
# 64 KiB), so an event may hold several marks or none.
LINES = 2 * REPLAY_PAGE
MARK = re.compile(r"MARK-\d{4}")
PRINTER = f"""
import time
for i in range({LINES}):
    print("x" * 3000, f"MARK-{{i:04d}}", flush=True)
    time.sleep(0.004)
"""


def refused(data_dir: Path, **options: Any) -> str:
    """Start a backend that must refuse to serve: exit 2, one line on stderr (returned)."""
    (data_dir.parent / f"{data_dir.name}-stderr.log").unlink(missing_ok=True)
    server = Server(data_dir, **options)
    try:
        server.start()
    except RuntimeError:
        pass
    else:
        server.stop()
        pytest.fail(f"the backend started:\n{server.stderr()}")
    assert server.wait() == 2
    lines = server.stderr().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sessiondock: error: "), server.stderr()
    return lines[0].removeprefix("sessiondock: error: ")


@pytest.fixture
def data(tmp_path: Path) -> Iterator[Path]:
    """The data dir, removed at the end: its database is foreign or damaged on purpose, and the
    suite's last check reads every database it finds."""
    path = tmp_path / "data"
    yield path
    shutil.rmtree(path, ignore_errors=True)


def database(data_dir: Path, script: str) -> Path:
    """A private data dir holding a SQLite file made by ``script``."""
    data_dir.mkdir(mode=0o700)
    path = data_dir / DB
    conn = sqlite3.connect(path)
    conn.executescript(script)
    conn.close()
    path.chmod(0o600)
    return path


@pytest.mark.parametrize(
    ("script", "why"),
    [
        ("CREATE TABLE t(x); INSERT INTO t VALUES (1);", "it holds the tables t"),
        ("CREATE TABLE sessions(name TEXT, x);", "it holds the tables sessions"),
        # Claims our schema (user_version is common): the start-up traceback was KeyError 'id'.
        (
            f"{SCHEMA} DROP TABLE sessions; CREATE TABLE sessions(name TEXT, x); "
            f"INSERT INTO sessions VALUES ('a', 1); PRAGMA user_version={VERSION};",
            "its table sessions lacks id, project_id",
        ),
        ("CREATE TABLE sessions(name TEXT, x); PRAGMA user_version=2;", "fails to upgrade"),
        ("PRAGMA application_id=1234;", "application_id 0x4d2"),
    ],
    ids=["other-tables", "other-sessions", "claims-our-version", "claims-old-version", "app-id"],
)
def test_a_foreign_sqlite_file_is_refused_untouched(data: Path, script: str, why: str) -> None:
    db = database(data, script)
    before = db.read_bytes()
    line = refused(data)
    assert line.startswith(f"{db} is not a SessionDock database (")
    assert why in line
    assert db.read_bytes() == before  # not even switched to WAL


def test_a_file_that_is_not_sqlite_is_refused(data: Path) -> None:
    data.mkdir(mode=0o700)
    db = data / DB
    db.write_bytes(os.urandom(8192))
    db.chmod(0o600)
    line = refused(data)
    assert line == f"{db} is not a SQLite database; move it away, or choose another --data-dir"


def test_a_newer_schema_is_refused_untouched(data: Path) -> None:
    db = database(data, f"{SCHEMA} PRAGMA user_version={VERSION + 1};")
    before = db.read_bytes()
    line = refused(data)
    assert line == (
        f"{db} was written by a newer SessionDock (schema {VERSION + 1}; "
        f"this release knows up to {VERSION})"
    )
    assert db.read_bytes() == before


# The data dir, the options of its Server, and how to make its database read-only.
ReadOnly = Iterator[tuple[Path, dict[str, Any], Callable[[], object]]]


@contextlib.contextmanager
def by_mode(data: Path) -> ReadOnly:
    """A file of mode 0400, for a backend without the capabilities that let root write any
    file whatever its mode (tests run as root, as CI does)."""
    data.mkdir(mode=0o700)
    yield data, {"preexec": file_modes_bind}, lambda: (data / DB).chmod(0o400)


@contextlib.contextmanager
def immutable(data: Path) -> ReadOnly:
    """A file with the immutable attribute, which binds root too (where the file system has
    it, and root may set it)."""

    def freeze() -> None:
        done = subprocess.run(["chattr", "+i", data / DB], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"chattr +i: {done.stderr.strip()}")

    try:
        yield data, {}, freeze
    finally:
        subprocess.run(["chattr", "-i", data / DB], capture_output=True)


@contextlib.contextmanager
def read_only_mount(data: Path) -> ReadOnly:
    """The data dir on a file system remounted read-only (root may mount)."""
    data.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", data]
    done = subprocess.run(mount, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"mount: {done.stderr.strip()}")
    try:
        yield data, {}, lambda: subprocess.run(["mount", "-o", "remount,ro", data], check=True)
    finally:
        subprocess.run(["umount", data], check=True)


@pytest.mark.parametrize("way", [by_mode, immutable, read_only_mount])
def test_a_read_only_database_is_refused(
    data: Path, way: Callable[[Path], contextlib.AbstractContextManager[Any]]
) -> None:
    with way(data) as (data, options, make_read_only):
        first = Server(data, **options).start()
        with first.client() as api:
            assert api.post("/api/projects", json={"path": "/"}).status_code == 201
        assert first.stop() == 0
        make_read_only()
        # Before, it served (health 200, 201 on create) and dropped every write.
        line = refused(data, **options)
    assert line.startswith(f"cannot write to {data / DB}: ")


# -- damage --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class History:
    """A database (checkpointed: the backend that wrote it stopped) of one session with more
    than two replay pages of events, and each event's data."""

    db: Path
    session_id: str
    events: dict[int, dict[str, Any]]

    def mark(self, seq: int) -> bytes | None:
        """The last mark in event ``seq``'s content, which lies in that event's own overflow
        page; None if it is not an output event or holds no whole mark."""
        marks = MARK.findall(self.events.get(seq, {}).get("content", ""))
        return marks[-1].encode() if marks else None

    def copy(self, data_dir: Path) -> Path:
        data_dir.mkdir(mode=0o700)
        shutil.copyfile(self.db, data_dir / DB)
        (data_dir / DB).chmod(0o600)
        return data_dir / DB


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    root = tmp_path_factory.mktemp("history")
    (root / "work").mkdir()
    # No search index: the marks must each be in the file once, in their event's own page.
    with running_server(root / "data", "--no-search-index") as server, server.client() as api:
        body = {"workingDir": str(root / "work"), "kind": "command", "tty": False}
        created = api.post("/api/sessions", json={**body, "argv": [sys.executable, "-c", PRINTER]})
        session_id = created.json()["id"]
        deadline = time.monotonic() + 60
        while api.get(f"/api/session/{session_id}").json()["status"] == "running":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        page = api.get(f"/api/session/{session_id}/history", params={"limit": 10_000}).json()
    assert not (root / "data" / f"{DB}-wal").exists()  # all of it is in the database file
    events = {e["id"]: e["data"] for e in page["events"] if e["type"] == "output"}
    assert len(events) > REPLAY_PAGE + 100, len(events)
    return History(root / "data" / DB, session_id, events)


def damage(db: Path, history: History, seqs: range) -> int:
    """Overwrite, with 0xFF bytes, the page holding the mark of the first event in ``seqs``
    whose mark is in the file once (an overflow page belongs to one row only); its seq."""
    data = db.read_bytes()
    page_size = int.from_bytes(data[16:18], "big")
    seq, mark = next(
        (s, mark) for s in seqs if (mark := history.mark(s)) is not None and data.count(mark) == 1
    )
    page = data.index(mark) // page_size
    with db.open("r+b") as handle:
        handle.seek(page * page_size)
        handle.write(b"\xff" * page_size)
    return seq


def test_a_damaged_database_is_refused(history: History, data: Path) -> None:
    db = history.copy(data)
    damage(db, history, range(REPLAY_PAGE, REPLAY_PAGE + 60))
    line = refused(data)
    assert line.startswith(f"{db} is damaged (quick_check: ")
    assert ".recover" in line


async def test_a_database_damaged_while_running_answers_503(history: History, data: Path) -> None:
    db = history.copy(data)
    server = Server(data).start()
    history_url = f"/api/session/{history.session_id}/history"
    events_url = f"/api/session/{history.session_id}/events"
    try:
        # In the second replay page of a stream from the start.
        bad = damage(db, history, range(REPLAY_PAGE + 40, REPLAY_PAGE + 100))
        async with server.async_client() as api:
            whole = await api.get(history_url, params={"limit": 10_000})
            assert whole.status_code == 503
            assert whole.json()["code"] == "database_error"
            assert "cannot be read" in whole.json()["error"]
            # What does not need the damaged page still works.
            later = await api.get(history_url, params={"after": bad + 50})
            assert later.status_code == 200 and later.json()["events"][0]["id"] == bad + 51

            resumed = await api.get(events_url, headers={"Last-Event-ID": str(bad - 10)})
            assert resumed.status_code == 503  # before: 200, and the stream ended at once
            assert resumed.json()["code"] == "database_error"

            async with Stream(api, history.session_id) as stream:
                notice = await stream.wait_for(lambda e: e.event == "storage-error")
                async with asyncio.timeout(5):
                    await stream.ended.wait()
            assert notice.id is None and "cannot be read" in notice.data["reason"]
            # The first page went out whole; then the notice, and the end.
            assert stream.ids == list(range(1, REPLAY_PAGE + 1))
            assert stream.events[-1] == notice

            assert (await api.get("/api/sessions")).status_code == 200
            assert (await api.get("/api/health")).status_code == 200
    finally:
        server.stop()
    assert "Traceback" not in server.stderr()
