"""The terminal emulator on its own (vtengine/emulator.py): how fast it takes output, what a
snapshot costs, and how much memory an emulator with a full scrollback holds.

    python bench/bench_emulator.py [--seconds 1] [--emulators 20]

- feed: MB/s (10^6 bytes) of colored log lines, plain lines and full-screen redraws (a
  ``top``-like frame of 80x24 cells each time), fed in 64 KiB chunks as the terminal runtime
  reads them, with the scrollback bounded in lines and in bytes (libghostty reuses pages of
  history only on the byte bound's path, and allocates and frees them on the line bound's);
- snapshot: ``snapshot_vt()`` and ``state()`` of an 80x24 emulator with 10,000 lines of
  scrollback, primary screen and alternate screen (which copies the terminal first), in ms;
- memory: RSS growth per emulator, empty, after a screenful of output, and with a full
  scrollback (one is filled first, so that what the first costs once is in the baseline);
- import: ``import vtengine.emulator`` in a fresh interpreter (pyghostty parses its
  C declarations on import).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator

import psutil

from vtengine.emulator import DEFAULT_SCROLLBACK_LINES, Emulator

CHUNK = 65536
COLS, ROWS = 80, 24
# About as many rows of 80 columns as the default 10,000 lines, in libghostty's pages.
BYTES_BOUND = 8 << 20


def colored_lines(size: int) -> bytes:
    out, n = bytearray(), 0
    while len(out) < size:
        out += (
            b"\x1b[2m2026-05-01 12:%02d:%02d\x1b[0m \x1b[1;3%dmINFO\x1b[0m "
            b"worker-%d request %d took \x1b[33m%d ms\x1b[0m, status \x1b[32m200\x1b[0m\r\n"
            % (n // 60 % 60, n % 60, n % 7 + 1, n % 16, n, n % 997)
        )
        n += 1
    return bytes(out)


def redraws(size: int) -> bytes:
    out, frame = bytearray(), 0
    while len(out) < size:
        out += b"\x1b[H\x1b[1;7m  PID USER      %%CPU  frame %-56d\x1b[0m\r\n" % frame
        for row in range(1, ROWS):
            pid = (frame * 31 + row * 7) % 99991
            out += b"\x1b[%d;1H%5d user     \x1b[3%dm%5.1f\x1b[0m  %-58s\x1b[K" % (
                row + 1,
                pid,
                row % 7 + 1,
                (frame + row) % 1000 / 10,
                b"process-%d --flag=%d" % (row, frame),
            )
        frame += 1
    return bytes(out)


def chunks(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), CHUNK):
        yield data[start : start + CHUNK]


def feed_rate(data: bytes, seconds: float, bytes_bound: bool = False) -> float:
    """MB/s over repeated passes until ``seconds`` have gone, in a fresh emulator whose
    scrollback is bounded in lines (the default) or, with ``bytes_bound``, in bytes only."""
    emu = (
        Emulator(COLS, ROWS, scrollback_lines=1 << 40, scrollback_bytes=BYTES_BOUND)
        if bytes_bound
        else Emulator(COLS, ROWS)
    )
    fed, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for chunk in chunks(data):
            emu.feed(chunk)
        fed += len(data)
    emu.close()
    return fed / elapsed / 1e6


def full(emu: Emulator) -> Emulator:
    """``emu`` with its scrollback full of colored lines."""
    return fed(emu, list(chunks(colored_lines((DEFAULT_SCROLLBACK_LINES + 500) * 110))))


def timed_ms(fn: object, runs: int = 5) -> tuple[float, int]:
    times, size = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        size = len(fn())  # type: ignore[operator]
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), size


def snapshot_costs() -> None:
    emu = full(Emulator(COLS, ROWS))
    print(f"  scrollback rows held: {emu.scrollback_rows}")
    for label, fn in (
        ("snapshot_vt(), all 10,000 lines", emu.snapshot_vt),
        ("snapshot_vt(scrollback_lines=1000)", lambda: emu.snapshot_vt(1000)),
        ("snapshot_vt(scrollback_lines=0)", lambda: emu.snapshot_vt(0)),
        ("state() (binary)", emu.state),
        ("state() compressed (zlib, level 1)", lambda: zlib.compress(emu.state(), 1)),
        ("screen_text()", lambda: emu.screen_text().encode()),
        ("html()", lambda: emu.html().encode()),
    ):
        ms, size = timed_ms(fn)
        print(f"  {label:<40} {ms:7.2f} ms  {size / 1000:9.1f} kB")
    emu.feed(b"\x1b[?1049h\x1b[H\x1b[2J" + redraws(4000)[:4000])
    for label, fn in (
        ("alternate screen: snapshot_vt()", emu.snapshot_vt),
        ("alternate screen: state()", emu.state),
    ):
        ms, size = timed_ms(fn)
        print(f"  {label:<40} {ms:7.2f} ms  {size / 1000:9.1f} kB")
    state = emu.state()
    ms, _ = timed_ms(lambda: Emulator.restore(state).state())
    print(f"  {'restore(state) (and state() again)':<40} {ms:7.2f} ms")
    emu.close()


def rss_per(count: int, make: Callable[[], Emulator]) -> tuple[float, list[Emulator]]:
    """RSS growth over ``count`` emulators ``make()`` returns, per emulator, in MB."""
    gc.collect()
    before = psutil.Process().memory_info().rss
    made = [make() for _ in range(count)]
    return (psutil.Process().memory_info().rss - before) / count / 1e6, made


def fed(emu: Emulator, data: list[bytes]) -> Emulator:
    for chunk in data:
        emu.feed(chunk)
    return emu


def memory(count: int) -> None:
    # Run first, in a process that has not yet freed anything: freed memory reused makes RSS
    # deltas of small objects meaningless.
    kept: list[Emulator] = []
    screen = list(chunks(colored_lines(40 * 110)))
    history = list(chunks(colored_lines((DEFAULT_SCROLLBACK_LINES + 500) * 110)))
    fed(Emulator(COLS, ROWS), history)  # what the first one costs once
    for label, number, make in (
        ("empty", count * 10, lambda: Emulator(COLS, ROWS)),
        ("after a screenful of output", count * 10, lambda: fed(Emulator(COLS, ROWS), screen)),
        ("with a full 10,000-line scrollback", count, lambda: fed(Emulator(COLS, ROWS), history)),
    ):
        mb, made = rss_per(number, make)
        kept += made
        print(f"  80x24, {label + ':':<36} {mb * 1000:8.0f} kB")
    for emu in kept:
        emu.close()


def import_ms(runs: int = 3) -> float:
    code = "import time; t = time.perf_counter(); import vtengine.emulator; "
    code += "print((time.perf_counter() - t) * 1000)"
    times = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout)
        for _ in range(runs)
    ]
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="per feed measurement")
    parser.add_argument("--emulators", type=int, default=20, help="for the memory measurement")
    args = parser.parse_args()
    print(f"memory (RSS growth per emulator, over {args.emulators} or 10 times as many):")
    memory(args.emulators)
    print("feed (64 KiB chunks), scrollback bounded in lines (10,000) | in bytes (8 MiB):")
    for label, data in (
        ("colored lines", colored_lines(8_000_000)),
        ("plain lines", b"".join(b"plain log line %d, some words\r\n" % i for i in range(250_000))),
        ("full-screen redraws", redraws(8_000_000)),
    ):
        lines, nbytes = feed_rate(data, args.seconds), feed_rate(data, args.seconds, True)
        print(f"  {label:<22} {lines:7.1f} MB/s | {nbytes:7.1f} MB/s")
    print("snapshot of 80x24 with 10,000 lines of scrollback (median of 5):")
    snapshot_costs()
    print(f"import vtengine.emulator: {import_ms():.0f} ms (median of 3)")


if __name__ == "__main__":
    main()
