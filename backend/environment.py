"""The environment a session's processes get: the user's own, not the server's or the bundle's.

A frozen bundle (pyinstaller) points LD_LIBRARY_PATH and friends at its own libraries, and an app
started from a desktop menu has the desktop's short PATH, not the one the user's shell sets up.
Programs a session starts must see neither, or they load the wrong libraries or find no tools.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)

# Never handed to a session: the API token is the server's secret.
PRIVATE = frozenset({"SESSIONDOCK_TOKEN"})
# Library search paths a bundle's bootloader sets, saving the user's value as NAME_ORIG.
LIBRARY_PATHS = ("LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH", "DYLD_FRAMEWORK_PATH", "LIBPATH")
_MARK = "__SESSIONDOCK_PATH__"


def default_shell() -> str:
    shell = os.environ.get("SHELL")
    if shell and os.access(shell, os.X_OK):
        return shell
    return shutil.which("bash") or "/bin/sh"


def bundle_dir() -> str | None:
    """The folder of the running bundle, or None when not frozen."""
    if not getattr(sys, "frozen", False):
        return None
    return str(getattr(sys, "_MEIPASS", Path(sys.executable).parent))


def session_environment(
    env: Mapping[str, str], *, bundle: str | None, login_path: str | None
) -> dict[str, str]:
    """``env`` made fit for a session: secrets out, the bundle's changes undone, and PATH the
    user's login PATH when one is known."""
    result = {
        key: value
        for key, value in env.items()
        if key not in PRIVATE and not key.startswith("_PYI_") and key != "_MEIPASS2"
    }
    if bundle:
        for name in LIBRARY_PATHS:
            original = result.pop(f"{name}_ORIG", None)
            if original is not None:
                result[name] = original
            else:
                result.pop(name, None)
        # Whatever else still points into the bundle (plugin paths, PATH entries) goes too.
        for key, value in list(result.items()):
            if bundle not in value:
                continue
            kept = [part for part in value.split(os.pathsep) if not part.startswith(bundle)]
            if kept:
                result[key] = os.pathsep.join(kept)
            else:
                del result[key]
    if login_path:
        result["PATH"] = login_path
    return result


async def read_login_path(shell: str, env: Mapping[str, str], limit: float = 5.0) -> str | None:
    """The PATH the user's shell sets up for an interactive login (as a terminal would).

    Markers around the value keep whatever the shell's startup files print out of it."""
    command = f'printf "{_MARK}%s{_MARK}" "$PATH"'
    try:
        proc = await asyncio.create_subprocess_exec(
            shell, "-i", "-l", "-c", command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=dict(env),
            start_new_session=True,  # no terminal to take over, no signals from ours
        )  # fmt: skip
    except OSError as exc:
        log.warning("could not ask %s for the login PATH: %s", shell, exc)
        return None
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), limit)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        log.warning("%s took over %.0f s to report its login PATH", shell, limit)
        return None
    parts = out.decode(errors="replace").split(_MARK)
    path = parts[1] if len(parts) >= 3 else ""
    return path or None
