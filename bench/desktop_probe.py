"""Runs inside the desktop app's own process and measures it there; ``bench/desktop.py`` starts it.

    live    the real app (DesktopApp, its backend child, a temp data dir) shows a session that
            runs ``generator.py`` (timestamped lines at a set rate). After ``--untouched`` s with
            nothing of the probe running (how the app's references to None change), it records
            how late a 5 ms Qt timer and a 5 ms asyncio sleep fire (the loop's stalls), the
            newest line in the document at each tick (how far behind the view is) and, every
            0.5 s, the RSS of the app and of the backend: for ``--idle`` quiet seconds with the
            session on screen, then for the ``--duration`` s of output and until the session's
            exit is shown. ``--profile FILE`` writes a cProfile of the output's seconds.
    launch  what ``desktop.app.main`` does, plus two marks: the window's first paint and
            ``DesktopApp.ready``. Marks are CLOCK_MONOTONIC, which every process shares, so the
            parent counts them from its spawn.

``--out`` gets JSON lines as they happen (what a crash leaves behind) and the result last. The
probe adds its timers and sampler to the app's loop and touches nothing else (but see
``guard_none``): the window, the feed and the backend are the app's own.
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
# Run as a script, this folder comes first on sys.path, and bench/desktop.py would then shadow
# the desktop package.
if sys.path and Path(sys.path[0] or ".").resolve() == BENCH:
    del sys.path[0]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import cProfile  # noqa: E402
import ctypes  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import IO, Any  # noqa: E402

STARTED = time.monotonic()  # before Qt and the app are imported
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEvent, QObject, Qt, QTimer  # noqa: E402
from PySide6.QtGui import QIcon, QTextDocument  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from desktop.app import DesktopApp, show_exception  # noqa: E402
from desktop.qtloop import make_loop  # noqa: E402
from desktop.sse_client import Event, StreamState  # noqa: E402

IMPORTED = time.monotonic()
TICK = 0.005  # s
SAMPLE = 0.5  # s, memory
GENERATOR = BENCH / "generator.py"
HEAD = 33  # "@" + mark + 20-digit time + " " + 10-digit seq
NONE_GUARD = 1 << 40


def none_lost_per_call() -> float:
    """References to None lost per call of a Qt method that returns nothing (0: a sound binding)."""
    timer = QTimer()
    before = sys.getrefcount(None)
    for _ in range(1000):
        timer.setInterval(5)
    return (before - sys.getrefcount(None)) / 1000


def guard_none() -> None:
    """Add 2**40 references to None, True and False, so the app runs long enough to measure.

    PySide6 6.12.0 drops a reference to None on every call of a method that returns nothing
    (``QTextCursor.insertBlock``, ``QLabel.setText``, ``QTimer.start``...). Before Python 3.12
    None is not immortal: when its count reaches 0 the interpreter aborts ("none_dealloc").
    With None guarded, a process that ran the live session still aborted on its way out on
    True or False ("bool_dealloc"), so they are guarded too. Only these counts change.
    """
    for constant in (None, True, False):
        ctypes.c_ssize_t.from_address(id(constant)).value += NONE_GUARD


def tail_line(document: QTextDocument) -> tuple[int, int] | None:
    """The write time (ns) and seq of the newest generator line in the document, if any.

    The last block is the partial line; it counts once its time and seq are in."""
    block = document.lastBlock()
    for _ in range(2):
        text = block.text()
        if len(text) >= HEAD and text[0] == "@":
            try:
                return int(text[2:22]), int(text[23:33])
            except ValueError:
                return None
        block = block.previous()
        if not block.isValid():
            return None
    return None


def rss(pid: int) -> tuple[int, int]:
    """Resident bytes of a process: all of them, and the anonymous part (heap, not files)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0, 0
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    kb = [int(fields.get(key, "0 kB").split()[0]) * 1024 for key in ("VmRSS", "RssAnon")]
    return kb[0], kb[1]


