"""Claude Code history: listing a gigabyte of stored sessions, and opening a 200 MB one.

    .venv/bin/python bench/claude_history.py            # about 1.5 minutes
    .venv/bin/python bench/claude_history.py --quick    # about 15 s, a 300 MB folder: a smoke test

A history folder is generated once per run into a temp dir (``claude_corpus.py``): about 1 GB
of realistic lines in a few hundred session files over 20 project folders, most of them
0.1 to 10 MB, plus one 200 MB session and one 50 MB one. The real backend
(``python -m backend serve --claude-home THAT``) runs as a child, pinned to one CPU, with a new
data dir each time.

1. Listing: from the backend's ready line to the first ``GET /api/sessions`` that lists every
   file's session (the listing reads only file heads), and the backend's peak RSS (VmHWM) then.
2. Opening: a backend that has listed everything opens the 200 MB session over SSE
   (``GET /api/session/{id}/events``, which reads the file into SQLite chunk by chunk). Timed
   from the connect call to the read holding the first stored event (an ``id:`` line), and to
   the read holding the text of the file's last line. Peak RSS is VmHWM, reset just before the
   stream opens (``/proc/PID/clear_refs``), so it covers the opening alone. The same for the
   50 MB session in a fresh backend: if memory does not grow with file size, the peaks match.
3. The naive yardstick, in a child process on the same CPU (``claude_naive.py``): ``json.loads``
   of every line of every file (a listing that parsed whole files), and of every line of the
   200 MB file kept in a list (opening by loading).

Before each measured run the machine is given time to go quiet (``harness.wait_for_quiet``);
what other programs used is reported. Progress goes to stderr, the table to stdout, every run
to ``bench/results/<UTC time>-claude-history-<full|quick>.json`` (``--no-json`` skips it).
Files are read from the page cache (they were just written): these are warm-cache figures.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import math
import os
import platform
import secrets
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
from claude_corpus import Corpus, generate
from harness import (
    BENCH,
    HOST,
    PIN_AND_EXEC,
    PYTHON,
    READY_TIMEOUT,
    ROOT,
    SESSIONDOCK,
    Cpus,
    Server,
    median,
    process_cpu,
    wait_for_quiet,
)
from report import fmt, table
from sseclient import request_bytes

MB = 1_000_000
MAX_LIST_S = 1.0  # the targets
MAX_RSS_MB = 100.0
SAME_SIZE = 0.10  # "independent of file size": the big file's peak within 10% of the medium's
LIST_TIMEOUT = 60.0
OPEN_TIMEOUT = 600.0
RSS_SAMPLE = 0.02  # s between RSS samples during an opening
TAIL = 512  # bytes of a read kept for the next one: more than the marker or an id line
MAX_RECONNECTS = 100


@dataclass(frozen=True)
class Plan:
    name: str
    total: int  # bytes of history
    big: int
    medium: int
    list_runs: int
    naive_list_runs: int
    open_runs: int  # of the big file, and of the medium one
    naive_open_runs: int
    history_runs: int  # of the big file, paged through GET /history instead of streamed
    quiet_wait: float  # s to wait at most for other programs to go quiet


FULL = Plan("full", 1000 * MB, 200 * MB, 50 * MB, 5, 3, 3, 2, 1, 30.0)
QUICK = Plan("quick", 300 * MB, 60 * MB, 15 * MB, 3, 1, 1, 1, 1, 2.0)


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in bytes (empty once it has gone)."""
    out: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
    return out


