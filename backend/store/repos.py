"""The store's API, named after what callers want, and all the SQL they cause.

Writes are queued (they commit in order with the events around them, on the writer thread) and
never block the loop; reads run in the store's thread pool.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from backend.protocol.events import EventData
from backend.protocol.sse import StoredEvent, encode_data
from backend.store.reading import read_in_pool
from backend.store.records import ProjectRecord, SessionRecord
from backend.store.writer import Call, Forget
from backend.trace import TRACE

log = logging.getLogger(__name__)

Put = Callable[[object], None]
T = TypeVar("T")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class Projects:
    def __init__(self, put: Put) -> None:
        self._put = put

    def add(self, project: ProjectRecord) -> None:
        row = (project.id, project.name, project.path, project.created_at)
        self._put(
            Call(
                lambda c: c.execute(
                    "INSERT INTO projects (id, name, path, created_at) VALUES (?, ?, ?, ?)", row
                ),
                f"add project {project.id}",
            )
        )

    def remove(self, project_id: str) -> None:
        """The project's row (its sessions are forgotten one by one, before it)."""
        self._put(
            Call(
                lambda c: c.execute("DELETE FROM projects WHERE id = ?", (project_id,)),
                f"remove project {project_id}",
            )
        )


class Sessions:
    def __init__(self, put: Put, forgotten: Callable[[str], None]) -> None:
        self._put = put
        self._forgotten = forgotten
        # Sessions that retention never trims (imported history: the user asked for all of it).
        # Changed on the loop, read by the writer: a set's membership test is atomic.
        self.uncapped: set[str] = set()

    def add(self, session: SessionRecord) -> None:
        row = (
            session.id, session.project_id, session.name, session.kind, _dumps(session.argv),
            session.working_dir, int(session.tty), session.status, session.exit_code,
            session.created_at, session.ended_at, session.runtime,
            _dumps(session.state) if session.state else None,
        )  # fmt: skip
        self._put(
            Call(
                lambda c: c.execute(
                    "INSERT INTO sessions (id, project_id, name, kind, argv, working_dir, tty, "
                    "status, exit_code, created_at, ended_at, runtime, state) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    row,
                ),
                f"add session {session.id}",
            )
        )

    def set_status(
        self, session_id: str, status: str, exit_code: int | None, ended_at: int | None
    ) -> None:
        row = (status, exit_code, ended_at, session_id)
        self._put(
            Call(
                lambda c: c.execute(
                    "UPDATE sessions SET status = ?, exit_code = ?, ended_at = ? WHERE id = ?",
                    row,
                ),
                f"status of {session_id}",
            )
        )

    def set_state(self, session_id: str, state: dict[str, Any]) -> None:
        """Replace the runtime's state of a session."""
        row = (_dumps(state) if state else None, session_id)
        self._put(
            Call(
                lambda c: c.execute("UPDATE sessions SET state = ? WHERE id = ?", row),
                f"state of {session_id}",
            )
        )

    def keep_all(self, session_id: str) -> None:
        """Retention never trims this session (imported history: all of it was asked for)."""
        self.uncapped.add(session_id)

    def forget(self, session_id: str) -> None:
        """Delete a session's row and its whole history."""
        self.uncapped.discard(session_id)
        self._forgotten(session_id)
        self._put(Forget(session_id))


class _Readable:
    """A part of the store that queues writes and reads in the readers' pool."""

    def __init__(
        self,
        put: Put,
        readers: Executor,
        connection: Callable[[], AbstractContextManager[sqlite3.Connection]],
    ) -> None:
        self._put = put
        self._readers = readers
        self._connection = connection


