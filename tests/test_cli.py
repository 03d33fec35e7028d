"""``sessiondock serve``: the ready line, start-up errors, signals and the stdin watch."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.server import Server

SERVE = [sys.executable, "-m", "backend", "serve"]


def run_briefly(args: list[str], timeout: float = 15) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SERVE, *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


def test_ready_line_and_nothing_else_on_stdout(tmp_path: Path) -> None:
    server = Server(tmp_path / "d").start()
    ready = server.ready
    assert set(ready) == {"event", "url", "port", "token", "pid"}
    assert ready["event"] == "ready" and ready["pid"] == server.proc.pid  # type: ignore[union-attr]
    assert ready["url"] == f"http://127.0.0.1:{ready['port']}"
    assert httpx.get(f"{ready['url']}/api/health").status_code == 200
    # Where a person finds the page and its token; the token itself stays out of the log.
    assert f"open {ready['url']}/?token= followed by the token in " in server.stderr()
    assert server.token not in server.stderr()
    assert server.proc is not None and server.proc.stdout is not None
    server.proc.send_signal(signal.SIGINT)
    assert server.proc.wait(5) == 0
    assert server.proc.stdout.read() == b""  # logs went to stderr
    server.proc.stdout.close()
    assert server.proc.stdin is not None
    server.proc.stdin.close()


def test_random_token_by_default(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [*SERVE, "--port", "0", "--data-dir", str(tmp_path / "d")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if k != "SESSIONDOCK_TOKEN"},
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdin is not None
    try:
        ready = json.loads(proc.stdout.readline())
        assert len(ready["token"]) >= 43  # 32 random bytes, URL-safe base64
        response = httpx.get(
            f"{ready['url']}/api/projects", headers={"Authorization": f"Bearer {ready['token']}"}
        )
        assert response.status_code == 200
    finally:
        proc.terminate()
        proc.wait(5)
        proc.stdout.close()
        proc.stdin.close()


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_briefly(["--port", str(port), "--data-dir", str(tmp_path / "d")])
    assert_one_line_error(result, "cannot listen", str(port))


def test_unusable_data_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = run_briefly(["--port", "0", "--data-dir", str(blocker / "data")])
    assert_one_line_error(result, "data dir")


@pytest.mark.parametrize(
    "args",
    [["--port", "abc"], ["--port", "70000"], ["--bogus"], ["--heartbeat-interval", "0"],
     ["--log-level", "loud"], ["--max-streams", "0"], ["--header-timeout", "0"],
     ["--body-timeout", "-1"]],
)  # fmt: skip
def test_bad_option(args: list[str]) -> None:
    assert_one_line_error(run_briefly(args), "error")


def test_console_script() -> None:
    script = Path(sys.executable).with_name("sessiondock")
    assert script.exists()
    # Without a subcommand it is the desktop app; ``serve`` is the backend alone.
    app_help = subprocess.run([script, "--help"], capture_output=True, text=True, check=True)
    assert "--connect" in app_help.stdout and "serve" in app_help.stdout
    serve_help = subprocess.run(
        [script, "serve", "--help"], capture_output=True, text=True, check=True
    )
    assert "--heartbeat-interval" in serve_help.stdout
    version = subprocess.run([script, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("sessiondock ")


def test_exits_when_stdin_closes(tmp_path: Path) -> None:
    server = Server(tmp_path / "d", ["--exit-on-stdin-eof"]).start()
    assert server.proc is not None and server.proc.stdin is not None
    time.sleep(0.3)
    assert server.proc.poll() is None  # an open stdin keeps it running
    started = time.monotonic()
    server.proc.stdin.close()
    assert server.proc.wait(5) == 0
    assert time.monotonic() - started < 3
    assert not (server.data_dir / "server.json").exists()
    assert server.proc.stdout is not None
    server.proc.stdout.close()


def control(command: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backend", command, "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_released_by_its_app_it_outlives_it_and_is_managed_from_the_command_line(
    tmp_path: Path,
) -> None:
    """The app's "Keep running" on quit: SIGUSR1, then the app's pipes close; the backend runs
    on, logging to the data dir, until ``sessiondock stop``."""
    server = Server(tmp_path / "d", ["--exit-on-stdin-eof"]).start()
    assert server.proc is not None and server.proc.stdin and server.proc.stdout
    assert control("status", server.data_dir).returncode == 0
    server.proc.send_signal(signal.SIGUSR1)
    released = json.loads(server.proc.stdout.readline())
    log_file = server.data_dir / "backend.log"
    assert released == {"event": "released", "log": str(log_file)}
    server.proc.stdin.close()
    server.proc.stdout.close()
    time.sleep(0.5)
    assert server.proc.poll() is None  # its parent's stdin is gone, and it runs on
    assert httpx.get(f"{server.url}/api/health").status_code == 200
    status = control("status", server.data_dir)
    assert status.returncode == 0
    pid = server.proc.pid
    assert (
        status.stdout
        == f"running at {server.url} (pid {pid}) in {server.data_dir}: 0 sessions running\n"
    )
    assert "the app has gone; running on" in log_file.read_text()
    assert oct(log_file.stat().st_mode & 0o777) == "0o600"

    stopped = control("stop", server.data_dir)
    assert stopped.returncode == 0
    assert stopped.stdout == f"stopped the backend at {server.url} (pid {pid})\n"
    assert server.proc.wait(5) == 0
    assert "shutting down" in log_file.read_text()
    gone = control("status", server.data_dir)
    assert gone.returncode == 3 and gone.stdout == f"no backend runs in {server.data_dir}\n"
    assert control("stop", server.data_dir).stdout.endswith("nothing to stop\n")


def test_status_does_not_trust_a_stale_server_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "d"
    data_dir.mkdir()
    # A backend killed with SIGKILL leaves its server.json; its pid may now be anyone's.
    stale = {"event": "ready", "url": "http://127.0.0.1:9", "port": 9, "pid": os.getpid()}
    (data_dir / "server.json").write_text(json.dumps(stale))
    assert control("status", data_dir).returncode == 3
    assert control("stop", data_dir).returncode == 0  # nothing signalled: we still run


def _maps_uvloop(pid: int) -> bool:
    return "/uvloop/" in Path(f"/proc/{pid}/maps").read_text()


@pytest.mark.parametrize("choice", [None, "asyncio", "uvloop"])
def test_the_event_loop_is_asyncio_unless_uvloop_is_asked_for(
    tmp_path: Path, choice: str | None
) -> None:
    args = ["--event-loop", choice] if choice else []
    server = Server(tmp_path / "d", args).start()
    try:
        assert server.proc is not None
        assert httpx.get(f"{server.url}/api/health").status_code == 200
        assert _maps_uvloop(server.proc.pid) == (choice == "uvloop")
    finally:
        assert server.stop() == 0


def test_uvloop_asked_for_but_not_installed_is_a_clear_error(tmp_path: Path) -> None:
    # As on a machine without the sessiondock[fast] extra: the import of uvloop fails.
    code = (
        "import sys; sys.modules['uvloop'] = None; from backend.cli import main; "
        "sys.exit(main(sys.argv[1:]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "serve", "--port", "0", "--data-dir", str(tmp_path / "d"),
         "--event-loop", "uvloop"],
        capture_output=True, text=True, timeout=15, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert_one_line_error(result, "--event-loop uvloop", "pip install 'sessiondock[fast]'")
    assert not (tmp_path / "d" / "server.json").exists()
