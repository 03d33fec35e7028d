"""Terminal sessions (issue 13): attach, throughput with the emulator, keystroke echo, memory.

    .venv/bin/python -m bench.terminal --base-tree ../wt-base     # about 12 minutes
    .venv/bin/python -m bench.terminal --quick                     # about 1 minute, a smoke test
    .venv/bin/python -m bench.terminal --serve                     # sessions for a browser to time

Every figure comes from the real backend (``python -m backend serve``) as a child process, with
real programs in real PTYs. ``--base-tree`` names a checkout of the commit before the emulator
(``git worktree add ../wt-base 1f0f227``): its backend runs in the same venv, and its runs
alternate with this tree's in the same benchmark run, so that the machine's load falls on both.
Without it the comparisons are left out. A base tree that has the emulator too (an earlier
commit of this work) is compared as "this tree / base tree", without the 90% target.

- **attach** (``attach.py``): connect → ``snapshot`` fully read, and ``GET /screen``, on
  sessions that printed 1, 10 and 100 MB;
- **throughput** (``throughput.py``): 200 MB of coloured lines in a PTY to one SSE client, this
  tree against the base tree;
- **echo** (``echo.py``): one keystroke → its echo at a client, idle and while another session
  prints as fast as it can;
- **memory** (``screens.py``): the backend's RSS with N sessions that filled their scrollback,
  against N sessions that printed nothing.

It prints tables and the targets, and writes every run to
``bench/results/<UTC time>-terminal-<full|quick>.json`` (``--no-json`` skips it).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Run as ``python -m bench.terminal``: the benchmark's modules import one another by their
# plain names, as when bench/run.py runs as a script.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from attach import MB, AttachRun, ScreenRun, attach_rounds, histories
from echo import EchoRun, run_echo
from harness import ROOT, Cpus, median, percentile, save_results, wait_for_quiet
from report import fmt, machine, record, table
from screens import ScreensRun, run_screens
from throughput import ThroughputRun, run_throughput

SCENARIOS = ("attach", "throughput", "echo", "memory")
OURS = "this tree"
BASE = "base tree"

# Targets (issue 13)
MAX_ATTACH_MS = 100.0
MIN_THROUGHPUT_RATIO = 0.90
MAX_ECHO_P99_IDLE_MS = 10.0
MAX_ECHO_P99_LOADED_MS = 30.0
# "Independent of history size": the largest history's median attach within this factor of
# the smallest's.
MAX_ATTACH_GROWTH = 1.5


@dataclass(frozen=True)
class Plan:
    name: str
    attach_sizes: tuple[int, ...]
    attach_rounds: int
    attach_scrollbacks: tuple[int, ...]  # also timed on the largest history
    blast_bytes: int
    blast_repeats: int  # runs per tree and placement
    # "pinned": the server on a core of its own (the emulator's thread shares it with the
    # loop), as in bench/run.py; "free": the OS places the server, its threads and the program.
    placements: tuple[str, ...]
    echo_keystrokes: int  # per run
    echo_repeats: int  # runs per tree, path and load
    screens_sessions: int
    screens_repeats: int  # runs per tree and case
    quiet_wait: float


FULL = Plan(
    name="full",
    attach_sizes=(1 * MB, 10 * MB, 100 * MB),
    attach_rounds=9,
    attach_scrollbacks=(0, 10_000),
    blast_bytes=200 * MB,
    blast_repeats=5,
    placements=("pinned", "free"),
    echo_keystrokes=500,
    echo_repeats=2,
    screens_sessions=20,
    screens_repeats=2,
    quiet_wait=30.0,
)
QUICK = Plan(
    name="quick",
    attach_sizes=(1 * MB, 10 * MB),
    attach_rounds=3,
    attach_scrollbacks=(0,),
    blast_bytes=40 * MB,
    blast_repeats=1,
    placements=("pinned",),
    echo_keystrokes=100,
    echo_repeats=1,
    screens_sessions=4,
    screens_repeats=1,
    quiet_wait=2.0,
)


@dataclass
class Trees:
    """This tree (with the emulator) and, if given, the base tree (without), to compare."""

    base: Path | None

    def both(self, repeat: int) -> list[tuple[str, Path]]:
        """The trees in this repeat's order: this one first on even repeats."""
        if self.base is None:
            return [(OURS, ROOT)]
        pair = [(OURS, ROOT), (BASE, self.base)]
        return pair if repeat % 2 == 0 else pair[::-1]


