"""The app's asyncio loop on Qt: callbacks run only while it runs; async generators are closed."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from types import FrameType

import pytest
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from desktop.qtloop import QtEventLoop

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR")


@pytest.fixture
def loop(qapp: QApplication) -> Iterator[QtEventLoop]:
    loop = QtEventLoop(qapp)
    try:
        yield loop
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()  # what anyio (under httpx) asks in every step


def test_a_task_never_steps_while_the_loop_is_not_running(
    loop: QtEventLoop, qapp: QApplication
) -> None:
    task = loop.create_task(running_loop())
    qapp.processEvents()  # as qasync's run_until_complete and pytest-qt do, loop not running
    assert not task.done()
    assert loop.run_until_complete(task) is loop


def test_held_callbacks_run_first_and_in_order(loop: QtEventLoop, qapp: QApplication) -> None:
    order: list[str] = []
    loop.call_soon(order.append, "first")
    qapp.processEvents()
    loop.call_soon(order.append, "second")
    loop.call_later(0.01, order.append, "later")
    assert order == []
    loop.run_until_complete(asyncio.sleep(0.05))
    assert order == ["first", "second", "later"]


def test_a_held_callback_cancelled_meanwhile_never_runs(
    loop: QtEventLoop, qapp: QApplication
) -> None:
    order: list[str] = []
    handle = loop.call_soon(order.append, "cancelled")
    loop.call_soon(order.append, "kept")
    qapp.processEvents()
    handle.cancel()
    loop.run_until_complete(asyncio.sleep(0.01))
    assert order == ["kept"]


def test_a_held_task_step_keeps_its_task_context(loop: QtEventLoop, qapp: QApplication) -> None:
    gate = loop.create_future()

    async def body() -> str:
        VAR.set("before")
        await gate  # woken while the loop is not running: this step is held
        VAR.set("after")
        await asyncio.sleep(0)
        return VAR.get()

    task = loop.create_task(body())
    loop.run_until_complete(asyncio.sleep(0.01))
    gate.set_result(None)
    qapp.processEvents()
    assert loop.run_until_complete(task) == "after"


def test_an_error_in_a_held_callback_goes_to_the_exception_handler(
    loop: QtEventLoop, qapp: QApplication
) -> None:
    errors: list[BaseException | None] = []
    loop.set_exception_handler(lambda _, context: errors.append(context.get("exception")))

    def fail() -> None:
        raise ValueError("boom")

    loop.call_soon(fail)
    qapp.processEvents()
    loop.run_until_complete(asyncio.sleep(0.01))
    assert [type(error) for error in errors] == [ValueError]


def test_a_nested_qt_loop_inside_the_running_loop_runs_callbacks(loop: QtEventLoop) -> None:
    order: list[str] = []

    def modal() -> None:  # a dialog's exec(), opened from a plain Qt slot
        nested = QEventLoop()
        loop.call_soon(order.append, "during")
        QTimer.singleShot(50, nested.quit)
        nested.exec()
        order.append("after")

    loop.call_soon(modal)
    loop.run_until_complete(asyncio.sleep(0.2))
    assert order == ["during", "after"]


def test_a_held_callback_that_opens_a_nested_loop_does_not_freeze_asyncio(
    loop: QtEventLoop, qapp: QApplication
) -> None:
    order: list[str] = []
    ticks_during: list[int] = []

    def modal() -> None:  # a dialog's exec(), in a callback that was held back
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        task = loop.create_task(ticker())
        loop.call_soon(order.append, "during")
        nested = QEventLoop()
        QTimer.singleShot(300, nested.quit)
        nested.exec()
        ticks_during.append(ticks)
        order.append("after")
        task.cancel()

    loop.call_soon(modal)
    loop.call_soon(order.append, "held behind it")
    qapp.processEvents()  # the loop is not running: both are held
    assert order == []
    loop.run_until_complete(asyncio.sleep(0.5))
    # What was held still runs in its order; what came during the nested loop ran in it.
    assert order == ["during", "after", "held behind it"]
    assert ticks_during[0] >= 5  # about 30 in 300 ms; none if asyncio froze


async def numbers(closed: list[asyncio.AbstractEventLoop]) -> AsyncIterator[int]:
    try:
        yield 1
        yield 2
    finally:
        await asyncio.sleep(0)  # an await in clean-up, as httpx's streams have
        closed.append(asyncio.get_running_loop())


def test_an_abandoned_async_generator_is_closed_on_the_loop(loop: QtEventLoop) -> None:
    closed: list[asyncio.AbstractEventLoop] = []

    async def abandon() -> None:
        generator = numbers(closed)
        await anext(generator)
        del generator
        gc.collect()
        for _ in range(5):
            await asyncio.sleep(0)

    loop.run_until_complete(abandon())
    assert closed == [loop]


def test_shutdown_asyncgens_closes_a_suspended_generator(loop: QtEventLoop) -> None:
    closed: list[asyncio.AbstractEventLoop] = []

    async def start() -> AsyncIterator[int]:
        generator = numbers(closed)
        await anext(generator)
        return generator

    generator = loop.run_until_complete(start())
    loop.run_until_complete(loop.shutdown_asyncgens())
    assert closed == [loop]
    del generator


def _from_a_thread(call: Callable[[], object]) -> list[str]:
    """Run ``call`` on another thread; the Qt (PySide6/shiboken6) functions it entered."""
    entered: list[str] = []

    def profile(frame: FrameType, event: str, arg: object) -> None:
        if event == "c_call":
            owner = getattr(arg, "__self__", None)
            where = f"{type(owner).__module__}.{getattr(arg, '__qualname__', arg)}"
            if where.startswith(("PySide6", "shiboken6")):
                entered.append(where)

    def run() -> None:
        sys.setprofile(profile)
        try:
            call()
        finally:
            sys.setprofile(None)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return entered


def test_a_call_from_another_thread_runs_on_the_loop_without_entering_qt(
    loop: QtEventLoop,
) -> None:
    """A thread that is inside Qt's C++ code as Python finalizes aborts the app (the backend's
    waitpid thread at quit did): another thread's call is queued by Python alone."""
    seen: list[tuple[str, int, str]] = []
    VAR.set("given")
    given = contextvars.copy_context()

    def note(name: str) -> None:
        seen.append((name, threading.get_ident(), VAR.get("unset")))

    def calls() -> None:
        loop.call_soon_threadsafe(note, "first")  # in the thread's own context
        cancelled = loop.call_soon_threadsafe(note, "cancelled")
        loop.call_soon_threadsafe(note, "last", context=given)
        cancelled.cancel()

    assert _from_a_thread(calls) == []
    loop.run_until_complete(asyncio.sleep(0.1))
    me = threading.get_ident()
    assert seen == [("first", me, "unset"), ("last", me, "given")]


def test_a_call_from_another_thread_after_close_is_refused(qapp: QApplication) -> None:
    loop = QtEventLoop(qapp)
    loop.close()
    with pytest.raises(RuntimeError, match="closed"):
        loop.call_soon_threadsafe(print)
