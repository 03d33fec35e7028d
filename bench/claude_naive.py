"""The naive yardstick for the Claude Code history benchmark, run as a child process.

    claude_naive.py list HOME    json.loads every line of every projects/*/*.jsonl, keeping none
                                 (what a listing that parsed whole files would cost)
    claude_naive.py open FILE    json.loads every line of one file, keeping them all in a list
                                 (what opening a session by loading its file would hold)

Prints one JSON line: the seconds taken, the files and lines read, and this process's peak RSS
(VmHWM, bytes).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def peak_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def main() -> int:
    mode, target = sys.argv[1], Path(sys.argv[2])
    started = time.perf_counter()
    lines = 0
    kept: list[object] = []
    if mode == "list":
        files = sorted(target.glob("projects/*/*.jsonl"))
        for path in files:
            with open(path, "rb") as handle:
                for line in handle:
                    json.loads(line)
                    lines += 1
    else:
        files = [target]
        with open(target, "rb") as handle:
            kept = [json.loads(line) for line in handle]
        lines = len(kept)
    seconds = time.perf_counter() - started
    result = {"seconds": seconds, "files": len(files), "lines": lines, "peakRss": peak_rss()}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
