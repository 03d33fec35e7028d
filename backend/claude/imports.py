"""Claude Code's history as SessionDock sessions: listed from file heads, read when opened.

Each history file becomes one ``imported`` session under the project of its ``cwd``. Opening it
(a stream or a history read) copies the file's events into the store from where the last read
stopped, one chunk at a time with the store's flow control, and while a client streams it, new
lines appended to the file follow. The store's copy is what clients replay, so an imported
session resumes by event id like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from backend import protocol
from backend.claude import history
from backend.claude.conversation import AgentState
from backend.claude.transcript import TranscriptParser
from backend.protocol import dumps

if TYPE_CHECKING:
    from backend.sessions import Session, SessionManager

log = logging.getLogger(__name__)

IMPORTED = "imported"
# How often a history request that needs only a page checks whether the import has got there.
ENOUGH_POLL_SECONDS = 0.02


class HistoryImports:
    """Finds history files, keeps their sessions listed, and reads them into the store."""

    def __init__(
        self, manager: SessionManager, home: Path, *, poll_seconds: float, rescan_seconds: float
    ) -> None:
        self.manager = manager
        self.home = home
        self.poll_seconds = poll_seconds
        self.rescan_seconds = rescan_seconds
        self._heads: dict[str, history.Head | None] = {}  # None: no cwd in its head (yet)
        self._stamps: dict[str, history.FileStamp] = {}
        self._by_source: dict[str, Session] = {}
        self._parsers: dict[str, TranscriptParser] = {}
        self._scan: asyncio.Task[None] | None = None
        self._scanned_at = -float("inf")
        self._imports: dict[str, asyncio.Task[None]] = {}
        self._tails: dict[str, asyncio.Task[None]] = {}
        self._closing = False

    def adopt(self, session: Session) -> None:
        """A stored imported session (loaded at start)."""
        assert session.agent is not None
        assert session.agent.source is not None
        self._by_source[session.agent.source] = session
        self.manager.store.uncapped.add(session.id)

    async def stop(self) -> None:
        self._closing = True
        tasks = [*self._imports.values(), *self._tails.values()]
        if self._scan is not None:
            tasks.append(self._scan)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- listing ------------------------------------------------------------------------------

    def start_scan(self) -> None:
        """Scan in the background (at start: the server must not wait for it)."""
        if self._scan is None or self._scan.done():
            self._scan = asyncio.create_task(self._rescan(), name="claude history scan")

    async def refresh(self) -> None:
        """Rescan if the last scan is older than ``rescan_seconds``; wait for a running one."""
        if self._closing:
            return
        if (self._scan is None or self._scan.done()) and (
            time.monotonic() - self._scanned_at >= self.rescan_seconds
        ):
            self.start_scan()
        if self._scan is not None and not self._scan.done():
            with contextlib.suppress(Exception):
                await asyncio.shield(self._scan)

    async def _rescan(self) -> None:
        try:
            stamps, heads = await asyncio.to_thread(self._scan_files, dict(self._heads))
        finally:
            self._scanned_at = time.monotonic()
        self._stamps = {stamp.path: stamp for stamp in stamps}
        self._heads.update(heads)
        for path in set(self._heads) - set(self._stamps):
            del self._heads[path]
        # Claude Code's own records of our claude sessions, and what a user deleted here.
        skip = set(self.manager.store.dismissed_agent_ids)
        for session in self.manager.sessions.values():
            if session.agent is not None and session.agent.source is None:
                skip.update(session.agent.known_ids)
        for stamp in stamps:
            head = self._heads.get(stamp.path)
            if head is None or stamp.path in self._by_source or head.agent_session_id in skip:
                continue
            self._register(head, stamp)
        self._forget_vanished()

    def _scan_files(
        self, known: dict[str, history.Head | None]
    ) -> tuple[list[history.FileStamp], dict[str, history.Head | None]]:
        """In a thread: the files, and the heads of those not read yet (or changed since a
        head without a ``cwd`` was read)."""
        stamps = history.list_files(self.home)
        heads: dict[str, history.Head | None] = {}
        for stamp in stamps:
            if stamp.path in known and (
                known[stamp.path] is not None or self._stamps.get(stamp.path) == stamp
            ):
                continue
            try:
                heads[stamp.path] = history.read_head(stamp.path)
            except Exception:  # one odd file must not hide the others
                log.exception("cannot list %s", stamp.path)
                heads[stamp.path] = None
        return stamps, heads

    def _register(self, head: history.Head, stamp: history.FileStamp) -> None:
        manager = self.manager
        project = manager.project_for_folder(head.cwd)
        agent = AgentState(agent_session_id=head.agent_session_id, source=head.path)
        started = head.started_at or stamp.mtime_ns // 1_000_000
        session = manager.add_imported_session(
            project, head.title, head.cwd, agent, started, stamp.mtime_ns // 1_000_000
        )
        self._by_source[head.path] = session
        manager.store.uncapped.add(session.id)

    def _forget_vanished(self) -> None:
        """A listed file that disappeared before anyone opened it leaves nothing behind."""
        for path, session in list(self._by_source.items()):
            if path in self._stamps:
                continue
            if session.id not in self.manager.sessions:
                del self._by_source[path]
            elif session.source_offset == 0 and not os.path.exists(path):
                del self._by_source[path]
                self.manager.forget_imported(session)

    def forget(self, session: Session) -> None:
        """Deleted by a user: drop it now, and never list its Claude Code history again (for a
        claude session, the records Claude Code kept of its turns)."""
        agent = session.agent
        if agent is None:
            return
        if agent.source is not None:
            self._by_source.pop(agent.source, None)
        self._parsers.pop(session.id, None)
        for tasks in (self._imports, self._tails):
            task = tasks.pop(session.id, None)
            if task is not None:
                task.cancel()
        store = self.manager.store
        ids = set(agent.known_ids)
        if agent.source is not None and agent.agent_session_id:
            ids.add(agent.agent_session_id)
        for agent_id in ids - store.dismissed_agent_ids:
            store.dismissed_agent_ids.add(agent_id)
            store.execute("INSERT OR IGNORE INTO dismissed_agent_ids (id) VALUES (?)", (agent_id,))

    # -- opening ------------------------------------------------------------------------------

    def open(self, session: Session) -> None:
        """A client streams it: read what is new, and keep following the file meanwhile."""
        if self._closing or session.id in self._tails:
            return
        task = asyncio.create_task(self._follow(session), name=f"follow {session.id}")
        self._tails[session.id] = task
        task.add_done_callback(lambda _: self._tails.pop(session.id, None))

    async def catch_up(self, session: Session, enough: int | None = None) -> None:
        """Read the file into the store up to its current end, or (with ``enough``) until the
        session has that many events, whichever comes first."""
        if self._closing:
            return
        task = self._imports.get(session.id)
        if task is None:
            task = asyncio.create_task(self._import(session), name=f"import {session.id}")
            self._imports[session.id] = task
            task.add_done_callback(lambda _: self._imports.pop(session.id, None))
        # Not shield(): a delete or a stop cancels the import, and the caller then goes on (to
        # its 404) instead of being cancelled with it.
        store = self.manager.store
        while not task.done() and (enough is None or store.last_seq(session.id) < enough):
            await asyncio.wait({task}, timeout=ENOUGH_POLL_SECONDS)
        if task.done() and not task.cancelled() and (error := task.exception()) is not None:
            raise error

    async def _follow(self, session: Session) -> None:
        bus = self.manager.bus
        # Wait for the stream that opened it to subscribe, then follow while anyone watches.
        idle_polls = 0
        while session.id in self.manager.sessions and idle_polls < 2:
            try:
                await self.catch_up(session)
            except OSError as exc:
                log.info("cannot read %s: %s", session.agent and session.agent.source, exc)
            except Exception:
                log.exception("reading the history of %s failed", session.id)
                return
            idle_polls = 0 if bus.has_subscribers(session.id) else idle_polls + 1
            await asyncio.sleep(self.poll_seconds)

    async def _import(self, session: Session) -> None:
        agent = session.agent
        assert agent is not None
        assert agent.source is not None
        store = self.manager.store
        parser = self._parsers.setdefault(session.id, TranscriptParser(history=True))
        while session.id in self.manager.sessions:
            chunk = await asyncio.to_thread(
                history.read_chunk, agent.source, session.source_offset, parser
            )
            if session.id not in self.manager.sessions:
                return
            for parsed in chunk.parsed:
                if parsed.usage is not None:
                    agent.totals.add(parsed.usage)
                for event_type, payload in parsed.events:
                    if event_type == protocol.PROMPT:
                        agent.totals.turns += 1
                    self.manager.append_event(session, event_type, payload)
            if chunk.offset != session.source_offset:
                session.source_offset = chunk.offset
                # Queued after the chunk's events: committed with them or after them.
                store.execute(
                    "UPDATE sessions SET source_offset = ?, agent = ? WHERE id = ?",
                    (chunk.offset, dumps(agent.to_record()), session.id),
                )
            if chunk.at_end:
                return
            if store.congested:
                await store.drained()
