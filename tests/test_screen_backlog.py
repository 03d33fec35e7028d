"""A terminal's screen (its emulator, on a worker) says when more output waits for it than a
session's high mark, and calls back once the emulator has it down to the low mark: the session
then stops reading its program, and goes on (backend/runtimes/terminal.py)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from backend.protocol.events import Output
from backend.protocol.sse import StoredEvent
from backend.runtimes.screen import Screen, ScreenOptions, new_emulator

LINE = "0123456789" * 10 + "\r\n"
EVENTS = 300


@pytest.fixture
def busy() -> Iterator[threading.Event]:
    """Set it, and the worker is free."""
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def worker(busy: threading.Event) -> Iterator[ThreadPoolExecutor]:
    executor = ThreadPoolExecutor(1)
    yield executor
    busy.set()
    executor.shutdown()


def output(seq: int, text: str) -> StoredEvent:
    return StoredEvent.of(seq, Output(session_id="s", timestamp=0, type="stdout", content=text))


async def test_a_screen_behind_the_high_mark_calls_back_at_the_low_mark(
    worker: ThreadPoolExecutor, busy: threading.Event
) -> None:
    worker.submit(busy.wait)  # the worker is busy: what follows queues up
    screen = Screen(lambda: new_emulator(80, 24, ScreenOptions(scrollback_lines=1000)), 0, worker)
    events = [output(seq, f"{seq:05d} {LINE}") for seq in range(1, EVENTS + 1)]
    for event in events:
        screen.follow(event)
    queued = sum(len(event.data) for event in events)
    assert screen.congested(queued - 1)
    assert not screen.congested(queued)

    drained = asyncio.Event()
    screen.call_when_drained(queued // 4, drained.set)
    await asyncio.sleep(0.05)
    assert not drained.is_set()  # nothing was fed yet

    busy.set()
    await asyncio.wait_for(drained.wait(), 10)
    assert not screen.congested(0)
    view = await screen.view("text")
    assert view.last_seq == EVENTS
    assert f"{EVENTS:05d} 0123456789" in view.content  # every event was fed, in order

    called: list[int] = []
    screen.call_when_drained(0, lambda: called.append(1))  # already low: at once
    assert called == [1]
    await screen.close()
