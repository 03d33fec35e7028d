"""resources/web/vendor/ is what web-vendor/package-lock.json gives (scripts/vendor-web.sh copies
it from `npm ci`): the versions the lock pins, each file unchanged since the script wrote it, a
license beside every library, and nothing else. No network and no npm: the files only (the
script's ``--check`` compares against a fresh `npm ci`)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT / "resources" / "web" / "vendor"
PACKAGE = json.loads((ROOT / "web-vendor" / "package.json").read_text(encoding="utf-8"))
LOCK = json.loads((ROOT / "web-vendor" / "package-lock.json").read_text(encoding="utf-8"))


def sums() -> dict[str, str]:
    lines = (VENDOR / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
    return {name: digest for digest, name in (line.split("  ", 1) for line in lines)}


def test_the_vendored_versions_are_the_locked_ones() -> None:
    vendored = json.loads((VENDOR / "versions.json").read_text(encoding="utf-8"))
    locked = {
        path.removeprefix("node_modules/"): entry["version"]
        for path, entry in LOCK["packages"].items()
        if path.startswith("node_modules/")
    }
    assert vendored == locked
    # package.json pins exact versions, so `npm install` cannot move them by accident.
    assert PACKAGE["dependencies"] == locked
    assert PACKAGE["private"] is True


def test_the_vendored_files_are_unchanged_and_complete() -> None:
    on_disk = {
        str(path.relative_to(VENDOR)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in VENDOR.rglob("*")
        if path.is_file() and path.name != "SHA256SUMS"
    }
    assert on_disk == sums()
    for folder in (path for path in VENDOR.iterdir() if path.is_dir()):
        assert (folder / "LICENSE").is_file(), f"{folder.name} ships without its license"


def test_node_modules_is_not_tracked() -> None:
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "node_modules/" in ignored