class Probe:
    """The 5 ms ticks (Qt timer and asyncio), the view's newest line, and memory samples."""

    def __init__(self, trace: IO[str]) -> None:
        self.trace = trace
        self.document: QTextDocument | None = None
        self.backend_pid = 0
        self.qt: list[tuple[float, float]] = []  # (time, lateness s)
        self.aio: list[tuple[float, float]] = []
        self.tail: list[tuple[float, int, int]] = []  # (time, write time ns, seq)
        # (time, app RSS, backend RSS, blocks, newest line's seq, references to None, True,
        # False, app anonymous RSS, backend anonymous RSS)
        self.memory: list[tuple[float, ...]] = []
        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(round(TICK * 1000))
        self._timer.timeout.connect(self._qt_tick)
        self._last = 0.0
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._last = time.monotonic()
        self._timer.start()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._aio_ticks()), loop.create_task(self._samples())]

    async def stop(self) -> None:
        self._timer.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _qt_tick(self) -> None:
        now = time.monotonic()
        self.qt.append((now, now - self._last - TICK))
        self._last = now
        if self.document is not None:
            line = tail_line(self.document)
            if line is not None:
                self.tail.append((now, *line))

    async def _aio_ticks(self) -> None:
        while True:
            due = time.monotonic() + TICK
            await asyncio.sleep(TICK)
            now = time.monotonic()
            self.aio.append((now, now - due))

    async def _samples(self) -> None:
        me = os.getpid()
        while True:
            blocks = self.document.blockCount() if self.document is not None else 0
            seq = self.tail[-1][2] if self.tail else -1
            (app, app_anon), (backend, backend_anon) = rss(me), rss(self.backend_pid)
            sample = (
                time.monotonic(), app, backend, blocks, seq, sys.getrefcount(None),
                sys.getrefcount(True), sys.getrefcount(False), app_anon, backend_anon,
            )  # fmt: skip
            self.memory.append(sample)
            note(self.trace, sample=sample)  # what a crash leaves behind
            await asyncio.sleep(SAMPLE)


def note(trace: IO[str], **item: Any) -> None:
    trace.write(json.dumps(item) + "\n")
    trace.flush()


async def live(
    app: DesktopApp, args: argparse.Namespace, workdir: Path, trace: IO[str]
) -> dict[str, Any]:
    window = app.window
    ready = asyncio.Event()
    app.ready.connect(ready.set)
    async with asyncio.timeout(30):
        await ready.wait()
    supervisor = app.supervisor
    assert supervisor is not None
    assert supervisor.ready is not None
    project = workdir / "project"
    project.mkdir()
    await window.add_project(str(project))
    go = workdir / "go"
    command = (
        f"exec {sys.executable} {GENERATOR} --go {go} --rate {args.rate} "
        f"--duration {args.duration} --size {args.size} "
        f"--go-timeout {args.untouched + args.idle + 60:.0f}"
    )
    session_id = await window.new_session(command=command, name="bench")
    await window.settle()  # the session is selected and on screen: its feed exists
    feed = window.feed
    document = window.document(session_id)
    assert feed is not None
    assert document is not None

    connected = asyncio.Event()
    ended = asyncio.Event()
    received = [0, 0]  # lines and hand-overs from the feed to the widget
    reconnects: list[tuple[float, str | None]] = []
    marks: dict[str, float] = {}

    def on_state(_: str, state: StreamState) -> None:
        if state.kind == "connected":
            connected.set()
        elif state.kind == "reconnecting":
            reconnects.append((time.monotonic(), state.error))

    def on_output(_: str, text: str) -> None:
        received[0] += text.count("\n")
        received[1] += 1

    def on_event(_: str, event: Event) -> None:
        if event.type == "status" and event.data.get("status") != "running" and not ended.is_set():
            marks["exitShownAt"] = time.monotonic()  # the feed flushes all output before it
            ended.set()

    feed.state_changed.connect(on_state)
    feed.output_received.connect(on_output)
    feed.event_received.connect(on_event)
    if "connected" not in window.stream_label.text():
        async with asyncio.timeout(10):
            await connected.wait()

    probe = Probe(trace)
    probe.document = document.document
    probe.backend_pid = supervisor.ready.pid
    # The app alone, nothing of the probe's running: how fast it loses references to None
    # (after a second for the new session's first refresh).
    if args.untouched:
        await asyncio.sleep(1.0)
    untouched = (time.monotonic(), sys.getrefcount(None))
    note(trace, untouched=untouched)
    await asyncio.sleep(args.untouched)
    untouched += (time.monotonic(), sys.getrefcount(None))
    note(trace, untouched=untouched)
    probe.start()
    idle_start = time.monotonic()
    await asyncio.sleep(args.idle)
    go_at = time.monotonic()
    note(trace, goAt=go_at)
    profile = cProfile.Profile() if args.profile else None
    if profile is not None:
        profile.enable()
    go.write_bytes(b"")
    await asyncio.sleep(args.duration)  # bench/desktop.py measures the CPU used meanwhile
    end_at = go_at + args.duration  # when the output ends (the sleep may wake up late)
    if profile is not None:
        profile.disable()
        profile.dump_stats(args.profile)
    async with asyncio.timeout(args.drain):
        await ended.wait()
    await asyncio.sleep(1.0)  # a quiet second after it: memory once the output stopped
    await probe.stop()
    last = tail_line(document.document)
    metrics = await app.api.metrics()
    window.close()
    return {
        "untouched": untouched,
        "idleStart": idle_start,
        "goAt": go_at,
        "endAt": end_at,
        "exitShownAt": marks["exitShownAt"],
        "lastLine": list(last) if last else None,
        "linesReceived": received[0],
        "reconnects": reconnects,
        "slowClientsDropped": metrics["eventBus"]["slowClientsDropped"],
        "handOvers": received[1],
        "blockCount": document.document.blockCount(),
        "scrollback": window.settings.scrollback(),
        "qt": probe.qt,
        "aio": probe.aio,
        "tail": probe.tail,
        "memory": probe.memory,
    }


