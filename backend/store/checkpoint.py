"""WAL checkpoints on a thread of their own, beside the writer.

SQLite checkpoints a WAL database by itself on the connection that commits, once the WAL passes
1000 pages: the writer's ``COMMIT`` then copies the WAL into the database file and syncs it,
tens of milliseconds during which no event is committed (and a keystroke's echo waits). The
writer turns that off (``wal_autocheckpoint=0``) and asks this thread instead, every
``EVERY_BYTES`` it commits. A ``PASSIVE`` checkpoint never blocks the writer.

A checkpoint that runs while the writer keeps writing does not copy the frames written
meanwhile, and the WAL only starts over once every frame is copied: beside a session printing at
full speed it would grow without end. So every ``WRITER_EVERY_BYTES`` the writer checkpoints by
itself, between two transactions, when this thread is not at it: that one copies what is left
(little: this thread copied the rest) and lets the WAL start over. One short stall per 16 MiB
instead of a long one per 4 MiB. Should this thread be at it every time, the writer waits for it
once the WAL is twice that long.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

from backend.store.schema import connect

log = logging.getLogger(__name__)

EVERY_BYTES = 4 * 1024 * 1024  # of committed events: about SQLite's own 1000 pages
WRITER_EVERY_BYTES = 16 * 1024 * 1024  # and so the WAL's bound, give or take its own pages


class Checkpointer:
    """A thread that runs a ``PASSIVE`` checkpoint when ``request()`` asks for one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # One checkpoint at a time: a second one would find the database busy and copy nothing,
        # and the writer's must copy everything to let the WAL start over.
        self._lock = threading.Lock()
        self._wanted = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="store-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def request(self) -> None:
        self._wanted.set()

    def checkpoint(self, conn: sqlite3.Connection, *, wait: bool = True) -> bool:
        """A ``PASSIVE`` checkpoint on ``conn``, once the one under way (if any) is done; with
        ``wait=False``, none if one is under way. Whether it ran."""
        if not self._lock.acquire(blocking=wait):
            return False
        try:
            # fetchall: a statement left unfinished would hold a read lock, and the WAL could
            # not start over.
            rows = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            self._lock.release()
        ((busy, frames, copied),) = rows
        if busy:
            log.debug("checkpoint: the database was busy (%d of %d frames copied)", copied, frames)
        return True

    def join(self) -> None:
        self._stopping = True
        self._wanted.set()
        self._thread.join()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                self._wanted.wait()
                self._wanted.clear()
                if self._stopping:
                    return
                try:
                    if conn is None:
                        conn = connect(self.path)
                    self.checkpoint(conn)
                except sqlite3.Error as exc:
                    # The writer says what is wrong with the database, and its own checkpoints
                    # (and the last connection's, at close) still run.
                    log.debug("checkpoint failed: %s", exc)
                    if conn is not None:
                        conn.close()
                        conn = None
        finally:
            if conn is not None:
                conn.close()
