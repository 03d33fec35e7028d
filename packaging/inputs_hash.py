"""Print a hash of everything a bundle is built from, so a build can be reused honestly.

``packaging/build.sh`` writes it next to the bundle after a successful build
(``dist/sessiondock.inputs``); the packaging tests rebuild only when it differs. It covers the
sources and resources, the build files, the Python version and every installed distribution's
version (PySide6, PyInstaller, aiohttp...), so a change to any of them means a new build.
"""

from __future__ import annotations

import hashlib
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREES = ("backend", "desktop", "vtengine", "resources")
FILES = (
    "pyproject.toml",
    "packaging/sessiondock.spec",
    "packaging/build.sh",
    "packaging/inputs_hash.py",
    "requirements/lock.txt",
)


def _files() -> list[Path]:
    found = [ROOT / name for name in FILES]
    for tree in TREES:
        found += (
            path
            for path in (ROOT / tree).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
        )
    return sorted(found)


def inputs_hash() -> str:
    digest = hashlib.sha256()
    digest.update(f"python {sys.version}\n".encode())
    distributions = sorted(
        f"{dist.metadata['Name']}=={dist.version}" for dist in metadata.distributions()
    )
    digest.update("\n".join(distributions).encode())
    for path in _files():
        digest.update(f"\0{path.relative_to(ROOT).as_posix()}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


if __name__ == "__main__":
    print(inputs_hash())
