"""What a session's processes inherit: the user's environment, not the server's or the bundle's."""

from __future__ import annotations

import os
from pathlib import Path

from backend.environment import read_login_path, session_environment
from tests.conftest import new_session
from tests.server import Server
from tests.sse import Stream

BUNDLE = "/opt/SessionDock/_internal"


def test_the_token_never_reaches_a_session() -> None:
    env = session_environment(
        {"SESSIONDOCK_TOKEN": "secret", "HOME": "/h"}, bundle=None, login_path=None
    )
    assert env == {"HOME": "/h"}


def test_outside_a_bundle_library_paths_stay() -> None:
    env = {"LD_LIBRARY_PATH": "/usr/local/lib", "PATH": "/usr/bin"}
    assert session_environment(env, bundle=None, login_path=None) == env


def test_a_bundle_library_paths_are_undone() -> None:
    env = {
        "LD_LIBRARY_PATH": f"{BUNDLE}:/usr/local/lib",
        "LD_LIBRARY_PATH_ORIG": "/usr/local/lib",
        "DYLD_LIBRARY_PATH": BUNDLE,  # the bundle set it; the user had none
        "QT_PLUGIN_PATH": f"{BUNDLE}/PySide6/Qt/plugins",
        "XDG_DATA_DIRS": f"/usr/share:{BUNDLE}/share",
        "_PYI_APPLICATION_HOME_DIR": BUNDLE,
        "_MEIPASS2": BUNDLE,
        "PATH": "/usr/bin:/bin",
        "HOME": "/home/u",
    }
    clean = session_environment(env, bundle=BUNDLE, login_path="/home/u/.local/bin:/usr/bin")
    assert clean == {
        "LD_LIBRARY_PATH": "/usr/local/lib",
        "XDG_DATA_DIRS": "/usr/share",
        "PATH": "/home/u/.local/bin:/usr/bin",
        "HOME": "/home/u",
    }


def _home_with_profile(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    (home / "tools").mkdir(parents=True)
    (home / ".profile").write_text(
        'echo "welcome, this line must not end up in PATH"\nexport PATH="$HOME/tools:$PATH"\n'
    )
    return home


async def test_the_login_shell_path_is_read(tmp_path: Path) -> None:
    home = _home_with_profile(tmp_path)
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "TERM": "dumb"}
    path = await read_login_path("/bin/sh", env)
    assert path is not None
    assert path.split(":")[0] == str(home / "tools")
    assert "welcome" not in path
    assert await read_login_path("/nonexistent/shell", env) is None


async def test_sessions_get_the_login_path(tmp_path: Path, workdir: Path) -> None:
    home = _home_with_profile(tmp_path)
    server = Server(
        tmp_path / "d", ["--login-path"], env={"HOME": str(home), "SHELL": "/bin/sh"}
    ).start()
    try:
        async with server.async_client() as api:
            session = await new_session(
                api, workdir, kind="command", argv=["printenv", "PATH"], tty=False
            )
            async with Stream(api, session["id"]) as stream:
                await stream.wait_for(
                    lambda e: e.event == "status" and e.data["status"] != "running"
                )
        assert stream.output().split(":")[0] == str(home / "tools")
    finally:
        server.stop()
    assert os.environ.get("HOME") != str(home)
