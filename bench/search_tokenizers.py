"""FTS5 alone, no SessionDock code: how fast each kind of index is built, and its size.

    .venv/bin/python -m bench.search_tokenizers [--mb 20] [--repeats 3]

The log lines bench/search.py prints (its ``GENERATOR``: a vocabulary, ids and paths), in rows
of about 2,000 characters as the index holds them, inserted into a fresh FTS5 table in a file
(WAL, synchronous=NORMAL, a commit every 1 MB of text, as the writer's steps do), one kind of
table after another, ``--repeats`` rounds alternated; the median MB/s of text and the file's
size. What docs/architecture.md ("Search") chose from.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent))

from search import GENERATOR

MB = 1024 * 1024
KINDS = {
    "trigram, positions (detail=full)": ("tokenize='trigram'", None),
    "trigram, positions, 32 MiB buffer": ("tokenize='trigram'", 32 * MB),
    "trigram, no positions (detail=none)": ("tokenize='trigram', detail=none", None),
    "trigram, no positions, 32 MiB buffer (ours)": ("tokenize='trigram', detail=none", 32 * MB),
    "unicode61 (words only)": ("", None),
}


def rows(size: int) -> list[str]:
    """About ``size`` bytes of ``GENERATOR``'s log lines, joined into rows of about 2,000
    characters."""
    printed = subprocess.run(
        [sys.executable, "-c", GENERATOR, str(size), "1"], capture_output=True, check=True
    ).stdout.decode()
    out: list[str] = []
    row: list[str] = []
    count = 0
    for line in printed.splitlines():
        row.append(line)
        count += len(line) + 1
        if count >= 2000:
            out.append("\n".join(row))
            row, count = [], 0
    return out + (["\n".join(row)] if row else [])


def build(path: Path, options: str, hashsize: int | None, texts: list[str]) -> float:
    """Seconds to index ``texts`` into a new table at ``path``."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"CREATE VIRTUAL TABLE t USING fts5(text{', ' if options else ''}{options})")
        if hashsize:
            conn.execute("INSERT INTO t (t, rank) VALUES ('hashsize', ?)", (hashsize,))
        began = time.perf_counter()
        conn.execute("BEGIN")
        pending = 0
        for rowid, text in enumerate(texts, 1):
            conn.execute("INSERT INTO t (rowid, text) VALUES (?, ?)", (rowid, text))
            pending += len(text)
            if pending >= MB:
                conn.execute("COMMIT")
                conn.execute("BEGIN")
                pending = 0
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return time.perf_counter() - began
    finally:
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    texts = rows(args.mb * MB)
    size = sum(len(t) for t in texts)
    times: dict[str, list[float]] = {name: [] for name in KINDS}
    sizes: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="sessiondock-fts5-") as tmp:
        path = Path(tmp) / "index.sqlite3"
        for _ in range(args.repeats):
            for name, (options, hashsize) in KINDS.items():
                times[name].append(build(path, options, hashsize, texts))
                sizes[name] = os.path.getsize(path)
    print(
        f"{size / MB:.1f} MB of log lines in {len(texts):,} rows; SQLite {sqlite3.sqlite_version}"
    )
    print(f"{'index':<46} {'MB/s (median)':>14} {'runs':>20} {'size MB':>8} {'x text':>7}")
    for name, values in times.items():
        rates = [size / MB / t for t in values]
        runs = ", ".join(f"{r:.1f}" for r in rates)
        print(f"{name:<46} {statistics.median(rates):>14.1f} {runs:>20} "
              f"{sizes[name] / MB:>8.0f} {sizes[name] / size:>7.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
