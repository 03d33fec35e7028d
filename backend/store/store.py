"""The store: SQLite behind one writer thread fed by a queue, reads in a small thread pool, WAL.

Callers use its repositories (``projects``, ``sessions``, ``events``, ``imports``); nothing
outside this package writes SQL. Events are handed back through ``on_committed`` only after
their transaction committed; the bus publishes from there, so no client ever sees an event that a
crash could take back. If the writer falls behind, producers are asked to pause (``congested``,
``call_when_drained``) rather than queue without bound.

When the database refuses writes (disk full, read-only, I/O error) the store is ``failing``: the
writer keeps the batch and retries it, producers are paused, ``flush()`` stops waiting (a write
raises ``StorageFailing``, the web layer's 507), and ``on_health`` tells the app, once per
change. Everything resumes by itself once a batch commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.errors import StorageFailing
from backend.protocol.events import now_ms
from backend.protocol.sse import StoredEvent
from backend.store import repos, search
from backend.store.records import ProjectRecord, SessionRecord
from backend.store.schema import connect, prepare
from backend.store.writer import Barrier, Committed, Tally, Writer, size_of
from backend.trace import TRACE

log = logging.getLogger(__name__)

# Above this many bytes of queued output, session readers pause until the writer catches up.
BACKLOG_HIGH = 4 * 1024 * 1024
BACKLOG_LOW = 1024 * 1024
# Reader threads, and as many connections, opened at start: a reader opened when first needed
# fails when the process is out of file descriptors, and every stream's replay with it.
READERS = 2


@dataclass(frozen=True, slots=True)
class Failure:
    """Why the store cannot write, and since when (ms since the epoch)."""

    reason: str
    since: int


@dataclass(frozen=True, slots=True)
class Loaded:
    """What a backend finds at start."""

    projects: list[ProjectRecord]
    sessions: list[SessionRecord]


class Store:
    """Owns the database. Create it on the loop, ``await open()``, ``await close()`` at the end."""

    def __init__(self, path: Path, *, max_session_bytes: int, search_index: bool = True) -> None:
        self.path = path
        self.max_session_bytes = max_session_bytes
        self.search_index = search_index
        self.on_committed: Callable[[list[StoredEvent]], None] = lambda events: None
        # Called on the loop when ``failure`` changes (it starts, or writes work again).
        self.on_health: Callable[[], None] = lambda: None
        # Called on the loop with the session host's offsets a commit stored (its acks).
        self.on_marks: Callable[[dict[tuple[str, str], int]], None] = lambda marks: None
        # Each hosted session's stored offsets, per stream, as found at start.
        self.host_offsets: dict[str, dict[str, int]] = {}
        self.failure: Failure | None = None
        self.write_failures = 0  # failed commit attempts, for the metrics
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer: Writer | None = None
        self._readers = ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="store-read")
        self._reader_conns: list[sqlite3.Connection] = []
        self._idle_readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._backlog = 0
        self._commit_waiters: list[Callable[[], None]] = []
        self._backlog_bytes = 0
        self._drain_waiters: list[Callable[[], None]] = []
        # Pending flush() futures, and whether each waits for a write (else a read).
        self._flushes: dict[asyncio.Future[None], bool] = {}
        self.events_persisted = 0
        self.projects = repos.Projects(self._put)
        self.events = repos.Events(self._put, self._readers, self._reader)
        self.sessions = repos.Sessions(self._put, self.events.forgotten)
        self.imports = repos.Imports(self._put, ())
        self.screens = repos.Screens(self._put, self._readers, self._reader)
        self.search = search.Search(self._readers, self._reader)

    # -- life cycle ---------------------------------------------------------------------------

    async def open(self) -> Loaded:
        """Check the database and create or upgrade its schema (``UnusableDatabase`` if it
        cannot be used); return the stored projects and sessions."""
        self._loop = asyncio.get_running_loop()
        projects, sessions, dismissed, rows, offsets = await self._loop.run_in_executor(
            self._readers, self._load
        )
        for session_id, stream, offset in offsets:
            self.host_offsets.setdefault(session_id, {})[stream] = offset
        tallies = {
            row["id"]: Tally(row["stored_bytes"], row["trimmed_through"], row["last_event_id"])
            for row in rows
        }
        for session_id, tally in tallies.items():
            self.events.restore(session_id, tally.last_seq, tally.trimmed_through)
        self.imports.dismissed.update(dismissed)
        self._reader_conns = await self._loop.run_in_executor(self._readers, self._open_readers)
        for conn in self._reader_conns:
            self._idle_readers.put(conn)
        self._writer = Writer(
            self.path,
            tallies,
            max_session_bytes=self.max_session_bytes,
            search_index=self.search_index,
            uncapped=self.sessions.uncapped,
            on_batch=self._hand_back,
            on_failure=self._hand_failure,
        )
        self._writer.start()
        return Loaded(projects, sessions)

    def _load(
        self,
    ) -> tuple[
        list[ProjectRecord],
        list[SessionRecord],
        list[str],
        list[dict[str, Any]],
        list[tuple[str, str, int]],
    ]:
        prepare(self.path)
        conn = connect(self.path)
        try:
            offsets = conn.execute("SELECT session_id, stream, offset FROM host_offsets").fetchall()
            return (*repos.load(conn), [tuple(row) for row in offsets])
        finally:
            conn.close()

    async def close(self) -> None:
        """Write everything queued, then stop the writer and close every connection."""
        if self._writer is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._writer.join)
            self._writer = None
        self._readers.shutdown(wait=True)
        for conn in self._reader_conns:
            conn.close()
        self._reader_conns.clear()

    # -- the queue (on the loop, never blocks) ------------------------------------------------

    def _put(self, item: object) -> None:
        self._backlog += 1
        self._backlog_bytes += size_of(item)
        assert self._writer is not None, "the store is not open"
        self._writer.queue.put(item)

    async def flush(self, *, write: bool = True, session_id: str | None = None) -> None:
        """Wait until everything queued so far is committed; with ``session_id``, that
        session's events only (they need not wait behind another session's backlog).

        While the store is failing this does not wait: a ``write`` (a caller about to say that
        its change is stored) raises ``StorageFailing``; a read just goes on with what is
        committed."""
        if self.failure is not None:
            if write:
                raise StorageFailing(self.failure.reason)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._flushes[future] = write
        future.add_done_callback(self._flushes.pop)
        self._put(Barrier(future, session_id))
        await future

    @property
    def index_progress(self) -> tuple[int, int]:
        """Events the search index has read since start, and events it has still to read."""
        if self._writer is None:
            return 0, 0
        indexer = self._writer.indexer
        return indexer.indexed_events, indexer.pending_events

    @property
    def backlog(self) -> int:
        """Writes queued and not yet committed."""
        return self._backlog

    @property
    def congested(self) -> bool:
        """Whether producers should pause: more output is queued than the writer keeps up with,
        or the database refuses writes (the programs then block: nothing is dropped)."""
        return self.failure is not None or self._backlog_bytes > BACKLOG_HIGH

    @property
    def _drained(self) -> bool:
        return self.failure is None and self._backlog_bytes <= BACKLOG_LOW

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` on the loop when the writer can take more at once: on the next
        turn if nothing waits to be committed, else after the commit under way. Output paced
        by it goes out at once when the store is idle, and in one event per commit when it is
        busy: events grow only while there is a backlog."""
        if self._backlog == 0 or self.failure is not None:
            assert self._loop is not None, "the store is not open"
            self._loop.call_soon(callback)
        else:
            self._commit_waiters.append(callback)

    def call_when_drained(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` on the loop once the backlog is low again (flow control)."""
        if self._drained:
            callback()
        else:
            self._drain_waiters.append(callback)

    async def drained(self) -> None:
        """Wait until the backlog is low again (flow control for a producer that can await)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not future.done():
                future.set_result(None)

        self.call_when_drained(wake)
        await future

    # -- reads --------------------------------------------------------------------------------

    def _open_readers(self) -> list[sqlite3.Connection]:
        readers = [connect(self.path) for _ in range(READERS)]
        for conn in readers:
            search.register(conn)
        return readers

    @contextlib.contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        """A reader connection for one read (there is one per reader thread: never a wait)."""
        conn = self._idle_readers.get()
        try:
            yield conn
        finally:
            self._idle_readers.put(conn)

    # -- back on the loop ---------------------------------------------------------------------

    def _hand_back(self, done: Committed) -> None:
        """On the writer thread: the batch goes back to the loop."""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._committed, done)

    def _hand_failure(self, reason: str) -> None:
        """On the writer thread: a batch could not be committed (it will be tried again)."""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._failed, reason)

    def _failed(self, reason: str) -> None:
        self.write_failures += 1
        if self.failure is not None:
            return
        self.failure = Failure(reason, now_ms())
        log.error(
            "the store cannot write: %s. Sessions are paused and new work is refused; "
            "%d queued writes are kept and retried until they can be stored",
            reason,
            self._backlog,
        )
        # Nobody may wait for a commit that may be long in coming: reads go on with what is
        # stored, writes are told (the web layer answers 507).
        for future, write in list(self._flushes.items()):
            if not future.done():
                if write:
                    future.set_exception(StorageFailing(reason))
                else:
                    future.set_result(None)
        self.on_health()

    def _recovered(self) -> None:
        assert self.failure is not None
        seconds = (now_ms() - self.failure.since) / 1000
        self.failure = None
        log.warning("the store writes again after %.1f s; sessions resume", seconds)
        self.on_health()

    def _committed(self, done: Committed) -> None:
        self._backlog -= done.items
        self._backlog_bytes -= done.size
        self.events_persisted += len(done.events)
        for session_id, through in done.trims.items():
            self.events.trimmed(session_id, through)
        try:
            self._publish(done.events)
            if done.marks:
                self.on_marks(done.marks)
        finally:  # whatever publishing did, what waited for this commit goes on
            for future in done.barriers:
                if not future.done():
                    future.set_result(None)
            if self.failure is not None:
                self._recovered()
            if self._drain_waiters and self._drained:
                waiters, self._drain_waiters = self._drain_waiters, []
                for callback in waiters:
                    callback()
            if self._commit_waiters:  # output held for this commit
                waiters, self._commit_waiters = self._commit_waiters, []
                for callback in waiters:
                    callback()

    def _publish(self, events: list[StoredEvent]) -> None:
        if not events:
            return
        if TRACE is not None:
            for event in events:
                TRACE.mark(event.session_id, event.seq, "loop")
        self.on_committed(events)
        if TRACE is not None:
            for event in events:
                TRACE.mark(event.session_id, event.seq, "published")
