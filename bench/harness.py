"""What every benchmark shares: servers and client processes as children, CPUs, percentiles.

Each server runs pinned to one CPU; clients, the session's generator process and this harness
share another, so the server has a core of its own (``Cpus``). Every child is started here and
stopped here; servers watch their stdin, so they also end if the benchmark dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import math
import os
import secrets
import selectors
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PYTHON = sys.executable
HOST = "127.0.0.1"
READY_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
QUIET_CORES = 0.15
QUIET_SAMPLE = 0.3
QUIET_RETRY = 1.0
RESULT_LIMIT = 256 * 1024 * 1024  # a client's result line holds every latency sample

# Pins itself to a CPU, then becomes the real command (same pid): every thread the server starts
# later, and every session process it spawns, inherits the CPU.
PIN_AND_EXEC = (
    "import os, sys; os.sched_setaffinity(0, {int(sys.argv[1])}); "
    "os.execv(sys.argv[2], sys.argv[2:])"
)

SESSIONDOCK = "sessiondock"
BASELINE = "aiohttp-sse"
NODE = "node"  # bench/node_baseline.js: a bare Node http server, one write per line per client


@dataclass(frozen=True)
class Cpus:
    """Which CPU the server gets and which one everything else shares (None: no pinning)."""

    server: int | None
    client: int | None
    # Where a backend's session host runs: None, where the backend does (it inherits the
    # pinning: it then shares the backend's core); else this CPU (``bench/host.py --host-cpu``).
    host: int | None = None

    @staticmethod
    def choose(pin: bool) -> Cpus:
        available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        if not pin or len(available) < 2:
            return Cpus(None, None)
        return Cpus(available[0], available[1])

    def pin_self(self) -> None:
        if self.client is not None:
            os.sched_setaffinity(0, {self.client})

    def client_args(self) -> list[str]:
        return [] if self.client is None else ["--cpu", str(self.client)]


def _read_line(proc: subprocess.Popen[bytes], timeout: float) -> str:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if selector.select(timeout):
            return proc.stdout.readline().decode()
    return ""


def _stop(proc: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()


@dataclass
class Server:
    """A running SessionDock backend or baseline server, and the REST calls the benchmarks use."""

    kind: str
    proc: subprocess.Popen[bytes]
    port: int
    token: str | None
    workdir: Path
    http: aiohttp.ClientSession | None = None
    session_pids: list[int] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def events_path(self, session_id: str, query: str = "") -> str:
        base = "/api/session" if self.kind == SESSIONDOCK else "/session"
        return f"{base}/{session_id}/events{query}"

    def client(self) -> aiohttp.ClientSession:
        if self.http is None:
            self.http = aiohttp.ClientSession(
                self.url, headers=self.headers, timeout=aiohttp.ClientTimeout(total=30)
            )
        return self.http

    async def create_session(self, argv: Sequence[str], *, tty: bool = False) -> tuple[str, int]:
        """Start a session running ``argv``; return its id and its process's pid."""
        if self.kind == SESSIONDOCK:
            body: dict[str, Any] = {
                "workingDir": str(self.workdir),
                "kind": "command",
                "argv": list(argv),
                "tty": tty,
            }
            path = "/api/sessions"
        else:
            body, path = {"argv": list(argv)}, "/sessions"
        async with self.client().post(path, json=body) as response:
            response.raise_for_status()
            data = await response.json()
        if not data.get("pid"):
            raise RuntimeError(f"session did not start: {data}")
        self.session_pids.append(int(data["pid"]))
        return str(data["id"]), int(data["pid"])

    async def get_json(self, path: str) -> dict[str, Any]:
        async with self.client().get(path) as response:
            response.raise_for_status()
            data: dict[str, Any] = await response.json()
            return data

    async def post_json(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.client().post(path, json=body) as response:
            response.raise_for_status()
            data: dict[str, Any] = await response.json()
            return data

    async def metrics(self) -> dict[str, Any]:
        if self.kind != SESSIONDOCK:
            return {}
        return await self.get_json("/api/debug/metrics")

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()
            self.http = None
        await asyncio.get_running_loop().run_in_executor(None, _stop, self.proc)
        # The sessions' processes are ours too: end any the server left behind.
        for pid in self.session_pids:
            with contextlib.suppress(psutil.Error):
                child = psutil.Process(pid)
                if child.ppid() in (self.proc.pid, 1) or child.status() == psutil.STATUS_ZOMBIE:
                    child.kill()
        self.session_pids.clear()


def start_server(
    kind: str, workdir: Path, cpus: Cpus, *, root: Path = ROOT, args: Sequence[str] = ()
) -> Server:
    """Start a server as a child pinned to the server CPU and wait for its ready line.

    ``root`` is the source tree SessionDock runs from (another worktree, to compare commits);
    ``args`` are added to its command line."""
    workdir.mkdir(parents=True, exist_ok=True)
    token: str | None
    if kind == SESSIONDOCK:
        token = secrets.token_hex(24)
        data_dir = workdir / f"data-{secrets.token_hex(4)}"
        cmd = [
            PYTHON, "-m", "backend", "serve", "--port", "0", "--data-dir", str(data_dir),
            "--log-level", "warning", "--exit-on-stdin-eof", *args,
        ]  # fmt: skip
    elif kind == NODE:
        token = None
        node = shutil.which("node") or "node"  # a path: PIN_AND_EXEC execs it
        cmd = [node, str(BENCH / "node_baseline.js"), "--port", "0", "--exit-on-stdin-eof"]
    else:
        token = None
        cmd = [PYTHON, str(BENCH / "baseline_server.py"), "--port", "0", "--exit-on-stdin-eof"]
    if cpus.server is not None:
        cmd = [PYTHON, "-c", PIN_AND_EXEC, str(cpus.server), *cmd]
    with open(workdir / f"{kind}-stderr.log", "ab") as stderr:
        proc = subprocess.Popen(
            cmd, cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
            env={**os.environ, "SESSIONDOCK_TOKEN": token or ""},  # not on the command line
        )  # fmt: skip
    line = _read_line(proc, READY_TIMEOUT)
    if not line:
        _stop(proc)
        log = (workdir / f"{kind}-stderr.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{kind} server did not start:\n{log}")
    ready = json.loads(line)
    if kind == SESSIONDOCK and cpus.host is not None:
        _pin_host(data_dir, cpus.host)
    return Server(kind, proc, int(ready["port"]), token, workdir)


def _pin_host(data_dir: Path, cpu: int) -> None:
    """Move the backend's session host (started before its ready line) to ``cpu``."""
    try:
        pid = int((data_dir / "host.lock").read_text())
    except (OSError, ValueError):
        return  # --no-session-host
    os.sched_setaffinity(pid, {cpu})


class ClientProcess:
    """A child running ``clients.py`` with ``count`` streams, driven over JSON lines."""

    def __init__(self, proc: asyncio.subprocess.Process, count: int) -> None:
        self.proc = proc
        self.count = count

    @classmethod
    async def start(
        cls, server: Server, path: str, count: int, cpus: Cpus, *, loop: str = "uvloop"
    ) -> ClientProcess:
        proc = await asyncio.create_subprocess_exec(
            PYTHON, str(BENCH / "clients.py"), "--port", str(server.port), "--path", path,
            "--count", str(count), *([f"--token={server.token}"] if server.token else []),
            "--loop", loop, *cpus.client_args(),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=RESULT_LIMIT,
        )  # fmt: skip
        return cls(proc, count)

    async def read(self, within: float) -> dict[str, Any]:
        """The next message, waiting at most ``within`` seconds."""
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), within)
        if not line:
            raise RuntimeError(f"client process ended (exit {await self.proc.wait()})")
        message: dict[str, Any] = json.loads(line)
        if "error" in message:
            raise RuntimeError(f"client process failed: {message['error']}")
        return message

    async def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        await self.proc.stdin.drain()

    async def close(self) -> None:
        if self.proc.returncode is None and self.proc.stdin is not None:
            with contextlib.suppress(ConnectionError):
                self.proc.stdin.write(b'{"close": true}\n')
                self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), STOP_TIMEOUT)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


