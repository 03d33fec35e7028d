"""Where the bundled files (web UI, icons) are: a source tree, an installed wheel or a bundle."""

from __future__ import annotations

import sys
from pathlib import Path


def resources_dir() -> Path:
    here = Path(__file__).resolve().parent
    candidates = [
        Path(getattr(sys, "_MEIPASS", here)) / "resources",  # a pyinstaller bundle
        here / "_resources",  # an installed wheel
        here.parent / "resources",  # a source checkout or an editable install
    ]
    for candidate in candidates:
        if (candidate / "web").is_dir():
            return candidate
    raise FileNotFoundError("SessionDock's resources folder is missing from this installation")


def web_dir() -> Path:
    return resources_dir() / "web"
