"""SessionDock's benchmark: prints a table of figures and the targets they meet.

    .venv/bin/python bench/run.py            # the full run, a few minutes
    .venv/bin/python bench/run.py --quick    # about 40 s, single runs: a smoke test of the figures

Every figure is measured against real servers started as child processes: SessionDock itself
(``python -m backend serve``) and, as the yardstick, a plain aiohttp + aiohttp-sse fan-out server
(``bench/baseline_server.py``) driven through the same load in the same run. Repeated runs are
summarised by their median; the two servers' runs alternate so drift hits both alike. What each
figure means is in the docstrings of ``fanout.py``, ``replay.py``, ``memory.py`` and
``throughput.py``, and in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from fanout import run_fanout
from harness import BASELINE, ROOT, SESSIONDOCK, Cpus, save_results, wait_for_quiet
from memory import run_memory
from plan import FULL, LATENCY_LOAD, QUICK, SCENARIOS, Results
from replay import run_replay
from report import machine, report, to_json
from throughput import run_throughput


async def quiet(results: Results) -> None:
    results.quiet.append(await wait_for_quiet(results.plan.quiet_wait))


async def fanout_runs(results: Results, workdir: Path, cpus: Cpus) -> None:
    plan = results.plan
    for clients in plan.fanout_clients:
        for repeat in range(plan.repeats):
            order = (SESSIONDOCK, BASELINE) if repeat % 2 == 0 else (BASELINE, SESSIONDOCK)
            for kind in order:
                await quiet(results)
                run = await run_fanout(
                    kind, clients, plan.offered / clients, workdir=workdir, cpus=cpus,
                    warmup=plan.warmup, window=plan.window,
                )  # fmt: skip
                results.fanout.append(run)
                progress(f"fan-out {kind} {clients} clients: {run.deliveries_per_s:,.0f}/s")
    if plan.headroom_offered:
        for clients in plan.fanout_clients:
            await quiet(results)
            run = await run_fanout(
                SESSIONDOCK, clients, plan.headroom_offered / clients, workdir=workdir,
                cpus=cpus, warmup=plan.warmup, window=plan.window,
            )  # fmt: skip
            results.headroom.append(run)
            progress(f"headroom {clients} clients: {run.deliveries_per_s:,.0f}/s")


async def latency_runs(results: Results, workdir: Path, cpus: Cpus) -> None:
    plan = results.plan
    for repeat in range(plan.repeats):
        for clients in plan.latency_clients:
            order = (SESSIONDOCK, BASELINE) if repeat % 2 == 0 else (BASELINE, SESSIONDOCK)
            for kind in order:
                await quiet(results)
                run = await run_fanout(
                    kind, clients, LATENCY_LOAD / clients, workdir=workdir, cpus=cpus,
                    warmup=plan.warmup, window=plan.window,
                )  # fmt: skip
                results.latency.append(run)
                progress(f"latency {kind} {clients} clients: p99 {run.p99_ms:.2f} ms")


async def replay_runs(results: Results, workdir: Path, cpus: Cpus) -> None:
    plan = results.plan
    await quiet(results)
    results.replay = await run_replay(
        events=plan.replay_events, repeats=plan.replay_repeats, workdir=workdir, cpus=cpus
    )
    progress(f"replay: {results.replay.median_ms:.1f} ms")


async def memory_runs(results: Results, workdir: Path, cpus: Cpus) -> None:
    plan = results.plan
    for repeat in range(plan.memory_repeats):
        kinds = (SESSIONDOCK, BASELINE) if repeat % 2 == 0 else (BASELINE, SESSIONDOCK)
        for kind in kinds if plan.memory_baseline else (SESSIONDOCK,):
            await quiet(results)
            run = await run_memory(kind, streams=plan.memory_streams, workdir=workdir, cpus=cpus)
            results.memory.append(run)
            progress(f"memory {kind}: {run.bytes_per_stream / 1000:.1f} KB per stream")


async def throughput_runs(results: Results, workdir: Path, cpus: Cpus) -> None:
    plan = results.plan
    for _ in range(plan.blast_repeats):
        for tty in (False, True):
            await quiet(results)
            run = await run_throughput(total=plan.blast_bytes, tty=tty, workdir=workdir, cpus=cpus)
            results.throughput.append(run)
            progress(f"throughput tty={tty}: {run.mb_per_s:.1f} MB/s")
    if plan.stress_bytes:
        await quiet(results)
        run = await run_throughput(total=plan.stress_bytes, tty=False, workdir=workdir, cpus=cpus)
        results.stress.append(run)
        progress(f"throughput {plan.stress_bytes / 1e6:.0f} MB: {run.mb_per_s:.1f} MB/s")


RUNNERS: dict[str, Callable[[Results, Path, Cpus], Awaitable[None]]] = {
    "fanout": fanout_runs,
    "latency": latency_runs,
    "replay": replay_runs,
    "memory": memory_runs,
    "throughput": throughput_runs,
}


async def run_all(results: Results, scenarios: Iterable[str], cpus: Cpus) -> None:
    with tempfile.TemporaryDirectory(prefix="sessiondock-bench-") as tmp:
        for name in scenarios:
            started = time.monotonic()
            try:
                await RUNNERS[name](results, Path(tmp), cpus)
                progress(f"{name}: {time.monotonic() - started:.1f} s")
            except Exception as exc:  # one broken scenario must not hide the others' figures
                results.errors.append(f"{name}: {type(exc).__name__}: {exc}")
                progress(f"{name} FAILED:\n{traceback.format_exc()}")


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="single short runs (~40 s)")
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--repeats", type=int, help="runs per fan-out and latency figure")
    parser.add_argument("--no-pin", action="store_true", help="let the OS place every process")
    parser.add_argument("--no-json", action="store_true", help="do not write bench/results/")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    if args.repeats:
        plan = dataclasses.replace(plan, repeats=args.repeats)
    cpus = Cpus.choose(not args.no_pin)
    cpus.pin_self()
    results = Results(plan, machine(cpus))
    started = time.monotonic()
    asyncio.run(run_all(results, args.only, cpus))
    elapsed = time.monotonic() - started
    if not args.no_json:
        path = save_results(plan.name, {**to_json(results), "seconds": elapsed})
        progress(f"results: {path.relative_to(ROOT)}")
    print(report(results))
    print(f"\n({elapsed:.0f} s)")
    return 1 if results.errors else 0


if __name__ == "__main__":
    sys.exit(main())
