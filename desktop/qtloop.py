"""The asyncio loop on top of Qt's (qasync), with what qasync leaves out.

qasync runs every asyncio callback from a Qt timer, so Qt runs them whenever it processes
events, also while the asyncio loop is not running: in the last ``processEvents`` of
``run_until_complete``, or when pytest-qt processes events between a test's phases. A task step
run there finds no running loop (httpx, through anyio, fails on it), and a loop that is not
running should run nothing. ``QtEventLoop`` holds such callbacks back and runs them, in the
order they came, as soon as it runs again; Qt loops nested inside ``run_forever`` (a dialog's
``exec()``) run them as before. A held callback may itself open such a nested loop: callbacks
whose timer fires inside it run at once rather than queue behind the ones still held (which
wait for the nested loop to return), or asyncio would freeze until the dialog closes.

qasync also installs no async-generator hooks, so an abandoned async generator would be
finalized outside the loop ("async generator ignored GeneratorExit") and
``shutdown_asyncgens()`` would close nothing. This loop keeps its own.

qasync's ``call_soon_threadsafe`` emits a Qt signal from the calling thread. A thread still
inside that C++ code when Python finalizes (asyncio's ``waitpid`` thread reporting the
backend's exit as the app quits) is ended by ``pthread_exit`` through frames that allow no
unwinding, and the whole app aborts ("terminate called without an active exception"). Here a
thread only appends to a deque and writes a byte to a socket, as asyncio's own loops do; the
loop's thread takes the calls from there. Nothing but Python and one ``send`` runs on the
caller's thread.

Only public qasync and asyncio API is used: ``call_later`` (qasync sends ``call_soon``,
``call_at`` and I/O readiness through it), ``add_reader``, ``is_running``, ``run_forever``.
The one path around ``call_later`` is a Unix signal's handler, which asyncio hands to qasync's
timer itself; it is queued only by a callback (reading the wakeup pipe) that ran inside the loop.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import dataclasses
import socket
import sys
import weakref
from collections.abc import AsyncGenerator, Callable
from typing import Any

from PySide6.QtWidgets import QApplication
from qasync import QEventLoop  # after PySide6: qasync uses the binding imported first


class _Call:
    """A callback given to the loop. qasync's timer calls the object; while the loop is not
    running, or older callbacks still wait, it queues itself instead."""

    __slots__ = ("args", "callback", "context", "handle", "loop")

    def __init__(
        self,
        loop: QtEventLoop,
        callback: Callable[..., object],
        args: tuple[Any, ...],
        context: contextvars.Context,
    ) -> None:
        self.loop = loop
        self.callback = callback
        self.args = args
        self.context = context
        # What the caller holds and may cancel; weak, as the handle holds this object.
        self.handle: weakref.ref[asyncio.Handle] | None = None

    def __call__(self) -> None:
        loop = self.loop
        # A timer can fire during a drain only in a Qt loop nested in a held callback: the
        # callbacks still held wait for that loop to return, so this one must not wait for them.
        if loop.is_running() and (loop._draining or not loop._held):
            self.callback(*self.args)
        else:
            loop._held.append(self)

    def run_held(self) -> None:
        handle = self.handle() if self.handle is not None else None
        if handle is not None and handle.cancelled():
            return
        try:
            self.context.run(self.callback, *self.args)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:  # as asyncio.Handle does
            self.loop.call_exception_handler(
                {"message": f"Exception in callback {self.callback!r}", "exception": exc}
            )


@dataclasses.dataclass(frozen=True, slots=True)
class _ThreadCall:
    """A callback given by another thread; its handle is what that thread may cancel."""

    handle: asyncio.Handle
    callback: Callable[..., object]
    args: tuple[Any, ...]
    context: contextvars.Context

    def run(self) -> None:
        if not self.handle.cancelled():  # cancelled while waiting behind other callbacks
            self.callback(*self.args)


class QtEventLoop(QEventLoop):  # type: ignore[misc]
    """qasync's loop, running callbacks only while it runs, with async-generator hooks."""

    def __init__(self, app: QApplication | None = None) -> None:
        super().__init__(app)
        self._held: collections.deque[_Call] = collections.deque()
        self._draining = False  # _run_held is running (maybe under a nested Qt loop)
        self._drain = self._run_held  # one bound method, to know it by identity
        self._agens: weakref.WeakSet[AsyncGenerator[Any, Any]] = weakref.WeakSet()
        # Calls from other threads: queued here, announced by a byte on a socket pair.
        self._from_threads: collections.deque[_ThreadCall] = collections.deque()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self.add_reader(self._wake_reader.fileno(), self._take_from_threads)

    def call_later(
        self,
        delay: float,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        if callback is self._drain:  # never held back behind the callbacks it is to run
            drain: asyncio.Handle = super().call_later(delay, callback, *args, context=context)
            return drain
        # Fixed now, as asyncio.Handle does, so that a held task step still runs in its task's
        # own context and not in a copy.
        context = context if context is not None else contextvars.copy_context()
        call = _Call(self, callback, args, context)
        handle: asyncio.Handle = super().call_later(delay, call, context=context)
        call.handle = weakref.ref(handle)
        return handle

    def call_soon_threadsafe(
        self,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        if self.is_closed():
            raise RuntimeError("Event loop is closed")
        context = context if context is not None else contextvars.copy_context()
        handle = asyncio.Handle(callback, args, self, context)  # for the caller to cancel
        self._from_threads.append(_ThreadCall(handle, callback, args, context))
        # A full socket already holds a wakeup; a closed one means the loop closed meanwhile.
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"\0")
        return handle

    def _take_from_threads(self) -> None:
        with contextlib.suppress(OSError):
            while self._wake_reader.recv(4096):
                pass
        while self._from_threads:
            call = self._from_threads.popleft()
            if not call.handle.cancelled():
                self.call_soon(call.run, context=call.context)

    def _run_held(self) -> None:
        draining, self._draining = self._draining, True
        try:
            while self._held and self.is_running():
                self._held.popleft().run_held()
        finally:
            self._draining = draining

    def run_forever(self) -> Any:
        if self._held:
            self.call_soon(self._drain)
        previous = sys.get_asyncgen_hooks()
        sys.set_asyncgen_hooks(firstiter=self._agens.add, finalizer=self._finalize_agen)
        try:
            return super().run_forever()
        finally:
            sys.set_asyncgen_hooks(*previous)

    def close(self) -> None:
        self._held.clear()  # as asyncio drops the callbacks still ready when a loop closes
        if not self.is_closed():
            self.remove_reader(self._wake_reader.fileno())
        super().close()
        self._from_threads.clear()
        self._wake_reader.close()
        self._wake_writer.close()

    def _finalize_agen(self, agen: AsyncGenerator[Any, Any]) -> None:
        # The garbage collector calls this, maybe on another thread: close it on the loop.
        self._agens.discard(agen)
        if not self.is_closed():
            self.call_soon_threadsafe(self.create_task, agen.aclose())

    async def shutdown_asyncgens(self) -> None:
        agens = list(self._agens)
        self._agens.clear()
        results = await asyncio.gather(*(agen.aclose() for agen in agens), return_exceptions=True)
        for agen, result in zip(agens, results, strict=True):
            if isinstance(result, Exception):
                self.call_exception_handler(
                    {
                        "message": f"an error occurred during closing of {agen!r}",
                        "exception": result,
                        "asyncgen": agen,
                    }
                )


def make_loop(app: QApplication) -> QtEventLoop:
    return QtEventLoop(app)
