"""Full-text search: the index the writer keeps, and the reads that query it.

The index (schema version 6) is an FTS5 table of texts with the trigram tokenizer, so that a
search finds any substring of three characters or more (``noen`` in ``ENOENT``, ``_ba`` in
``foo_bar``, a piece of a path), case aside; ``search_rows`` says which session and event each
text is of. It records which trigrams a text has, not where (``detail=none``): half the size
and twice the speed of a full index (docs/benchmarks.md). A term is looked up by its trigrams
(``backend/text/query.py``), and a candidate is a hit only if its text holds the term itself
(``holds``, checked in SQL as the rows come). A row's id orders rows by the time of their
event (``ts * 1024 + n``), so the newest hits come first straight from the index, and a page's
cursor is the last id it gave.

The writer keeps it (``Indexer``, on the writer's thread and connection): after a batch is
committed and handed back, never before, it reads what was stored since it last looked, a
bounded step at a time, when the queue is idle (and every BUSY_INDEX_EVERY under a steady
load, so that the index moves on; it catches up when the load ends). Where each session
stands is stored with the rows it wrote (``search_progress``), in the same transaction, so an
existing database is indexed in the background from where it stopped, across restarts, and a
crash loses nothing nor indexes twice.

What a row holds: for terminal sessions (PTY and pipes), the lines a person saw
(``backend/text/terminal.py``: escape sequences gone, carriage-return overwrites resolved), a
row per event a run of lines began in; for agent sessions, each event's prompts, texts, tool
commands and paths, diffs and results (``backend/text/agent.py``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Final

from backend.store.reading import read_in_pool
from backend.text.agent import event_texts
from backend.text.query import Query
from backend.text.terminal import Line, TerminalLines

log = logging.getLogger(__name__)

# Trigrams only, without positions (detail=none). Texts go in a step at a time; FTS5 keeps a
# step's in memory and writes them at its commit, and a larger buffer than its default (1 MiB)
# writes them in fewer pieces: 1.4x the speed (docs/benchmarks.md).
SEARCH_TABLE: Final = """
CREATE VIRTUAL TABLE search USING fts5(text, tokenize = 'trigram', detail = none);
INSERT INTO search (search, rank) VALUES ('hashsize', 33554432);
"""
# A session's first and last rows at once: a search within some sessions walks only the rows
# between them.
ROWS_BY_TIME: Final = """
CREATE INDEX IF NOT EXISTS search_rows_by_time ON search_rows(session_id, row);
"""
SEARCH_TABLES: Final = f"""
{SEARCH_TABLE}
CREATE TABLE search_rows (
    row INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL
);
CREATE INDEX search_rows_by_session ON search_rows(session_id, seq);
{ROWS_BY_TIME}
-- Where the index of each session stands: its events from next_seq on are still to be read;
-- of the lines that began in event next_seq, the first `skip` are indexed already.
CREATE TABLE search_progress (
    session_id TEXT PRIMARY KEY,
    next_seq INTEGER NOT NULL,
    skip INTEGER NOT NULL DEFAULT 0
);
-- Texts of deleted sessions and trimmed events: no longer found (their search_rows are gone),
-- taken out of the FTS table a step at a time (removing an FTS5 row costs its whole text).
CREATE TABLE search_garbage (row INTEGER PRIMARY KEY);
"""
# Schema 5 had a full index (trigram positions): it is made again, from the first event.
REBUILD_SEARCH: Final = f"""
DROP TABLE search;
{SEARCH_TABLE}
{ROWS_BY_TIME}
DELETE FROM search_rows;
DELETE FROM search_progress;
DELETE FROM search_garbage;
"""

TERMINAL_RUNTIMES = frozenset({"terminal", "pipes"})
AGENT_RUNTIMES = frozenset({"conversation", "imported"})
# One step reads at most this much of the events' data, or works this long, then commits. A
# step ends, after its first event, as soon as something is queued (so it delays no batch by
# more than an event's work); an idle writer's runs IDLE_STEP_SECONDS at most, a busy one's
# STEP_SECONDS. Few, large steps keep the index's segments few (each commit writes one, which
# FTS5 merges later).
STEP_BYTES = 8 * 1024 * 1024
STEP_EVENTS = 20_000
STEP_SECONDS = 0.001
IDLE_STEP_SECONDS = 0.25
# Under a steady load (the queue never empty for IDLE_GRACE) a step of STEP_SECONDS still runs
# this often: the index keeps moving, and catches up when the load ends. Each such step delays
# the batch that arrives during it (by an event's work and the step's commit): every 50 ms,
# that was 2% of a 1,000-lines/s stream's lines, enough to add 0.2-0.4 ms to its p99; every
# 250 ms it is 0.4% (docs/benchmarks.md, "Latency against Node").
BUSY_INDEX_EVERY = 0.25
# The writer is idle once nothing was queued for this long (a line every few ms is not idle:
# an index step it would interrupt delays that line by the step's commit).
IDLE_GRACE = 0.02
# A row's text is at most about this long: lines are grouped up to it.
ROW_CHARS = 2000
# A row id is its event's time in ms times this, plus a count for rows of the same ms.
ROWS_PER_MS = 1024


@dataclass(slots=True)
class _Session:
    """What the indexer knows of one session."""

    terminal: bool
    next_seq: int  # the first event not read yet
    lines: TerminalLines = field(default_factory=TerminalLines)
    start_ts: int = 0  # the time of the event the line under way began in
    last_line_seq: int = 0  # the event the latest written line began in
    lines_of_last: int = 0  # how many written lines began in it
    skip_seq: int = 0  # on resuming: lines that began in this event ...
    skip_left: int = 0  # ... this many of them, are indexed already


class Indexer:
    """Keeps the index up to date; runs on the writer's thread with its connection."""

    def __init__(self, last_seqs: Callable[[], dict[str, int]]) -> None:
        self._last_seqs = last_seqs  # each session's last stored seq (the writer's tallies)
        self._sessions: dict[str, _Session] = {}
        self._loaded = False
        self._interrupted: Callable[[], bool] = lambda: False
        self._rows: dict[int, int] = {}  # during a step: the next free row id of each ms
        self._missing: set[str] = set()  # sessions with events and no row
        self.garbage = True  # texts may wait in search_garbage (known after the first purge)
        self.indexed_events = 0  # read by the metrics on the loop: plain ints
        self.pending_events = 0

    def behind(self) -> bool:
        if not self._loaded:
            return True
        last = self._last_seqs()
        pending = 0
        for session_id, seq in last.items():
            if session_id in self._missing:
                continue
            state = self._sessions.get(session_id)
            pending += max(0, seq - (state.next_seq - 1 if state else 0))
        self.pending_events = pending
        return pending > 0

    def _load(self, conn: sqlite3.Connection) -> None:
        progress = {
            row[0]: (row[1], row[2])
            for row in conn.execute("SELECT session_id, next_seq, skip FROM search_progress")
        }
        for session_id, runtime in conn.execute("SELECT id, runtime FROM sessions"):
            next_seq, skip = progress.get(session_id, (1, 0))
            self._sessions[session_id] = self._new(runtime, next_seq, skip)
        self._loaded = True

    @staticmethod
    def _new(runtime: str | None, next_seq: int, skip: int = 0) -> _Session:
        state = _Session(terminal=runtime in TERMINAL_RUNTIMES, next_seq=next_seq)
        state.skip_seq, state.skip_left = next_seq, skip
        return state

    def _session(self, conn: sqlite3.Connection, session_id: str) -> _Session | None:
        state = self._sessions.get(session_id)
        if state is None:
            row = conn.execute("SELECT runtime FROM sessions WHERE id = ?", (session_id,))
            found = row.fetchone()
            if found is None:
                # Events of no session row (deleted meanwhile): nothing to index, and nothing
                # to wait for (an idle writer would otherwise come back for it for ever).
                self._missing.add(session_id)
                return None
            state = self._sessions[session_id] = self._new(found[0], 1)
        return state

    # -- one step (in a transaction of its own) ---------------------------------------------

    def step(
        self,
        conn: sqlite3.Connection,
        seconds: float = 1.0,
        interrupted: Callable[[], bool] = lambda: False,
    ) -> None:
        """Read and index a bounded amount of what was stored since the last step: for at
        most ``seconds``, or until ``interrupted()`` (asked between events, after the first:
        a step always moves on)."""
        if not self._loaded:
            self._load(conn)
        budget_bytes, budget_events = STEP_BYTES, STEP_EVENTS
        deadline = time.monotonic() + seconds
        self._interrupted = interrupted
        self._rows = {}
        try:
            with _transaction(conn):
                self._step(conn, budget_bytes, budget_events, deadline)
        except BaseException:
            self.reset()  # what is in memory may be ahead of what was rolled back
            raise

    def _step(
        self, conn: sqlite3.Connection, budget_bytes: int, budget_events: int, deadline: float
    ) -> None:
        for session_id, last_seq in list(self._last_seqs().items()):
            if (
                budget_bytes <= 0
                or budget_events <= 0
                or time.monotonic() > deadline
                or (budget_events < STEP_EVENTS and self._interrupted())  # after one event
            ):
                break
            state = self._session(conn, session_id)
            if state is None or state.next_seq > last_seq:
                continue
            used_bytes, used_events = self._index_session(
                conn, session_id, state, budget_bytes, budget_events, deadline
            )
            budget_bytes -= used_bytes
            budget_events -= used_events

    def reset(self) -> None:
        """Forget what is in memory (it may be ahead of what is stored): the next step starts
        again from the stored progress."""
        self._sessions.clear()
        self._missing.clear()
        self._loaded = False

    def _index_session(
        self,
        conn: sqlite3.Connection,
        session_id: str,
        state: _Session,
        budget_bytes: int,
        budget_events: int,
        deadline: float,
    ) -> tuple[int, int]:
        rows = conn.execute(
            "SELECT seq, type, data, ts FROM events WHERE session_id = ? AND seq >= ? "
            "ORDER BY seq LIMIT ?",
            (session_id, state.next_seq, budget_events),
        )
        try:
            used_bytes, used_events = self._read_events(
                conn, session_id, state, rows, budget_bytes, deadline
            )
        finally:
            rows.close()  # a step may stop before the end: nothing stays open past its commit
        self.indexed_events += used_events
        self._save_progress(conn, session_id, state)
        return used_bytes, used_events

    def _read_events(
        self,
        conn: sqlite3.Connection,
        session_id: str,
        state: _Session,
        rows: sqlite3.Cursor,
        budget_bytes: int,
        deadline: float,
    ) -> tuple[int, int]:
        used_bytes = used_events = 0
        for seq, kind, data, ts in rows:
            used_bytes += len(data)
            used_events += 1
            if state.terminal:
                self._terminal_event(conn, session_id, state, seq, kind, data, ts)
            else:
                for text in _agent_texts(kind, data):
                    for chunk in _chunks([text]):
                        self._add_row(conn, session_id, seq, ts, chunk)
            state.next_seq = seq + 1
            if used_bytes >= budget_bytes or time.monotonic() > deadline or self._interrupted():
                break
            # Let the loop's thread have the GIL if it waits for it: an event's work at a time,
            # not a switch interval's (a line to send waits for it).
            time.sleep(0)
        return used_bytes, used_events

    def _terminal_event(
        self,
        conn: sqlite3.Connection,
        session_id: str,
        state: _Session,
        seq: int,
        kind: str,
        data: str,
        ts: int,
    ) -> None:
        lines = state.lines
        began = state.start_ts if lines.pending else ts  # the time of the line under way
        if kind == "output":
            ended = lines.feed(seq, _field(data, "content"))
        elif kind == "status" and _field(data, "status") not in ("", "running"):
            ended = lines.finish(seq)
        else:
            return
        if lines.pending and lines.started == seq:
            state.start_ts = ts
        # Lines that ended, grouped by the event they began in: a row (or a few) per group.
        group: list[Line] = []
        for line in ended:
            if state.skip_left and line.seq == state.skip_seq:
                state.skip_left -= 1  # indexed before a restart
                self._count_line(state, line.seq)
                continue
            if group and group[0].seq != line.seq:
                self._write_group(
                    conn, session_id, state, group, ts if group[0].seq == seq else began
                )
                group = []
            group.append(line)
        if group:
            self._write_group(conn, session_id, state, group, ts if group[0].seq == seq else began)

    def _write_group(
        self,
        conn: sqlite3.Connection,
        session_id: str,
        state: _Session,
        group: list[Line],
        when: int,
    ) -> None:
        for chunk in _chunks([line.text for line in group if line.text.strip()]):
            self._add_row(conn, session_id, group[0].seq, when, chunk)
        for line in group:
            self._count_line(state, line.seq)

    @staticmethod
    def _count_line(state: _Session, seq: int) -> None:
        if state.last_line_seq == seq:
            state.lines_of_last += 1
        else:
            state.last_line_seq, state.lines_of_last = seq, 1

    def _save_progress(self, conn: sqlite3.Connection, session_id: str, state: _Session) -> None:
        """From where to read again after a restart: the start of the line under way (and how
        many lines that began there are indexed), else the next event."""
        next_seq, skip = state.next_seq, 0
        if state.terminal and state.lines.pending:
            next_seq = state.lines.started
            skip = state.lines_of_last if state.last_line_seq == next_seq else 0
        conn.execute(
            "INSERT OR REPLACE INTO search_progress (session_id, next_seq, skip) VALUES (?, ?, ?)",
            (session_id, next_seq, skip),
        )

    def _add_row(
        self, conn: sqlite3.Connection, session_id: str, seq: int, ts: int, text: str
    ) -> None:
        base = max(0, ts) * ROWS_PER_MS
        row = self._rows.get(base)  # the next free id of that ms, as this step knows it
        if row is None:
            (top,) = conn.execute(
                "SELECT max(row) FROM search_rows WHERE row BETWEEN ? AND ?",
                (base, base + ROWS_PER_MS - 1),
            ).fetchone()
            row = base if top is None else top + 1
        if row >= base + ROWS_PER_MS:  # a full millisecond runs into the next one
            while conn.execute("SELECT 1 FROM search_rows WHERE row = ?", (row,)).fetchone():
                row += 1
        self._rows[base] = row + 1
        conn.execute("INSERT INTO search_rows (row, session_id, seq) VALUES (?, ?, ?)",
                     (row, session_id, seq))  # fmt: skip
        conn.execute("INSERT INTO search (rowid, text) VALUES (?, ?)", (row, text))

    # -- in the writer's transactions -------------------------------------------------------

    def forget(self, conn: sqlite3.Connection, session_id: str) -> None:
        """A session is deleted: its rows are found no more at once (their texts leave the FTS
        table in later steps, ``purge``)."""
        self._sessions.pop(session_id, None)
        self._discard(conn, "session_id = ?", (session_id,))
        conn.execute("DELETE FROM search_progress WHERE session_id = ?", (session_id,))

    def trimmed(self, conn: sqlite3.Connection, session_id: str, through: int) -> None:
        """Retention deleted a session's events up to ``through``: their rows go too, and the
        index goes on after them."""
        self._discard(conn, "session_id = ? AND seq <= ?", (session_id, through))
        state = self._sessions.get(session_id)
        if state is not None and state.next_seq <= through:
            fresh = _Session(terminal=state.terminal, next_seq=through + 1)
            self._sessions[session_id] = fresh
            self._save_progress(conn, session_id, fresh)

    def _discard(self, conn: sqlite3.Connection, where: str, args: tuple[object, ...]) -> None:
        conn.execute(
            f"INSERT OR IGNORE INTO search_garbage SELECT row FROM search_rows WHERE {where}", args
        )
        conn.execute(f"DELETE FROM search_rows WHERE {where}", args)
        self.garbage = True

    def purge(
        self,
        conn: sqlite3.Connection,
        seconds: float = 1.0,
        interrupted: Callable[[], bool] = lambda: False,
    ) -> None:
        """Take discarded texts out of the FTS table, for at most about ``seconds`` (or until
        ``interrupted()``, asked after the first rows)."""
        deadline = time.monotonic() + seconds
        first = True
        with _transaction(conn):
            while first or (time.monotonic() < deadline and not interrupted()):
                first = False
                rows = conn.execute("SELECT row FROM search_garbage LIMIT 64").fetchall()
                if not rows:
                    self.garbage = False
                    break
                conn.executemany("DELETE FROM search WHERE rowid = ?", rows)
                conn.executemany("DELETE FROM search_garbage WHERE row = ?", rows)


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """A write transaction of its own: committed, or rolled back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _field(data: str, name: str) -> str:
    try:
        value = json.loads(data)
    except ValueError:
        return ""
    found = value.get(name) if isinstance(value, dict) else None
    return found if isinstance(found, str) else ""


def _agent_texts(kind: str, data: str) -> list[str]:
    try:
        value = json.loads(data)
    except ValueError:
        return []
    return event_texts(kind, value)


def _chunks(texts: list[str]) -> Iterator[str]:
    """Texts joined by newlines into pieces of about ROW_CHARS (a longer text is cut)."""
    part: list[str] = []
    size = 0
    for text in texts:
        for start in range(0, max(1, len(text)), ROW_CHARS):
            piece = text[start : start + ROW_CHARS]
            if part and size + len(piece) > ROW_CHARS:
                yield "\n".join(part)
                part, size = [], 0
            part.append(piece)
            size += len(piece) + 1
    if part:
        yield "\n".join(part)


# -- reads ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hit:
    session_id: str
    project_id: str
    session_name: str
    event_id: int
    timestamp: int
    snippet: str
    highlights: list[tuple[int, int]]
    row: int


SNIPPET_BEFORE = 60
SNIPPET_CHARS = 200
# A search within at most this many sessions walks only the span of their rows.
SPAN_SESSIONS = 256


def snippet(text: str, terms: tuple[str, ...]) -> tuple[str, list[tuple[int, int]]]:
    """The line of ``text`` where a term is first found, cut to about SNIPPET_CHARS around it,
    and where each term is in that cut (start, end)."""
    pattern = re.compile(
        "|".join(re.escape(term) for term in sorted(terms, key=len, reverse=True)), re.IGNORECASE
    )
    first = pattern.search(text)
    at = first.start() if first else 0
    line_start = text.rfind("\n", 0, at) + 1
    line_end = text.find("\n", at)
    line_end = len(text) if line_end < 0 else line_end
    start = max(line_start, at - SNIPPET_BEFORE)
    end = min(line_end, start + SNIPPET_CHARS)
    cut = text[start:end]
    prefix = "…" if start > line_start else ""
    suffix = "…" if end < line_end else ""
    shown = prefix + cut + suffix
    offset = len(prefix)
    spans = [(m.start() + offset, m.end() + offset) for m in pattern.finditer(cut)]
    return shown, spans


def holds(text: str | None, needle: str) -> bool:
    """Whether ``text`` holds ``needle`` (lower case), case aside: the SQL function ``holds``
    of the readers (``register``)."""
    return text is not None and needle in text.lower()


def register(conn: sqlite3.Connection) -> None:
    """Give a reader connection what a search asks of it."""
    conn.create_function("holds", 2, holds, deterministic=True)


class Search:
    """Queries in the readers' pool (connections ``register`` prepared)."""

    def __init__(
        self,
        readers: Executor,
        connection: Callable[[], AbstractContextManager[sqlite3.Connection]],
    ) -> None:
        self._readers = readers
        self._connection = connection

    async def find(
        self,
        query: Query,
        *,
        project_id: str | None = None,
        session_id: str | None = None,
        kind: str | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> list[Hit]:
        """The newest ``limit`` hits (with row ids below ``before``, for the next page);
        ``DatabaseUnreadable`` if the database fails."""
        return await read_in_pool(
            self._readers,
            "the search index",
            lambda: self._find(query, project_id, session_id, kind, before, limit),
        )

    def _find(
        self,
        query: Query,
        project_id: str | None,
        session_id: str | None,
        kind: str | None,
        before: int | None,
        limit: int,
    ) -> list[Hit]:
        where = ["search MATCH ?"]
        args: list[Any] = [query.match]
        if before is not None:
            where.append("search.rowid < ?")
            args.append(before)
        filters = [(column, value) for column, value in (("id", session_id),
                   ("project_id", project_id), ("kind", kind)) if value is not None]  # fmt: skip
        for column, value in filters:
            where.append(f"s.{column} = ?")
            args.append(value)
        checks = []  # the index finds candidates; each term must be in the text itself
        for needle in query.needles:
            # An ASCII term in SQLite's own lower() (ASCII only, and in C); others in Python.
            checks.append("instr(lower(text), ?) > 0" if needle.isascii() else "holds(text, ?)")
        with self._connection() as conn:
            span = self._span(conn, filters) if filters else None
            if span is not None:
                if span[0] > span[1]:
                    return []  # no row in those sessions
                where.append("search.rowid BETWEEN ? AND ?")
                args.extend(span)
            # The texts are checked after the filters, as the candidates come, newest first
            # (the inner query's LIMIT keeps SQLite from merging the two, and so from checking
            # every candidate's text before its session). The hits keep the inner query's order,
            # newest first (test_pages_walk_every_hit_newest_first holds SQLite to it).
            sql = (
                "SELECT row, text, session_id, seq, project_id, name FROM ("
                " SELECT search.rowid AS row, search.text AS text, r.session_id AS session_id,"
                " r.seq AS seq, s.project_id AS project_id, s.name AS name"
                " FROM search JOIN search_rows r ON r.row = search.rowid"
                " JOIN sessions s ON s.id = r.session_id"
                f" WHERE {' AND '.join(where)} ORDER BY search.rowid DESC LIMIT -1"
                f") WHERE {' AND '.join(checks)} LIMIT ?"
            )
            rows = conn.execute(sql, [*args, *query.needles, limit]).fetchall()
        hits = []
        for row, text, sid, seq, pid, name in rows:
            shown, spans = snippet(text, query.terms)
            hits.append(Hit(sid, pid, name, seq, row // ROWS_PER_MS, shown, spans, row))
        return hits

    @staticmethod
    def _span(conn: sqlite3.Connection, filters: list[tuple[str, str]]) -> tuple[int, int] | None:
        """The rows of the sessions the filters leave lie between these two (None: too many
        sessions to look at): the index walks only that span, not every newer row."""
        ids = conn.execute(
            "SELECT id FROM sessions WHERE " + " AND ".join(f"{c} = ?" for c, _ in filters)
            + f" LIMIT {SPAN_SESSIONS + 1}",
            [value for _, value in filters],
        ).fetchall()  # fmt: skip
        if len(ids) > SPAN_SESSIONS:
            return None
        low, high = 1 << 62, -1
        for (sid,) in ids:
            for order in ("", " DESC"):
                found = conn.execute(
                    f"SELECT row FROM search_rows WHERE session_id = ? ORDER BY row{order} LIMIT 1",
                    (sid,),
                ).fetchone()
                if found is not None:
                    low, high = min(low, found[0]), max(high, found[0])
        return low, high