@dataclass
class Results:
    plan: Plan
    machine: dict[str, Any]
    attach: list[AttachRun] = field(default_factory=list)
    screen: list[ScreenRun] = field(default_factory=list)
    throughput: list[ThroughputRun] = field(default_factory=list)
    echo: list[EchoRun] = field(default_factory=list)
    screens: list[ScreensRun] = field(default_factory=list)
    quiet: list[float] = field(default_factory=list)
    load: dict[str, tuple[float, ...]] = field(default_factory=dict)  # os.getloadavg() by stage
    errors: list[str] = field(default_factory=list)
    # Whether the base tree has no emulator (the commit before it): only then are the ratios
    # "with / without the emulator", and the 90% target theirs. Another base tree (an earlier
    # commit of this work) gives "this tree / base tree", with no target.
    base_without_emulator: bool = True


async def quiet(results: Results) -> None:
    results.quiet.append(await wait_for_quiet(results.plan.quiet_wait))


async def attach_runs(results: Results, trees: Trees, workdir: Path, cpus: Cpus) -> None:
    plan = results.plan
    await quiet(results)
    async with histories(plan.attach_sizes, workdir, cpus) as ready:
        progress("attach: histories printed")
        attaches, screens = await attach_rounds(
            ready,
            plan.attach_rounds,
            scrollbacks=plan.attach_scrollbacks,
            quiet_wait=plan.quiet_wait / 3,
        )
    results.attach += attaches
    results.screen += screens


async def throughput_runs(results: Results, trees: Trees, workdir: Path, cpus: Cpus) -> None:
    plan = results.plan
    free = Cpus(None, None)
    for repeat in range(plan.blast_repeats):
        for placement in plan.placements:
            where = cpus if placement == "pinned" else free
            for tree, root in trees.both(repeat):
                await quiet(results)
                run = await run_throughput(
                    total=plan.blast_bytes, tty=True, workdir=workdir, cpus=where, colored=True,
                    root=root, screen_lag=tree == OURS, tree=tree,
                )  # fmt: skip
                run.placement = placement
                results.throughput.append(run)
                progress(
                    f"throughput {tree} {placement}: {run.mb_per_s:.1f} MB/s, "
                    f"server {run.cpu['server']:.2f}, other {run.cpu['other']:.2f}"
                )


async def echo_runs(results: Results, trees: Trees, workdir: Path, cpus: Cpus) -> None:
    plan = results.plan
    for placement in plan.placements:
        where = cpus if placement == "pinned" else Cpus(None, None)
        for loaded in (False, True):
            for repeat in range(plan.echo_repeats):
                cases = [
                    (tree, root, via)
                    for tree, root in trees.both(repeat)
                    for via in (("input", "prompt") if tree == OURS else ("prompt",))
                ]
                for tree, root, via in cases:
                    await quiet(results)
                    run = await run_echo(
                        count=plan.echo_keystrokes, loaded=loaded, workdir=workdir, cpus=where,
                        via=via, root=root, tree=tree,
                    )  # fmt: skip
                    run.placement = placement
                    results.echo.append(run)
                    p99 = percentile(sorted(run.latencies_ms), 0.99)
                    load = "loaded" if loaded else "idle"
                    progress(f"echo {tree} /{via} {load} {placement}: p99 {p99:.1f} ms")


