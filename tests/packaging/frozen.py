"""Running the bundle's executable from outside, as a user or a desktop session would."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from tests.server import Server

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"
BUNDLE = DIST / "sessiondock"
EXE = BUNDLE / "sessiondock"
STAMP = DIST / "sessiondock.inputs"


@dataclass
class BundleServer(Server):
    """``sessiondock serve`` run from the bundle's executable."""

    exe: Path = EXE

    def command(self) -> list[str]:
        return [
            str(self.exe), "serve", "--port", "0",
            "--data-dir", str(self.data_dir), *self.args,
        ]  # fmt: skip


@contextlib.contextmanager
def bundle_server(
    exe: Path, data_dir: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[BundleServer]:
    server = BundleServer(data_dir, list(args), env=env or {}, exe=exe)
    server.start()
    try:
        yield server
    finally:
        assert server.proc is not None
        if server.proc.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.stop()  # its sessions end, and with them its session host
        if server.proc.poll() is None:
            server.proc.kill()
        server.wait()
        server.end_host()


def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def serving_backend(data_dir: Path) -> dict[str, object] | None:
    """The server.json of ``data_dir`` once that backend answers the API with its token."""
    try:
        info: dict[str, object] = json.loads((data_dir / "server.json").read_text())
        response = httpx.get(
            f"{info['url']}/api/projects",
            headers={"Authorization": f"Bearer {info['token']}"},
            timeout=2.0,
        )
    except (OSError, ValueError, KeyError, httpx.HTTPError):
        return None
    return info if response.status_code == 200 else None


@dataclass
class RunningApp:
    """The bundle's desktop app, started as a user would, watched from outside."""

    proc: subprocess.Popen[bytes]
    data_dir: Path
    log: Path

    def backend(self, timeout: float = 30.0) -> dict[str, object]:
        found: dict[str, object] = {}

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"the app exited ({self.proc.returncode}):\n{self.stderr()}")
            info = serving_backend(self.data_dir)
            if info is not None:
                found.update(info)
            return bool(found)

        wait_until(ready, timeout, "the app's backend")
        return found

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def family(self) -> list[psutil.Process]:
        """The app and every process under it (its backend), and the session host its backend
        started with every process under that (the sessions)."""
        me = psutil.Process(self.proc.pid)
        host = self.session_host()
        hosted = [host, *host.children(recursive=True)] if host is not None else []
        return [me, *me.children(recursive=True), *hosted]

    def session_host(self) -> psutil.Process | None:
        """The data dir's session host (its pid is in host.lock), while it runs."""
        try:
            return psutil.Process(int((self.data_dir / "host.lock").read_text()))
        except (OSError, ValueError, psutil.Error):
            return None

    def quit(self, timeout: float = 15.0) -> int:
        """SIGTERM, as a logout or ``kill`` would; the app's exit code."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)


@contextlib.contextmanager
def running_app(exe: Path, tmp_path: Path, env: dict[str, str], *args: str) -> Iterator[RunningApp]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    data_dir = tmp_path / "app-data"
    log = tmp_path / "app-stderr.log"
    full_env = {
        **os.environ,
        "HOME": str(home),  # its settings (QSettings) and login shell are a stranger's
        "XDG_CONFIG_HOME": str(home / ".config"),
        **env,
    }
    with open(log, "wb") as stderr:
        proc = subprocess.Popen(
            [str(exe), "--data-dir", str(data_dir), *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, env=full_env,
        )  # fmt: skip
    app = RunningApp(proc, data_dir, log)
    try:
        yield app
    finally:
        if proc.poll() is None:
            with contextlib.suppress(psutil.Error):
                for process in reversed(app.family()):
                    process.kill()
            proc.wait(10)


@contextlib.contextmanager
def virtual_screen(size: str = "1280x800") -> Iterator[str]:
    """An Xvfb display of its own, of ``size`` pixels; its DISPLAY value. (Also
    ``scripts/screenshots.py``'s.)"""
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", f"{size}x24", "-nolisten", "tcp"],
        pass_fds=[write_end], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(write_end)
    try:
        with os.fdopen(read_end) as numbers:
            number = numbers.readline().strip()  # written once the server accepts clients
        if not number:
            raise AssertionError(f"Xvfb did not start (exit code {proc.poll()})")
        yield f":{number}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Xdo:
    """xdotool on one display: keys and searches as a user's keyboard would send them."""

    display: str

    def __call__(self, *args: str) -> str:
        done = subprocess.run(
            ["xdotool", *args], env={**os.environ, "DISPLAY": self.display},
            capture_output=True, text=True, timeout=20,
        )  # fmt: skip
        if done.returncode != 0:
            raise AssertionError(f"xdotool {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def key(self, *keys: str) -> None:
        self("key", "--delay", "50", *keys)


def grab_screen(display: str, out: Path, rgb: tuple[int, int, int]) -> dict[str, int]:
    """Screenshot ``display`` into ``out``; how many pixels are exactly ``rgb``, and their box."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("grab_screen.py")), str(out),
         ",".join(map(str, rgb))],
        env={**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"},
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    if done.returncode != 0:
        raise AssertionError(f"the screenshot failed: {done.stderr.strip()[-2000:]}")
    found: dict[str, int] = json.loads(done.stdout)
    return found
