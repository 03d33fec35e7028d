"""The session's process in every benchmark: prints timestamped lines at a set rate, or blasts.

Paced mode writes ``--rate`` lines a second for ``--duration`` seconds, each line

    @ 00000001234567890123 0000000042 xxxx...\\n     (``!`` instead of the space: a sampled line)

that is one ``@`` per line (clients count lines by counting ``@``) and the CLOCK_MONOTONIC time of
the write in nanoseconds (the clock every process on the machine shares). Only every ``--sample``-th
line carries the ``!`` that clients look for, so they parse few timestamps however fast lines come.

Blast mode writes ``--blast`` bytes of 76-character lines as fast as the reader takes them, or
with ``--colored`` lines of ``--size`` bytes that colour a time, a level and a few numbers with SGR
sequences, as a logging program does (the terminal emulator's work, not only the transport's).
``--mark`` prints a last line (a client can look for it on the screen) and
``--hold`` keeps the process running that many seconds after its output, so its session stays live.

Both wait for the ``--go`` file first, so clients can connect before the first line.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

TICK = 0.001
# After a stall (the reader fell behind) catch up by at most this many seconds' worth of lines
# per tick, so the offered rate stays the set rate instead of turning into one huge burst.
MAX_CATCH_UP = 0.02
GO_POLL = 0.002


def wait_for(path: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return True
        time.sleep(GO_POLL)
    return False


def write_all(data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(1, view) :]


def line_format(size: int) -> str:
    # "@" marker, "!" or " ", 20-digit time, " ", 10-digit seq, " ", padding, "\n"
    padding = max(0, size - 35)
    return "@{}{:020d} {:010d} " + "x" * padding + "\n"


def paced(rate: float, duration: float, size: int, sample: int) -> int:
    fmt = line_format(size)
    max_burst = max(1, int(rate * MAX_CATCH_UP))
    start = time.monotonic_ns()
    end = start + int(duration * 1e9)
    sent = 0
    next_tick = time.monotonic()
    while True:
        now = time.monotonic_ns()
        if now >= end:
            break
        due = min(int((now - start) * rate / 1e9) - sent, max_burst)
        if due > 0:
            lines = [
                fmt.format("!" if seq % sample == 0 else " ", now, seq)
                for seq in range(sent, sent + due)
            ]
            write_all("".join(lines).encode())
            sent += due
        next_tick += TICK
        delay = next_tick - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            next_tick = time.monotonic()
    return sent


def colored_block(size: int) -> bytes:
    """About 64 KiB of coloured log lines of ``size`` bytes each (at least 100): 28 bytes of SGR
    sequences and a newline, ``size - 29`` characters on the screen."""
    out = bytearray()
    n = 0
    while len(out) + size <= 65536:
        line = (
            b"\x1b[2m2026-05-01 12:%02d:%02d\x1b[0m \x1b[1;3%dmINFO\x1b[0m worker-%02d request "
            b"%06d took \x1b[33m%3d ms\x1b[0m "
            % (n // 60 % 60, n % 60, n % 7 + 1, n % 16, n, n % 997)
        )
        out += line + b"x" * max(0, size - len(line) - 1) + b"\n"
        n += 1
    return bytes(out)


def blast(total: int, block: bytes) -> None:
    left = total
    while left > 0:
        chunk = block[:left]
        write_all(chunk)
        left -= len(chunk)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--go", required=True, help="start once this file exists")
    parser.add_argument("--go-timeout", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=1000.0, help="lines per second")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of output")
    parser.add_argument("--size", type=int, default=100, help="bytes per line")
    parser.add_argument("--sample", type=int, default=1, help="mark every N-th line's time")
    parser.add_argument("--blast", type=int, default=0, help="write this many bytes, fast")
    parser.add_argument("--colored", action="store_true", help="blast coloured --size lines")
    parser.add_argument("--mark", default="", help="then print this line (output is done)")
    parser.add_argument("--hold", type=float, default=0.0, help="then sleep this many seconds")
    parser.add_argument("--cpu", type=int, help="pin this process to one CPU")
    args = parser.parse_args()
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    if not wait_for(args.go, args.go_timeout):
        print("generator: no go file", file=sys.stderr)
        return 3
    try:
        if args.blast:
            plain = (("A" * 75 + "\n") * 862).encode()  # 65,512 bytes
            blast(args.blast, colored_block(max(100, args.size)) if args.colored else plain)
        else:
            paced(args.rate, args.duration, args.size, max(1, args.sample))
        if args.mark:
            write_all(f"{args.mark}\n".encode())
    except BrokenPipeError:
        return 1
    time.sleep(args.hold)
    return 0


if __name__ == "__main__":
    sys.exit(main())
