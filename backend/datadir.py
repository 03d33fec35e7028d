"""The data folder: private to its user, and used by one backend at a time.

The lock is an OS lock (``flock``) on the database file itself, taken before SQLite opens it:
deleting or renaming any other file cannot defeat it, and it goes with the process, however the
process ends. ``flock`` and SQLite's own (POSIX, ``fcntl``) locks do not see each other on Linux,
so the two never interfere; on NFS, where ``flock`` is emulated with POSIX locks, they would
(keep the data folder on a local disk, as SQLite asks anyway).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

# What earlier releases locked instead; removed once no backend holds it.
LEGACY_LOCK = "backend.lock"


class DataDirError(Exception):
    """The data folder cannot be used; the message says why, in one line."""


@contextlib.contextmanager
def owned(data_dir: Path, db_path: Path, server_file: Path) -> Iterator[None]:
    """Create the folder if need be, lock its database, and make both private."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Created private: SQLite gives its -wal and -shm files the database file's mode.
        fd = os.open(db_path, os.O_RDONLY | os.O_CREAT, 0o600)
    except OSError as exc:
        raise DataDirError(f"cannot use data dir {data_dir}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DataDirError(
                f"another SessionDock backend is using {data_dir} ({_holder(server_file)})"
            ) from None
        _retire_legacy_lock(data_dir)
        make_private(data_dir)
        yield
    finally:
        os.close(fd)  # and the lock goes with it


def _holder(server_file: Path) -> str:
    """Who holds the lock, as the server.json it writes once it serves says."""
    try:
        info = json.loads(server_file.read_text())
        return f"pid {int(info['pid'])}, {info['url']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "pid unknown: it has no server.json"


def _retire_legacy_lock(data_dir: Path) -> None:
    """An earlier release's backend may still run here (an upgrade while it serves): it holds
    backend.lock, and nothing else would stop us sharing the database with it."""
    path = data_dir / LEGACY_LOCK
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        path.unlink()
    except BlockingIOError:
        raise DataDirError(
            f"another SessionDock backend (an earlier release) is using {data_dir}"
        ) from None
    finally:
        os.close(fd)


def make_private(data_dir: Path) -> None:
    """Take every permission of group and others from the folder and what is in it: session
    output is in the database, and an earlier release (or a folder made by hand) may have left
    them readable. Only modes change: the process umask stays, as sessions inherit it."""
    changed = []
    for path in (data_dir, *data_dir.iterdir()):
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:  # gone meanwhile
            continue
        if stat.S_ISLNK(mode) or not mode & 0o077:
            continue
        private = stat.S_IMODE(mode) & 0o700
        try:
            os.chmod(path, private)
        except OSError as exc:
            log.warning("cannot make %s private: %s", path, exc.strerror or exc)
            continue
        changed.append(f"{path.name} {stat.S_IMODE(mode):o} → {private:o}")
    if changed:
        log.warning(
            "other users could read the data dir %s: made it private (%s)",
            data_dir,
            ", ".join(changed),
        )