class FirstPaint(QObject):
    """Notes when the window is first painted (shown, as far as offscreen Qt goes)."""

    def __init__(self) -> None:
        super().__init__()
        self.at = 0.0
        self.done = asyncio.Event()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if not self.done.is_set() and event.type() == QEvent.Type.Paint:
            self.at = time.monotonic()
            self.done.set()
        return False


async def launch(app: DesktopApp, marks: dict[str, float], paint: FirstPaint) -> None:
    ready = asyncio.Event()
    app.ready.connect(ready.set)
    async with asyncio.timeout(30):
        await ready.wait()
        marks["ready"] = time.monotonic()
        await app.window.settle()  # the projects list, loaded from the new backend
        marks["loaded"] = time.monotonic()
        await paint.done.wait()
    marks["painted"] = paint.at
    marks["usable"] = max(marks["ready"], paint.at)
    app.window.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=("live", "launch"))
    parser.add_argument("--out", type=Path, required=True, help="JSON lines, the result last")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--rate", type=int, default=50_000, help="lines per second")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of output")
    parser.add_argument("--size", type=int, default=100, help="bytes per line")
    parser.add_argument("--idle", type=float, default=3.0, help="quiet seconds before the output")
    parser.add_argument("--untouched", type=float, default=0.0, help="quiet s before the probe")
    parser.add_argument("--drain", type=float, default=30.0, help="wait this long for the end")
    parser.add_argument("--guard-none", action="store_true", help="if needed: see guard_none()")
    parser.add_argument("--profile", type=Path, help="cProfile the output phase into this file")
    args = parser.parse_args()
    marks = {"started": STARTED, "imported": IMPORTED}
    trace = args.out.open("w")
    lost = none_lost_per_call()
    guarded = args.guard_none and lost > 0
    if guarded:
        guard_none()
    note(trace, noneLostPerCall=lost, guarded=guarded)

    # What desktop.app.main does, with the app object in reach.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    qt = QApplication(sys.argv[:1])
    qt.setApplicationName("SessionDock")
    qt.setOrganizationName("SessionDock")
    qt.setWindowIcon(QIcon.fromTheme("utilities-terminal"))
    sys.excepthook = show_exception
    loop = make_loop(qt)
    asyncio.set_event_loop(loop)
    app = DesktopApp(args.data_dir)
    paint = FirstPaint()
    app.window.installEventFilter(paint)
    marks["constructed"] = time.monotonic()
    result: dict[str, Any] = {}
    try:
        runner = loop.create_task(app.run())
        if args.mode == "live":
            with tempfile.TemporaryDirectory(prefix="sessiondock-desktop-") as tmp:
                result = loop.run_until_complete(live(app, args, Path(tmp), trace))
        else:
            loop.run_until_complete(launch(app, marks, paint))
            result["noneReferences"] = sys.getrefcount(None)
        marks["closing"] = time.monotonic()
        code = loop.run_until_complete(runner)
        marks["closed"] = time.monotonic()
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    note(trace, result={**result, "marks": marks, "code": code})
    trace.close()
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