class Events(_Readable):
    """A session's history: appended on the loop (the seq is known at once), read in threads."""

    def __init__(
        self,
        put: Put,
        readers: Executor,
        connection: Callable[[], AbstractContextManager[sqlite3.Connection]],
    ) -> None:
        super().__init__(put, readers, connection)
        self.last_seqs: dict[str, int] = {}
        self.trims: dict[str, int] = {}

    def append(self, data: EventData, mark: tuple[str, int] | None = None) -> StoredEvent:
        """Give the event its session's next seq and queue it; it is published once committed.
        ``mark``: the session host's stream and offset its output reaches (stored with it)."""
        encoded = encode_data(data)  # first: an event that cannot be encoded takes no id
        seq = self.last_seqs.get(data.session_id, 0) + 1
        self.last_seqs[data.session_id] = seq
        if TRACE is not None:
            TRACE.appended(data.session_id, seq, data.event)
        event = StoredEvent.of(seq, data, encoded)
        event.mark = mark
        self._put(event)
        return event

    def restore(self, session_id: str, last_seq: int, trimmed_through: int) -> None:
        """What the store found of a session at start."""
        self.last_seqs[session_id] = last_seq
        self.trims[session_id] = trimmed_through

    def trimmed(self, session_id: str, through: int) -> None:
        """Retention deleted the session's events up to ``through`` (committed)."""
        if session_id in self.last_seqs:
            self.trims[session_id] = through

    def forgotten(self, session_id: str) -> None:
        self.last_seqs.pop(session_id, None)
        self.trims.pop(session_id, None)

    def last_seq(self, session_id: str) -> int:
        return self.last_seqs.get(session_id, 0)

    def trimmed_through(self, session_id: str) -> int:
        """The highest seq deleted by retention (0: nothing was ever trimmed)."""
        return self.trims.get(session_id, 0)

    async def read(self, session_id: str, after: int, limit: int) -> list[StoredEvent]:
        """Committed events of a session with seq > ``after``, oldest first, at most ``limit``
        (``DatabaseUnreadable`` if the database fails)."""
        what = f"the history of {session_id} after {after}"
        return await read_in_pool(self._readers, what, self._read, session_id, after, limit)

    def _read(self, session_id: str, after: int, limit: int) -> list[StoredEvent]:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT seq, type, data, ts FROM events WHERE session_id = ? AND seq > ? "
                "ORDER BY seq LIMIT ?",
                (session_id, after, limit),
            ).fetchall()
        return [StoredEvent(session_id, seq, kind, data, ts) for seq, kind, data, ts in rows]


class Screens(_Readable):
    """Terminal sessions' emulator states (one row each, replaced as it moves on)."""

    def save(self, session_id: str, seq: int, engine: str, state: bytes) -> None:
        """Keep ``state``, the emulator as of event ``seq``, in place of the previous one."""
        row = (session_id, seq, engine, state)
        self._put(
            Call(
                lambda c: c.execute(
                    "INSERT OR REPLACE INTO screens (session_id, seq, engine, state) "
                    "VALUES (?, ?, ?, ?)",
                    row,
                ),
                f"screen of {session_id}",
            )
        )

    async def load(self, session_id: str) -> tuple[int, str, bytes] | None:
        """The kept state of a session: (seq, engine, state), or None."""
        return await read_in_pool(
            self._readers, f"the screen of {session_id}", self._load, session_id
        )

    def _load(self, session_id: str) -> tuple[int, str, bytes] | None:
        with self._connection() as conn:
            row = conn.execute(
                "SELECT seq, engine, state FROM screens WHERE session_id = ?", (session_id,)
            ).fetchone()
        return (row[0], row[1], bytes(row[2])) if row is not None else None

    async def tail_start(self, session_id: str, budget: int) -> int:
        """The seq to replay from so that the events after it hold about ``budget`` bytes:
        where a screen is rebuilt from when no state was kept."""
        what = f"the history of {session_id}"
        return await read_in_pool(self._readers, what, self._tail_start, session_id, budget)

    def _tail_start(self, session_id: str, budget: int) -> int:
        total = 0
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT seq, length(data) FROM events WHERE session_id = ? ORDER BY seq DESC",
                (session_id,),
            )
            for seq, size in rows:
                total += size
                if total > budget:
                    return int(seq)
        return 0


class Imports:
    """Records elsewhere (Claude Code's sessions) that a user deleted here."""

    def __init__(self, put: Put, dismissed: Iterable[str]) -> None:
        self._put = put
        self.dismissed: set[str] = set(dismissed)

    def dismiss(self, ids: Iterable[str]) -> None:
        new = [(i,) for i in ids if i not in self.dismissed]
        if not new:
            return
        self.dismissed.update(i for (i,) in new)
        self._put(
            Call(
                lambda c: c.executemany(
                    "INSERT OR IGNORE INTO dismissed_imports (id) VALUES (?)", new
                ),
                "dismiss imports",
            )
        )


def load(
    conn: sqlite3.Connection,
) -> tuple[list[ProjectRecord], list[SessionRecord], list[str], list[dict[str, Any]]]:
    """Everything the store keeps in memory: projects, sessions, dismissed imports, and each
    session's tally row."""
    conn.row_factory = sqlite3.Row
    projects = [
        ProjectRecord(row["id"], row["name"], row["path"], row["created_at"])
        for row in conn.execute("SELECT * FROM projects ORDER BY rowid")
    ]
    rows = [dict(row) for row in conn.execute("SELECT * FROM sessions ORDER BY rowid")]
    dismissed = [row[0] for row in conn.execute("SELECT id FROM dismissed_imports")]
    return projects, [SessionRecord.from_row(row) for row in rows], dismissed, rows
