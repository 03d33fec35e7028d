"""What the session host costs (issue 18): the same runs with and without it, alternated.

- End-to-end throughput (``throughput.py``): a program writes ``--bytes`` as fast as it can, on
  pipes and in a PTY; one SSE client reads it all. With the host every byte takes one more hop
  (program → host → Unix socket → backend). The target: at most 10% less than without.
- Fan-out (``fanout.py``): 100 clients of one session at ``--offered`` deliveries/s.
- Memory: the host's RSS with 0, 10 and 100 idle shell sessions (one host per data dir).

The host inherits the backend's CPU pinning here (the harness pins the server to a core of its
own), so it competes with the backend for that core: a conservative figure. ``--host-cpu
client`` moves it to the other core, with the program and the clients (what the harness does
with every process but the server); ``--no-pin`` lets the OS place every process, as on a
user's machine; ``--one-core`` puts every process on the server's core, as on a one-core
machine. Each figure is a median of ``--repeats`` runs with and without, in alternating order;
the ratio is what to read (the machine is noisy).

    .venv/bin/python -m bench.host [--repeats 5] [--no-pin | --one-core | --host-cpu client]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import psutil

sys.path.append(str(Path(__file__).resolve().parent))

from fanout import run_fanout
from harness import SESSIONDOCK, Cpus, median, save_results, start_server, status_bytes
from throughput import run_throughput

WITHOUT = ("--no-session-host",)
MODES = {"host": (), "no host": WITHOUT}


async def memory(workdir: Path, cpus: Cpus, counts: tuple[int, ...]) -> dict[str, Any]:
    """The host's RSS with ``counts`` idle shells (and the backend's, for scale)."""
    figures: dict[str, Any] = {}
    server = start_server(SESSIONDOCK, workdir, cpus)
    try:
        made = 0
        for count in counts:
            while made < count:
                await server.create_session(["sh"], tty=True)
                made += 1
            await asyncio.sleep(1.0)
            host = _find_host(server.pid)
            assert host is not None, "no session host"
            figures[str(count)] = {
                "host_rss": host.memory_info().rss,
                "backend_rss": status_bytes(server.pid, "VmRSS"),
            }
    finally:
        await server.stop()
    return figures


def _find_host(backend_pid: int) -> psutil.Process | None:
    """The session host a backend started: a process running ``backend.host`` with the
    backend's data dir (it is the backend's grandchild, reparented)."""
    cmdline = psutil.Process(backend_pid).cmdline()
    data_dir = cmdline[cmdline.index("--data-dir") + 1]
    for proc in psutil.process_iter(["cmdline"]):
        args = proc.info["cmdline"] or []
        if "backend.host" in args and data_dir in args:
            return proc
    return None


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    cpus = Cpus.choose(not args.no_pin)
    if args.host_cpu == "client" and cpus.client is not None:
        cpus = dataclasses.replace(cpus, host=cpus.client)
    if args.one_core and cpus.server is not None:
        cpus = dataclasses.replace(cpus, client=cpus.server)
    cpus.pin_self()
    out: dict[str, Any] = {
        "pinned": not args.no_pin,
        "host_cpu": args.host_cpu,
        "one_core": args.one_core,
        "throughput": [],
        "fanout": [],
    }
    with tempfile.TemporaryDirectory(prefix="sessiondock-bench-") as tmp:
        workdir = Path(tmp)
        for repeat in range(args.repeats):
            order = list(MODES) if repeat % 2 == 0 else list(reversed(MODES))
            for tty in (False, True):
                for mode in order:
                    run = await run_throughput(
                        total=args.bytes, tty=tty, workdir=workdir, cpus=cpus, args=MODES[mode]
                    )
                    out["throughput"].append({"mode": mode, **asdict(run)})
                    print(f"throughput tty={tty} {mode}: {run.mb_per_s:.1f} MB/s", flush=True)
            for mode in order:
                fan = await run_fanout(
                    SESSIONDOCK, 100, args.offered / 100, workdir=workdir, cpus=cpus,
                    warmup=1.0, window=3.0, server_args=MODES[mode],
                )  # fmt: skip
                out["fanout"].append({"mode": mode, **asdict(fan)})
                print(
                    f"fan-out {mode}: {fan.deliveries_per_s:,.0f}/s p99 {fan.p99_ms:.2f} ms",
                    flush=True,
                )
        out["memory"] = await memory(workdir, cpus, (0, 10, 100))
    return out


def summary(out: dict[str, Any]) -> list[str]:
    lines = []
    for tty in (False, True):
        rates = {
            mode: median([r["bytes_written"] / r["seconds"] / 1e6 for r in out["throughput"]
                          if r["mode"] == mode and r["tty"] == tty and r["slow_dropped"] == 0])
            for mode in MODES
        }  # fmt: skip
        ratio = rates["host"] / rates["no host"]
        lines.append(
            f"throughput {'PTY' if tty else 'pipes'}: host {rates['host']:.1f} MB/s, "
            f"no host {rates['no host']:.1f} MB/s, ratio {ratio:.3f}"
        )
    for field in ("deliveries_per_s", "p99_ms"):
        values = {m: median([r[field] for r in out["fanout"] if r["mode"] == m]) for m in MODES}
        ratio = values["host"] / values["no host"]
        lines.append(
            f"fan-out 100 clients {field}: host {values['host']:,.2f}, "
            f"no host {values['no host']:,.2f}, ratio {ratio:.3f}"
        )
    mem = out["memory"]
    per = (mem["100"]["host_rss"] - mem["10"]["host_rss"]) / 90
    lines.append(
        "host RSS: "
        + ", ".join(f"{n} sessions {m['host_rss'] / 1e6:.1f} MB" for n, m in mem.items())
        + f"; {per / 1e3:.0f} KB per more session"
    )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--bytes", type=int, default=40_000_000)
    parser.add_argument("--offered", type=float, default=500_000)
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument(
        "--host-cpu",
        choices=["server", "client"],
        default="server",
        help="pinned: the host on the backend's core (as it inherits it) or on the other one",
    )
    parser.add_argument(
        "--one-core",
        action="store_true",
        help="every process on the backend's core: a one-core machine",
    )
    args = parser.parse_args()
    out = asyncio.run(main_async(args))
    for line in summary(out):
        print(line)
    print(f"written {save_results('host', out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
