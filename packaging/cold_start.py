"""Time the bundle's desktop app from launch to a usable backend, measured from outside.

    .venv/bin/python packaging/cold_start.py [--runs 6] [--drop-caches] [EXE]

Each run starts ``dist/sessiondock/sessiondock`` offscreen (``QT_QPA_PLATFORM=offscreen``) with a
fresh data dir and home, and stops the clock when the backend the app started has written
``server.json`` and answers ``/api/projects`` with its token: the proxy for "the window is up and
can show projects" (the app shows its window before it starts the backend). Then it sends the
app SIGTERM and waits for it to exit. Prints every run, the first, and the median of the others.
``--drop-caches`` (root, Linux) empties the page cache before the first run, for a truly cold
first start; it slows every other program on the machine for a moment.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
POLL = 0.005


def ready(data_dir: Path) -> bool:
    try:
        info = json.loads((data_dir / "server.json").read_text())
        response = httpx.get(
            f"{info['url']}/api/projects",
            headers={"Authorization": f"Bearer {info['token']}"},
            timeout=2.0,
        )
    except (OSError, ValueError, KeyError, httpx.HTTPError):
        return False
    return response.status_code == 200


def one_run(exe: Path, timeout: float = 60.0) -> float:
    with tempfile.TemporaryDirectory(prefix="sessiondock-start-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        data_dir = Path(tmp) / "data"
        env = {
            **os.environ,
            "QT_QPA_PLATFORM": "offscreen",
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
        }
        started = time.perf_counter()
        proc = subprocess.Popen(
            [str(exe), "--data-dir", str(data_dir)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=env,
        )  # fmt: skip
        try:
            while not ready(data_dir):
                if proc.poll() is not None:
                    raise SystemExit(f"the app exited with {proc.returncode} before it was ready")
                if time.perf_counter() - started > timeout:
                    raise SystemExit(f"the app was not ready within {timeout:g} s")
                time.sleep(POLL)
            elapsed = time.perf_counter() - started
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(15)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("exe", nargs="?", type=Path, default=ROOT / "dist/sessiondock/sessiondock")
    parser.add_argument("--runs", type=int, default=6, help="the first run, then the rest")
    parser.add_argument("--drop-caches", action="store_true", help="a cold page cache first")
    args = parser.parse_args()
    if args.drop_caches:
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    times = [one_run(args.exe) for _ in range(args.runs)]
    for number, seconds in enumerate(times, 1):
        print(f"run {number}: {seconds:.3f} s")
    rest = times[1:]
    print(f"first: {times[0]:.3f} s" + (" (page cache dropped)" if args.drop_caches else ""))
    if rest:
        print(f"median of the next {len(rest)}: {statistics.median(rest):.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
