"""A first run anywhere: ``sessiondock`` where Qt cannot open a window says why in one line and
exits 2 (never Qt's abort); ``sessiondock doctor`` says what works and what to install."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from desktop.preflight import install_hint, missing_library
from tests.server import running_server

SESSIONDOCK = Path(sys.executable).parent / "sessiondock"  # the console script


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A user's environment with no display at all, unless ``extra`` gives one."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}  # fmt: skip
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {**env, "HOME": str(home), "XDG_DATA_HOME": str(home / "data"), **extra}


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )


def _assert_one_line(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sessiondock: error: ")
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize("command", [[str(SESSIONDOCK)], [sys.executable, "-m", "desktop"]])
def test_without_a_display_the_app_says_so_in_one_line(tmp_path: Path, command: list[str]) -> None:
    data_dir = tmp_path / "data"
    result = _run([*command, "--data-dir", str(data_dir)], _env(tmp_path))
    _assert_one_line(result, "no display", "DISPLAY", "sessiondock serve")
    assert not data_dir.exists()  # no backend was started


def test_a_display_where_no_x_server_answers_is_named(tmp_path: Path) -> None:
    free = next(n for n in range(150, 200) if not Path(f"/tmp/.X11-unix/X{n}").exists())
    result = _run([str(SESSIONDOCK)], _env(tmp_path, DISPLAY=f":{free}"))
    _assert_one_line(result, f"no X server answers at DISPLAY=:{free}", "sessiondock serve")


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler (cc) to build a plugin")
def test_a_missing_system_library_is_named_with_its_fix(tmp_path: Path) -> None:
    """A platform plugin that links a library the system lacks, as Qt's xcb plugin links
    libxcb-cursor.so.0: found where Qt looks (QT_QPA_PLATFORM_PLUGIN_PATH), loaded as Qt would."""
    gone = tmp_path / "libsessiondock-gone.so.0"
    source = tmp_path / "plugin.c"
    source.write_text("int gone(void);\nint plugin(void) { return gone(); }\n")
    (tmp_path / "gone.c").write_text("int gone(void) { return 0; }\n")
    build = [
        ["cc", "-shared", "-fPIC", "-Wl,-soname,libsessiondock-gone.so.0", "-o", str(gone),
         str(tmp_path / "gone.c")],
        ["cc", "-shared", "-fPIC", "-o", str(tmp_path / "libqbroken.so"), str(source), str(gone)],
    ]  # fmt: skip
    for step in build:
        subprocess.run(step, check=True, capture_output=True, timeout=60)
    gone.unlink()  # now the plugin needs a library that is not there
    env = _env(tmp_path, QT_QPA_PLATFORM="broken", QT_QPA_PLATFORM_PLUGIN_PATH=str(tmp_path))
    result = _run([str(SESSIONDOCK)], env)
    _assert_one_line(result, "libsessiondock-gone.so.0 is missing", "sessiondock serve")


def test_the_fix_is_the_command_of_this_distribution() -> None:
    debian = 'PRETTY_NAME="Debian GNU/Linux 12"\nID=debian\n'
    ubuntu = "ID=ubuntu\nID_LIKE=debian\n"
    fedora = 'ID=fedora\nVERSION_ID="40"\n'
    arch = "ID=arch\n"
    assert install_hint("libxcb-cursor.so.0", debian) == "sudo apt-get install libxcb-cursor0"
    assert install_hint("libxcb-cursor.so.0", ubuntu) == "sudo apt-get install libxcb-cursor0"
    assert install_hint("libxcb-cursor.so.0", fedora) == "sudo dnf install xcb-util-cursor"
    both = install_hint("libxkbcommon-x11.so.0", arch)
    assert "apt-get install libxkbcommon-x11-0" in both and "dnf install libxkbcommon-x11" in both
    assert (
        install_hint("libnothing.so.3", debian)
        == "install the package that provides libnothing.so.3"
    )
    error = "libxcb-cursor.so.0: cannot open shared object file: No such file or directory"
    assert missing_library(error) == "libxcb-cursor.so.0"
    assert missing_library("undefined symbol: foo") is None


def _doctor(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = _env(tmp_path, PATH=os.pathsep.join(["/usr/bin", "/bin"]), **extra)
    env.pop("SESSIONDOCK_CLAUDE_PATH", None)
    env.update(extra)
    return _run([str(SESSIONDOCK), "doctor", *args], env)


def test_doctor_on_a_machine_without_a_display(tmp_path: Path) -> None:
    result = _doctor(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert out.splitlines()[0] == "SessionDock doctor: what this machine has"
    assert "  MISSING  display   no display: DISPLAY and WAYLAND_DISPLAY are unset" in out
    assert "fix: run it in a desktop session, or run `sessiondock serve`" in out
    assert "  ok       Qt        PySide6 " in out  # its libraries load here
    data_dir = tmp_path / "home" / "data" / "sessiondock"
    assert f"  ok       data dir  {data_dir} (made at first start)" in out
    assert "  note     claude    claude is not on PATH" in out
    assert "fix: npm install -g @anthropic-ai/claude-code" in out
    assert out.splitlines()[-1].startswith("The desktop app cannot start here")
    assert result.stderr == ""


def test_doctor_where_everything_works_and_a_backend_runs(tmp_path: Path) -> None:
    claude = tmp_path / "bin" / "claude"  # a stand-in for the real binary: its --version
    claude.parent.mkdir()
    claude.write_text("#!/bin/sh\necho '2.0.0 (Claude Code)'\n")
    claude.chmod(0o755)
    with running_server(tmp_path / "data") as server:
        assert server.proc is not None
        where = {"QT_QPA_PLATFORM": "offscreen", "SESSIONDOCK_CLAUDE_PATH": str(claude)}
        result = _doctor(tmp_path, "--data-dir", str(server.data_dir), **where)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "  ok       display   none needed (QT_QPA_PLATFORM=offscreen)" in out
    assert "  ok       Qt        PySide6 " in out and "platform offscreen loads" in out
    running = f"a backend runs in it: pid {server.proc.pid}, {server.url}"
    assert f"  ok       data dir  {server.data_dir} ({running})" in out
    assert f"  ok       claude    {claude} (2.0.0 (Claude Code))" in out
    assert out.splitlines()[-1] == "The desktop app can start here: sessiondock"
    assert "MISSING" not in out and "note" not in out


def test_doctor_names_a_data_dir_that_cannot_be_one(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    result = _doctor(tmp_path, "--data-dir", str(tmp_path / "a-file" / "data"),
                     QT_QPA_PLATFORM="offscreen")  # fmt: skip
    assert result.returncode == 1
    data_dir, file = tmp_path / "a-file" / "data", tmp_path / "a-file"
    assert f"  MISSING  data dir  {data_dir}: {file} is not a folder" in result.stdout
    assert "fix: give another with --data-dir" in result.stdout
