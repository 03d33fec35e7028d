"""The writer thread: takes what is queued, writes it in one transaction, hands it back.

Events get their ``seq`` on the event loop; here they are inserted in batches (group commit:
whatever queued while the previous batch committed goes in the next transaction) and handed back
to the loop only after their transaction committed. Retention also runs here, per batch: a
session over its cap loses its oldest events, a chunk at a time.

A quiet session's events go ahead of a loud one's backlog (``take_batch``): a keystroke's echo
in one terminal must not wait behind megabytes another session printed. Each session's events,
and everything else (metadata writes, deletes, flush barriers) against everything before it,
keep their order.

A batch that cannot be committed (disk full, read-only file, I/O error) is kept and tried again,
with a growing pause, until it commits: nothing is handed back, so no client sees an id that is
not stored, and the queue behind it waits (the loop pauses the sessions meanwhile).

SQLite's automatic checkpoint runs in the commit that takes the write-ahead log past 1000 pages
(4 MiB), on the writer's thread, and held that batch for milliseconds; small, frequent commits
(a quiet session's lines go out one by one) reach it several times a second. A thread of its
own (``Checkpointer``) copies the log into the database as it grows, so that the commit's own
checkpoint finds little left to copy; it still runs there, so the log starts over as before and
stays as small (a disk that is nearly full holds it; docs/benchmarks.md, "Echo after
`ba0583b`", on checkpoints moved to a thread entirely).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from backend.protocol.sse import StoredEvent
from backend.store.schema import connect
from backend.store.search import (
    BUSY_INDEX_EVERY,
    IDLE_GRACE,
    IDLE_STEP_SECONDS,
    STEP_SECONDS,
    Indexer,
)
from backend.trace import TRACE

log = logging.getLogger(__name__)

# Once over its cap, a session is trimmed down to this fraction of it, so that trimming does not
# run on every batch; at most TRIM_CHUNK bytes per batch, so that no batch stalls the stream
# (QUIET_TRIM_CHUNK in a batch that carries a quiet session's events: twice what such a batch
# takes of the loud ones, so trimming still outruns them).
TRIM_TO = 0.8
TRIM_CHUNK = 512 * 1024
QUIET_TRIM_CHUNK = 128 * 1024
# One transaction holds at most this much, so each hand-over to the bus (and to every client's
# queue) stays small and clients drain between batches.
MAX_BATCH = 4096
MAX_BATCH_BYTES = 256 * 1024
# A session with at most this much queued is quiet: its events go ahead of louder sessions'.
# A batch that carries quiet events takes at most QUIET_FILL more bytes of the loud ones, so
# that it commits soon.
QUIET_BYTES = 64 * 1024
QUIET_FILL = 64 * 1024
# A failed batch is tried again after this pause, doubled each time up to RETRY_MAX.
RETRY_FIRST = 0.1
RETRY_MAX = 1.0
# After the index fails to write (the disk, the file), it waits this long before it tries again;
# events are stored meanwhile as ever.
INDEX_RETRY = 5.0
# The checkpointer copies the log into the database at most this often while there are writes.
CHECKPOINT_EVERY = 0.05


@dataclass(slots=True)
class Call:
    """A metadata write: ``run`` executes its SQL on the writer's connection."""

    run: Callable[[sqlite3.Connection], object]
    what: str  # for the log, if the database refuses it


@dataclass(slots=True)
class Forget:
    """Delete a session's row and history, and the writer's tally of it."""

    session_id: str


@dataclass(slots=True)
class Barrier:
    """A flush: resolved once what was queued before it (of ``session_id`` only, if given)
    is committed."""

    future: asyncio.Future[None]
    session_id: str | None = None


STOP = object()


@dataclass(slots=True)
class Tally:
    """What the writer knows of one session: how much it stores and how far it was trimmed."""

    stored_bytes: int = 0
    trimmed_through: int = 0
    last_seq: int = 0
    trimming: bool = False  # over the cap, and not yet back down to TRIM_TO of it


@dataclass(slots=True)
class Committed:
    """One batch, back on the loop: its events, the flushes it answers, the trims it made."""

    events: list[StoredEvent] = field(default_factory=list)
    barriers: list[asyncio.Future[None]] = field(default_factory=list)
    trims: dict[str, int] = field(default_factory=dict)
    # The session host's offsets this batch stored: (session, stream) -> offset.
    marks: dict[tuple[str, str], int] = field(default_factory=dict)
    items: int = 0
    size: int = 0


