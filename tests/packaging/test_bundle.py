"""The pyinstaller bundle: one executable that is the desktop app and, with ``serve``, its backend.

Everything here runs the built executable from outside, as a user (or a desktop session) would;
nothing can call into a frozen app's Python. The app's backend is found through the data dir's
``server.json`` and driven over its API, the window through a virtual X screen and xdotool.
"""

from __future__ import annotations

import asyncio
import configparser
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from backend import __version__
from tests.conftest import new_session
from tests.packaging.frozen import (
    BUNDLE,
    DIST,
    ROOT,
    Xdo,
    bundle_server,
    grab_screen,
    running_app,
    virtual_screen,
    wait_until,
)
from tests.sse import Stream

# The first test of a run may build the bundle (about 20 s here, a minute on a busy machine).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(360)]

INTERNAL = BUNDLE / "_internal"
MAGENTA = (255, 0, 255)


async def _ended(stream: Stream) -> None:
    await stream.wait_for(lambda e: e.event == "status" and e.data["status"] != "running")


def _client(info: dict[str, Any]) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {info['token']}"}
    return httpx.AsyncClient(base_url=str(info["url"]), headers=headers, timeout=10)


def _running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _still_running(processes: list[psutil.Process], timeout: float = 5.0) -> list[psutil.Process]:
    """The processes still alive after ``timeout`` (a zombie counts as gone)."""
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    return [p for p in alive if _running(p)]


