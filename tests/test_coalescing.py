"""When output goes: at once while the store is idle, in one event per commit while it is busy,
once per window for a loud stream (backend/runtimes/process.py, ``Store.after_commit``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from backend.protocol.events import Output
from backend.runtimes.process import LOUD_BYTES, MAX_EVENT_BYTES, _Coalescer
from backend.store import Store

WINDOW = 0.05


class Paced:
    """A pace that holds its callbacks until ``release`` (a commit under way)."""

    def __init__(self) -> None:
        self.waiting: list[Callable[[], None]] = []

    def __call__(self, callback: Callable[[], None]) -> None:
        self.waiting.append(callback)

    def release(self) -> None:
        waiting, self.waiting = self.waiting, []
        for callback in waiting:
            callback()


async def test_a_quiet_stream_waits_only_for_the_commit_under_way() -> None:
    events: list[str] = []
    pace = Paced()
    coalescer = _Coalescer("stdout", lambda _, text, mark: events.append(text), WINDOW,
                           asyncio.get_running_loop(), pace)  # fmt: skip
    coalescer.feed(b"one\n")
    coalescer.feed(b"two\n")  # while the first waits: it joins it, asking nothing more
    assert events == [] and len(pace.waiting) == 1
    pace.release()
    assert events == ["one\ntwo\n"]
    coalescer.feed(b"three\n")  # quiet still (a small event): no window to wait out
    pace.release()
    assert events == ["one\ntwo\n", "three\n"]


async def test_a_loud_stream_goes_once_per_window_and_never_past_64_kib() -> None:
    events: list[str] = []
    pace = Paced()
    loop = asyncio.get_running_loop()
    coalescer = _Coalescer("stdout", lambda _, text, mark: events.append(text), WINDOW, loop, pace)
    coalescer.feed(b"x" * LOUD_BYTES)
    pace.release()
    assert len(events) == 1
    coalescer.feed(b"y")  # right after a large event: loud, so the window holds it
    coalescer.feed(b"z")
    assert pace.waiting == [] and len(events) == 1
    await asyncio.sleep(WINDOW * 2)
    assert events[1:] == ["yz"]
    coalescer.feed(b"a" * MAX_EVENT_BYTES)  # a full event goes at once, whatever the pace
    assert events[2:] == ["a" * MAX_EVENT_BYTES]


async def test_the_store_calls_back_at_once_when_idle_and_after_the_commit_when_busy(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "db.sqlite3", max_session_bytes=1 << 30)
    await store.open()
    try:
        called: list[str] = []
        store.after_commit(lambda: called.append("idle"))
        await asyncio.sleep(0)
        assert called == ["idle"]
        store.events.append(Output(session_id="s", timestamp=1, type="stdout", content="x"))
        assert store.backlog == 1
        store.after_commit(lambda: called.append(f"busy, {store.events_persisted} committed"))
        await store.flush()
        assert called == ["idle", "busy, 1 committed"]  # called once the event was committed
    finally:
        await store.close()
