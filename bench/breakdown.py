"""Where a line's time goes, stage by stage (issue 17), from the backend's own trace.

    .venv/bin/python -m bench.breakdown [--scenario 10x1000 1000x100] [--window 3]

Each scenario is a fan-out run (``fanout.py``: the generator on pipes, N clients, pinned as in
``run.py``) with the backend started under ``SESSIONDOCK_TRACE`` (``backend/trace.py``): for
each sampled line it notes when the line was read, handed on by the coalescer, taken into the
writer's transaction, committed, back on the loop, offered to every client, and written to
each client (by the bus straight to its socket, or by its stream's writer), and the
garbage collector's pauses. Printed per stage: p50 and p99 in ms over the lines of the window
(every client's write counted for the last two); beside them, the clients' own end-to-end p50
and p99 (written by the generator -> read by the client): what the server does not account for
is the socket and the client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.append(str(Path(__file__).resolve().parent))

from fanout import run_fanout
from harness import SESSIONDOCK, Cpus, percentile, save_results

SCENARIOS = {"10x1000": (10, 1000.0), "100x1000": (100, 1000.0), "1000x100": (1000, 100.0)}
# (stage name, from, to): consecutive marks of backend/trace.py.
STAGES = [
    ("pipe and read wakeup", "written", "read"),
    ("coalescing window", "read", "emitted"),
    ("encode, queue to the writer", "emitted", "batched"),
    ("commit", "batched", "committed"),
    ("back to the loop", "committed", "loop"),
    ("publish to every client", "loop", "published"),
]


def stages(lines: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}

    def add(name: str, values: list[int]) -> None:
        values.sort()
        if values:
            out[name] = {
                "p50": percentile(values, 0.5) / 1e6,
                "p99": percentile(values, 0.99) / 1e6,
                "n": len(values),
            }

    for name, start, end in STAGES:
        add(name, [line[end] - line[start] for line in lines if start in line and end in line])
    add(
        "on the loop -> this client's write returned",
        [done - line["loop"] for line in lines if "loop" in line
         for _, done in line.get("writes", [])],
    )  # fmt: skip
    add(
        "server total (written -> a client's write returned)",
        [done - line["written"] for line in lines for _, done in line.get("writes", [])],
    )
    return out


async def scenario(
    name: str, window: float, tmp: Path, cpus: Cpus, server_args: list[str]
) -> dict[str, Any]:
    clients, rate = SCENARIOS[name]
    trace = tmp / f"trace-{name}.jsonl"
    os.environ["SESSIONDOCK_TRACE"] = str(trace)
    try:
        run = await run_fanout(SESSIONDOCK, clients, rate, workdir=tmp / name, cpus=cpus,
                               warmup=1.0, window=window, server_args=server_args)  # fmt: skip
    finally:
        del os.environ["SESSIONDOCK_TRACE"]
    found = [json.loads(text) for text in trace.read_text().splitlines()]
    lines = [line for line in found if "gc" not in line]
    first = min(line["written"] for line in lines)
    pauses = sorted((line["end"] - line["start"]) / 1e6 for line in found
                    if "gc" in line and line["start"] >= first)  # fmt: skip
    # The window's lines: after the warm-up, before the generator's tail.
    lines = [line for line in lines
             if first + 1e9 <= line["written"] <= first + (1 + window) * 1e9]  # fmt: skip
    return {
        "clients": clients,
        "rate": rate,
        "client_p50_ms": run.p50_ms,
        "client_p99_ms": run.p99_ms,
        "deliveries_per_s": run.deliveries_per_s,
        "events_per_s": run.events_per_s,
        "server_cpu": run.cpu.get("server"),
        "lines_traced": len(lines),
        "gc_pauses_ms": {"count": len(pauses), "longest": pauses[-3:]},
        "stages": stages(lines),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", nargs="+", default=["10x1000", "1000x100"],
                        choices=sorted(SCENARIOS))  # fmt: skip
    parser.add_argument("--window", type=float, default=3.0)
    parser.add_argument("--server-args", default="", help="more options for the backend")
    args = parser.parse_args()
    cpus = Cpus.choose(True)
    cpus.pin_self()
    record: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="sessiondock-breakdown-") as name:
        for key in args.scenario:
            run = scenario(key, args.window, Path(name), cpus, args.server_args.split())
            result = record[key] = asyncio.run(run)
            print(f"\n{key} (clients x lines/s): {result['lines_traced']:,} lines traced; "
                  f"clients read p50 {result['client_p50_ms']:.2f} ms, "
                  f"p99 {result['client_p99_ms']:.2f} ms; server CPU "
                  f"{result['server_cpu']:.2f} cores; {result['events_per_s']:,.0f} event "
                  "deliveries/s")  # fmt: skip
            longest = ", ".join(f"{p:.1f}" for p in result["gc_pauses_ms"]["longest"])
            print(f"  garbage collections: {result['gc_pauses_ms']['count']}, longest {longest} ms")
            print(f"  {'stage':<52} {'p50 ms':>8} {'p99 ms':>8} {'samples':>9}")
            for stage, figures in result["stages"].items():
                print(f"  {stage:<52} {figures['p50']:>8.3f} {figures['p99']:>8.3f}"
                      f" {figures['n']:>9,}")  # fmt: skip
    out = save_results("breakdown", record)
    print("\nraw:", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