def _machine_busy() -> tuple[float, float]:
    """CPU seconds the whole machine has been busy, and the part spent in soft interrupts."""
    times = psutil.cpu_times()
    busy = sum(times) - times.idle - getattr(times, "iowait", 0.0)
    busy -= getattr(times, "guest", 0.0) + getattr(times, "guest_nice", 0.0)  # in user already
    return busy, getattr(times, "softirq", 0.0)


def process_cpu(pid: int) -> float:
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return math.nan
    return float(times.user + times.system)


@dataclass
class CpuUse:
    """Cores used on average over a window: by each of our processes, in softirq, by the rest.

    Loopback TCP is partly processed in soft interrupts, which no process is charged for, so
    ``softirq`` belongs to the benchmark; ``other`` is whatever else ran on the machine.
    """

    cores: dict[str, float]
    machine: float
    softirq: float

    @property
    def other(self) -> float:
        return max(0.0, self.machine - self.softirq - sum(self.cores.values()))

    def to_json(self) -> dict[str, float]:
        return {**self.cores, "softirq": self.softirq, "other": self.other}


class CpuMeter:
    """Measures a ``CpuUse`` between ``start()`` and ``stop()``. A process that ended counts 0."""

    def __init__(self, pids: dict[str, list[int]]) -> None:
        self._pids = {**pids, "harness": [os.getpid()]}
        self._start: dict[int, float] = {}
        self._machine = (0.0, 0.0)
        self._t0 = 0.0

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._machine = _machine_busy()
        self._start = {pid: process_cpu(pid) for pids in self._pids.values() for pid in pids}

    def stop(self) -> CpuUse:
        elapsed = max(1e-9, time.monotonic() - self._t0)
        busy, softirq = _machine_busy()
        cores: dict[str, float] = {}
        for role, pids in self._pids.items():
            used = 0.0
            for pid in pids:
                delta = process_cpu(pid) - self._start.get(pid, math.nan)
                used += 0.0 if math.isnan(delta) else max(0.0, delta)
            cores[role] = used / elapsed
        return CpuUse(
            cores,
            (busy - self._machine[0]) / elapsed,
            (softirq - self._machine[1]) / elapsed,
        )


