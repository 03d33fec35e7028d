"""``claude`` sessions: a conversation with Claude Code, held by one long-lived process.

The first prompt starts ``claude`` in stream-json mode (``agent_process.py``); it stays alive
between turns and takes each prompt as a ``user`` line. Its lines become events
(backend/claude/transcript.py); when it asks before using a tool (``can_use_tool``) the request
is stored as a ``permission-request`` event and waits for a client's answer
(``POST /permission``); its streamed text goes to clients as ``delta`` events that are never
stored. The process closes after ``--agent-idle-minutes`` without a turn, or when the backend
holds more than ``--max-live-agents`` (the least recently used idle one first); the next prompt
starts it again with ``--resume``, the agent's session id taken from its own output. Prompts
sent while a turn runs wait in a queue and run in order. The agent's state (its id, mode, open
requests) lives in the session's state, so a conversation outlives a backend restart; requests
that were open then are resolved ``expired``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
from collections import deque
from typing import Any

from backend.claude import control
from backend.claude.agent import IDLE, WORKING, AgentState
from backend.claude.transcript import (
    MAX_LINE_SAMPLE,
    TranscriptParser,
    TurnResult,
    Usage,
    is_agent_id,
)
from backend.errors import (
    AgentNotAnswering,
    AlreadyResolved,
    FolderNotFound,
    InvalidInput,
    NotAConversation,
    NotATerminal,
    RequestNotFound,
    SessionNotFound,
    SessionNotRunning,
    ShuttingDown,
)
from backend.protocol.api import Agent, ModeSet, NewSession, PendingPermission, SlashCommand
from backend.protocol.events import (
    FAILED,
    RUNNING,
    STOPPED,
    Delta,
    Error,
    EventData,
    ModeChanged,
    Output,
    PermissionRequest,
    PermissionResolved,
    Prompt,
    now_ms,
)
from backend.protocol.sse import StoredEvent
from backend.runtimes.agent_process import AgentProcess, LivePool
from backend.runtimes.base import (
    Plan,
    PromptAck,
    RuntimeContext,
    RuntimeKind,
    SessionHost,
    SessionRuntime,
)
from backend.runtimes.process import LaunchSpec

log = logging.getLogger(__name__)

EXIT_PLAN = "ExitPlanMode"
# A CLI that does not answer ``initialize`` (an older one) costs each process start this long.
INITIALIZE_SECONDS = 10.0
# Lines that say nothing a person reads, and are not kept: liveness and bookkeeping.
UNKEPT_LINES = frozenset({"keep_alive", "command_lifecycle", "stream_event"})


class ConversationKind(RuntimeKind):
    name = "conversation"

    def accepts(self, request: NewSession) -> bool:
        return request.kind == "claude"

    async def prepare(self, request: NewSession) -> Plan:
        catalog = self.context.catalog
        agent = AgentState()
        name = request.name or "Claude"
        if request.resume is not None:
            resumed = catalog.runtime_of(request.resume)
            if resumed is not None:
                agent_id = _agent_id(resumed.agent())
                if agent_id is None:
                    raise NotAConversation(
                        f"session {request.resume!r} has no Claude conversation to continue"
                    )
                agent.remember(agent_id)
                record = resumed.host.record
                name = request.name or f"{record.name[:70]} (continued)"
                project = catalog.project(request.project_id or record.project_id)
                # Claude Code finds a conversation by the folder it ran in.
                if not os.path.isdir(record.working_dir):  # noqa: ASYNC240 - one stat
                    raise FolderNotFound(
                        f"the conversation ran in {record.working_dir!r}, which no longer "
                        "exists: Claude Code can only continue it there"
                    )
                working_dir = record.working_dir
            elif is_agent_id(request.resume):  # it becomes the argument of --resume
                agent.remember(request.resume)
                project, working_dir = catalog.place(request.project_id, request.working_dir)
            else:
                raise SessionNotFound(f"no session {request.resume!r}")
        else:
            project, working_dir = catalog.place(request.project_id, request.working_dir)
        return Plan(
            project=project,
            working_dir=working_dir,
            name=name,
            argv=list(request.argv or ()),  # added to every turn's command line
            tty=False,
            state=agent.to_record(),
        )

    def __init__(self, context: RuntimeContext) -> None:
        super().__init__(context)
        self.pool = LivePool(lambda: context.settings.max_live_agents)

    def runtime(self, host: SessionHost) -> SessionRuntime:
        return ConversationRuntime(host, self.context, self.pool)


def _agent_id(agent: Agent | None) -> str | None:
    if agent is None or not is_agent_id(agent.agent_session_id):
        return None
    return agent.agent_session_id


class ConversationRuntime(SessionRuntime):
    """Queues prompts and runs them as turns of one live ``claude``, one at a time, in order."""

    def __init__(self, host: SessionHost, context: RuntimeContext, pool: LivePool) -> None:
        super().__init__(host, context)
        self.agent_state = AgentState.from_record(host.record.state)
        self._pool = pool
        self._queue: deque[str] = deque()  # prompts waiting for the running turn
        self._agent: AgentProcess | None = None
        self._starting: asyncio.Task[AgentProcess | None] | None = None
        self._runner: asyncio.Task[None] | None = None
        self._turn_done: asyncio.Future[None] | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._watcher: asyncio.Task[None] | None = None  # of the process: its end
        self._open = False  # takes prompts (a conversation that ended does not)
        # Set for the running turn (also while it starts: an interrupt then is not lost).
        self._interrupted = False
        self._closing = False
        # How the conversation is being ended, for a process that starts meanwhile.
        self._end_signals: tuple[int, ...] = (signal.SIGTERM,)
        self._end_grace = context.settings.kill_grace_seconds
        self._parser = TranscriptParser(self.session_id)
        self._stream = control.StreamReader()
        self._forced = False  # the process was killed after the grace period
        self._result: TurnResult | None = None
        self._process_cost = 0.0  # the live process's total_cost_usd so far (it adds up)

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self, plan: Plan) -> None:
        env = await self.context.environment()
        if self.host.gone:  # deleted (with its project) while the environment was asked for
            return
        if self._binary(env) is None:
            self._emit(
                Error(session_id=self.session_id, timestamp=now_ms(), message=self._missing())
            )
            self.host.end(FAILED, None)
            return
        self._open = True
        self.host.status()

    def restore(self) -> None:
        # The process of a backend that died went with it: its open requests are void.
        self._expire_pending()
        if self.host.record.status != RUNNING:
            return  # an ended conversation: its agent is still shown
        self._open = True
        if self.agent_state.state == WORKING:
            # The backend died while a turn ran: say so, and take prompts again.
            self._recover()
        else:
            self.host.status()

    @property
    def running(self) -> bool:
        return self._open and self.host.record.status == RUNNING

    async def shutdown(self) -> None:
        """End the process (a running turn is recorded as interrupted) and say which queued
        prompts did not run. The conversation itself goes on after a restart."""
        await self._end((signal.SIGTERM,), "the backend stopped")
        await self.wait_tasks()

    async def delete(self) -> None:
        await self._end((signal.SIGKILL,), "the session was deleted")
        await self.wait_tasks()

    # -- actions ------------------------------------------------------------------------------

    def write(self, text: str) -> PromptAck:
        """Record the prompt and run it now, or after the turns before it."""
        if not self.running:
            raise self.not_running()
        if self.host.closing:
            raise ShuttingDown("the server is shutting down")
        if not text.strip():
            raise InvalidInput("a prompt for Claude cannot be empty")
        position = len(self._queue) + 1 if self._busy else 0
        prompt = Prompt(session_id=self.session_id, timestamp=now_ms(), command=text)
        if position:
            prompt.queued = True
            prompt.position = position
        event = self.host.emit(prompt)
        if self._busy:
            self._queue.append(text)
            self.agent_state.queued = len(self._queue)
            self.host.save_state()
        else:
            self._runner = self.spawn(self._run_queue(text), "claude turns")
        return PromptAck(event.seq, bool(position), position)

    def interrupt(self) -> None:
        """Stop the running turn (the ``interrupt`` control request, which also withdraws its
        open permission requests); the queue goes on afterwards."""
        if not self.running:
            raise self.not_running()
        if not self._busy or self._interrupted:
            return
        self._interrupted = True
        if self._turn_done is not None and self._agent is not None:
            self.spawn(self._send_interrupt(self._agent), "interrupt")
        # else: the turn is starting; it is interrupted as soon as its prompt is written

    def stop(self) -> None:
        """Drop the queue and close the conversation's process (SIGINT, then SIGKILL after the
        grace period if it is still there)."""
        if not self.running:
            raise self.not_running()
        self._open = False  # no prompt is taken from now on; the turn ends in the background
        self.spawn(self._close(None), "stop")

    def kill(self, signum: int) -> None:
        if not self.running:
            raise self.not_running()
        self._open = False
        self.spawn(self._close(signum), "close")

    def resize(self, cols: int, rows: int) -> None:
        raise NotATerminal(f"session {self.session_id!r} is a Claude session: it has no terminal")

    def answer(
        self,
        request_id: str,
        behavior: str,
        updated_input: dict[str, Any] | None,
        message: str | None,
        remember: list[dict[str, Any]] | None,
    ) -> int:
        """Answer an open permission request; the ``permission-resolved`` event's id.

        Checked and resolved without an await, so of two answers at once exactly one wins."""
        pending = self.agent_state.pending.get(request_id)
        if pending is None:
            if request_id in self.agent_state.resolved:
                raise AlreadyResolved(f"request {request_id!r} was resolved already")
            raise RequestNotFound(f"session {self.session_id!r} has no request {request_id!r}")
        for suggestion in remember or ():
            if suggestion not in pending.suggestions:
                raise InvalidInput("remember: only the request's own suggestions can be kept")
        agent = self._agent
        if behavior == "allow":
            response = control.allow(pending.input, updated_input, remember)
        else:
            response = control.deny(message or "The user denied this.")
        if self._closing or agent is None or not agent.answer(request_id, response):
            # Its process is ending: the answer cannot reach it, and the request is void.
            self._resolve(request_id, "expired")
            self._status()
            raise AlreadyResolved(
                f"request {request_id!r} expired: the claude process that asked is ending"
            )
        self.agent_state.resolve(request_id)
        resolved = PermissionResolved(
            session_id=self.session_id,
            timestamp=now_ms(),
            request_id=request_id,
            behavior=behavior,  # type: ignore[arg-type]
        )
        if behavior == "deny" and message:
            resolved.message = message
        event = self.host.emit(resolved)
        self._status()
        if pending.tool == EXIT_PLAN and behavior == "allow" and agent is not None:
            # The plan is approved: carry it out without asking for each edit.
            self.spawn(self._switch_mode(agent, "acceptEdits"), "mode")
        return event.seq

    async def set_mode(self, mode: str) -> ModeSet:
        """Switch the permission mode (now if the process runs, else at its next start)."""
        return await self._switch("set_permission_mode", mode=mode)

    async def set_model(self, model: str) -> ModeSet:
        return await self._switch("set_model", model=model)

    async def _switch(self, subtype: str, **change: Any) -> ModeSet:
        """Send ``subtype`` with ``change`` (a mode or a model) to the running process, and
        keep the change for the next one."""
        if not self.running:
            raise self.not_running()
        agent = await self._settled_agent()
        if agent is not None:
            await agent.request(subtype, **change)
        self._changed(**change)
        return ModeSet(mode=self.agent_state.mode, model=self.agent_state.model)

    async def _settled_agent(self) -> AgentProcess | None:
        """The process that takes control requests now: one that is starting has started (it
        was given the mode and model as they were; a switch made meanwhile goes to it now)."""
        if self._starting is not None:
            await asyncio.gather(asyncio.shield(self._starting), return_exceptions=True)
        agent = self._agent
        return agent if agent is not None and agent.usable else None

    async def _close(self, signum: int | None) -> None:
        if signum is None:
            grace = self.context.settings.stop_grace_seconds
            busy, forced = await self._end((signal.SIGINT,), "the session was stopped", grace)
            # A turn that ended on its interrupt ended as the user asked; one that outlived
            # the grace period was killed, and says so.
            code = -signal.SIGKILL if forced else None
        else:
            busy, forced = await self._end((signum,), "the session was closed")
            code = -signum if busy else None
        self.host.end(STOPPED, code)

    def not_running(self) -> SessionNotRunning:
        if self.host.record.status == RUNNING and not self._open:
            return SessionNotRunning(f"session {self.session_id!r} is stopping")
        return super().not_running()

    # -- what it adds to the session ----------------------------------------------------------

    def pid(self) -> int | None:
        return self._agent.pid if self._agent else None

    def agent(self) -> Agent:
        return self.agent_state.to_agent()

    def state(self) -> dict[str, Any]:
        return self.agent_state.to_record()

    def status_extra(self) -> dict[str, Any]:
        return {"agent": self.agent_state.to_status()}

    def claimed_ids(self) -> list[str]:
        return list(self.agent_state.known_ids)

    # -- the pool's view ----------------------------------------------------------------------

    @property
    def idle(self) -> bool:
        return not self._busy

    def close_idle(self) -> None:
        """Close the process between turns (the next prompt resumes the conversation)."""
        agent = self._agent
        if agent is not None and not self._busy:
            self.spawn(agent.close(self.context.settings.stop_grace_seconds), "close idle")

    # -- turns --------------------------------------------------------------------------------

    @property
    def _busy(self) -> bool:
        return self._runner is not None and not self._runner.done()

    def _emit(self, data: EventData) -> StoredEvent | None:
        if self.host.gone:
            return None
        return self.host.emit(data)

    def _recover(self) -> None:
        """After a crash: the turn that was running, and the prompts that waited, are gone."""
        self._drop_queue(self.agent_state.queued, "the backend stopped")
        self._interrupted = True
        self.agent_state.state = IDLE
        self.agent_state.queued = 0
        self._end_turn()
        self._interrupted = False

    async def _end(
        self, signals: tuple[int, ...], why: str, grace: float | None = None
    ) -> tuple[bool, bool]:
        """Drop the queue and end the process with ``signals``, then SIGKILL after ``grace``.
        Returns whether a turn was running, and whether the process had to be killed."""
        self._closing = True
        self._end_signals = signals
        if grace is not None:
            self._end_grace = grace
        self._cancel_idle_timer()
        self._drop_queue(len(self._queue), why)
        self._queue.clear()
        busy = self._busy
        if busy:
            self._interrupted = True
        forced = False
        agent = self._agent
        if agent is not None:
            forced = await agent.process.terminate(self._end_grace, signals)
        if self._starting is not None:  # a process starting now ends itself (_start_agent)
            await asyncio.gather(self._starting, return_exceptions=True)
        for task in (self._watcher, self._runner):  # its requests expired, its turn ended
            if task is not None:
                await asyncio.gather(task, return_exceptions=True)
        return busy, forced or self._forced

    def _drop_queue(self, count: int, why: str) -> None:
        if count:
            self.report(f"{count} queued prompt(s) were not run: {why}")

    async def _run_queue(self, first: str) -> None:
        prompt: str | None = first
        self._cancel_idle_timer()
        while prompt is not None and not self._closing:
            self.agent_state.queued = len(self._queue)
            self.agent_state.state = WORKING
            self._status()
            try:
                await self._run_turn(prompt)
            except Exception:
                log.exception("a claude turn failed")
                self.report("the turn failed inside SessionDock")
            self.agent_state.state = IDLE
            self.agent_state.queued = len(self._queue)
            self._end_turn()
            self._interrupted = False
            prompt = self._queue.popleft() if self._queue else None
        if not self._closing and self._agent is not None:
            self._arm_idle_timer()

    async def _run_turn(self, prompt: str) -> None:
        self._result = None
        agent = await self._live_agent()
        if agent is None:
            return
        self._pool.touch(self)
        turn_done = self._turn_done = asyncio.get_running_loop().create_future()
        try:
            if not agent.prompt(prompt):
                self.report("the prompt did not reach claude: its process was ending")
                return
            if self._interrupted:
                await self._send_interrupt(agent)
            await turn_done
        finally:
            self._turn_done = None
        self._expire_pending("cancelled")  # a result leaves nothing to answer
        if self._result is None and not self._interrupted:
            self.report(f"claude ended (exit code {agent.exit_code}) without a result")

    async def _live_agent(self) -> AgentProcess | None:
        """The conversation's process, started (``--resume``) if it is not running. One that is
        closing (idle, or making room for another) is let end first: two must never hold one
        conversation."""
        agent = self._agent
        if agent is not None and agent.usable:
            return agent
        if agent is not None and self._watcher is not None:
            await asyncio.gather(asyncio.shield(self._watcher), return_exceptions=True)
        self._starting = asyncio.ensure_future(self._start_agent())
        try:
            return await self._starting
        finally:
            self._starting = None

    async def _start_agent(self) -> AgentProcess | None:
        settings = self.context.settings
        env = await self.context.environment()
        binary = self._binary(env)
        if binary is None:
            self.report(self._missing())
            self._result = TurnResult(Usage(), 0, True, "not-started")
            return None
        if settings.claude_home is not None:
            env["CLAUDE_CONFIG_DIR"] = str(settings.claude_home)
        if self._closing:
            return None  # stopped before it began
        record = self.host.record
        # The session's own arguments, then the mode and model as they are now (a switch made
        # since wins over what the session started with: the last one counts), then --resume.
        argv = [binary, *control.LIVE_FLAGS, *record.argv]
        state = self.agent_state
        if state.mode:
            argv += ["--permission-mode", state.mode]
        if state.model:
            argv += ["--model", state.model]
        if state.agent_session_id and is_agent_id(state.agent_session_id):
            argv += ["--resume", state.agent_session_id]
        spec = LaunchSpec(tuple(argv), record.working_dir, env, tty=False)
        agent = AgentProcess(spec, self, self.context.store, settings.coalesce_seconds)
        try:
            await agent.start()
        except (OSError, ValueError) as exc:
            where = exc.filename if isinstance(exc, OSError) and exc.filename else binary
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            self.report(f"could not start {binary!r} in {record.working_dir}: {where}: {reason}")
            self._result = TurnResult(Usage(), 0, True, "not-started")
            return None
        self._agent = agent
        self._parser = TranscriptParser(self.session_id)
        self._stream = control.StreamReader()
        self._process_cost = 0.0
        state.live = True
        self._watcher = self.spawn(self._watch(agent), "claude process")
        if self._closing:  # ended while it started: as the end asked
            self._forced = await agent.process.terminate(self._end_grace, self._end_signals)
            return None
        try:
            answer = await agent.request("initialize", within=INITIALIZE_SECONDS, hooks=None)
        except AgentNotAnswering as exc:
            log.info("claude did not initialize: %s", exc)  # an older CLI: go on without
        else:
            commands = control.commands_of(answer)
            state.commands = [
                SlashCommand(name=n, description=d, argument_hint=h) for n, d, h in commands
            ]
            self._save()
        return agent if agent.alive else None

    async def _watch(self, agent: AgentProcess) -> None:
        code = await agent.wait()
        log.info("claude of session %s ended (exit code %s)", self.session_id, code)
        if self._agent is not agent:
            return  # an older one's end: what is now is the newer one's
        self._agent = None
        self.agent_state.live = False
        self._pool.drop(self)
        self._cancel_idle_timer()
        self._expire_pending()
        if self._turn_done is not None and not self._turn_done.done():
            self._turn_done.set_result(None)
        self._save()

    async def _send_interrupt(self, agent: AgentProcess) -> None:
        try:
            await agent.request("interrupt")
        except AgentNotAnswering as exc:
            # An older CLI, or one that is stuck: Ctrl-C as a terminal would send it.
            log.info("claude did not take the interrupt (%s): sending SIGINT", exc)
            agent.process.signal_all(signal.SIGINT)

    async def _switch_mode(self, agent: AgentProcess, mode: str) -> None:
        try:
            await agent.request("set_permission_mode", mode=mode)
        except AgentNotAnswering as exc:
            self.report(f"could not switch to {mode}: {exc.message}")
            return
        self._changed(mode=mode)

    # -- the idle timer -----------------------------------------------------------------------

    def _arm_idle_timer(self) -> None:
        self._cancel_idle_timer()
        loop = asyncio.get_running_loop()
        self._idle_timer = loop.call_later(
            self.context.settings.agent_idle_seconds, self.close_idle
        )

    def _cancel_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    # -- what the process says (AgentListener) ------------------------------------------------

    def agent_line(self, line: dict[str, Any]) -> None:
        kind = line.get("type")
        if kind == "stream_event":
            self._delta(line)
            return
        if kind == "system":
            self._system(line)
        if kind in UNKEPT_LINES:
            return
        parsed = self._parser.feed_object(line)
        agent_id = parsed.agent_session_id
        if agent_id and agent_id != self.agent_state.agent_session_id:
            self.agent_state.remember(agent_id)
            self._save()
        for event in parsed.events:
            self._emit(event)
        if parsed.result is not None:
            self._result = self._turn_cost(parsed.result)
            if self._turn_done is not None and not self._turn_done.done():
                self._turn_done.set_result(None)

    def agent_bad_line(self, line: str) -> None:
        if not line:
            self.report("a line from claude was too long, and was dropped")
            return
        events = self._parser.feed(line).events  # says what is wrong with it
        if not events:
            events = [
                Error(
                    session_id=self.session_id,
                    timestamp=now_ms(),
                    message="a line from claude could not be read",
                    line=line[:MAX_LINE_SAMPLE],
                )
            ]
        for event in events:
            self._emit(event)

    def agent_stderr(self, text: str) -> None:
        self._emit(
            Output(session_id=self.session_id, timestamp=now_ms(), type="stderr", content=text)
        )

    def agent_request(self, request_id: str, request: dict[str, Any]) -> None:
        agent = self._agent
        if agent is None:
            return
        if request.get("subtype") != "can_use_tool":
            # No hooks or in-process MCP servers were registered: nothing else is expected.
            agent.refuse(request_id, f"SessionDock does not handle {request.get('subtype')!r}")
            return
        if request_id in self.agent_state.pending:
            return  # said twice
        ask = control.ToolRequest.of(request_id, request)
        data = PermissionRequest(
            session_id=self.session_id,
            timestamp=now_ms(),
            request_id=ask.request_id,
            tool=ask.tool,
            input=ask.input,
            tool_use_id=ask.tool_use_id,
            suggestions=ask.suggestions,
            blocked_path=ask.blocked_path,
        )
        event = self._emit(data)
        if event is None:
            return
        self.agent_state.pending[request_id] = PendingPermission(
            request_id=ask.request_id,
            tool=ask.tool,
            input=ask.input,
            tool_use_id=ask.tool_use_id,
            suggestions=ask.suggestions,
            blocked_path=ask.blocked_path,
            timestamp=data.timestamp,
            event_id=event.seq,
        )
        self._status()

    def agent_cancel(self, request_id: str) -> None:
        if self._resolve(request_id, "cancelled"):
            self._status()

    # -- helpers ------------------------------------------------------------------------------

    def _resolve(self, request_id: str, behavior: str) -> bool:
        if self.agent_state.resolve(request_id) is None:
            return False
        self._emit(
            PermissionResolved(
                session_id=self.session_id,
                timestamp=now_ms(),
                request_id=request_id,
                behavior=behavior,  # type: ignore[arg-type]
            )
        )
        return True

    def _expire_pending(self, behavior: str = "expired") -> None:
        """Resolve every open request: its process is gone (or its turn ended)."""
        if not self.agent_state.pending:
            return
        for request_id in list(self.agent_state.pending):
            self._resolve(request_id, behavior)
        self._status()

    def _delta(self, line: dict[str, Any]) -> None:
        delta = self._stream.feed(line)
        if delta is None or self.host.gone:
            return
        data = Delta(
            session_id=self.session_id,
            message_id=delta.message_id,
            index=delta.index,
            text=delta.text,
        )
        self.context.bus.pass_on(StoredEvent.passing(self.session_id, data))

    def _system(self, line: dict[str, Any]) -> None:
        """``init`` (after a start or some control requests) and ``status`` lines say the
        mode and model as they are."""
        mode, model = line.get("permissionMode"), line.get("model")
        self._changed(
            mode=mode if isinstance(mode, str) and mode else None,
            model=model if isinstance(model, str) and model else None,
        )

    def _changed(self, mode: str | None = None, model: str | None = None) -> None:
        state = self.agent_state
        new_mode = mode if mode is not None else state.mode
        new_model = model if model is not None else state.model
        if (new_mode, new_model) == (state.mode, state.model):
            return
        state.mode, state.model = new_mode, new_model
        self._emit(
            ModeChanged(
                session_id=self.session_id, timestamp=now_ms(), mode=new_mode, model=new_model
            )
        )
        self._save()

    def _turn_cost(self, result: TurnResult) -> TurnResult:
        """A live process's ``total_cost_usd`` adds up over its turns: this turn's is the
        difference (a print-mode process had one turn, so there it was the turn's)."""
        total = result.usage.cost_usd
        if total >= self._process_cost:
            result.usage.cost_usd = total - self._process_cost
        # A result without a total (or a smaller one) leaves the running total as it was.
        self._process_cost = max(self._process_cost, total)
        return result

    def _binary(self, env: dict[str, str]) -> str | None:
        configured = self.context.settings.claude_path
        if configured and os.sep in configured:
            # Absolute (the CLI makes it so): a turn runs in the session's folder, not ours.
            path = os.path.abspath(os.path.expanduser(configured))
            return path if os.access(path, os.X_OK) and os.path.isfile(path) else None
        return shutil.which(configured or "claude", path=env.get("PATH"))

    def _missing(self) -> str:
        configured = self.context.settings.claude_path
        if configured:
            return (
                f"Claude Code was not found at {configured!r} (--claude-path): "
                "point it at the claude executable"
            )
        return (
            "Claude Code (claude) was not found on PATH: install it "
            "(npm install -g @anthropic-ai/claude-code) or start SessionDock with --claude-path"
        )

    def _save(self) -> None:
        if not self.host.gone:
            self.host.save_state()

    def _status(self, **extra: Any) -> None:
        if not self.host.gone:
            self.host.status(**extra)
        self._save()

    def _end_turn(self) -> None:
        result = self._result
        if result is not None:
            self.agent_state.totals.add(result.usage)
            # A turn that reached its result finished, whatever came after.
            turn = result.to_turn(interrupted=self._interrupted and result.is_error)
        else:
            subtype = "interrupted" if self._interrupted else "no-result"
            turn = TurnResult(Usage(), 0, not self._interrupted, subtype).to_turn(
                interrupted=self._interrupted
            )
        self._status(turn=turn, totals=self.agent_state.totals.to_totals())
