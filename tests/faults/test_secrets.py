"""Secrets on disk and in ps: a private data dir (also one an earlier release left open), the
token given without the command line, and never written to the log."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.server import Server

DB = "sessiondock.sqlite3"


def modes(folder: Path) -> dict[str, int]:
    """The permission bits of ``folder`` (as ".") and of each file in it."""
    paths = [folder, *folder.iterdir()]
    return {
        "." if p == folder else p.name: stat.S_IMODE(p.stat().st_mode)
        for p in paths
        if not p.name.endswith(".tmp")
    }


def run_to_end(server: Server, workdir: Path, script: str) -> str:
    """Run ``sh -c script`` as a session; its output."""
    with server.client() as api:
        body = {"workingDir": str(workdir), "kind": "command", "tty": False}
        sid = api.post("/api/sessions", json={**body, "argv": ["sh", "-c", script]}).json()["id"]
        deadline = time.monotonic() + 10
        while api.get(f"/api/session/{sid}").json()["status"] == "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        events = api.get(f"/api/session/{sid}/history").json()["events"]
    return "".join(e["data"]["content"] for e in events if e["type"] == "output")


def test_a_new_data_dir_is_private_and_the_umask_stays(tmp_path: Path) -> None:
    server = Server(tmp_path / "data").start()
    try:
        umask = run_to_end(server, tmp_path, "umask")
        found = modes(server.data_dir)
    finally:
        server.stop()
    assert {DB, f"{DB}-wal", f"{DB}-shm", "server.json"} <= set(found)
    assert found == {name: 0o700 if name == "." else 0o600 for name in found}
    # Sessions inherit the backend's umask: it was not narrowed to make the files private.
    mine = os.umask(0o022)
    os.umask(mine)
    assert int(umask, 8) == mine
    assert "WARNING" not in server.stderr()


def test_an_open_data_dir_is_made_private(tmp_path: Path) -> None:
    """As an earlier release left it: the folder 0755, the database and the -wal and -shm of
    a backend that was killed 0644."""
    data = tmp_path / "data"
    first = Server(data).start()
    run_to_end(first, tmp_path, "echo kept")
    first.stop(signal.SIGKILL)
    (data / "notes.txt").write_text("a file of the user's\n")
    for path in data.iterdir():
        path.chmod(0o644)
    data.chmod(0o755)
    assert {DB, f"{DB}-wal", f"{DB}-shm"} <= {p.name for p in data.iterdir()}

    first.stderr_path.unlink()  # type: ignore[union-attr]
    server = Server(data).start()
    try:
        found = modes(data)
    finally:
        server.stop()
    assert found == {name: 0o700 if name == "." else 0o600 for name in found}
    warnings = [line for line in server.stderr().splitlines() if "WARNING" in line]
    assert len(warnings) == 1, warnings
    assert f"other users could read the data dir {data}: made it private" in warnings[0]
    assert "data 755 → 700" in warnings[0] and f"{DB}-wal 644 → 600" in warnings[0]


def test_a_token_on_the_command_line_is_warned_about(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", ["--token", "cli-token-0123456789abcdef0123456789"])
    server.token = "cli-token-0123456789abcdef0123456789"
    server.start()
    try:
        with server.client() as api:
            assert api.get("/api/projects").status_code == 200
    finally:
        server.stop()
    (warning,) = [line for line in server.stderr().splitlines() if "WARNING" in line]
    assert "--token" in warning and "ps" in warning
    assert "--token-file" in warning and "SESSIONDOCK_TOKEN" in warning
    assert server.token not in server.stderr()


def test_a_token_file(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("\n  file-token-0123456789abcdef0123456789 \n")
    token_file.chmod(0o600)
    # The file wins over the environment.
    server = Server(tmp_path / "data", ["--token-file", str(token_file)])
    server.env["SESSIONDOCK_TOKEN"] = "env-token-0123456789abcdef0123456789"
    server.token = "file-token-0123456789abcdef0123456789"
    server.start()
    try:
        assert server.ready["token"] == server.token
        with server.client() as api:
            assert api.get("/api/projects").status_code == 200
        env_token = {"Authorization": "Bearer env-token-0123456789abcdef0123456789"}
        assert httpx.get(f"{server.url}/api/projects", headers=env_token).status_code == 401
    finally:
        server.stop()
    assert "WARNING" not in server.stderr()


@pytest.mark.parametrize(
    ("content", "error"),
    [(None, "cannot read --token-file {}: No such file or directory"),
     (" \n", "--token-file {} is empty")],
    ids=["missing", "empty"],
)  # fmt: skip
def test_a_token_file_that_gives_no_token(tmp_path: Path, content: str | None, error: str) -> None:
    token_file = tmp_path / "token"
    if content is not None:
        token_file.write_text(content)
    result = subprocess.run(
        [sys.executable, "-m", "backend", "serve", "--port", "0", "--token-file", str(token_file),
         "--data-dir", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=15, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == f"sessiondock: error: {error.format(token_file)}\n"
    assert not (tmp_path / "data").exists()  # refused before anything was made


def test_help_names_the_ways_to_give_a_token() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "backend", "serve", "--help"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    text = " ".join(result.stdout.split())
    assert "--token-file PATH" in text and "SESSIONDOCK_TOKEN" in text
    assert "other users see it in ps" in text


def test_no_token_in_the_log_at_debug_level(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", ["--log-level", "debug"]).start()  # SESSIONDOCK_TOKEN
    token = server.token
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            assert client.get("/api/projects", params={"token": token}).status_code == 200
            assert client.get("/api/projects", headers=server.headers).status_code == 200
            wrong = client.get("/api/projects", params={"token": "wrong-guess-42"})
            assert wrong.status_code == 401
            referer = {"Referer": f"{server.url}/?token={token}"}
            assert client.get("/", params={"token": token}, headers=referer).status_code == 303
            assert client.get("/api/projects").status_code == 200  # the cookie
            missing = client.get("/api/session/nope/events", params={"token": token})
            assert missing.status_code == 404
    finally:
        server.stop()
    log = server.stderr()
    assert "aiohttp.access" in log  # the access log ran, and was redacted
    assert "token=REDACTED" in log
    assert token not in log and "wrong-guess-42" not in log
    assert "WARNING" not in log
