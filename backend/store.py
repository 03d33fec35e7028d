"""SQLite persistence: one writer thread fed by a queue, reads in a small thread pool, WAL mode.

Events get their ``seq`` on the event loop when they are appended, are written in batches (group
commit: whatever queued while the previous batch committed goes in the next transaction) and are
handed back to the loop through ``on_committed`` only after their transaction committed. The bus
publishes from there, so no client ever sees an event that a crash could take back.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backend.protocol import StoredEvent, dumps, now_ms

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
SCHEMA = """
CREATE TABLE IF NOT EXISTS projects (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    path TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    argv TEXT NOT NULL,
    working_dir TEXT NOT NULL,
    tty INTEGER NOT NULL,
    status TEXT NOT NULL,
    exit_code INTEGER,
    created_at INTEGER NOT NULL,
    ended_at INTEGER,
    last_event_id INTEGER NOT NULL DEFAULT 0,
    trimmed_through INTEGER NOT NULL DEFAULT 0,
    stored_bytes INTEGER NOT NULL DEFAULT 0,
    agent TEXT,
    source_offset INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS dismissed_agent_ids (id TEXT PRIMARY KEY);
CREATE INDEX IF NOT EXISTS sessions_by_project ON sessions(project_id);
CREATE TABLE IF NOT EXISTS events (
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    ts INTEGER NOT NULL,
    PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;
"""
# From version 1: agent sessions and imported history.
MIGRATE_1_TO_2 = """
ALTER TABLE sessions ADD COLUMN agent TEXT;
ALTER TABLE sessions ADD COLUMN source_offset INTEGER NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS dismissed_agent_ids (id TEXT PRIMARY KEY);
"""

# Once over its cap, a session is trimmed down to this fraction of it, so that trimming does not
# run on every batch; at most TRIM_CHUNK bytes per batch, so that no batch stalls the stream.
TRIM_TO = 0.8
TRIM_CHUNK = 2 * 1024 * 1024
# One transaction holds at most this much, so each hand-over to the bus (and to every client's
# queue) stays small and clients drain between batches.
MAX_BATCH = 4096
MAX_BATCH_BYTES = 1024 * 1024
# Above this many bytes of queued output, session readers pause until the writer catches up.
BACKLOG_HIGH = 4 * 1024 * 1024
BACKLOG_LOW = 1024 * 1024


@dataclass(slots=True)
class _Write:
    sql: str
    params: Sequence[Any] = ()


@dataclass(slots=True)
class _Forget:
    """Delete a session's row and history, and the writer's tally of it."""

    session_id: str


@dataclass(slots=True)
class _Barrier:
    future: asyncio.Future[None]


_STOP = object()


@dataclass(slots=True)
class _Tally:
    """What the writer knows of one session: how much it stores and how far it was trimmed."""

    stored_bytes: int = 0
    trimmed_through: int = 0
    last_seq: int = 0
    trimming: bool = False  # over the cap, and not yet back down to TRIM_TO of it


@dataclass(slots=True)
class _Committed:
    events: list[StoredEvent] = field(default_factory=list)
    barriers: list[asyncio.Future[None]] = field(default_factory=list)
    trims: dict[str, int] = field(default_factory=dict)
    items: int = 0
    size: int = 0


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a committed transaction survives a crash of the process (not of the OS).
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


class Store:
    """Owns the database. Create it on the loop, ``await open()``, ``await close()`` at the end."""

    def __init__(self, path: Path, *, max_session_bytes: int) -> None:
        self.path = path
        self.max_session_bytes = max_session_bytes
        self.on_committed: Callable[[list[StoredEvent]], None] = lambda events: None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="store-read")
        self._reader_conns: list[sqlite3.Connection] = []
        self._local = threading.local()
        self._last_seq: dict[str, int] = {}
        self._trimmed_through: dict[str, int] = {}
        self._backlog = 0
        self._backlog_bytes = 0
        self._drain_waiters: list[Callable[[], None]] = []
        self.events_persisted = 0
        # Sessions that retention never trims (imported history: the user asked for all of it).
        # Changed on the loop, read by the writer: a set's membership test is atomic.
        self.uncapped: set[str] = set()
        # Claude Code sessions a user deleted here: their history files are not listed again.
        self.dismissed_agent_ids: set[str] = set()

    # -- life cycle ---------------------------------------------------------------------------

    async def open(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Create the schema if needed and return the stored projects and sessions."""
        self._loop = asyncio.get_running_loop()
        projects, sessions, tallies = await self._loop.run_in_executor(self._readers, self._load)
        for session_id, tally in tallies.items():
            self._last_seq[session_id] = tally.last_seq
            self._trimmed_through[session_id] = tally.trimmed_through
        self._writer = threading.Thread(
            target=self._write_loop, args=(tallies,), name="store-writer", daemon=True
        )
        self._writer.start()
        return projects, sessions

    async def close(self) -> None:
        """Write everything queued, then stop the writer and close every connection."""
        if self._writer is not None:
            self._queue.put(_STOP)
            await asyncio.get_running_loop().run_in_executor(None, self._writer.join)
            self._writer = None
        self._readers.shutdown(wait=True)
        for conn in self._reader_conns:
            conn.close()
        self._reader_conns.clear()

    def _load(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, _Tally]]:
        conn = connect(self.path)
        try:
            conn.row_factory = sqlite3.Row
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path} was written by a newer SessionDock (schema {version})"
                )
            if version < SCHEMA_VERSION:
                # One transaction with the version: a crash midway leaves the old schema whole.
                script = SCHEMA if version == 0 else MIGRATE_1_TO_2
                conn.executescript(f"BEGIN; {script} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")
            projects = [dict(row) for row in conn.execute("SELECT * FROM projects ORDER BY rowid")]
            sessions = [dict(row) for row in conn.execute("SELECT * FROM sessions ORDER BY rowid")]
            self.dismissed_agent_ids = {
                row[0] for row in conn.execute("SELECT id FROM dismissed_agent_ids")
            }
        finally:
            conn.close()
        tallies = {
            row["id"]: _Tally(row["stored_bytes"], row["trimmed_through"], row["last_event_id"])
            for row in sessions
        }
        return projects, sessions, tallies

    # -- writes (called on the loop, never block) ---------------------------------------------

    def append(self, session_id: str, event_type: str, payload: dict[str, Any]) -> StoredEvent:
        """Give the event the session's next seq and queue it. It is published once committed."""
        seq = self._last_seq.get(session_id, 0) + 1
        self._last_seq[session_id] = seq
        timestamp = payload.get("timestamp")
        event = StoredEvent(
            session_id,
            seq,
            event_type,
            dumps(payload),
            timestamp if isinstance(timestamp, int) else now_ms(),
        )
        self._put(event)
        return event

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Queue a metadata write; it commits in order with the events around it."""
        self._put(_Write(sql, params))

    def forget_session(self, session_id: str) -> None:
        """Delete a session's row and its whole history."""
        self._last_seq.pop(session_id, None)
        self._trimmed_through.pop(session_id, None)
        self._put(_Forget(session_id))

    async def flush(self) -> None:
        """Wait until everything queued so far is committed."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._put(_Barrier(future))
        await future

    def _put(self, item: object) -> None:
        self._backlog += 1
        self._backlog_bytes += _size(item)
        self._queue.put(item)

    @property
    def backlog(self) -> int:
        """Writes queued and not yet committed."""
        return self._backlog

    @property
    def congested(self) -> bool:
        """Whether producers should pause: more output is queued than the writer keeps up with."""
        return self._backlog_bytes > BACKLOG_HIGH

    def call_when_drained(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` on the loop once the backlog is low again (flow control)."""
        if self._backlog_bytes <= BACKLOG_LOW:
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

    def last_seq(self, session_id: str) -> int:
        return self._last_seq.get(session_id, 0)

    def trimmed_through(self, session_id: str) -> int:
        """The highest seq deleted by retention (0: nothing was ever trimmed)."""
        return self._trimmed_through.get(session_id, 0)

    # -- reads (thread pool) ------------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            self._local.conn = conn
            self._reader_conns.append(conn)
        return conn

    async def read_events(self, session_id: str, after: int, limit: int) -> list[StoredEvent]:
        """Committed events of a session with seq > ``after``, oldest first, at most ``limit``."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._readers, self._read_events, session_id, after, limit
        )

    def _read_events(self, session_id: str, after: int, limit: int) -> list[StoredEvent]:
        rows = self._reader().execute(
            "SELECT seq, type, data, ts FROM events WHERE session_id = ? AND seq > ? "
            "ORDER BY seq LIMIT ?",
            (session_id, after, limit),
        )
        return [StoredEvent(session_id, seq, kind, data, ts) for seq, kind, data, ts in rows]

    # -- the writer thread --------------------------------------------------------------------

    def _write_loop(self, tallies: dict[str, _Tally]) -> None:
        conn = connect(self.path)
        try:
            stopping = False
            while not stopping:
                batch = [self._queue.get()]
                size = _size(batch[0])
                while len(batch) < MAX_BATCH and size < MAX_BATCH_BYTES:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    batch.append(item)
                    size += _size(item)
                stopping = any(item is _STOP for item in batch)
                done = self._write_batch(conn, batch, tallies)
                assert self._loop is not None
                self._loop.call_soon_threadsafe(self._committed, done)
        finally:
            conn.close()

    def _write_batch(
        self, conn: sqlite3.Connection, batch: list[object], tallies: dict[str, _Tally]
    ) -> _Committed:
        # Everything the loop waits on is collected first: whatever happens to the writes, the
        # batch is handed back, so no flush() waits forever and no event is held back.
        done = _Committed(
            events=[item for item in batch if isinstance(item, StoredEvent)],
            barriers=[item.future for item in batch if isinstance(item, _Barrier)],
            items=sum(item is not _STOP for item in batch),
            size=sum(map(_size, batch)),
        )
        pending: list[StoredEvent] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for item in batch:
                if isinstance(item, StoredEvent):
                    pending.append(item)
                elif isinstance(item, _Write):
                    self._insert(conn, pending, tallies)
                    self._run_write(conn, item)
                elif isinstance(item, _Forget):
                    self._insert(conn, pending, tallies)
                    conn.execute("DELETE FROM events WHERE session_id = ?", (item.session_id,))
                    conn.execute("DELETE FROM sessions WHERE id = ?", (item.session_id,))
                    tallies.pop(item.session_id, None)
            self._insert(conn, pending, tallies)
            self._settle(conn, {event.session_id for event in done.events}, tallies, done)
            conn.execute("COMMIT")
        except Exception:
            # Only a broken database gets here (disk full, file removed): say so loudly. The
            # batch's events still go to live clients, who would otherwise see a frozen session.
            log.exception("could not write %d events to the store", len(done.events))
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        return done

    @staticmethod
    def _run_write(conn: sqlite3.Connection, item: _Write) -> None:
        try:
            conn.execute(item.sql, item.params)
        except sqlite3.IntegrityError:
            log.exception("store write refused: %s", item.sql)

    @staticmethod
    def _insert(
        conn: sqlite3.Connection,
        pending: list[StoredEvent],
        tallies: dict[str, _Tally],
    ) -> None:
        if not pending:
            return
        conn.executemany(
            "INSERT INTO events (session_id, seq, type, data, ts) VALUES (?, ?, ?, ?, ?)",
            [(e.session_id, e.seq, e.type, e.data, e.timestamp) for e in pending],
        )
        for event in pending:
            tally = tallies.setdefault(event.session_id, _Tally())
            tally.stored_bytes += len(event.data)
            tally.last_seq = max(tally.last_seq, event.seq)
        pending.clear()

    def _settle(
        self,
        conn: sqlite3.Connection,
        session_ids: Iterable[str],
        tallies: dict[str, _Tally],
        done: _Committed,
    ) -> None:
        """Trim sessions over the cap and record each touched session's tally."""
        for session_id in session_ids:
            tally = tallies.get(session_id)
            if tally is None:  # deleted later in the same batch
                continue
            if session_id in self.uncapped:
                pass
            elif tally.stored_bytes > self.max_session_bytes or tally.trimming:
                self._trim(conn, session_id, tally)
                tally.trimming = tally.stored_bytes > self.max_session_bytes * TRIM_TO
                done.trims[session_id] = tally.trimmed_through
            conn.execute(
                "UPDATE sessions SET last_event_id = ?, stored_bytes = ?, trimmed_through = ? "
                "WHERE id = ?",
                (tally.last_seq, tally.stored_bytes, tally.trimmed_through, session_id),
            )

    def _trim(self, conn: sqlite3.Connection, session_id: str, tally: _Tally) -> None:
        excess = tally.stored_bytes - int(self.max_session_bytes * TRIM_TO)
        # In chunks: a batch holds at most MAX_BATCH_BYTES, so trimming TRIM_CHUNK per batch
        # still outruns any producer, and no single batch is held up by a big delete.
        excess = min(excess, TRIM_CHUNK)
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
        tally.stored_bytes -= freed
        tally.trimmed_through = through
        log.info("trimmed session %s through event %d (%d bytes)", session_id, through, freed)

    # -- back on the loop ---------------------------------------------------------------------

    def _committed(self, done: _Committed) -> None:
        self._backlog -= done.items
        self._backlog_bytes -= done.size
        self.events_persisted += len(done.events)
        for session_id, through in done.trims.items():
            if session_id in self._last_seq:
                self._trimmed_through[session_id] = through
        if done.events:
            self.on_committed(done.events)
        for future in done.barriers:
            if not future.done():
                future.set_result(None)
        if self._drain_waiters and self._backlog_bytes <= BACKLOG_LOW:
            waiters, self._drain_waiters = self._drain_waiters, []
            for callback in waiters:
                callback()


def _size(item: object) -> int:
    """What an item weighs in the queue: an event's data; anything else next to nothing."""
    return len(item.data) if isinstance(item, StoredEvent) else 64
