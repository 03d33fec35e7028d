"""What terminal and pipe sessions share: one program, its output as events, its exit as the end.

The program runs in its own session and process group (backend/runtimes/process.py). Its output
is coalesced into ``output`` events; when it exits, whatever it wrote is stored before its
status. An ending a user asked for (stop, a terminating signal, or an interrupt the program died
of) is ``stopped``; one that happens because the backend stops is ``interrupted``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from typing import ClassVar

from backend.environment import default_shell
from backend.errors import SessionNotRunning, StorageFailing
from backend.host.client import HostUnavailable
from backend.protocol.api import NewSession
from backend.protocol.events import (
    EXITED,
    FAILED,
    INTERRUPTED,
    RUNNING,
    STOPPED,
    Error,
    Output,
    Prompt,
    now_ms,
)
from backend.runtimes.base import Plan, PromptAck, RuntimeKind, SessionRuntime
from backend.runtimes.hosted import HostedProcess
from backend.runtimes.process import LaunchSpec, ProgramProcess, SessionProcess

log = logging.getLogger(__name__)

# An event that took at least this long to hand to all its session's watchers (about 250 of
# them) spaces out the next one (``ProgramRuntime._pace``).
FAN_OUT_PAUSE = 0.002


class ProgramKind(RuntimeKind):
    """Shell and command sessions; ``tty`` says whether this kind runs them in a terminal."""

    tty: ClassVar[bool]

    def accepts(self, request: NewSession) -> bool:
        return request.kind in ("shell", "command") and request.tty == self.tty

    def prepare_environment(self, env: dict[str, str]) -> None:
        """Add what this kind's programs need to their environment."""

    async def prepare(self, request: NewSession) -> Plan:
        argv = list(request.argv or ()) or [default_shell()]
        env = await self.context.environment()  # may wait for the login shell's PATH
        self.prepare_environment(env)
        project, working_dir = self.context.catalog.place(request.project_id, request.working_dir)
        return Plan(
            project=project,
            working_dir=working_dir,
            name=request.name or " ".join(argv)[:80],
            argv=argv,
            tty=self.tty,
            env=env,
            cols=request.cols,
            rows=request.rows,
        )