async def memory_runs(results: Results, trees: Trees, workdir: Path, cpus: Cpus) -> None:
    plan = results.plan
    for repeat in range(plan.screens_repeats):
        for tree, root in trees.both(repeat):
            for printed in (True, False) if repeat % 2 == 0 else (False, True):
                await quiet(results)
                run = await run_screens(
                    sessions=plan.screens_sessions, printed=printed, workdir=workdir,
                    cpus=cpus, root=root, tree=tree, has_screen=tree == OURS,
                )  # fmt: skip
                results.screens.append(run)
                progress(f"memory {tree} printed={printed}: {run.rss / 1e6:.1f} MB")


RUNNERS: dict[str, Callable[[Results, Trees, Path, Cpus], Awaitable[None]]] = {
    "attach": attach_runs,
    "throughput": throughput_runs,
    "echo": echo_runs,
    "memory": memory_runs,
}


async def run_all(results: Results, scenarios: list[str], trees: Trees, cpus: Cpus) -> None:
    with tempfile.TemporaryDirectory(prefix="sessiondock-bench-") as tmp:
        for name in scenarios:
            started = time.monotonic()
            results.load[name] = os.getloadavg()
            try:
                await RUNNERS[name](results, trees, Path(tmp), cpus)
                progress(f"{name}: {time.monotonic() - started:.1f} s")
            except Exception as exc:  # one broken scenario must not hide the others' figures
                results.errors.append(f"{name}: {type(exc).__name__}: {exc}")
                progress(f"{name} FAILED:\n{traceback.format_exc()}")
        results.load["end"] = os.getloadavg()


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


# -- the report ------------------------------------------------------------------------------


def ms(values: list[float]) -> str:
    return fmt(median(values) * 1000, ".1f")


def attach_report(results: Results) -> list[str]:
    rows = []
    for size in results.plan.attach_sizes:
        for scrollback in (None, *results.plan.attach_scrollbacks):
            group = [
                a for a in results.attach if a.history_bytes == size and a.scrollback == scrollback
            ]
            if not group:
                continue
            times = [a.seconds for a in group]
            rows.append(
                [
                    f"{size / MB:g} MB",
                    "default (1000)" if scrollback is None else str(scrollback),
                    ms(times),
                    f"{min(times) * 1000:.1f}-{max(times) * 1000:.1f}",
                    fmt(median([a.frame_bytes / 1000 for a in group]), ".1f"),
                    fmt(median([a.vt_bytes / 1000 for a in group]), ".1f"),
                    str(len(group)),
                ]
            )
    screen_rows = []
    for size in results.plan.attach_sizes:
        row = [f"{size / MB:g} MB"]
        for fmt_name in ("text", "vt", "html"):
            gets = [s for s in results.screen if s.history_bytes == size and s.format == fmt_name]
            row += [
                ms([s.seconds for s in gets]),
                fmt(median([s.bytes / 1000 for s in gets]), ".1f"),
            ]
        screen_rows.append(row)
    return [
        "1. Attach: connect -> snapshot event read (GET /events?attach=screen), medians",
        table(["history", "scrollback", "ms", "min-max ms", "frame kB", "vt kB", "runs"], rows),
        "",
        "   GET /screen: request -> body, medians (ms, kB of JSON)",
        table(["history", "text ms", "kB", "vt ms", "kB", "html ms", "kB"], screen_rows),
        "",
    ]


THROUGHPUT_HEADER = [
    "tree", "MB/s", "min-max", "srv ms/MB", "srv CPU", "prog CPU", "other CPU", "peak RSS MB",
    "screen lag ms", "cut off", "runs",
]  # fmt: skip
ECHO_HEADER = [
    "placement", "tree", "path", "load", "p50", "p99", "p99 all", "max", "p99 to event", "keys",
    "srv CPU", "other CPU", "loud MB/s",
]  # fmt: skip


def of_tree(runs: list[Any], tree: str) -> list[Any]:
    return [r for r in runs if r.tree == tree]


def placed(results: Results, placement: str, tree: str) -> list[ThroughputRun]:
    return [r for r in results.throughput if r.placement == placement and r.tree == tree]


