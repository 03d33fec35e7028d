"""The database's tables, and the forward migrations from every earlier version.

``PRAGMA user_version`` says which version a file has. A new file gets ``SCHEMA`` at once; an
older one runs each migration after its version, all in one transaction with the new version
number, so a crash midway leaves the old schema whole.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Final

VERSION: Final = 3

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
}


class NewerDatabase(sqlite3.DatabaseError):
    """The file was written by a newer SessionDock; this one must not touch it."""


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a committed transaction survives a crash of the process (not of the OS).
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def upgrade(conn: sqlite3.Connection, path: Path) -> None:
    """Bring the database to ``VERSION`` (create it, or migrate it forward)."""
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > VERSION:
        raise NewerDatabase(f"{path} was written by a newer SessionDock (schema {version})")
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
