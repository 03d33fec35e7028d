"""The pyinstaller bundle, built once per test run (or reused when built from the same inputs).

``packaging/build.sh`` writes ``dist/sessiondock.inputs``, the hash of everything the bundle
was made from (sources, resources, build files, installed package versions); a bundle whose
stamp matches the current inputs is used as it is, anything else is rebuilt.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.packaging.frozen import EXE, ROOT, STAMP

BUILD_TIMEOUT = 240.0


def _inputs_hash() -> str:
    out = subprocess.run(
        [sys.executable, str(ROOT / "packaging" / "inputs_hash.py")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stdout.strip()


def _pyinstaller_installable() -> str | None:
    """None when PyInstaller is there or could be installed; else why not."""
    probe = subprocess.run([sys.executable, "-c", "import PyInstaller"], capture_output=True)
    if probe.returncode == 0:
        return None
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--require-hashes",
         "--only-binary=:all:", "-r", str(ROOT / "requirements" / "lock.txt")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if install.returncode != 0:
        last = (install.stderr.strip().splitlines() or ["pip failed"])[-1]
        return f"pyinstaller is not installed and pip cannot install it: {last}"
    return None


@pytest.fixture(scope="session")
def bundle() -> Path:
    """The bundle's executable, built by the one build command if its inputs changed."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the bundle tests run on Linux (see docs/packaging.md for other systems)")
    if EXE.is_file() and STAMP.is_file() and STAMP.read_text().strip() == _inputs_hash():
        return EXE
    reason = _pyinstaller_installable()
    if reason is not None:
        pytest.skip(reason)
    build = subprocess.run(
        ["bash", str(ROOT / "packaging" / "build.sh")],
        cwd=ROOT, capture_output=True, text=True, timeout=BUILD_TIMEOUT,
        env={**os.environ, "PYTHON": sys.executable},
    )  # fmt: skip
    if build.returncode != 0:
        pytest.fail(f"packaging/build.sh failed:\n{build.stdout[-3000:]}\n{build.stderr[-3000:]}")
    return EXE