def reset_peak(pid: int) -> bool:
    """Start VmHWM afresh from the current RSS (Linux 4.0+: ``echo 5 > clear_refs``)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# -- the backend ------------------------------------------------------------------------------


@dataclass
class Backend:
    server: Server
    data_dir: Path
    spawn_to_ready_s: float
    ready_at: float  # time.monotonic() of the ready line


def start_backend(tmp: Path, home: Path, cpus: Cpus, name: str) -> Backend:
    """``python -m backend serve`` on a new data dir, with HOME of its own, pinned."""
    data_dir = tmp / f"data-{name}"
    shutil.rmtree(data_dir, ignore_errors=True)
    user_home = tmp / "home"
    user_home.mkdir(exist_ok=True)
    token = secrets.token_hex(24)
    cmd = [
        PYTHON, "-m", "backend", "serve", "--port", "0", "--data-dir", str(data_dir),
        "--claude-home", str(home), "--log-level", "warning",
        "--exit-on-stdin-eof",
    ]  # fmt: skip
    if cpus.server is not None:
        cmd = [PYTHON, "-c", PIN_AND_EXEC, str(cpus.server), *cmd]
    env = {**os.environ, "HOME": str(user_home), "SESSIONDOCK_TOKEN": token}
    spawned = time.monotonic()
    with open(tmp / "backend-stderr.log", "ab") as stderr:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env
        )
    assert proc.stdout is not None
    line = b""
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if selector.select(READY_TIMEOUT):
            line = proc.stdout.readline()
    ready_at = time.monotonic()
    if not line:
        proc.kill()
        proc.wait()
        log = (tmp / "backend-stderr.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"backend did not start:\n{log}")
    port = int(json.loads(line)["port"])
    server = Server(SESSIONDOCK, proc, port, token, tmp)
    return Backend(server, data_dir, ready_at - spawned, ready_at)


async def list_all(backend: Backend, corpus: Corpus) -> tuple[float, dict[str, str]]:
    """Seconds from the ready line to the first listing with every file's session, and the
    session id of each file."""
    wanted = {str(path) for path in corpus.files}
    deadline = time.monotonic() + LIST_TIMEOUT
    while True:
        data = await backend.server.get_json("/api/sessions")
        now = time.monotonic()
        ids = {
            s["agent"]["source"]: s["id"]
            for s in data["sessions"]
            if s.get("agent") and s["agent"].get("source") in wanted
        }
        if len(ids) == len(wanted):
            return now - backend.ready_at, ids
        if now > deadline:
            raise RuntimeError(f"only {len(ids)} of {len(wanted)} sessions listed")
        await asyncio.sleep(0.01)


def database_bytes(data_dir: Path) -> dict[str, int]:
    sizes = {}
    for suffix in ("", "-wal"):
        path = data_dir / f"sessiondock.sqlite3{suffix}"
        sizes["main" if not suffix else "wal"] = path.stat().st_size if path.exists() else 0
    return sizes


# -- a lean SSE reader ------------------------------------------------------------------------


class Follow(asyncio.Protocol):
    """Reads an event stream without parsing it: when the first stored event (an ``id:`` line)
    and the marker arrive, and the last id seen, for a reconnect."""

    def __init__(self, request: bytes, marker: bytes) -> None:
        loop = asyncio.get_running_loop()
        self._request = request
        self._marker = marker
        self._head = b""
        self._in_body = False
        self._tail = b""
        self.first_event_ns = 0
        self.last_id = 0
        self.bytes = 0
        self.found: asyncio.Future[int] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        self.bytes += len(data)
        if not self._in_body:
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return
            status = self._head.split(b"\r\n", 1)[0]
            if b" 200 " not in status + b" " and not self.found.done():
                self.found.set_exception(ConnectionError(status.decode(errors="replace")))
            self._in_body = True
            data, self._head = self._head[end + 4 :], b""
        buf = self._tail + data
        j = buf.rfind(b"\nid: ")
        while j >= 0:
            end = buf.find(b"\n", j + 5)
            if end >= 0:
                self.last_id = max(self.last_id, int(buf[j + 5 : end]))
                if not self.first_event_ns:
                    self.first_event_ns = now
                break
            j = buf.rfind(b"\nid: ", 0, j)
        if self._marker in buf and not self.found.done():
            self.found.set_result(now)
        self._tail = buf[-TAIL:]

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def follow_to_marker(server: Server, session_id: str, marker: str) -> dict[str, Any]:
    """Stream a session until ``marker`` arrives, reconnecting (with Last-Event-ID) if the
    backend cuts the stream off; times in ms from the first connect call."""
    loop = asyncio.get_running_loop()
    path = server.events_path(session_id)
    started = time.monotonic_ns()
    first_event_ns = 0
    last_id = 0
    total_bytes = 0
    for reconnects in range(MAX_RECONNECTS + 1):
        extra = f"Last-Event-ID: {last_id}\r\n" if last_id else ""
        request = request_bytes(HOST, server.port, path, server.token, extra)
        _, stream = await loop.create_connection(
            lambda request=request: Follow(request, marker.encode()), HOST, server.port
        )
        done, _ = await asyncio.wait(
            [stream.found, stream.closed], timeout=OPEN_TIMEOUT, return_when="FIRST_COMPLETED"
        )
        stream.close()
        first_event_ns = first_event_ns or stream.first_event_ns
        last_id = max(last_id, stream.last_id)
        total_bytes += stream.bytes
        if stream.found in done:
            return {
                "firstEventMs": (first_event_ns - started) / 1e6,
                "importedMs": (stream.found.result() - started) / 1e6,
                "lastId": last_id,
                "sseBytes": total_bytes,
                "reconnects": reconnects,
            }
        if not done:
            raise TimeoutError(f"no marker after {OPEN_TIMEOUT} s (last id {last_id})")
    raise RuntimeError(f"cut off {MAX_RECONNECTS} times (last id {last_id})")


async def sample_rss(pid: int, samples: list[tuple[float, int]], t0: float) -> None:
    while True:
        rss = proc_status(pid).get("VmRSS")
        if rss is not None:
            samples.append((round(time.monotonic() - t0, 3), rss))
        await asyncio.sleep(RSS_SAMPLE)


# -- the runs -----------------------------------------------------------------------------------


@dataclass
class Results:
    plan: Plan
    machine: dict[str, Any]
    corpus: dict[str, Any] = field(default_factory=dict)
    quiet: list[float] = field(default_factory=list)
    listing: list[dict[str, Any]] = field(default_factory=list)
    opening: list[dict[str, Any]] = field(default_factory=list)
    naive_list: list[dict[str, Any]] = field(default_factory=list)
    naive_open: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def quiet(results: Results) -> float:
    other = await wait_for_quiet(results.plan.quiet_wait)
    results.quiet.append(other)
    return other


async def listing_run(results: Results, corpus: Corpus, tmp: Path, cpus: Cpus, i: int) -> None:
    other = await quiet(results)
    backend = await asyncio.to_thread(start_backend, tmp, corpus.home, cpus, f"list-{i}")
    try:
        seconds, _ = await list_all(backend, corpus)
        status = proc_status(backend.server.pid)
        cpu = process_cpu(backend.server.pid)
    finally:
        await backend.server.stop()
        shutil.rmtree(backend.data_dir, ignore_errors=True)
    run = {
        "seconds": seconds, "peakRss": status.get("VmHWM"), "rss": status.get("VmRSS"),
        "spawnToReady": backend.spawn_to_ready_s, "cpuSeconds": cpu, "otherCores": other,
    }  # fmt: skip
    results.listing.append(run)
    progress(
        f"listing {i + 1}: {seconds * 1000:.0f} ms, peak RSS {status.get('VmHWM', 0) / MB:.1f} "
        f"MB (other programs {other:.2f} cores)"
    )


async def opening_run(
    results: Results, corpus: Corpus, path: Path, tmp: Path, cpus: Cpus, i: int
) -> None:
    backend = await asyncio.to_thread(start_backend, tmp, corpus.home, cpus, f"open-{i}")
    server = backend.server
    samples: list[tuple[float, int]] = []
    try:
        _, ids = await list_all(backend, corpus)
        session_id = ids[str(path)]
        other = await quiet(results)
        before = proc_status(server.pid)
        reset = reset_peak(server.pid)
        cpu0 = process_cpu(server.pid)
        t0 = time.monotonic()
        sampler = asyncio.create_task(sample_rss(server.pid, samples, t0))
        try:
            run = await follow_to_marker(server, session_id, corpus.end_marker(path))
        finally:
            sampler.cancel()
            await asyncio.gather(sampler, return_exceptions=True)
        elapsed = time.monotonic() - t0
        after = proc_status(server.pid)
        cpu = process_cpu(server.pid) - cpu0
        session = await server.get_json(f"/api/session/{session_id}")
        database = database_bytes(backend.data_dir)
    finally:
        await server.stop()
    database["afterStop"] = database_bytes(backend.data_dir)["main"]
    shutil.rmtree(backend.data_dir, ignore_errors=True)
    peak = after.get("VmHWM", 0) if reset else max((rss for _, rss in samples), default=0)
    run.update({
        "file": path.name, "fileBytes": corpus.sizes[path], "events": session["lastEventId"],
        "rssBefore": before.get("VmRSS"), "peakRss": peak, "peakFromVmHWM": reset,
        "rssAfter": after.get("VmRSS"), "cores": cpu / elapsed, "database": database,
        "otherCores": other, "rssSamples": samples,
    })  # fmt: skip
    if run["events"] != run["lastId"]:
        raise RuntimeError(f"stream ended at id {run['lastId']} of {run['events']}")
    results.opening.append(run)
    progress(
        f"opening {corpus.sizes[path] / MB:.0f} MB ({i + 1}): first event "
        f"{run['firstEventMs']:.0f} ms, imported in {run['importedMs'] / 1000:.1f} s, peak RSS "
        f"{peak / MB:.1f} MB, {run['events']:,} events, {run['reconnects']} reconnects"
    )


async def history_run(
    results: Results, corpus: Corpus, path: Path, tmp: Path, cpus: Cpus, i: int
) -> None:
    """Open a session by paging ``GET /history`` (default pages of 1,000 events) instead."""
    backend = await asyncio.to_thread(start_backend, tmp, corpus.home, cpus, f"history-{i}")
    server = backend.server
    try:
        _, ids = await list_all(backend, corpus)
        base = f"/api/session/{ids[str(path)]}/history"
        other = await quiet(results)
        reset = reset_peak(server.pid)
        t0 = time.monotonic()
        page = await server.get_json(base)
        first = time.monotonic() - t0
        events = len(page["events"])
        while page["hasMore"]:
            page = await server.get_json(f"{base}?after={page['nextAfter']}")
            events += len(page["events"])
        elapsed = time.monotonic() - t0
        peak = proc_status(server.pid).get("VmHWM", 0) if reset else math.nan
    finally:
        await server.stop()
        shutil.rmtree(backend.data_dir, ignore_errors=True)
    run = {
        "fileBytes": corpus.sizes[path], "firstPageMs": first * 1000, "allPagesMs": elapsed * 1000,
        "events": events, "peakRss": peak, "otherCores": other,
    }  # fmt: skip
    results.history.append(run)
    progress(
        f"history pages of {corpus.sizes[path] / MB:.0f} MB: first page after {first:.2f} s, "
        f"all {events:,} events after {elapsed:.2f} s, peak RSS {peak / MB:.1f} MB"
    )


async def naive_run(results: Results, mode: str, target: Path, cpus: Cpus) -> None:
    other = await quiet(results)
    cmd = [PYTHON, str(BENCH / "claude_naive.py"), mode, str(target)]
    if cpus.server is not None:
        cmd = [PYTHON, "-c", PIN_AND_EXEC, str(cpus.server), *cmd]
    done = await asyncio.to_thread(
        subprocess.run, cmd, capture_output=True, text=True, check=True, timeout=OPEN_TIMEOUT
    )
    run = {**json.loads(done.stdout), "otherCores": other}
    (results.naive_list if mode == "list" else results.naive_open).append(run)
    progress(
        f"naive {mode}: {run['seconds']:.2f} s, peak RSS {run['peakRss'] / MB:.1f} MB, "
        f"{run['lines']:,} lines"
    )


async def measure(results: Results, tmp: Path, cpus: Cpus) -> None:
    plan = results.plan
    cpus.pin_self()
    started = time.monotonic()
    corpus = await asyncio.to_thread(
        generate, tmp / "claude", total=plan.total, big=plan.big, medium=plan.medium
    )
    results.corpus = {
        "files": len(corpus.files), "bytes": corpus.total_bytes,
        "folders": len({p.parent for p in corpus.files}),
        "bigBytes": corpus.sizes[corpus.big], "mediumBytes": corpus.sizes[corpus.medium],
        "medianFileBytes": median(list(corpus.sizes.values())),
        "generateSeconds": time.monotonic() - started,
    }  # fmt: skip
    progress(
        f"generated {corpus.total_bytes / MB:,.0f} MB in {len(corpus.files)} files in "
        f"{results.corpus['generateSeconds']:.1f} s"
    )
    for i in range(plan.list_runs):
        await listing_run(results, corpus, tmp, cpus, i)
    for _ in range(plan.naive_list_runs):
        await naive_run(results, "list", corpus.home, cpus)
    for i in range(plan.open_runs):
        await opening_run(results, corpus, corpus.big, tmp, cpus, i)
        await opening_run(results, corpus, corpus.medium, tmp, cpus, i)
    for i in range(plan.history_runs):
        await history_run(results, corpus, corpus.big, tmp, cpus, i)
    for _ in range(plan.naive_open_runs):
        await naive_run(results, "open", corpus.big, cpus)


# -- the report ---------------------------------------------------------------------------------


def machine(cpus: Cpus) -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
        check=False,
    ).stdout.strip()  # fmt: skip
    changed = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no", "backend"], cwd=ROOT,
        capture_output=True, text=True, check=False,
    ).stdout.split("\n")  # fmt: skip
    return {
        "commit": commit or "?",
        "backendChanged": [line[3:] for line in changed if line.strip()],
        "nproc": os.cpu_count(),
        "serverCpu": cpus.server,
        "clientCpu": cpus.client,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "memTotal": psutil.virtual_memory().total,
        "loadAverage": os.getloadavg(),
        "startedAt": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def spread(values: list[float], scale: float = 1.0, spec: str = ",.0f") -> list[str]:
    """Median, min and max as table cells."""
    clean = [v / scale for v in values if v is not None and not math.isnan(v)]
    if not clean:
        return ["-", "-", "-"]
    return [fmt(median(clean), spec), fmt(min(clean), spec), fmt(max(clean), spec)]


def opening_of(results: Results, size: int) -> list[dict[str, Any]]:
    return [r for r in results.opening if r["fileBytes"] == size]


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("PASS" if ok else "MISS")


def targets(results: Results) -> list[list[str]]:
    corpus = results.corpus
    rows = []
    list_s = median([r["seconds"] for r in results.listing])
    rows.append([
        f"listing {corpus['bytes'] / MB:,.0f} MB ({corpus['files']} files) under {MAX_LIST_S:g} s",
        f"{list_s * 1000:,.0f} ms", verdict(None if math.isnan(list_s) else list_s < MAX_LIST_S),
    ])  # fmt: skip
    list_rss = median([r["peakRss"] for r in results.listing]) / MB
    rows.append([
        f"listing: peak RSS under {MAX_RSS_MB:g} MB", f"{list_rss:.1f} MB",
        verdict(None if math.isnan(list_rss) else list_rss < MAX_RSS_MB),
    ])  # fmt: skip
    peaks = {}
    for key in ("bigBytes", "mediumBytes"):
        runs = opening_of(results, corpus[key])
        peak = median([r["peakRss"] for r in runs]) / MB
        peaks[key] = peak
        rows.append([
            f"opening {corpus[key] / MB:,.0f} MB: peak RSS under {MAX_RSS_MB:g} MB",
            f"{peak:.1f} MB", verdict(None if math.isnan(peak) else peak < MAX_RSS_MB),
        ])  # fmt: skip
    big, medium = peaks["bigBytes"], peaks["mediumBytes"]
    grew = big / medium - 1 if medium else math.nan
    size_ratio = corpus["bigBytes"] / corpus["mediumBytes"]
    rows.append([
        f"memory independent of file size ({size_ratio:.0f}x the file: peak within "
        f"{SAME_SIZE:.0%})",
        "-" if math.isnan(grew) else f"{big:.1f} vs {medium:.1f} MB ({grew:+.0%})",
        verdict(None if math.isnan(grew) else grew <= SAME_SIZE),
    ])  # fmt: skip
    return rows


def report(results: Results) -> str:
    plan, m, corpus = results.plan, results.machine, results.corpus
    out = [
        f"Claude Code history, {plan.name} run, {m['startedAt']}, commit {m['commit']}"
        + (f" (backend changed: {', '.join(m['backendChanged'])})" if m["backendChanged"] else ""),
        f"{m['nproc']} CPUs (backend and naive child on CPU {m['serverCpu']}, harness on "
        f"{m['clientCpu']}), Python {m['python']}, kernel {m['kernel']}, load average at start "
        + ", ".join(f"{x:.2f}" for x in m["loadAverage"]),
    ]
    if results.quiet:
        out.append(
            f"Other programs before each of {len(results.quiet)} runs: at most "
            f"{max(results.quiet):.2f} cores (median {median(results.quiet):.2f})"
        )
    if not corpus:
        return "\n".join(out)
    out.append(
        f"History: {corpus['bytes'] / MB:,.0f} MB in {corpus['files']} files over "
        f"{corpus['folders']} project folders (median file {corpus['medianFileBytes'] / MB:.2f} "
        f"MB; the two big ones {corpus['bigBytes'] / MB:.0f} and "
        f"{corpus['mediumBytes'] / MB:.0f} MB), generated in {corpus['generateSeconds']:.1f} s"
    )
    rows = []
    if results.listing:
        n = len(results.listing)
        rows.append(["listing: ready line → every session listed, ms", str(n),
                     *spread([r["seconds"] for r in results.listing], 1e-3)])  # fmt: skip
        rows.append(["listing: backend peak RSS (VmHWM), MB", str(n),
                     *spread([r["peakRss"] for r in results.listing], MB, ".1f")])  # fmt: skip
        rows.append(["backend spawn → ready line, ms", str(n),
                     *spread([r["spawnToReady"] for r in results.listing], 1e-3)])  # fmt: skip
        total = [r["spawnToReady"] + r["seconds"] for r in results.listing]
        rows.append(["backend spawn → every session listed, ms", str(n), *spread(total, 1e-3)])
    if results.naive_list:
        n = len(results.naive_list)
        rows.append(["naive: json.loads of every line, ms", str(n),
                     *spread([r["seconds"] for r in results.naive_list], 1e-3)])  # fmt: skip
        rows.append(["naive: its peak RSS, MB", str(n),
                     *spread([r["peakRss"] for r in results.naive_list], MB, ".1f")])  # fmt: skip
    out += ["", "Listing", table(["", "runs", "median", "min", "max"], rows)]
    list_s = median([r["seconds"] for r in results.listing])
    naive_s = median([r["seconds"] for r in results.naive_list])
    if not math.isnan(list_s) and not math.isnan(naive_s):
        out.append(f"Listing takes 1/{naive_s / list_s:,.0f} of the naive full parse's time.")
    rows = []
    for key in ("bigBytes", "mediumBytes"):
        runs = opening_of(results, corpus[key])
        if not runs:
            continue
        size = f"{corpus[key] / MB:.0f} MB"
        n = str(len(runs))
        mbps = [r["fileBytes"] / r["importedMs"] / 1e3 for r in runs]
        rows += [
            [f"{size}: connect → first event, ms", n,
             *spread([r["firstEventMs"] for r in runs], 1, ",.1f")],
            [f"{size}: connect → last event (all imported), s", n,
             *spread([r["importedMs"] for r in runs], 1e3, ",.2f")],
            [f"{size}: file MB/s", n, *spread(mbps, 1, ",.1f")],
            [f"{size}: backend peak RSS during it, MB", n,
             *spread([r["peakRss"] for r in runs], MB, ".1f")],
            [f"{size}: backend RSS before it, MB", n,
             *spread([r["rssBefore"] for r in runs], MB, ".1f")],
            [f"{size}: backend CPU, cores", n, *spread([r["cores"] for r in runs], 1, ".2f")],
            [f"{size}: events", n, *spread([r["events"] for r in runs])],
            [f"{size}: SQLite main + WAL after import, MB", n,
             *spread([r["database"]["main"] + r["database"]["wal"] for r in runs], MB, ",.0f")],
            [f"{size}: SQLite after stop, MB", n,
             *spread([r["database"]["afterStop"] for r in runs], MB, ",.0f")],
            [f"{size}: stream cut off and resumed", n,
             *spread([r["reconnects"] for r in runs])],
        ]  # fmt: skip
    if results.history:
        n = str(len(results.history))
        size = f"{corpus['bigBytes'] / MB:.0f} MB"
        rows += [
            [f"{size} by GET /history: first page, s", n,
             *spread([r["firstPageMs"] for r in results.history], 1e3, ",.2f")],
            [f"{size} by GET /history: all pages, s", n,
             *spread([r["allPagesMs"] for r in results.history], 1e3, ",.2f")],
            [f"{size} by GET /history: peak RSS, MB", n,
             *spread([r["peakRss"] for r in results.history], MB, ".1f")],
        ]  # fmt: skip
    if results.naive_open:
        n = str(len(results.naive_open))
        size = f"{corpus['bigBytes'] / MB:.0f} MB"
        rows.append([f"naive: {size} loaded into a list, ms", n,
                     *spread([r["seconds"] for r in results.naive_open], 1e-3)])  # fmt: skip
        rows.append(["naive: its peak RSS, MB", n,
                     *spread([r["peakRss"] for r in results.naive_open], MB, ".1f")])  # fmt: skip
    out += ["", "Opening", table(["", "runs", "median", "min", "max"], rows)]
    ours = median([r["peakRss"] for r in opening_of(results, corpus["bigBytes"])])
    naive = median([r["peakRss"] for r in results.naive_open])
    if not math.isnan(ours) and not math.isnan(naive):
        out.append(
            f"Opening the {corpus['bigBytes'] / MB:.0f} MB session peaks at "
            f"{ours / naive:.0%} of the naive load's memory ({naive / ours:.1f}x less)."
        )
    out += ["", "Targets", table(["target", "measured", ""], targets(results))]
    return "\n".join(out)


async def run(plan: Plan, pin: bool, results: Results) -> None:
    cpus = Cpus.choose(pin)
    results.machine = machine(cpus)
    with tempfile.TemporaryDirectory(prefix="sessiondock-claude-bench-") as tmp:
        try:
            await measure(results, Path(tmp), cpus)
        except Exception as exc:  # keep what was measured
            results.errors.append(f"{type(exc).__name__}: {exc}")
            progress(f"FAILED: {exc}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="a 300 MB folder, single runs (about 15 s)"
    )
    parser.add_argument("--no-pin", action="store_true", help="leave CPU placement to the OS")
    parser.add_argument("--no-json", action="store_true", help="do not write bench/results/")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    results = Results(plan, {})
    started = time.monotonic()
    asyncio.run(run(plan, not args.no_pin, results))
    elapsed = time.monotonic() - started
    if not args.no_json:
        out_dir = BENCH / "results"
        out_dir.mkdir(exist_ok=True)
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        path = out_dir / f"{stamp}-claude-history-{plan.name}.json"
        path.write_text(json.dumps({**asdict(results), "seconds": elapsed}) + "\n")
        progress(f"results: {path.relative_to(ROOT)}")
    print(report(results))
    if results.errors:
        print("\nErrors:\n" + "\n".join(results.errors))
    print(f"\n({elapsed:.0f} s)")
    return 1 if results.errors else 0


if __name__ == "__main__":
    sys.exit(main())