def test_the_bundle_carries_its_resources_and_xcb_libraries(bundle: Path) -> None:
    assert (INTERNAL / "resources" / "web" / "index.html").is_file()
    assert (INTERNAL / "resources" / "web" / "vendor" / "xterm" / "xterm.mjs").is_file()
    assert (INTERNAL / "resources" / "icons" / "sessiondock-256.png").is_file()
    assert (INTERNAL / "pyghostty" / "_lib" / "libghostty-vt.so").is_file()  # the emulator
    # At run time the bootloader puts _internal/ first on the library path; ldd the same way.
    xcb = INTERNAL / "PySide6" / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    env = {**os.environ, "LD_LIBRARY_PATH": str(INTERNAL)}
    ldd = subprocess.run(["ldd", str(xcb)], env=env, capture_output=True, text=True, check=True)
    assert "not found" not in ldd.stdout, ldd.stdout
    for lib in ("libxcb-icccm.so.4", "libxcb-keysyms.so.1"):
        assert (INTERNAL / lib).exists(), f"{lib} is not in the bundle"
    version = subprocess.run([bundle, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.strip() == f"sessiondock {__version__}"


async def test_serve_answers_streams_and_stops_on_sigterm(bundle: Path, tmp_path: Path) -> None:
    workdir = tmp_path / "proj"
    workdir.mkdir()
    with bundle_server(bundle, tmp_path / "data") as server:
        assert server.proc is not None
        assert server.ready["event"] == "ready" and server.ready["pid"] == server.proc.pid
        assert Path(psutil.Process(server.proc.pid).exe()) == bundle.resolve()
        async with server.async_client() as api:
            health = await api.get("/api/health")
            assert health.json() == {"status": "ok", "version": __version__}
            page = await api.get("/index.html")  # the web UI, from the bundle's resources
            assert page.status_code == 200 and "<html" in page.text.lower()
            script = "for i in 1 2 3; do echo from-the-bundle-$i; sleep 0.05; done"
            session = await new_session(api, workdir, kind="command", argv=["sh", "-c", script])
            async with Stream(api, session["id"]) as stream:
                await stream.wait_for_output("from-the-bundle-3")
                await _ended(stream)
            # The terminal emulator runs in the bundle: the session's last screen.
            screen = (await api.get(f"/api/session/{session['id']}/screen")).json()
            assert "from-the-bundle-3" in screen["content"], screen
        assert await asyncio.to_thread(server.stop) == 0
    assert not (tmp_path / "data" / "server.json").exists()


def _home_with_profile(tmp_path: Path) -> Path:
    """A home whose login shell puts ``$HOME/tools`` first on PATH."""
    home = tmp_path / "home"
    (home / "tools").mkdir(parents=True)
    (home / ".profile").write_text('export PATH="$HOME/tools:$PATH"\n')
    return home


def _user_environment(home: Path, user_library_path: str | None) -> dict[str, str]:
    env = {"HOME": str(home), "SHELL": "/bin/sh", "PATH": "/usr/bin:/bin"}
    if user_library_path is not None:
        env["LD_LIBRARY_PATH"] = user_library_path
    return env


def _parse_env(output: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)


def _assert_the_users_own(seen: dict[str, str], home: Path, user_library_path: str | None) -> None:
    """A session's environment: the user's login PATH and library path, nothing of the bundle."""
    assert seen["PATH"].split(":")[0] == str(home / "tools")
    assert seen.get("LD_LIBRARY_PATH") == user_library_path
    assert [key for key, value in seen.items() if str(BUNDLE) in value] == []
    assert [key for key in seen if key.startswith("_PYI") or key == "_MEIPASS2"] == []
    assert "SESSIONDOCK_TOKEN" not in seen


@pytest.mark.parametrize("user_library_path", [None, "/opt/user-libs"])
async def test_a_session_gets_the_login_path_and_nothing_of_the_bundle(
    bundle: Path, tmp_path: Path, user_library_path: str | None
) -> None:
    if user_library_path is None and "LD_LIBRARY_PATH" in os.environ:
        pytest.skip("this test run has LD_LIBRARY_PATH set; the other case covers it")
    home = _home_with_profile(tmp_path)
    workdir = tmp_path / "proj"
    workdir.mkdir()
    env = _user_environment(home, user_library_path)
    # No --login-path: in the bundle it is the default.
    with bundle_server(bundle, tmp_path / "data", env=env) as server:
        assert server.proc is not None
        # The bundle's bootloader did point its own process at the bundle's libraries...
        backend_env = psutil.Process(server.proc.pid).environ()
        assert str(BUNDLE) in backend_env.get("LD_LIBRARY_PATH", "")
        async with server.async_client() as api:
            session = await new_session(api, workdir, kind="command", argv=["env"], tty=False)
            async with Stream(api, session["id"]) as stream:
                await _ended(stream)
                seen = _parse_env(stream.output())
    # ...and a session sees none of that.
    _assert_the_users_own(seen, home, user_library_path)


async def test_the_app_runs_its_backend_from_its_own_executable_and_quits_clean(
    bundle: Path, tmp_path: Path
) -> None:
    workdir = tmp_path / "proj"
    workdir.mkdir()
    home = _home_with_profile(tmp_path)  # running_app's HOME
    env = {**_user_environment(home, "/opt/user-libs"), "QT_QPA_PLATFORM": "offscreen"}
    with running_app(bundle, tmp_path, env) as app:
        info = await asyncio.to_thread(app.backend)
        backend = psutil.Process(int(info["pid"]))
        assert backend.ppid() == app.proc.pid
        assert Path(backend.exe()) == bundle.resolve()
        command = backend.cmdline()
        assert Path(command[0]).resolve() == bundle.resolve()
        assert command[1] == "serve" and "--exit-on-stdin-eof" in command
        async with _client(info) as api:
            script = "env; echo shown-by-the-app; exec sleep 60"
            session = await new_session(
                api, workdir, kind="command", argv=["sh", "-c", script], tty=False
            )
            async with Stream(api, session["id"]) as stream:
                await stream.wait_for_output("shown-by-the-app")
        # The way users meet it: app → backend → session, the bundle's paths undone twice over.
        _assert_the_users_own(_parse_env(stream.output()), home, "/opt/user-libs")
        family = app.family()
        assert session["pid"] in {p.pid for p in family}
        # Its parent is the session host, which the backend ran from the bundle's own
        # executable: `sessiondock host`.
        host = app.session_host()
        assert host is not None and psutil.Process(session["pid"]).ppid() == host.pid
        assert Path(host.exe()) == bundle.resolve() and host.cmdline()[1] == "host"
        assert app.proc.poll() is None
        code = await asyncio.to_thread(app.quit)
    assert code == 0, app.stderr()
    assert _still_running(family) == []
    assert not (app.data_dir / "server.json").exists()  # its backend shut down in order
    assert "Traceback" not in app.stderr()


@pytest.mark.skipif(
    not (shutil.which("Xvfb") and shutil.which("xdotool")),
    reason="needs Xvfb and xdotool (apt-get install xvfb xdotool) to show the bundle's window",
)
async def test_the_app_on_a_virtual_screen_shows_live_output(bundle: Path, tmp_path: Path) -> None:
    workdir = tmp_path / "proj"
    workdir.mkdir()
    data_dir = tmp_path / "app-data"
    # A project with a finished session, made by the bundle's backend alone, for the app to list.
    with bundle_server(bundle, data_dir) as server:
        async with server.async_client() as api:
            first = await new_session(api, workdir, kind="command", argv=["echo", "made before"])
            async with Stream(api, first["id"]) as stream:
                await _ended(stream)
        assert await asyncio.to_thread(server.stop) == 0

    with (
        virtual_screen() as display,
        running_app(bundle, tmp_path, {"QT_QPA_PLATFORM": "xcb", "DISPLAY": display}) as app,
    ):
        info = await asyncio.to_thread(app.backend)
        xdo = Xdo(display)
        # The window class is the .desktop file's StartupWMClass.
        window = xdo("search", "--sync", "--class", "^SessionDock$").split()[0]
        xdo("windowfocus", "--sync", window)

        async with _client(info) as api:

            async def listeners(session_id: str) -> int:
                metrics = (await api.get("/api/debug/metrics")).json()
                return int(metrics["eventBus"]["listenerCounts"].get(session_id, 0))

            async def until_streamed(session_id: str, keys: tuple[str, ...]) -> None:
                """Press ``keys`` until the window streams ``session_id`` (lists refresh late)."""
                async with asyncio.timeout(20):
                    while not await listeners(session_id):
                        await asyncio.to_thread(xdo.key, *keys)
                        await asyncio.sleep(0.5)

            # Keyboard only, as a user could: the project list has the focus at start; Down picks
            # the project, three Tabs reach the session list, Down picks its session.
            await asyncio.to_thread(xdo.key, "Down", "Tab", "Tab", "Tab")
            await until_streamed(first["id"], ("Down",))

            # A live session made through the app's own backend shows up at the top of the list.
            script = r"read go; printf 'live \033[48;2;255;0;255m%24s\033[0m\n' ''; exec sleep 60"
            live = await new_session(api, workdir, kind="command", argv=["sh", "-c", script])
            await until_streamed(live["id"], ("Up",))
            before = await asyncio.to_thread(grab_screen, display, tmp_path / "before.png", MAGENTA)
            assert before["count"] == 0
            response = await api.post(f"/api/session/{live['id']}/prompt", json={"command": "go"})
            assert response.status_code == 202

            shot = tmp_path / "window.png"
            found: dict[str, int] = {}

            def block_shown() -> bool:
                found.update(grab_screen(display, shot, MAGENTA))
                return found["count"] >= 24 * 20  # 24 cells of a few hundred pixels each

            await asyncio.to_thread(wait_until, block_shown, 15, "the magenta block on screen")
            # One solid run of 24 cells on one line: cell backgrounds, as the output view paints.
            width = found["right"] - found["left"] + 1
            height = found["bottom"] - found["top"] + 1
            assert found["count"] == width * height and width > 8 * height, found
            shutil.copyfile(shot, DIST / "sessiondock-screen.png")  # for a human to look at

        family = app.family()
        assert live["pid"] in {p.pid for p in family}
        code = await asyncio.to_thread(app.quit)
    assert code == 0, app.stderr()
    assert _still_running(family) == []


def test_the_desktop_entry_and_icon_fit_the_app() -> None:
    path = ROOT / "packaging" / "linux" / "sessiondock.desktop"
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(path)
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Exec"].split()[0] == "sessiondock"
    assert entry["Icon"] == "sessiondock"
    assert entry["StartupWMClass"] == "SessionDock"  # Qt's class: the application name
    assert (ROOT / "resources" / "icons" / "sessiondock.svg").is_file()
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True)
        assert check.returncode == 0 and check.stdout == "", check.stdout


def test_the_app_uses_its_own_icon(qapp: Any) -> None:
    from desktop.app import app_icon

    sizes = {size.width() for size in app_icon().availableSizes()}
    assert {16, 32, 48, 64, 128, 256} <= sizes