def describe(exc: sqlite3.Error) -> str:
    """A sentence for the log, health and clients: what stops the store from writing."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_FULL:
        return "the disk is full"
    if code is not None and code & 0xFF == sqlite3.SQLITE_READONLY:
        return "the database file is read-only"
    if code is not None and code & 0xFF == sqlite3.SQLITE_IOERR:
        return f"the disk reports an I/O error ({exc})"
    if code is not None and code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return "the database file is damaged"
    return f"the database refuses writes ({exc})"


def size_of(item: object) -> int:
    """What an item weighs in the queue: an event's data; anything else next to nothing."""
    return len(item.data) if isinstance(item, StoredEvent) else 64


def take_batch(pending: deque[object]) -> tuple[list[object], bool]:
    """The next transaction's items, taken from the front of ``pending`` (in arrival order),
    and whether they include quiet sessions' events.

    First, in order, the events (and flushes) of quiet sessions (at most QUIET_BYTES queued) and
    whatever else has nothing left behind before it; then, in arrival order, what was passed
    over, up to the batch's limits (QUIET_FILL more bytes if quiet events were taken). A
    session's events are taken in order, since a session that is not quiet has all of its items
    passed over, and an item of no session (a metadata write, a delete, a flush of everything,
    the stop) never passes anything: once one is passed over, so is everything after it."""
    queued: dict[str, int] = {}
    for item in pending:
        if isinstance(item, StoredEvent):
            queued[item.session_id] = queued.get(item.session_id, 0) + len(item.data)
    batch: list[object] = []
    passed: deque[object] = deque()
    size = 0
    quiet = False
    closed = False  # an item that is not an event was passed over: nothing more goes ahead
    for item in pending:
        if not closed and len(batch) < MAX_BATCH and size < MAX_BATCH_BYTES:
            session_id = _session_of(item)
            if session_id is not None:
                if queued.get(session_id, 0) <= QUIET_BYTES:
                    batch.append(item)
                    size += size_of(item)
                    quiet = quiet or isinstance(item, StoredEvent)
                    continue
            elif not passed:
                batch.append(item)
                size += size_of(item)
                continue
            else:
                closed = True
        passed.append(item)
    limit = min(size + QUIET_FILL, MAX_BATCH_BYTES) if quiet else MAX_BATCH_BYTES
    while passed and len(batch) < MAX_BATCH and size < limit:
        item = passed.popleft()
        batch.append(item)
        size += size_of(item)
    pending.clear()
    pending.extend(passed)
    return batch, quiet


def _session_of(item: object) -> str | None:
    """The one session an item concerns (an event, a flush of one session), else None."""
    if isinstance(item, StoredEvent):
        return item.session_id
    if isinstance(item, Barrier):
        return item.session_id
    return None


