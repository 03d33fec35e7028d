"""The folder a request names, checked: its real path, or a sentence that says what is wrong."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from backend.errors import (
    DomainError,
    FolderNotFound,
    FolderNotPermitted,
    InvalidInput,
    NotAFolder,
    PathTooLong,
)


def resolve_directory(path: str) -> str:
    """An existing folder's absolute real path that the server may enter; otherwise a 400 that
    says which: gone, not a folder, not permitted, or too long."""
    try:
        expanded = Path(path).expanduser()
    except RuntimeError:  # "~" with no home to expand
        raise FolderNotFound(f"no home folder to expand in {path!r}") from None
    if not expanded.is_absolute():  # "~nobody/x" stays as it was: no such user
        raise FolderNotFound(f"no such user's home folder: {path!r}")
    try:
        mode = os.stat(expanded).st_mode
    except OSError as exc:
        raise _error(path, exc) from None
    if not stat.S_ISDIR(mode):
        raise NotAFolder(f"not a folder: {path!r} is a file")
    # Sessions run in it: a folder that can be seen but not entered fails them all later.
    if not os.access(expanded, os.X_OK):
        raise FolderNotPermitted(f"permission denied: the server may not enter {path!r}")
    return str(expanded.resolve())


def _error(path: str, exc: OSError) -> DomainError:
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return FolderNotFound(f"no such folder: {path!r}")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return FolderNotPermitted(
            f"permission denied: the server may not enter a folder on the way to {path!r}"
        )
    if exc.errno == errno.ENAMETOOLONG:
        return _too_long(path)
    if exc.errno == errno.ELOOP:
        return FolderNotFound(f"no such folder: {path!r} has a loop of symbolic links")
    return InvalidInput(f"cannot use {path!r}: {exc.strerror}")


def _too_long(path: str) -> PathTooLong:
    name_max = os.pathconf("/", "PC_NAME_MAX")
    longest = max((len(os.fsencode(part)) for part in Path(path).parts), default=0)
    if longest > name_max:
        return PathTooLong(
            f"path too long: a folder name in it has {longest} bytes, the system allows {name_max}"
        )
    path_max = os.pathconf("/", "PC_PATH_MAX")
    return PathTooLong(
        f"path too long: it has {len(os.fsencode(path))} bytes, the system allows {path_max - 1}"
    )
