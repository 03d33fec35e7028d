"""A terminal session's screen: its emulator, fed the session's committed events in order, on a
worker thread.

- **Committed events only** (the bus's observer): a snapshot names the last event it covers, and
  a client resumes after that id. An id a crash could take back must never be handed out, so the
  emulator sees exactly what the store kept, in the same order, and nothing sooner.
- **A worker thread**: libghostty parses coloured line output at about 45 MB/s, as fast as the
  loop moves output from the PTY to the store; feeding it on the loop would halve a session's
  throughput. cffi releases the GIL while the library works, so the emulator runs on the other
  core. Everything that touches one emulator goes through its queue, so feeds, resizes,
  snapshots and saves happen in order, one at a time.
- **Replies**: what the emulator answers to the program's queries (device attributes, cursor
  position…) is handed back to the runtime, which writes it to the PTY once, however many
  clients watch.
- **Saved states**: every ``SAVE_EVERY`` bytes of output, and when the session ends, the
  emulator's state is kept in the store (``screens``), so a restarted backend rebuilds the
  screen from it and at most a few MB of output after it (``rebuild``).
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec

from backend.protocol.api import ScreenFormat
from backend.protocol.sse import StoredEvent
from backend.store import Store

if TYPE_CHECKING:
    from vtengine.emulator import Emulator

log = logging.getLogger(__name__)

MIB = 1024 * 1024
# Output between two saved states; a rebuild replays at most about this much after the last.
# A save (the state, then zlib) takes about 20 ms with a full scrollback: every 8 MiB that is
# 2.5 ms per MB of output, a fifth of what feeding the emulator costs.
SAVE_EVERY = 8 * MIB
# What a rebuild replays when no usable state was kept (a session of an older release, or a
# state of another emulator version): the last this-many bytes of history.
REPLAY_BUDGET = 8 * MIB
REBUILD_PAGE = 256
T = TypeVar("T")


class ScreenClosed(RuntimeError):
    """The screen was freed (an ended session's screen, evicted) before the job ran."""


class _Output(msgspec.Struct):
    content: str


class _Resize(msgspec.Struct):
    cols: int
    rows: int


_decode_output = msgspec.json.Decoder(_Output).decode
_decode_resize = msgspec.json.Decoder(_Resize).decode


@dataclass(frozen=True, slots=True)
class View:
    """The screen as a client gets it: ``content`` in the format asked for."""

    cols: int
    rows: int
    cursor_x: int
    cursor_y: int
    cursor_visible: bool
    alt_screen: bool
    title: str
    last_seq: int
    content: str


@dataclass(frozen=True, slots=True)
class ScreenOptions:
    """How every session's emulator is made."""

    scrollback_lines: int
    # xterm.js 6.0 cannot encode keys the kitty way: a program told the terminal can would
    # enable it and then misread what the browser sends.
    answer_kitty_keyboard: bool = False


def engine() -> str:
    """The emulator library and its version: a saved state is only restored by the same."""
    from vtengine import emulator

    return emulator.ENGINE


def new_emulator(cols: int, rows: int, options: ScreenOptions) -> Emulator:
    from vtengine.emulator import Emulator

    return Emulator(
        cols,
        rows,
        scrollback_lines=options.scrollback_lines,
        answer_kitty_keyboard=options.answer_kitty_keyboard,
    )


def restore_emulator(state: bytes, options: ScreenOptions) -> Emulator:
    from vtengine.emulator import Emulator

    return Emulator.restore(
        zlib.decompress(state),
        scrollback_lines=options.scrollback_lines,
        answer_kitty_keyboard=options.answer_kitty_keyboard,
    )


class Screen:
    """One session's emulator and the queue of everything it must do, in order.

    ``on_reply`` gets the emulator's answers to the program (on the loop); ``on_state`` gets a
    compressed state and the seq it covers, to keep (on the loop)."""

    def __init__(
        self,
        make: Callable[[], Emulator],
        seq: int,
        executor: Executor,
        *,
        on_reply: Callable[[bytes], None] = lambda data: None,
        on_state: Callable[[int, bytes], None] = lambda seq, state: None,
    ) -> None:
        # Made by the first job, on the worker: the library's first load is slow.
        self._make: Callable[[], Emulator] | None = make
        self._emulator: Emulator | None = None
        self.seq = seq  # the last event fed (read and written on the worker, in order)
        self.followed = seq  # the last event queued (on the loop)
        self._executor = executor
        self.on_reply = on_reply
        self.on_state = on_state
        self._queue: deque[StoredEvent | _Job[Any]] = deque()
        self._pump: asyncio.Task[None] | None = None
        self._unsaved = 0  # output bytes fed since the last saved state
        self._save_due = False
        self._backlog = 0  # bytes of events queued and not yet fed
        self._drain_waiters: list[tuple[int, Callable[[], None]]] = []

    # -- on the loop --------------------------------------------------------------------------

    def follow(self, event: StoredEvent) -> None:
        """Feed one committed event (the bus's observer)."""
        self._backlog += len(event.data)
        self.followed = event.seq
        self._push(event)

    def congested(self, high: int) -> bool:
        """Whether more than ``high`` bytes of output wait for the emulator (the program should
        wait: the session stops reading it, as when the store falls behind)."""
        return self._backlog > high

    def call_when_drained(self, low: int, callback: Callable[[], None]) -> None:
        """Call ``callback`` on the loop once at most ``low`` bytes wait."""
        if self._backlog <= low:
            callback()
        else:
            self._drain_waiters.append((low, callback))

    def save_soon(self) -> None:
        """Keep the state once everything queued so far is fed (the session ended)."""
        self._save_due = True
        self._push(_Job(lambda emulator: None))

    async def view(self, fmt: ScreenFormat) -> View:
        return await self._run(lambda emulator: self._view(emulator, fmt, None))

    async def snapshot(self, scrollback: int) -> View:
        """The screen as VT bytes with up to ``scrollback`` lines of history."""
        return await self._run(lambda emulator: self._view(emulator, "vt", scrollback))

    async def close(self) -> None:
        """Finish what is queued, then free the emulator."""
        await self._run(lambda emulator: None)
        self._make = None
        emulator, self._emulator = self._emulator, None
        if emulator is not None:
            emulator.close()

    def _push(self, item: StoredEvent | _Job[Any]) -> None:
        self._queue.append(item)
        if self._pump is None:
            self._pump = asyncio.get_running_loop().create_task(self._drain())

    async def _run(self, work: Callable[[Emulator], T]) -> T:
        job: _Job[T] = _Job(work)
        self._push(job)
        return await job.future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queue:
                items = list(self._queue)
                self._queue.clear()
                replies, state = await loop.run_in_executor(self._executor, self._apply, items)
                self._backlog -= sum(len(i.data) for i in items if isinstance(i, StoredEvent))
                if self._drain_waiters:
                    self._call_drained()
                if replies:
                    self.on_reply(replies)
                if state is not None:
                    self.on_state(*state)
                for item in items:
                    if isinstance(item, _Job):
                        item.settle()
        finally:
            self._pump = None

    def _call_drained(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for low, callback in waiters:
            if self._backlog <= low:
                callback()
            else:
                self._drain_waiters.append((low, callback))

    # -- on the worker ------------------------------------------------------------------------

    def _apply(
        self, items: list[StoredEvent | _Job[Any]]
    ) -> tuple[bytes, tuple[int, bytes] | None]:
        """Feed the events and run the jobs, in order; the replies, and a state if one is due."""
        if self._emulator is None and self._make is not None:
            make, self._make = self._make, None
            self._emulator = make()
        emulator = self._emulator
        replies: list[bytes] = []
        for item in items:
            if isinstance(item, _Job):
                item.run(emulator)
                continue
            if emulator is not None:
                try:
                    replies.append(self._feed(emulator, item))
                except Exception:  # a bad event must not stop the screen
                    log.exception(
                        "the screen of %s could not take event %d", item.session_id, item.seq
                    )
            self.seq = item.seq
        return b"".join(replies), self._state_if_due(emulator)

    def _feed(self, emulator: Emulator, event: StoredEvent) -> bytes:
        if event.type == "output":
            data = _decode_output(event.data).content.encode()
            self._unsaved += len(data)
            if self._unsaved >= SAVE_EVERY:
                self._save_due = True
            return emulator.feed(data)
        if event.type == "resize":
            size = _decode_resize(event.data)
            return emulator.resize(size.cols, size.rows)
        return b""

    def _state_if_due(self, emulator: Emulator | None) -> tuple[int, bytes] | None:
        if not self._save_due or emulator is None:
            return None
        from vtengine.emulator import EmulatorError

        try:
            state = zlib.compress(emulator.state(), 1)
        except EmulatorError:
            return None  # inside a sequence it cannot encode yet: the next batch tries again
        self._save_due = False
        self._unsaved = 0
        return self.seq, state

    def _view(self, emulator: Emulator, fmt: ScreenFormat, scrollback: int | None) -> View:
        if fmt == "vt":  # the visible screen only, unless a snapshot asks for history
            content = emulator.snapshot_vt(scrollback or 0).decode("utf-8", "replace")
        elif fmt == "html":
            content = emulator.html()
        else:
            content = emulator.screen_text()
        cols, rows = emulator.size
        cursor = emulator.cursor
        return View(
            cols=cols,
            rows=rows,
            cursor_x=cursor.x,
            cursor_y=cursor.y,
            cursor_visible=cursor.visible,
            alt_screen=emulator.alt_screen,
            title=emulator.title,
            last_seq=self.seq,
            content=content,
        )


class _Job(Generic[T]):
    """Work for the worker thread, in the queue's order; its future settles on the loop."""

    __slots__ = ("_error", "_result", "future", "work")

    def __init__(self, work: Callable[[Emulator], T]) -> None:
        self.work = work
        self.future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._result: T | None = None
        self._error: BaseException | None = None

    def run(self, emulator: Emulator | None) -> None:
        if emulator is None:
            self._error = ScreenClosed("the screen is closed")
            return
        try:
            self._result = self.work(emulator)
        except Exception as exc:
            self._error = exc

    def settle(self) -> None:
        if self.future.done():
            return
        if self._error is not None:
            self.future.set_exception(self._error)
        else:
            self.future.set_result(self._result)  # type: ignore[arg-type]


async def rebuild(
    store: Store,
    session_id: str,
    size: tuple[int, int],
    options: ScreenOptions,
    executor: Executor,
) -> Screen:
    """The screen of a session no emulator follows (it ended before this backend started):
    its kept state, and the stored events after it. Without a usable state (an older release,
    another emulator version), the last ``REPLAY_BUDGET`` bytes of history from a blank screen
    of ``size`` (the screen may then lack what was drawn before)."""
    loop = asyncio.get_running_loop()
    kept = await store.screens.load(session_id)
    after = 0
    emulator: Emulator | None = None
    if kept is not None:
        seq, kept_engine, state = kept
        if kept_engine == await loop.run_in_executor(executor, engine):
            try:
                emulator = await loop.run_in_executor(executor, restore_emulator, state, options)
                after = seq
            except Exception as exc:  # a damaged state: fall back to the history
                log.warning("the kept screen of %s cannot be restored: %s", session_id, exc)
    if emulator is None:
        after = await store.screens.tail_start(session_id, REPLAY_BUDGET)
        emulator = await loop.run_in_executor(executor, new_emulator, *size, options)
    made = emulator
    screen = Screen(lambda: made, after, executor)
    while True:
        page = await store.events.read(session_id, after, REBUILD_PAGE)
        for event in page:
            screen.follow(event)
        if len(page) < REBUILD_PAGE:
            return screen
        after = page[-1].seq