async def wait_for_quiet(limit: float, threshold: float = QUIET_CORES) -> float:
    """Wait (at most ``limit`` s) until other programs use under ``threshold`` cores.

    Returns the cores they used in the last check. Another program's burst would otherwise
    land in one server's run and not the other's."""
    deadline = time.monotonic() + limit
    while True:
        meter = CpuMeter({})
        meter.start()
        await asyncio.sleep(QUIET_SAMPLE)
        other = meter.stop().other
        if other < threshold or time.monotonic() >= deadline:
            return other
        await asyncio.sleep(QUIET_RETRY)


async def sleep_until(deadline_ns: int) -> None:
    await asyncio.sleep(max(0.0, (deadline_ns - time.monotonic_ns()) / 1e9))


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (nan if there are none)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return float(sorted_values[rank - 1])


def median(values: Sequence[float]) -> float:
    clean = [v for v in values if not math.isnan(v)]
    return statistics.median(clean) if clean else math.nan


def status_bytes(pid: int, key: str) -> int:
    """A size from ``/proc/PID/status`` (``VmRSS``, ``RssAnon``, ``VmHWM``…), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


def touch(path: Path) -> None:
    path.write_bytes(b"")


def save_results(name: str, record: dict[str, Any]) -> Path:
    """Write one run's record to ``bench/results/<UTC time>-<name>.json``; its path."""
    out_dir = BENCH / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"{stamp}-{name}.json"
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path
