"""Claude Code's history as SessionDock sessions: listed from file heads, read when opened.

The kind lists ``<claude home>/projects/*/*.jsonl``: each file becomes one ``imported`` session
under the project of its ``cwd``. Opening one (a stream or a history read) copies the file's
events into the store from where the last read stopped, one chunk at a time with the store's
flow control, and while a client streams it, new lines appended to the file follow. The store's
copy is what clients replay, so an imported session resumes by event id like any other.

After each scan, the files not read to their end are read in the background too, one at a
time, so that search (which indexes what the store holds) finds conversations nobody opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from typing import Any

from backend.claude import history
from backend.claude.agent import AgentState
from backend.claude.transcript import TranscriptParser
from backend.errors import SessionNotRunning
from backend.protocol.api import Agent
from backend.protocol.events import IMPORTED, Prompt
from backend.runtimes.base import (
    Plan,
    PromptAck,
    RuntimeContext,
    RuntimeKind,
    SessionHost,
    SessionRuntime,
)

log = logging.getLogger(__name__)

# How often a history request that needs only a page checks whether the import has got there.
ENOUGH_POLL_SECONDS = 0.02


class ImportedKind(RuntimeKind):
    """Finds history files and keeps their sessions listed."""

    name = "imported"

    def __init__(self, context: RuntimeContext) -> None:
        super().__init__(context)
        settings = context.settings
        self.enabled = settings.claude_history
        self.home = settings.claude_home or history.default_home()
        self.poll_seconds = settings.history_poll_seconds
        self.rescan_seconds = settings.history_rescan_seconds
        self.by_source: dict[str, ImportedRuntime] = {}
        self._heads: dict[str, history.Head | None] = {}  # None: no cwd in its head (yet)
        self._stamps: dict[str, history.FileStamp] = {}
        self._scan: asyncio.Task[None] | None = None
        self._backfill: asyncio.Task[None] | None = None
        self._scanned_at = -float("inf")
        self.closing = False

    def runtime(self, host: SessionHost) -> SessionRuntime:
        return ImportedRuntime(host, self.context, self)

    async def start(self) -> None:
        if self.enabled:
            self._start_scan()  # in the background: the server must not wait for it

    async def stop(self) -> None:
        self.closing = True
        for task in (self._scan, self._backfill):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def refresh(self) -> None:
        """Rescan if the last scan is older than ``rescan_seconds``; wait for a running one."""
        if self.closing or not self.enabled:
            return
        if (self._scan is None or self._scan.done()) and (
            time.monotonic() - self._scanned_at >= self.rescan_seconds
        ):
            self._start_scan()
        if self._scan is not None and not self._scan.done():
            with contextlib.suppress(Exception):
                await asyncio.shield(self._scan)

    def _start_scan(self) -> None:
        if self._scan is None or self._scan.done():
            self._scan = asyncio.create_task(self._rescan(), name="claude history scan")

    async def _rescan(self) -> None:
        try:
            stamps, heads = await asyncio.to_thread(self._scan_files, dict(self._heads))
        finally:
            self._scanned_at = time.monotonic()
        self._stamps = {stamp.path: stamp for stamp in stamps}
        self._heads.update(heads)
        for path in set(self._heads) - set(self._stamps):
            del self._heads[path]
        # What a user deleted here, and Claude Code's own records of the conversations that
        # sessions here ran (their ids are claimed by those sessions).
        skip = set(self.context.store.imports.dismissed)
        for runtime in self.context.catalog.runtimes():
            if not isinstance(runtime, ImportedRuntime):
                skip.update(runtime.claimed_ids())
        for stamp in stamps:
            head = self._heads.get(stamp.path)
            if head is None or stamp.path in self.by_source or head.agent_session_id in skip:
                continue
            self._register(head, stamp)
        await self._forget_vanished()
        if self.context.settings.history_index and (
            self._backfill is None or self._backfill.done()
        ):
            self._backfill = asyncio.create_task(self._read_unread(), name="claude history reads")

    async def _read_unread(self) -> None:
        """Read every listed file that is not read to its end, one at a time (each with the
        store's flow control): what the store holds, search finds."""
        for path, runtime in list(self.by_source.items()):
            stamp = self._stamps.get(path)
            if self.closing or stamp is None or runtime.offset >= stamp.size:
                continue
            try:
                await runtime.catch_up()
            except Exception:  # one odd file must not stop the others
                log.exception("reading the history of %s failed", runtime.session_id)

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
        catalog = self.context.catalog
        agent = AgentState(agent_session_id=head.agent_session_id, source=head.path)
        plan = Plan(
            project=catalog.project_for_folder(head.cwd),
            working_dir=head.cwd,
            name=head.title,
            argv=[],
            tty=False,
            state=agent.to_record(),
        )
        modified = stamp.mtime_ns // 1_000_000
        catalog.add_found(
            self, plan, session_kind="claude", status=IMPORTED,
            created_at=head.started_at or modified, ended_at=modified,
        )  # fmt: skip

    async def _forget_vanished(self) -> None:
        """A listed file that disappeared before anyone opened it leaves nothing behind."""
        for path, runtime in list(self.by_source.items()):
            if path in self._stamps:
                continue
            if runtime.host.gone:
                del self.by_source[path]
            elif runtime.offset == 0 and not os.path.exists(path):  # noqa: ASYNC240 - rare
                del self.by_source[path]
                await self.context.catalog.drop_found(runtime.session_id)


class ImportedRuntime(SessionRuntime):
    """One history file: read into the store when opened, followed while someone watches."""

    def __init__(self, host: SessionHost, context: RuntimeContext, kind: ImportedKind) -> None:
        super().__init__(host, context)
        self.kind = kind
        state = host.record.state
        self.agent_state = AgentState.from_record(state)
        offset = state.get("sourceOffset")
        self.offset: int = offset if isinstance(offset, int) and offset >= 0 else 0
        self._parser: TranscriptParser | None = None
        self._import: asyncio.Task[None] | None = None
        self._follow: asyncio.Task[None] | None = None
        source = self.agent_state.source
        if kind.enabled and source is not None:
            kind.by_source[source] = self
            context.store.sessions.keep_all(self.session_id)  # the user asked for all of it

    def restore(self) -> None:
        """Nothing runs: it is read when opened."""

    @property
    def running(self) -> bool:
        return False

    @property
    def _readable(self) -> bool:
        return (
            self.kind.enabled
            and not self.kind.closing
            and self.agent_state.source is not None
            and not self.host.gone
        )

    def write(self, text: str) -> PromptAck:
        raise SessionNotRunning(
            f"session {self.session_id!r} is imported history: continue it with "
            'POST /api/sessions {"kind": "claude", "resume": "' + self.session_id + '"}'
        )

    async def shutdown(self) -> None:
        for task in (self._import, self._follow):
            if task is not None:
                task.cancel()
        await self.wait_tasks()

    async def delete(self) -> None:
        source = self.agent_state.source
        if source is not None and self.kind.by_source.get(source) is self:
            del self.kind.by_source[source]
        await self.shutdown()

    def agent(self) -> Agent:
        return self.agent_state.to_agent()

    def state(self) -> dict[str, Any]:
        return {**self.agent_state.to_record(), "sourceOffset": self.offset}

    def claimed_ids(self) -> list[str]:
        agent_id = self.agent_state.agent_session_id
        return [agent_id] if agent_id else []

    # -- opening ------------------------------------------------------------------------------

    def open(self) -> None:
        """A client streams it: read what is new, and keep following the file meanwhile."""
        if self._readable and (self._follow is None or self._follow.done()):
            self._follow = self.spawn(self._following(), "follow")

    async def catch_up(self, enough: int | None = None) -> None:
        """Read the file into the store up to its current end, or (with ``enough``) until the
        session has that many events, whichever comes first."""
        if not self._readable:
            return
        task = self._import
        if task is None or task.done():
            task = self._import = self.spawn(self._read(), "import")
        # Not shield(): a delete or a stop cancels the import, and the caller then goes on (to
        # its 404) instead of being cancelled with it.
        store = self.context.store
        while not task.done() and (
            enough is None or store.events.last_seq(self.session_id) < enough
        ):
            await asyncio.wait({task}, timeout=ENOUGH_POLL_SECONDS)
        if task.done() and not task.cancelled() and (error := task.exception()) is not None:
            if isinstance(error, OSError):
                log.info("cannot read the history of %s: %s", self.session_id, error)
            else:
                raise error

    async def _following(self) -> None:
        bus = self.context.bus
        # Wait for the stream that opened it to subscribe, then follow while anyone watches.
        idle_polls = 0
        while not self.host.gone and idle_polls < 2:
            try:
                await self.catch_up()
            except Exception:
                log.exception("reading the history of %s failed", self.session_id)
                return
            idle_polls = 0 if bus.has_subscribers(self.session_id) else idle_polls + 1
            await asyncio.sleep(self.kind.poll_seconds)

    async def _read(self) -> None:
        source = self.agent_state.source
        assert source is not None
        store = self.context.store
        if self._parser is None:
            self._parser = TranscriptParser(self.session_id, history=True)
        parser = self._parser
        totals = self.agent_state.totals
        while not self.host.gone:
            chunk = await asyncio.to_thread(history.read_chunk, source, self.offset, parser)
            if self.host.gone:
                return
            for parsed in chunk.parsed:
                if parsed.usage is not None:
                    totals.add(parsed.usage)
                for event in parsed.events:
                    if isinstance(event, Prompt):
                        totals.turns += 1
                    self.host.emit(event)
            if chunk.offset != self.offset:
                self.offset = chunk.offset
                self.host.save_state()  # queued after the chunk's events: committed with them
            if chunk.at_end:
                return
            if store.congested:
                await store.drained()
