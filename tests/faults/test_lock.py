"""One backend per data folder: an OS lock on the database itself, which deleting files cannot
defeat (before, deleting backend.lock let a second backend share the database)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from tests.server import Server

DB = "sessiondock.sqlite3"


def second_refused(data_dir: Path) -> str:
    """Start another backend on ``data_dir``: it must exit 2 with one line (returned)."""
    other = Server(data_dir, token="second-token-0123456789abcdef0123")
    (data_dir.parent / f"{data_dir.name}-stderr.log").unlink(missing_ok=True)
    try:
        other.start()
    except RuntimeError:
        pass
    else:
        other.stop()
        pytest.fail("a second backend started on the same data dir")
    assert other.wait() == 2
    lines = other.stderr().splitlines()
    assert len(lines) == 1, other.stderr()
    return lines[0]


def test_a_second_backend_is_refused_whatever_files_are_deleted(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = Server(data).start()
    try:
        with first.client() as api:
            assert api.post("/api/projects", json={"path": str(tmp_path)}).status_code == 201
        assert second_refused(data) == (
            f"sessiondock: error: another SessionDock backend is using {data} "
            f"(pid {first.ready['pid']}, {first.url})"
        )
        # Every file but the database and SQLite's own (deleting those loses data anyway).
        for path in data.iterdir():
            if not path.name.startswith(DB):
                path.unlink()
        line = second_refused(data)
        assert line.startswith(f"sessiondock: error: another SessionDock backend is using {data}")
        assert not (data / "backend.lock").exists()  # no longer made
        with first.client() as api:  # the first one never noticed
            assert len(api.get("/api/projects").json()["projects"]) == 1
    finally:
        first.stop()


def test_an_earlier_release_holding_its_lock_is_respected(tmp_path: Path) -> None:
    """An earlier release's backend locks backend.lock: a new one must not start beside it,
    and removes the file once nobody holds it."""
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    legacy = data / "backend.lock"
    fd = os.open(legacy, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert second_refused(data) == (
            f"sessiondock: error: another SessionDock backend (an earlier release) is using {data}"
        )
    finally:
        os.close(fd)
    server = Server(data).start()
    server.stop()
    assert not legacy.exists()
