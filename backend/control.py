"""``sessiondock status`` and ``sessiondock stop``: a backend running in the background.

A backend says where it serves in its data dir's ``server.json`` (pid, URL, token; readable only
by its owner). A pid alone may have been reused since, so a backend counts as running only when
that process lives and its URL answers.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx

STOP_WAIT = 15.0  # seconds a stopping backend may take (its sessions are ended in order)
NOT_RUNNING = 3  # status's exit code when no backend runs (as an init script's status)


def running(data_dir: Path) -> dict[str, Any] | None:
    """The ``server.json`` of the backend serving ``data_dir``, if one runs and answers."""
    try:
        info: dict[str, Any] = json.loads((data_dir / "server.json").read_text(encoding="utf-8"))
        pid, url = int(info["pid"]), str(info["url"])
        os.kill(pid, 0)
        answer = httpx.get(f"{url}/api/health", timeout=5.0)
    except (OSError, ValueError, KeyError, TypeError, httpx.HTTPError):
        return None
    return info if answer.status_code == 200 else None


def _sessions_running(info: dict[str, Any]) -> int | None:
    token = info.get("token")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        answer = httpx.get(f"{info['url']}/api/sessions", headers=headers, timeout=5.0)
        sessions: list[dict[str, Any]] = answer.json()["sessions"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None
    return sum(1 for session in sessions if session.get("status") == "running")


def status(data_dir: Path) -> int:
    info = running(data_dir)
    if info is None:
        print(f"no backend runs in {data_dir}")
        return NOT_RUNNING
    count = _sessions_running(info)
    sessions = (
        "sessions unknown"
        if count is None
        else ("1 session running" if count == 1 else f"{count} sessions running")
    )
    print(f"running at {info['url']} (pid {info['pid']}) in {data_dir}: {sessions}")
    return 0


def stop(data_dir: Path, keep_sessions: bool = False) -> int:
    info = running(data_dir)
    if info is None:
        print(f"no backend runs in {data_dir}: nothing to stop")
        return 0
    pid = int(info["pid"])
    # A clean shutdown: its store closes, its sessions end (or, with SIGUSR2, run on in the
    # session host for the next backend).
    os.kill(pid, signal.SIGUSR2 if keep_sessions else signal.SIGTERM)
    deadline = time.monotonic() + STOP_WAIT
    while time.monotonic() < deadline:
        if not (data_dir / "server.json").exists() and not _alive(pid):
            kept = "; its sessions run on in the session host" if keep_sessions else ""
            print(f"stopped the backend at {info['url']} (pid {pid}){kept}")
            return 0
        time.sleep(0.05)
    print(f"the backend (pid {pid}) did not stop within {STOP_WAIT:g} s")
    return 1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie has exited: only its parent has yet to reap it.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def main(command: str, data_dir: Path, keep_sessions: bool = False) -> int:
    return status(data_dir) if command == "status" else stop(data_dir, keep_sessions)