def throughput_ratios(results: Results, placement: str) -> tuple[float, list[float]]:
    """This tree's median MB/s over the base tree's, and the ratios of each repeat's pair."""
    ours, base = placed(results, placement, OURS), placed(results, placement, BASE)
    pairs = [a.mb_per_s / b.mb_per_s for a, b in zip(ours, base, strict=False)]
    whole = median([r.mb_per_s for r in ours]) / median([r.mb_per_s for r in base])
    return whole, pairs


def throughput_report(results: Results) -> list[str]:
    out = [
        f"2. Throughput: {results.plan.blast_bytes / MB:g} MB of coloured 100-byte lines in a "
        "PTY, one SSE client (go -> exited read), medians; CPU in cores, and the server's CPU "
        "time per MB of output",
    ]
    for placement in results.plan.placements:
        rows = []
        for tree in (OURS, BASE):
            group = placed(results, placement, tree)
            if not group:
                continue
            rates = [r.mb_per_s for r in group]
            rows.append(
                [
                    tree,
                    fmt(median(rates), ".1f"),
                    f"{min(rates):.1f}-{max(rates):.1f}",
                    fmt(median([r.server_ms_per_mb for r in group]), ".1f"),
                    fmt(median([r.cpu["server"] for r in group]), ".2f"),
                    fmt(median([r.cpu["program"] for r in group]), ".2f"),
                    fmt(median([r.cpu["other"] for r in group]), ".2f"),
                    fmt(median([r.peak_rss / 1e6 for r in group]), ".0f"),
                    ms([r.screen_lag for r in group]) if tree == OURS else "-",
                    str(sum(not r.completed for r in group)),
                    str(len(group)),
                ]
            )
        out += [f"   {placement}:", table(THROUGHPUT_HEADER, rows)]
        if placed(results, placement, BASE):
            whole, pairs = throughput_ratios(results, placement)
            what = (
                "with / without the emulator"
                if results.base_without_emulator
                else "this tree / base tree"
            )
            out.append(
                f"   {what}, {placement}: {whole:.2f} (of the medians); "
                "run pair by run pair: " + ", ".join(f"{p:.2f}" for p in pairs)
            )
    return [*out, ""]


def echo_groups(results: Results) -> list[tuple[str, str, str, bool, list[EchoRun]]]:
    """The runs by placement, load, tree and path, in that order."""
    keys = sorted(
        {(r.placement, r.loaded, r.tree, r.via) for r in results.echo},
        key=lambda k: (results.plan.placements.index(k[0]), k[1], k[2], k[3]),
    )
    return [
        (
            placement,
            tree,
            via,
            loaded,
            [r for r in results.echo if key == (r.placement, r.loaded, r.tree, r.via)],
        )
        for key in keys
        for placement, loaded, tree, via in [key]
    ]


def run_p99(run: EchoRun) -> float:
    return percentile(sorted(run.latencies_ms), 0.99)


def echo_report(results: Results) -> list[str]:
    rows = []
    for placement, tree, via, loaded, group in echo_groups(results):
        pooled = sorted(x for r in group for x in r.latencies_ms)
        rows.append(
            [
                placement,
                tree,
                f"/{via}",
                "loaded" if loaded else "idle",
                fmt(median([percentile(sorted(r.latencies_ms), 0.5) for r in group]), ".2f"),
                fmt(median([run_p99(r) for r in group]), ".2f"),
                fmt(percentile(pooled, 0.99), ".2f"),
                fmt(pooled[-1] if pooled else float("nan"), ".1f"),
                fmt(median([percentile(sorted(r.to_event_ms), 0.99) for r in group]), ".0f"),
                str(len(pooled)),
                fmt(median([r.cpu["server"] for r in group]), ".2f"),
                fmt(median([r.cpu["other"] for r in group]), ".2f"),
                fmt(median([r.loud_mb_per_s for r in group]), ".1f") if loaded else "-",
            ]
        )
    return [
        "3. Keystroke echo: POST one character -> its echoed output event read (ms); p50 and "
        "p99 are medians of the runs' own, 'all' pools every keystroke; 'to event': POST -> "
        "the echo event's timestamp (ms resolution; the rest is commit, bus and stream)",
        table(ECHO_HEADER, rows),
        "",
    ]


