"""The database's tables, and the forward migrations from every earlier version.

``PRAGMA user_version`` says which version a file has. A new file gets ``SCHEMA`` at once; an
older one runs each migration after its version, all in one transaction with the new version
number, so a crash midway leaves the old schema whole.

Before a backend serves, ``prepare`` checks the file: SQLite, healthy, ours, not newer than this
release, and writable (a real write that commits). A file that fails is never written to, and
the user gets one sentence (``UnusableDatabase``) instead of a server that drops every write.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Final

from backend.store.search import REBUILD_SEARCH, SEARCH_TABLES

VERSION: Final = 7
# PRAGMA application_id: "SDck", marking the file as ours (for file(1) too). Files of the first
# releases have 0 there.
APPLICATION_ID: Final = 0x5344636B
SQLITE_HEADER: Final = b"SQLite format 3\x00"

# Built where it is needed: a new database gets it, and the upgrade to version 3 copies the
# old table into it.
SESSIONS_TABLE: Final = """
CREATE TABLE {name} (
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
    runtime TEXT NOT NULL,  -- which runtime runs it (backend/runtimes)
    state TEXT  -- JSON the runtime keeps across restarts, opaque to the store
);
"""

# A terminal session's emulator as of event ``seq`` (compressed), so that a restarted backend
# rebuilds its screen from this and the output after it, not from the whole history. ``engine``
# names the emulator library and version: a state is only restored by the same one.
SCREENS_TABLE: Final = """
CREATE TABLE screens (
    session_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    engine TEXT NOT NULL,
    state BLOB NOT NULL
);
"""

# How far each hosted session's output is stored, per stream, in bytes of what its program wrote
# (backend/host): written in the transaction of the events that hold those bytes, so a restarted
# backend asks its session host for exactly what comes after, neither less nor more.
HOST_OFFSETS_TABLE: Final = """
CREATE TABLE IF NOT EXISTS host_offsets (
    session_id TEXT NOT NULL,
    stream TEXT NOT NULL,
    offset INTEGER NOT NULL,
    PRIMARY KEY (session_id, stream)
) WITHOUT ROWID;
"""

SCHEMA: Final = f"""
CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    path TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
{SESSIONS_TABLE.format(name="sessions")}
CREATE INDEX sessions_by_project ON sessions(project_id);
CREATE TABLE events (
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    ts INTEGER NOT NULL,
    PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;
-- Ids of records elsewhere (Claude Code's sessions) a user deleted here: not imported again.
CREATE TABLE dismissed_imports (id TEXT PRIMARY KEY);
{SCREENS_TABLE}
{HOST_OFFSETS_TABLE}
{SEARCH_TABLES}
"""

# MIGRATIONS[n] takes a database from version n to n + 1.
MIGRATIONS: Final = {
    # Agent sessions and imported history.
    1: """
    ALTER TABLE sessions ADD COLUMN agent TEXT;
    ALTER TABLE sessions ADD COLUMN source_offset INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE IF NOT EXISTS dismissed_agent_ids (id TEXT PRIMARY KEY);
    """,
    # One runtime per session kind: which one runs a session, and one column of state it keeps
    # (an agent's state and an import's offset were columns of their own). The table is copied
    # rather than altered: DROP COLUMN needs SQLite 3.35, and some systems' Pythons have less.
    # Error events of a failed launch were stored without a timestamp: they get their row's.
    2: f"""
    {SESSIONS_TABLE.format(name="sessions_v3")}
    INSERT INTO sessions_v3 (id, project_id, name, kind, argv, working_dir, tty, status,
        exit_code, created_at, ended_at, last_event_id, trimmed_through, stored_bytes,
        runtime, state)
    SELECT id, project_id, name, kind, argv, working_dir, tty, status, exit_code, created_at,
        ended_at, last_event_id, trimmed_through, stored_bytes,
        CASE
            WHEN status = 'imported' THEN 'imported'
            WHEN kind = 'claude' THEN 'conversation'
            WHEN tty THEN 'terminal'
            ELSE 'pipes' END,
        CASE WHEN agent IS NOT NULL AND json_valid(agent)
            THEN json_set(agent, '$.sourceOffset', source_offset) END
    FROM sessions ORDER BY rowid;
    DROP TABLE sessions;
    ALTER TABLE sessions_v3 RENAME TO sessions;
    CREATE INDEX sessions_by_project ON sessions(project_id);
    CREATE TABLE dismissed_imports (id TEXT PRIMARY KEY);
    INSERT OR IGNORE INTO dismissed_imports SELECT id FROM dismissed_agent_ids;
    DROP TABLE dismissed_agent_ids;
    UPDATE events SET data = json_set(data, '$.timestamp', ts)
        WHERE type = 'error' AND json_valid(data) AND json_extract(data, '$.timestamp') IS NULL;
    """,
    # Terminal sessions keep their emulator's state (backend/runtimes/screen.py).
    3: SCREENS_TABLE,
    # Full-text search (backend/store/search.py): the writer indexes what is stored already in
    # the background, from search_progress (empty: from the first event of every session).
    4: SEARCH_TABLES,
    # The search index without trigram positions (half the size, twice the speed), made again.
    5: REBUILD_SEARCH,
    # Sessions run by the session host, which outlives the backend.
    6: HOST_OFFSETS_TABLE,
}


class UnusableDatabase(sqlite3.DatabaseError):
    """The database file cannot be used; the message says why, in one sentence."""


class NewerDatabase(UnusableDatabase):
    """The file was written by a newer SessionDock; this one must not touch it."""


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a committed transaction survives a crash of the process (not of the OS).
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def prepare(path: Path) -> None:
    """Check the database at ``path`` and bring it to ``VERSION`` (a new file gets the schema).

    Raises ``UnusableDatabase`` if the file is not SQLite, is damaged, is not ours, is newer
    than this release, or cannot be written."""
    _check_header(path)
    # A plain connection: nothing (not even the switch to WAL) is written before the checks pass.
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        _check_and_upgrade(conn, path)
    except sqlite3.OperationalError as exc:  # not what the file holds, but where it lies
        raise UnusableDatabase(
            f"cannot write to {path}: {exc} (check that the file and its folder are writable "
            "and that the disk has room)"
        ) from None
    finally:
        conn.close()


def _check_and_upgrade(conn: sqlite3.Connection, path: Path) -> None:
    _check_health(conn, path)
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > VERSION:
        raise NewerDatabase(
            f"{path} was written by a newer SessionDock (schema {version}; "
            f"this release knows up to {VERSION})"
        )
    _check_ours(conn, path, version)
    try:
        upgrade(conn)  # in one transaction: a foreign file that fails it is left as it was
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode != sqlite3.SQLITE_ERROR:  # not a missing table or column
            raise
        raise _foreign(path, f"schema {version} fails to upgrade: {exc}") from None
    if 0 < version < VERSION:  # what the migrations made of it
        _check_tables(conn, path)
    conn.execute("PRAGMA journal_mode=WAL")
    # A write that commits, now: a read-only file, folder or mount fails here rather than at
    # the first event, which would be lost. Rewriting a header field is a real write (a page
    # goes through the WAL) even when its value does not change.
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("COMMIT")


def _check_header(path: Path) -> None:
    try:
        with path.open("rb") as handle:
            head = handle.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return  # a new database
    if head and head != SQLITE_HEADER:  # an empty file is a new database to SQLite
        raise UnusableDatabase(
            f"{path} is not a SQLite database; move it away, or choose another --data-dir"
        )


def _check_health(conn: sqlite3.Connection, path: Path) -> None:
    try:
        found = [row[0] for row in conn.execute("PRAGMA quick_check")]
    except sqlite3.DatabaseError as exc:
        if exc.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
            raise
        found = [str(exc)]  # too damaged to check
    if found != ["ok"]:
        detail = " ".join(found[0].split()).removeprefix("*** in database main *** ")
        raise UnusableDatabase(
            f"{path} is damaged (quick_check: {detail[:200]}); "
            'recover it with sqlite3\'s .recover (docs/operations.md, "A damaged database")'
        )


def _tables(conn: sqlite3.Connection) -> list[str]:
    return [
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
    ]


def _check_ours(conn: sqlite3.Connection, path: Path, version: int) -> None:
    """Refuse, before anything is written, a file that another program made."""
    application_id: int = conn.execute("PRAGMA application_id").fetchone()[0]
    tables = _tables(conn)
    if application_id not in (0, APPLICATION_ID):
        raise _foreign(path, f"application_id {application_id:#x}")
    if version == 0 and tables:  # ours always have a version
        raise _foreign(path, "it holds the tables " + ", ".join(tables))
    if version == VERSION:
        _check_tables(conn, path)


def _check_tables(conn: sqlite3.Connection, path: Path) -> None:
    """Every table of the current schema is there, with every column (a file that merely
    claims our version does not pass)."""
    expected = sqlite3.connect(":memory:")
    try:
        expected.executescript(SCHEMA)
        for table in _tables(expected):
            found = _columns(conn, table)
            lacking = [name for name in _columns(expected, table) if name not in found]
            if not found:
                raise _foreign(path, f"it has no table {table}")
            if lacking:
                raise _foreign(path, f"its table {table} lacks {', '.join(lacking)}")
    finally:
        expected.close()


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute("SELECT * FROM pragma_table_info(?)", (table,))]


def _foreign(path: Path, why: str) -> UnusableDatabase:
    return UnusableDatabase(
        f"{path} is not a SessionDock database ({why}); move it away, or choose another --data-dir"
    )


def upgrade(conn: sqlite3.Connection) -> None:
    """Bring the database to ``VERSION`` (create it, or migrate it forward); ``prepare`` has
    checked that it is not newer."""
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == VERSION:
        return
    script = SCHEMA if version == 0 else "".join(MIGRATIONS[v] for v in range(version, VERSION))
    # SQLite's procedure for changing a table (make the new one, copy, drop, rename) runs with
    # foreign keys off, or dropping the old table would act on what refers to it.
    conn.execute("PRAGMA foreign_keys=OFF")
    try:
        conn.executescript(f"BEGIN; {script} PRAGMA user_version={VERSION}; COMMIT;")
    finally:
        conn.execute("PRAGMA foreign_keys=ON")
