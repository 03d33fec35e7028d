"""Fan-out: one session's process prints timestamped lines, N clients watch it over SSE.

A delivery is one generator line arriving at one client (lines x clients), for both servers. The
baseline sends one event per line; SessionDock coalesces lines into fewer, larger events, which
is why event deliveries are reported too. Latency is the time a sampled line was written by the
generator to the time the client read it, on the machine's shared monotonic clock.

Run alone: ``.venv/bin/python bench/fanout.py --clients 100 --rate 5000``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from harness import (
    BASELINE,
    BENCH,
    NODE,
    PYTHON,
    SESSIONDOCK,
    ClientProcess,
    CpuMeter,
    Cpus,
    percentile,
    sleep_until,
    start_server,
    touch,
)

# Timestamps parsed per second across all clients: enough for a p99, few enough to stay cheap.
SAMPLES_PER_SECOND = 20_000
LINE_BYTES = 100
CONNECT_WAIT = 60.0
TAIL = 1.0  # seconds the generator keeps going after the window


@dataclass
class FanoutRun:
    """One measured run of one server at one load."""

    server: str
    clients: int
    rate: float  # lines per second the generator offered
    window: float
    deliveries_per_s: float  # lines x clients
    events_per_s: float  # output events x clients
    mb_per_s: float  # bytes read by all clients
    p50_ms: float
    p99_ms: float
    max_ms: float
    samples: int
    cpu: dict[str, float]  # cores used in the window: server, clients, generator, softirq, other
    connect_s: float
    lost: int  # streams that ended during the run
    slow_dropped: int  # SessionDock's count of clients cut off for being slow
    bad_tokens: int
    server_args: list[str]
    client_loop: str  # the clients' event loop (uvloop unless asked otherwise)

    @property
    def offered(self) -> float:
        return self.rate * self.clients


def split(count: int, parts: int) -> list[int]:
    parts = max(1, min(parts, count))
    return [count // parts + (i < count % parts) for i in range(parts)]


async def run_fanout(
    kind: str,
    clients: int,
    rate: float,
    *,
    workdir: Path,
    cpus: Cpus,
    warmup: float,
    window: float,
    client_procs: int = 1,
    server_args: Sequence[str] = (),
    client_loop: str = "uvloop",
) -> FanoutRun:
    sample = max(1, round(rate * clients / SAMPLES_PER_SECOND))
    server = start_server(kind, workdir, cpus, args=server_args)
    procs: list[ClientProcess] = []
    try:
        go = workdir / f"go-{secrets.token_hex(4)}"
        argv = [
            PYTHON, str(BENCH / "generator.py"), "--go", str(go), "--rate", str(rate),
            "--duration", str(warmup + window + TAIL), "--size", str(LINE_BYTES),
            "--sample", str(sample), *cpus.client_args(),
        ]  # fmt: skip
        session_id, generator_pid = await server.create_session(argv)
        path = server.events_path(session_id)
        started = time.monotonic()
        procs = [
            await ClientProcess.start(server, path, count, cpus, loop=client_loop)
            for count in split(clients, client_procs)
        ]
        ready = [await proc.read(CONNECT_WAIT) for proc in procs]
        connect_s = time.monotonic() - started
        if sum(int(r["ready"]) for r in ready) != clients:
            raise RuntimeError(f"not every client connected: {ready}")
        touch(go)
        start = time.monotonic_ns() + int(warmup * 1e9)
        end = start + int(window * 1e9)
        for proc in procs:
            await proc.send({"start": start, "end": end})
        meter = CpuMeter(
            {
                "server": [server.pid],
                "generator": [generator_pid],
                "clients": [proc.proc.pid for proc in procs],
            }
        )
        await sleep_until(start)
        meter.start()
        await sleep_until(end)
        cpu = meter.stop()
        results = [await proc.read(window + CONNECT_WAIT) for proc in procs]
        metrics = await server.metrics()
    finally:
        for proc in procs:
            await proc.close()
        await server.stop()
    latencies = sorted(v for r in results for v in r["latenciesNs"])
    return FanoutRun(
        server=kind,
        clients=clients,
        rate=rate,
        window=window,
        deliveries_per_s=sum(r["lines"] for r in results) / window,
        events_per_s=sum(r["events"] for r in results) / window,
        mb_per_s=sum(r["bytes"] for r in results) / window / 1e6,
        p50_ms=percentile(latencies, 0.50) / 1e6,
        p99_ms=percentile(latencies, 0.99) / 1e6,
        max_ms=percentile(latencies, 1.0) / 1e6,
        samples=len(latencies),
        cpu=cpu.to_json(),
        connect_s=connect_s,
        lost=sum(r["lost"] for r in results),
        slow_dropped=int(metrics.get("eventBus", {}).get("slowClientsDropped", 0)),
        bad_tokens=sum(r["badTokens"] for r in results),
        server_args=list(server_args),
        client_loop=client_loop,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server", choices=[SESSIONDOCK, BASELINE, NODE], default=SESSIONDOCK)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--rate", type=float, default=5000.0, help="generator lines per second")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--window", type=float, default=3.0)
    parser.add_argument("--client-procs", type=int, default=1)
    parser.add_argument("--client-loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and clients")
    args = parser.parse_args()
    cpus = Cpus.choose(not args.no_pin)
    cpus.pin_self()
    with tempfile.TemporaryDirectory(prefix="sessiondock-bench-") as tmp:
        run = asyncio.run(
            run_fanout(
                args.server,
                args.clients,
                args.rate,
                workdir=Path(tmp),
                cpus=cpus,
                warmup=args.warmup,
                window=args.window,
                client_procs=args.client_procs,
                client_loop=args.client_loop,
            )
        )
    print(json.dumps(asdict(run), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