def screens_figures(results: Results, tree: str) -> tuple[float, float, float]:
    """RSS with the full sessions, with the empty ones, and the difference per session (MB)."""
    group = of_tree(results.screens, tree)
    full = median([r.rss / 1e6 for r in group if r.printed])
    empty = median([r.rss / 1e6 for r in group if not r.printed])
    return full, empty, (full - empty) / results.plan.screens_sessions


def memory_report(results: Results) -> list[str]:
    rows = []
    for tree in (OURS, BASE):
        group = of_tree(results.screens, tree)
        if not group:
            continue
        full, empty, per = screens_figures(results, tree)
        anon = median([r.anon / 1e6 for r in group if r.printed])
        rows.append(
            [tree, fmt(full, ".1f"), fmt(anon, ".1f"), fmt(empty, ".1f"), fmt(per, ".2f"),
             str(len(group) // 2)]
        )  # fmt: skip
    n = results.plan.screens_sessions
    return [
        f"4. Memory: backend RSS with {n} idle sessions that each printed 11,000 lines of 118 "
        f"characters, and with {n} that printed nothing, medians",
        table(["tree", "RSS full MB", "anon MB", "RSS empty MB", "MB/session", "runs"], rows),
        "",
    ]


def targets(results: Results) -> list[tuple[str, str, bool | None]]:
    rows: list[tuple[str, str, bool | None]] = []
    sizes = results.plan.attach_sizes

    def attach_ms(size: int) -> float:
        group = [a for a in results.attach if a.history_bytes == size and a.scrollback is None]
        return median([a.seconds * 1000 for a in group])

    if results.attach:
        largest, smallest = attach_ms(max(sizes)), attach_ms(min(sizes))
        rows.append(
            (
                f"attach <= {MAX_ATTACH_MS:g} ms ({max(sizes) / MB:g} MB history)",
                f"{largest:.1f} ms",
                largest <= MAX_ATTACH_MS,
            )
        )
        growth = largest / smallest
        rows.append(
            (
                f"attach independent of history (<= {MAX_ATTACH_GROWTH:g}x from "
                f"{min(sizes) / MB:g} to {max(sizes) / MB:g} MB)",
                f"{growth:.2f}x ({smallest:.1f} -> {largest:.1f} ms)",
                growth <= MAX_ATTACH_GROWTH,
            )
        )
    for placement in results.plan.placements:
        if not results.base_without_emulator:
            break  # the target compares with the tree without the emulator only
        if placed(results, placement, OURS) and placed(results, placement, BASE):
            whole, _ = throughput_ratios(results, placement)
            rows.append(
                (
                    f"throughput with the emulator >= {MIN_THROUGHPUT_RATIO:.0%} of without "
                    f"({placement})",
                    f"{whole:.0%}",
                    whole >= MIN_THROUGHPUT_RATIO,
                )
            )
    for placement, tree, via, loaded, group in echo_groups(results):
        if tree != OURS or via != "input":
            continue
        limit = MAX_ECHO_P99_LOADED_MS if loaded else MAX_ECHO_P99_IDLE_MS
        value = median([run_p99(r) for r in group])
        rows.append(
            (
                f"echo p99 <= {limit:g} ms, {'loaded' if loaded else 'idle'} ({placement})",
                f"{value:.2f} ms",
                value <= limit,
            )
        )
    return rows


def report(results: Results) -> str:
    m = results.machine
    out = [
        f"SessionDock terminal benchmark ({results.plan.name} run), {m['nproc']} CPUs "
        f"({m['cpuModel']}), Python {m['python']}, commit {m['commit'] or '?'}",
        f"server pinned to CPU {m['serverCpu']}; clients, programs and harness to CPU "
        f"{m['clientCpu']}. Load average at each stage: "
        + ", ".join(f"{k} {v[0]:.2f}" for k, v in results.load.items()),
        "",
    ]
    if results.attach:
        out += attach_report(results)
    if results.throughput:
        out += throughput_report(results)
    if results.echo:
        out += echo_report(results)
    if results.screens:
        out += memory_report(results)
    rows = [
        [name, value, {True: "met", False: "MISSED", None: "-"}[ok]]
        for name, value, ok in targets(results)
    ]
    out += ["Targets", table(["target", "measured", ""], rows)]
    noisy = sum(q >= 0.15 for q in results.quiet)
    if noisy:
        out.append(
            f"\nnote: other programs used >= 0.15 cores before {noisy} of "
            f"{len(results.quiet)} runs (median {median(results.quiet):.2f} cores)"
        )
    out += [f"ERROR {error}" for error in results.errors]
    return "\n".join(out)


def to_json(results: Results) -> dict[str, Any]:
    def runs(items: list[Any]) -> list[dict[str, Any]]:
        return [record(item) for item in items]

    return {
        "plan": dataclasses.asdict(results.plan),
        "machine": results.machine,
        "attach": runs(results.attach),
        "screen": runs(results.screen),
        "throughput": runs(results.throughput),
        "echo": runs(results.echo),
        "memory": runs(results.screens),
        "targets": [{"target": t, "measured": v, "met": ok} for t, v, ok in targets(results)],
        "baseWithoutEmulator": results.base_without_emulator,
        "quietBeforeRuns": results.quiet,
        "loadAverage": results.load,
        "errors": results.errors,
    }


# -- entry points ----------------------------------------------------------------------------


async def serve(sizes: tuple[int, ...], cpus: Cpus) -> None:
    """The hook for the browser's figure: sessions with these histories, until stdin ends."""
    with tempfile.TemporaryDirectory(prefix="sessiondock-bench-") as tmp:
        async with histories(sizes, Path(tmp), cpus) as ready:
            server = ready.server
            sessions = {f"{size / MB:g}MB": sid for size, sid in ready.sessions.items()}
            print(json.dumps({"url": server.url, "token": server.token, "sessions": sessions}))
            sys.stdout.flush()
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="single short runs (~1 min)")
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--base-tree", type=Path, help="a checkout of the commit to compare with")
    parser.add_argument("--repeats", type=int, help="runs per tree for throughput")
    parser.add_argument("--no-pin", action="store_true", help="let the OS place every process")
    parser.add_argument("--no-json", action="store_true", help="do not write bench/results/")
    parser.add_argument(
        "--serve", action="store_true", help="start sessions with histories, print, wait"
    )
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    if args.repeats:
        plan = dataclasses.replace(plan, blast_repeats=args.repeats)
    if args.base_tree is not None and not (args.base_tree / "backend" / "__main__.py").exists():
        parser.error(f"--base-tree {args.base_tree}: no backend/ there")
    cpus = Cpus.choose(not args.no_pin)
    cpus.pin_self()
    if cpus.server is None:
        plan = dataclasses.replace(plan, placements=("free",))
    if args.serve:
        asyncio.run(serve(plan.attach_sizes, cpus))
        return 0
    trees = Trees(args.base_tree.resolve() if args.base_tree else None)
    results = Results(plan, machine(cpus))
    if trees.base is not None:
        results.base_without_emulator = not (trees.base / "backend" / "terminal").is_dir()
    started = time.monotonic()
    asyncio.run(run_all(results, args.only, trees, cpus))
    elapsed = time.monotonic() - started
    if not args.no_json:
        record_ = {**to_json(results), "baseTree": str(trees.base), "seconds": elapsed}
        path = save_results(f"terminal-{plan.name}", record_)
        progress(f"results: {path.relative_to(ROOT)}")
    print(report(results))
    print(f"\n({elapsed:.0f} s)")
    return 1 if results.errors else 0


if __name__ == "__main__":
    sys.exit(main())