class ProgramRuntime(SessionRuntime):
    """One program, from its start to its exit."""

    process: ProgramProcess | None = None
    # A user asked it to end (stop, SIGTERM, SIGKILL), or interrupted it: an ending that
    # follows is theirs, shown as ``stopped`` rather than as a failure.
    stop_requested = False
    interrupt_requested = False

    @property
    def running(self) -> bool:
        return self.host.record.status == RUNNING and self.process is not None

    def restore(self) -> None:
        if self.host.record.status != RUNNING:
            return
        link = self.context.host
        held = link.held.get(self.session_id) if link is not None and link.connected else None
        if link is None or held is None:
            # It ran as the previous backend's child, or its host is gone: it ended with them.
            self.host.end(INTERRUPTED, None)
            return
        # The session host kept it running: take it on from what the store holds.
        record = self.host.record
        state = record.state or {}
        spec = LaunchSpec(
            tuple(record.argv),
            record.working_dir,
            {},
            record.tty,
            int(state.get("cols", 120)),
            int(state.get("rows", 32)),
        )
        process = HostedProcess(
            link,
            self.session_id,
            spec,
            self._on_output,
            self.context.settings.coalesce_seconds,
            self._pace,
        )
        process.adopt(held, self.context.store.host_offsets.get(self.session_id, {}))
        self.process = process
        self.adopting(process)
        self.spawn(self._watch(process), "watch")

    def adopting(self, process: HostedProcess) -> None:
        """A running session is being taken on from the session host (before its output)."""

    async def start(self, plan: Plan) -> None:
        record = self.host.record
        await self.launch(
            LaunchSpec(
                tuple(record.argv), record.working_dir, plan.env, record.tty, plan.cols, plan.rows
            )
        )

    async def _new_process(self, spec: LaunchSpec) -> ProgramProcess:
        """The session host runs it when there is one (started again if it went away)."""
        settings = self.context.settings
        link = self.context.host
        if link is not None:
            try:
                await link.connect()
            except HostUnavailable as exc:
                log.error("%s; %s runs in the backend", exc.strerror, self.session_id)
            else:
                return HostedProcess(
                    link, self.session_id, spec, self._on_output, settings.coalesce_seconds,
                    self._pace,
                )  # fmt: skip
        return SessionProcess(spec, self._on_output, settings.coalesce_seconds, self._pace)

    async def launch(self, spec: LaunchSpec) -> None:
        settings = self.context.settings
        process = await self._new_process(spec)
        try:
            await process.start()
        except OSError as exc:
            if not self.host.gone:
                message = f"could not start {spec.argv[0]!r}: {exc.strerror or exc}"
                self.host.emit(
                    Error(session_id=self.session_id, timestamp=now_ms(), message=message)
                )
                self.host.end(FAILED, None)
            return
        if self.host.closing or self.host.gone:
            # Deleted, or the server began to stop, while it was starting: nobody else will
            # end it now.
            await process.terminate(settings.kill_grace_seconds)
            await process.wait()
            if not self.host.gone:
                self.host.end(INTERRUPTED, None)
            if isinstance(process, HostedProcess):
                process.forget()
            return
        self.process = process
        self.host.status()
        self.spawn(self._watch(process), "watch")

    async def _watch(self, process: ProgramProcess) -> None:
        code = await process.wait()
        self.process = None
        if not self.host.gone:
            if code is None:
                self.report("the session host ended unexpectedly; the program ended with it")
                self.host.end(INTERRUPTED, None)
            elif self.host.closing:
                self.host.end(INTERRUPTED, None)
            elif self.stop_requested or (self.interrupt_requested and code == -signal.SIGINT):
                self.host.end(STOPPED, code)
            else:
                self.host.end(EXITED if code == 0 else FAILED, code)
        if isinstance(process, HostedProcess):
            await self._ending_stored()
            process.forget()

    async def _ending_stored(self) -> None:
        """Wait until the session's end is committed, so that the host may let it go (a
        backend that dies meanwhile learns the end from the host). Not while the store fails
        and not when the backend stops: the end is stored when it can be, as before the host."""
        store = self.context.store
        while not self.host.gone and not self.host.closing:
            try:
                await store.flush(session_id=self.session_id)
                return
            except StorageFailing:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(store.drained(), 1.0)

    def _pace(self, send: Callable[[], None]) -> None:
        """When the next event may go: once the store can take it, and, for a session with
        so many watchers that handing an event to them all takes a while, not before a
        quarter as long again has passed (its events then take at most four fifths of the
        loop: when they would take more, they grow instead)."""
        cost, since = self.context.bus.cost(self.session_id)
        wait = cost / 4 - since
        if cost < FAN_OUT_PAUSE or wait <= 0:
            self.context.store.after_commit(send)
        else:
            loop = asyncio.get_running_loop()
            loop.call_later(wait, self.context.store.after_commit, send)

    def _on_output(self, stream: str, text: str, mark: int | None = None) -> None:
        if self.host.gone:
            return
        self.host.emit(
            Output(session_id=self.session_id, timestamp=now_ms(), type=stream, content=text),  # type: ignore[arg-type]
            None if mark is None else (stream, mark),
        )
        store = self.context.store
        process = self.process
        if process is not None and store.congested:
            # The store is behind: let the program wait rather than queue without bound.
            process.pause_reading()
            store.call_when_drained(process.resume_reading)

    # -- actions ------------------------------------------------------------------------------

    def _live(self) -> ProgramProcess:
        if not self.running or self.process is None:
            raise self.not_running()
        return self.process

    def write(self, text: str) -> PromptAck:
        process = self._live()
        try:
            process.write(text.encode() + b"\n")
        except BrokenPipeError as exc:
            raise SessionNotRunning(f"session {self.session_id!r} no longer reads input") from exc
        event = self.host.emit(Prompt(session_id=self.session_id, timestamp=now_ms(), command=text))
        return PromptAck(event.seq)

    def interrupt(self) -> None:
        process = self._live()
        self.interrupt_requested = True
        process.interrupt()

    def stop(self) -> None:
        process = self._live()
        self.stop_requested = True
        self.spawn(process.terminate(self.context.settings.stop_grace_seconds), "stop")

    def kill(self, signum: int) -> None:
        process = self._live()
        self.stop_requested = True
        if signum == signal.SIGKILL:
            process.signal_all(signal.SIGKILL)
        else:
            process.signal_all(signal.SIGTERM, signal.SIGHUP)

    async def shutdown(self) -> None:
        process = self.process
        if isinstance(process, HostedProcess) and self.host.keeping and not self.host.gone:
            # It runs on in the session host; the next backend takes it on from the store.
            process.detach()
            self.process = None
            for task in self.tasks:
                task.cancel()
        elif process is not None:
            await process.terminate(self.context.settings.kill_grace_seconds)
        await self.wait_tasks()

    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None
