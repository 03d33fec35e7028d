"""``sessiondock doctor``: what this machine has for SessionDock, and what to install.

Checks, without starting Qt or a backend: the display and Qt's libraries (desktop/preflight.py),
the data dir (there or creatable, writable, a backend already running in it), and the Claude Code
binary that agent sessions run. Exit status 0 when the desktop app can start here, 1 when not
(``sessiondock serve`` and a browser may still work: the output says so).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from desktop.preflight import Check, check_display, check_qt
from desktop.supervisor import default_data_dir, running_backend

CLAUDE_INSTALL = "npm install -g @anthropic-ai/claude-code"


def check_data_dir(path: Path) -> Check:
    """The backend's data dir: usable by this user, and whether a backend runs in it."""
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is None or not existing.is_dir():
        return Check("data dir", False, f"{path}: {existing} is not a folder",
                     "give another with --data-dir")  # fmt: skip
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "not writable" if existing == path else f"cannot be made ({existing}: read-only)"
        return Check("data dir", False, f"{path}: {what}", "give another with --data-dir")
    if existing != path:
        return Check("data dir", True, f"{path} (made at first start)")
    return Check("data dir", True, f"{path} ({_backend_in(path)})")


def _backend_in(path: Path) -> str:
    info = asyncio.run(running_backend(path))
    if info is None:
        return "no backend running"
    return f"a backend runs in it: pid {info['pid']}, {info['url']}"


def check_claude(env: Mapping[str, str]) -> Check:
    """The ``claude`` binary agent sessions run (optional: shells and commands need none)."""
    given = env.get("SESSIONDOCK_CLAUDE_PATH")
    path = shutil.which(given or "claude", path=env.get("PATH"))
    if path is None:
        where = f"SESSIONDOCK_CLAUDE_PATH={given}" if given else "claude is not on PATH"
        return Check("claude", False, f"{where}: Claude sessions cannot start (shells can)",
                     CLAUDE_INSTALL)  # fmt: skip
    version = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=10,
            stdin=subprocess.DEVNULL, env=dict(env),
        )  # fmt: skip
        version = done.stdout.strip().splitlines()[0] if done.stdout.strip() else ""
    return Check("claude", True, f"{path}" + (f" ({version})" if version else ""))


def run_checks(data_dir: Path, env: Mapping[str, str]) -> tuple[list[Check], bool]:
    """Every check, and whether the desktop app can start (claude is optional)."""
    checks = [check_display(env), check_qt(env), check_data_dir(data_dir), check_claude(env)]
    return checks, all(c.ok for c in checks if c.name != "claude")


def report(checks: list[Check], app_ok: bool) -> str:
    lines = ["SessionDock doctor: what this machine has"]
    for check in checks:
        mark = "ok" if check.ok else ("note" if check.name == "claude" else "MISSING")
        lines.append(f"  {mark:<8} {check.name:<9} {check.found}")
        if check.fix and not check.ok:
            lines.append(f"  {'':<8} {'':<9} fix: {check.fix}")
    if app_ok:
        lines.append("The desktop app can start here: sessiondock")
    else:
        lines.append(
            "The desktop app cannot start here until what is MISSING is fixed; "
            "`sessiondock serve` runs the backend for a browser."
        )
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="sessiondock doctor", description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, help="the backend's data dir to check")
    args = parser.parse_args(argv)
    data_dir = (args.data_dir or default_data_dir()).expanduser().absolute()
    checks, app_ok = run_checks(data_dir, os.environ)
    print(report(checks, app_ok))
    sys.stdout.flush()
    return 0 if app_ok else 1
