"""The benchmark's report: the machine, tables of medians, the targets, and the JSON record."""

from __future__ import annotations

import contextlib
import datetime
import importlib.metadata
import math
import os
import platform
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fanout import FanoutRun
from harness import BASELINE, ROOT, SESSIONDOCK, Cpus, median
from plan import (
    LATENCY_LOAD,
    MAX_IDLE_KB,
    MAX_P99_MS,
    MAX_REPLAY_MS,
    MIN_DELIVERIES,
    MIN_RATIO,
    Results,
)


def machine(cpus: Cpus) -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
            timeout=5, check=False,
        ).stdout.strip()  # fmt: skip
    except OSError:
        commit = ""
    return {
        "nproc": os.cpu_count(),
        "cpuModel": model,
        "serverCpu": cpus.server,
        "clientCpu": cpus.client,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "aiohttp": importlib.metadata.version("aiohttp"),
        "aiohttpSse": importlib.metadata.version("aiohttp-sse"),
        "sqlite": sqlite3.sqlite_version,
        "commit": commit,
        "loadAverage": os.getloadavg(),
        "startedAt": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def runs_of(runs: list[FanoutRun], kind: str, clients: int) -> list[FanoutRun]:
    return [r for r in runs if r.server == kind and r.clients == clients]


def med(runs: list[FanoutRun], get: Callable[[FanoutRun], float]) -> float:
    return median([get(r) for r in runs])


def ratios(results: Results, clients: int) -> list[float]:
    """Ours over the baseline, run by run (the n-th run of each, measured back to back)."""
    ours = runs_of(results.fanout, SESSIONDOCK, clients)
    theirs = runs_of(results.fanout, BASELINE, clients)
    return [a.deliveries_per_s / b.deliveries_per_s for a, b in zip(ours, theirs, strict=False)]


def fmt(value: float, spec: str = ",.0f") -> str:
    return "-" if math.isnan(value) else format(value, spec)


def table(header: list[str], rows: list[list[str]]) -> str:
    """Plain text columns: the first column left-aligned, numbers right-aligned."""
    widths = [max(len(c) for c in col) for col in zip(header, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        first, *rest = zip(cells, widths, strict=True)
        return "  ".join([first[0].ljust(first[1]), *(c.rjust(w) for c, w in rest)]).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def fanout_rows(runs: list[FanoutRun], with_ratio: Results | None) -> list[list[str]]:
    rows = []
    keys = sorted({(r.clients, r.server != SESSIONDOCK, r.server) for r in runs})
    for clients, _, kind in keys:
        group = runs_of(runs, kind, clients)
        ratio = ""
        if with_ratio is not None and kind == SESSIONDOCK:
            ratio = fmt(median(ratios(with_ratio, clients)), ".1f") + "x"
        rows.append(
            [
                kind,
                str(clients),
                fmt(group[0].rate),
                fmt(med(group, lambda r: r.deliveries_per_s)),
                fmt(100 * med(group, lambda r: r.deliveries_per_s / r.offered), ".0f") + "%",
                fmt(med(group, lambda r: r.events_per_s)),
                fmt(med(group, lambda r: r.p50_ms), ".2f"),
                fmt(med(group, lambda r: r.p99_ms), ".2f"),
                fmt(med(group, lambda r: r.cpu["server"]), ".2f"),
                fmt(med(group, lambda r: r.cpu["clients"] + r.cpu["generator"]), ".2f"),
                fmt(med(group, lambda r: r.cpu["softirq"]), ".2f"),
                fmt(med(group, lambda r: r.cpu["other"]), ".2f"),
                str(sum(max(r.lost, r.slow_dropped) for r in group)),
                str(len(group)),
                *([ratio] if with_ratio is not None else []),
            ]
        )
    return rows


FANOUT_HEADER = [
    "server", "clients", "lines/s", "deliveries/s", "of offered", "events/s", "p50 ms", "p99 ms",
    "srv CPU", "cli+gen CPU", "softirq", "other", "dropped", "runs",
]  # fmt: skip


def targets(results: Results) -> list[tuple[str, str, bool | None]]:
    rows: list[tuple[str, str, bool | None]] = []
    plan = results.plan
    for clients in plan.fanout_clients:
        ours = runs_of(results.fanout, SESSIONDOCK, clients)
        value = med(ours, lambda r: r.deliveries_per_s)
        rows.append(
            (
                f">= {MIN_DELIVERIES:,} deliveries/s, {clients} clients",
                fmt(value),
                None if math.isnan(value) else value >= MIN_DELIVERIES,
            )
        )
    for clients in plan.fanout_clients:
        value = median(ratios(results, clients))
        rows.append(
            (
                f">= {MIN_RATIO}x aiohttp-sse deliveries/s, {clients} clients",
                fmt(value, ".1f") + "x",
                None if math.isnan(value) else value >= MIN_RATIO,
            )
        )
    for clients in plan.latency_clients:
        group = runs_of(results.latency, SESSIONDOCK, clients)
        value = med(group, lambda r: r.p99_ms)
        rows.append(
            (
                f"p99 <= {MAX_P99_MS:g} ms at {LATENCY_LOAD:,}/s ({clients} clients)",
                fmt(value, ".2f") + " ms",
                None if math.isnan(value) else value <= MAX_P99_MS,
            )
        )
    if results.replay is not None:
        value = results.replay.median_ms
        ok = value <= MAX_REPLAY_MS and results.replay.received == results.replay.events
        rows.append(
            (
                f"{results.replay.events:,}-event replay <= {MAX_REPLAY_MS:g} ms",
                fmt(value, ".1f") + " ms",
                ok,
            )
        )
    ours_memory = [m.bytes_per_stream / 1000 for m in results.memory if m.server == SESSIONDOCK]
    if ours_memory:
        value = median(ours_memory)
        rows.append(
            (
                f"<= {MAX_IDLE_KB:g} KB per idle stream",
                fmt(value, ".1f") + " KB",
                value <= MAX_IDLE_KB,
            )
        )
    return rows


def report(results: Results) -> str:
    plan = results.plan
    m = results.machine
    out = [
        f"SessionDock benchmark ({plan.name} run), {m['nproc']} CPUs ({m['cpuModel']}), "
        f"Python {m['python']}, aiohttp {m['aiohttp']}, aiohttp-sse {m['aiohttpSse']}, "
        f"SQLite {m['sqlite']}, commit {m['commit'] or '?'}",
        f"server pinned to CPU {m['serverCpu']}; clients, generator and harness to CPU "
        f"{m['clientCpu']}. CPU columns are cores used on average (1.00 = one core busy).",
        "",
    ]
    if results.fanout:
        out += [
            f"1. Fan-out at an offered {plan.offered:,.0f} deliveries/s (clients x lines/s; "
            "a delivery is one 100-byte line reaching one client), median of "
            f"{plan.repeats} x {plan.window:g} s; ratio = ours / aiohttp-sse, run by run",
            table([*FANOUT_HEADER, "ratio"], fanout_rows(results.fanout, results)),
            "",
        ]
    if results.headroom:
        out += [
            f"1b. Headroom: SessionDock alone at an offered {plan.headroom_offered:,.0f} "
            "deliveries/s, one run each",
            table(FANOUT_HEADER, fanout_rows(results.headroom, None)),
            "",
        ]
    if results.latency:
        out += [
            f"2. Latency at {LATENCY_LOAD:,} deliveries/s (process write -> client read)",
            table(FANOUT_HEADER, fanout_rows(results.latency, None)),
            "",
        ]
    if results.replay is not None:
        r = results.replay
        out += [
            f"3. Replay of {r.events:,} stored events with ?lastEventId= (connect -> last id): "
            f"median {r.median_ms:.1f} ms over {len(r.times_ms)} connections "
            f"(first {r.times_ms[0]:.1f} ms, max {max(r.times_ms):.1f} ms); "
            f"{r.received:,} events, {r.bytes / 1e6:.1f} MB received; "
            f"history stored through the API in {r.fill_s:.1f} s",
            "",
        ]
    if results.memory:
        rows = []
        for kind in (SESSIONDOCK, BASELINE):
            group = [x for x in results.memory if x.server == kind]
            if group:
                rows.append(
                    [
                        kind,
                        str(group[0].streams),
                        fmt(median([x.rss_before / 1e6 for x in group]), ".1f"),
                        fmt(median([x.rss_after / 1e6 for x in group]), ".1f"),
                        fmt(median([x.bytes_per_stream / 1000 for x in group]), ".1f"),
                        str(len(group)),
                    ]
                )
        out += [
            "4. Memory per idle stream (server RSS with the streams open minus before, over count)",
            table(
                ["server", "streams", "RSS before MB", "RSS after MB", "KB/stream", "runs"], rows
            ),
            "",
        ]
    if results.throughput or results.stress:
        rows = []
        for label, group in (
            ("pipe", [t for t in results.throughput if not t.tty]),
            ("pty", [t for t in results.throughput if t.tty]),
            ("pipe (stress)", results.stress),
        ):
            if group:
                rows.append(
                    [
                        label,
                        fmt(group[0].bytes_written / 1e6, ".0f"),
                        fmt(min(t.bytes_read for t in group) / 1e6, ".0f"),
                        fmt(median([t.mb_per_s for t in group]), ".1f"),
                        fmt(median([t.cpu["server"] for t in group]), ".2f"),
                        fmt(median([t.cpu["harness"] for t in group]), ".2f"),
                        f"{sum(not t.completed for t in group)}/{len(group)}",
                    ]
                )
        out += [
            "5. End-to-end throughput: a process writes as fast as it can, one SSE client reads",
            table(
                ["output", "MB", "SSE MB read", "MB/s", "srv CPU", "client CPU", "cut off"], rows
            ),
            "",
        ]
    rows = [
        [name, value, {True: "met", False: "MISSED", None: "-"}[ok]]
        for name, value, ok in targets(results)
    ]
    out += ["Targets", table(["target", "measured", ""], rows)]
    noisy = sum(q >= 0.15 for q in results.quiet)
    if noisy:
        out.append(f"\nnote: other programs used >= 0.15 cores before {noisy} of the runs")
    for error in results.errors:
        out.append(f"ERROR {error}")
    return "\n".join(out)


DERIVED = ("offered", "median_ms", "bytes_per_stream", "mb_per_s", "completed")


def record(item: Any) -> dict[str, Any]:
    """A run's fields and the figures derived from them, NaN as null."""
    data = asdict(item)
    data.update({name: getattr(item, name) for name in DERIVED if hasattr(item, name)})
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in data.items()}


def to_json(results: Results) -> dict[str, Any]:
    def runs(items: list[Any]) -> list[dict[str, Any]]:
        return [record(item) for item in items]

    return {
        "plan": asdict(results.plan),
        "machine": results.machine,
        "fanout": runs(results.fanout),
        "headroom": runs(results.headroom),
        "latency": runs(results.latency),
        "replay": record(results.replay) if results.replay else None,
        "memory": runs(results.memory),
        "throughput": runs(results.throughput),
        "stress": runs(results.stress),
        "targets": [{"target": t, "measured": v, "met": ok} for t, v, ok in targets(results)],
        "quietBeforeRuns": results.quiet,
        "errors": results.errors,
    }