class Checkpointer:
    """Copies the write-ahead log into the database on a thread and connection of its own,
    while there are writes. A PASSIVE checkpoint neither waits for nor holds up the writer or
    the readers (the writer's own checkpoint, if it comes meanwhile, is skipped). It pauses while
    commits fail: the store's behaviour on a full disk stays what the writer's retries make it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.written = threading.Event()  # set by the writer after a commit
        self.failing = False  # set by the writer while its commits fail
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="store-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        self._stopping.set()
        self.written.set()
        self._thread.join()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                self.written.wait()
                if self._stopping.is_set():
                    return
                self.written.clear()
                if self.failing:
                    continue
                try:
                    conn = conn or connect(self.path)
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # the writer says what matters of a failing disk
                    log.debug("checkpoint failed: %s", exc)
                    if conn is not None:
                        conn.close()
                        conn = None
                self._stopping.wait(CHECKPOINT_EVERY)
        finally:
            if conn is not None:
                conn.close()


class Writer:
    """Owns the writing connection and its thread."""

    def __init__(
        self,
        path: Path,
        tallies: dict[str, Tally],
        *,
        max_session_bytes: int,
        search_index: bool = True,
        uncapped: Container[str],
        on_batch: Callable[[Committed], None],
        on_failure: Callable[[str], None],
    ) -> None:
        self.path = path
        self.queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._tallies = tallies
        self._max_session_bytes = max_session_bytes
        # Changed on the loop, read here: a set's membership test is atomic.
        self._uncapped = uncapped
        self._on_batch = on_batch  # called on the writer thread; it hops to the loop itself
        self._on_failure = on_failure  # likewise, with a sentence saying what went wrong
        self._stopping = threading.Event()  # set by join(): cut the retry pauses short
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._checkpointer = Checkpointer(path)
        self.indexer = Indexer(lambda: {sid: t.last_seq for sid, t in tallies.items()})
        # Off, the index is never written to (its rows of deleted sessions still go).
        self._indexing = search_index
        self._last_index = 0.0  # when the index last took a step
        self._index_paused_until = 0.0

    def start(self) -> None:
        self._checkpointer.start()
        self._thread.start()

    def join(self) -> None:
        self._stopping.set()
        self.queue.put(STOP)
        self._thread.join()
        self._checkpointer.join()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        pending: deque[object] = deque()  # taken off the queue, not yet in a batch
        try:
            stopping = False
            while not stopping:
                if not pending and self.queue.empty() and self._index_due():
                    try:  # idle for a moment first: a steady trickle of lines is not idle
                        pending.append(self.queue.get(timeout=IDLE_GRACE))
                    except queue.Empty:
                        # Idle: the index catches up, until something is queued.
                        idle = IDLE_STEP_SECONDS
                        conn = self._index(conn, idle, lambda: not self.queue.empty())
                        continue
                if not pending:
                    pending.append(self.queue.get())
                while True:
                    try:
                        pending.append(self.queue.get_nowait())
                    except queue.Empty:
                        break
                batch, quiet = take_batch(pending)
                stopping = any(item is STOP for item in batch)
                conn = self._commit(conn, batch, QUIET_TRIM_CHUNK if quiet else TRIM_CHUNK)
                if (
                    not stopping
                    and time.monotonic() - self._last_index >= BUSY_INDEX_EVERY
                    and self._index_due()
                ):
                    # Busy: the index still moves on, and stops (after an event) for a batch.
                    conn = self._index(conn, STEP_SECONDS, lambda: not self.queue.empty())
        finally:
            if conn is not None:
                conn.close()

    def _index_due(self) -> bool:
        return time.monotonic() >= self._index_paused_until and (
            self.indexer.garbage or (self._indexing and self.indexer.behind())
        )

    def _index(
        self,
        conn: sqlite3.Connection | None,
        seconds: float,
        interrupted: Callable[[], bool] = lambda: False,
    ) -> sqlite3.Connection | None:
        """One step of the index, after the batches before it were handed back. A failure
        stops the index for a while, never the events."""
        self._last_index = time.monotonic()
        try:
            if conn is None:
                conn = connect(self.path)
            purged = self.indexer.garbage
            if purged:  # the texts of what was deleted, first
                self.indexer.purge(conn, seconds, interrupted)
            if self._indexing and not (purged and interrupted()):
                self.indexer.step(conn, seconds, interrupted)
        except sqlite3.Error as exc:
            log.warning("search index: cannot write (%s); trying again in %.0f s", exc, INDEX_RETRY)
            self._index_paused_until = time.monotonic() + INDEX_RETRY
        return conn

    def _commit(
        self, conn: sqlite3.Connection | None, batch: list[object], trim_chunk: int
    ) -> sqlite3.Connection | None:
        """Write ``batch`` until it commits, then hand it back; return the connection to go on
        with. Only a stop gives up on a batch (after one last try): its events were never
        handed out, so no client has seen their ids."""
        pause = RETRY_FIRST
        while True:
            try:
                if conn is None:
                    conn = connect(self.path)
                done = self._write_batch(conn, batch, trim_chunk)
            except sqlite3.Error as exc:
                self._checkpointer.failing = True
                self._on_failure(describe(exc))
                # A full disk, a read-only file: the index leaves the room to the events.
                self._index_paused_until = time.monotonic() + INDEX_RETRY
                if conn is not None:  # a fresh connection next time: after an I/O error the
                    conn.close()  # old one may stay broken
                    conn = None
                if self._stopping.is_set() and pause > RETRY_FIRST:
                    count = sum(isinstance(item, StoredEvent) for item in batch)
                    log.error("stopping: dropped %d unstored events (no client saw them)", count)
                    return None
                self._stopping.wait(pause)
                pause = min(pause * 2, RETRY_MAX)
                continue
            self._on_batch(done)
            self._checkpointer.failing = False
            self._checkpointer.written.set()
            return conn

    def _write_batch(
        self, conn: sqlite3.Connection, batch: list[object], trim_chunk: int
    ) -> Committed:
        """One transaction; on any database error, roll back (tallies too) and raise."""
        done = Committed(
            events=[item for item in batch if isinstance(item, StoredEvent)],
            barriers=[item.future for item in batch if isinstance(item, Barrier)],
            items=sum(item is not STOP for item in batch),
            size=sum(map(size_of, batch)),
        )
        pending: list[StoredEvent] = []
        written = {e.session_id for e in done.events}
        # The tallies change as rows go in; a rollback must take those changes back too.
        touched = written | {item.session_id for item in batch if isinstance(item, Forget)}
        saved = {sid: replace(t) for sid in touched if (t := self._tallies.get(sid)) is not None}
        if TRACE is not None:
            for event in done.events:
                TRACE.mark(event.session_id, event.seq, "batched")
        try:
            conn.execute("BEGIN IMMEDIATE")
            for item in batch:
                if isinstance(item, StoredEvent):
                    pending.append(item)
                elif isinstance(item, Call):
                    self._insert(conn, pending, done)
                    try:
                        item.run(conn)
                    except sqlite3.IntegrityError:
                        log.exception("store write refused: %s", item.what)
                elif isinstance(item, Forget):
                    self._insert(conn, pending, done)
                    conn.execute("DELETE FROM events WHERE session_id = ?", (item.session_id,))
                    conn.execute("DELETE FROM screens WHERE session_id = ?", (item.session_id,))
                    conn.execute(
                        "DELETE FROM host_offsets WHERE session_id = ?", (item.session_id,)
                    )
                    for key in [k for k in done.marks if k[0] == item.session_id]:
                        del done.marks[key]
                    conn.execute("DELETE FROM sessions WHERE id = ?", (item.session_id,))
                    self.indexer.forget(conn, item.session_id)
                    self._tallies.pop(item.session_id, None)
            self._insert(conn, pending, done)
            self._settle(conn, written, done, trim_chunk)
            conn.execute("COMMIT")
            if TRACE is not None:
                for event in done.events:
                    TRACE.mark(event.session_id, event.seq, "committed")
        except sqlite3.Error:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            for sid in touched:
                self._tallies.pop(sid, None)
            self._tallies.update(saved)
            done.trims.clear()
            self.indexer.reset()  # it may have moved on with what was rolled back
            raise
        return done

    def _insert(
        self, conn: sqlite3.Connection, pending: list[StoredEvent], done: Committed
    ) -> None:
        if not pending:
            return
        conn.executemany(
            "INSERT INTO events (session_id, seq, type, data, ts) VALUES (?, ?, ?, ?, ?)",
            [(e.session_id, e.seq, e.type, e.data, e.timestamp) for e in pending],
        )
        marks: dict[tuple[str, str], int] = {}
        for event in pending:
            tally = self._tallies.setdefault(event.session_id, Tally())
            tally.stored_bytes += len(event.data)
            tally.last_seq = max(tally.last_seq, event.seq)
            if event.mark is not None:
                marks[event.session_id, event.mark[0]] = event.mark[1]
        if marks:
            # In the events' own transaction: what is stored and how far it reaches agree.
            conn.executemany(
                "INSERT OR REPLACE INTO host_offsets (session_id, stream, offset) VALUES (?, ?, ?)",
                [(sid, stream, offset) for (sid, stream), offset in marks.items()],
            )
            done.marks.update(marks)
        pending.clear()

    def _settle(
        self,
        conn: sqlite3.Connection,
        session_ids: Iterable[str],
        done: Committed,
        trim_chunk: int,
    ) -> None:
        """Trim sessions over the cap (at most ``trim_chunk`` bytes each) and record each
        touched session's tally."""
        cap = self._max_session_bytes
        for session_id in session_ids:
            tally = self._tallies.get(session_id)
            if tally is None:  # deleted later in the same batch
                continue
            if session_id not in self._uncapped and (tally.stored_bytes > cap or tally.trimming):
                self._trim(conn, session_id, tally, trim_chunk)
                tally.trimming = tally.stored_bytes > cap * TRIM_TO
                done.trims[session_id] = tally.trimmed_through
            conn.execute(
                "UPDATE sessions SET last_event_id = ?, stored_bytes = ?, trimmed_through = ? "
                "WHERE id = ?",
                (tally.last_seq, tally.stored_bytes, tally.trimmed_through, session_id),
            )

    def _trim(self, conn: sqlite3.Connection, session_id: str, tally: Tally, chunk: int) -> None:
        excess = tally.stored_bytes - int(self._max_session_bytes * TRIM_TO)
        # In chunks of twice what a batch takes of a loud session at most, so trimming still
        # outruns any producer, and no single batch is held up by a big delete.
        excess = min(excess, chunk)
        freed = 0
        through = tally.trimmed_through
        rows = conn.execute(
            "SELECT seq, length(data) FROM events WHERE session_id = ? ORDER BY seq",
            (session_id,),
        )
        for seq, size in rows:
            if freed >= excess:
                break
            freed += size
            through = seq
        conn.execute("DELETE FROM events WHERE session_id = ? AND seq <= ?", (session_id, through))
        self.indexer.trimmed(conn, session_id, through)
        tally.stored_bytes -= freed
        tally.trimmed_through = through
        log.info("trimmed session %s through event %d (%d bytes)", session_id, through, freed)
