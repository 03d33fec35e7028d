"""``claude`` sessions: a conversation with Claude Code, one ``claude -p`` process per turn.

A conversation has no process between turns. Each prompt runs ``claude -p`` once; its
stream-json lines become events (backend/claude/transcript.py) and the agent's session id, taken
from the turn's own output, makes the next turn ``--resume`` it. Prompts sent while a turn runs
wait in a queue and run in order. The agent's state lives in the session's state, so a
conversation outlives a backend restart.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
from collections import deque
from typing import Any

from backend.claude.agent import IDLE, WORKING, AgentState
from backend.claude.transcript import Parsed, TranscriptParser, TurnResult, Usage, is_agent_id
from backend.errors import (
    FolderNotFound,
    InvalidInput,
    NotAConversation,
    NotATerminal,
    SessionNotFound,
    SessionNotRunning,
    ShuttingDown,
)
from backend.protocol.api import Agent, NewSession
from backend.protocol.events import (
    FAILED,
    RUNNING,
    STOPPED,
    Error,
    EventData,
    Output,
    Prompt,
    now_ms,
)
from backend.runtimes.base import (
    Plan,
    PromptAck,
    RuntimeContext,
    RuntimeKind,
    SessionHost,
    SessionRuntime,
)
from backend.runtimes.process import LaunchSpec, SessionProcess

log = logging.getLogger(__name__)

# One argument may hold at most 128 KiB (MAX_ARG_STRLEN); longer prompts go to standard input.
MAX_ARGV_PROMPT = 100 * 1024
# A stream-json line longer than this (a huge tool result) is dropped with an error event.
MAX_LINE_CHARS = 64 * 1024 * 1024


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

    def runtime(self, host: SessionHost) -> SessionRuntime:
        return ConversationRuntime(host, self.context)


def _agent_id(agent: Agent | None) -> str | None:
    if agent is None or not is_agent_id(agent.agent_session_id):
        return None
    return agent.agent_session_id


class ConversationRuntime(SessionRuntime):
    """Queues prompts and runs them as turns, one at a time, in order."""

    def __init__(self, host: SessionHost, context: RuntimeContext) -> None:
        super().__init__(host, context)
        self.agent_state = AgentState.from_record(host.record.state)
        self._queue: deque[str] = deque()  # prompts waiting for the running turn
        self._process: SessionProcess | None = None
        self._runner: asyncio.Task[None] | None = None
        self._open = False  # takes prompts (a conversation that ended does not)
        # Set for the running turn (also while it starts: a signal then is not lost).
        self._interrupted = False
        self._closing = False
        # How the conversation is being ended, for a turn whose process starts meanwhile.
        self._end_signals: tuple[int, ...] = (signal.SIGTERM,)
        self._end_grace = context.settings.kill_grace_seconds
        self._parser = TranscriptParser(self.session_id)
        self._forced = False  # a turn that started while the conversation ended was killed
        self._partial: list[str] = []
        self._partial_size = 0
        self._result: TurnResult | None = None

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
        """End the running turn (recorded as interrupted) and say which queued prompts did not
        run. The conversation itself goes on after a restart."""
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
        """SIGINT to the running turn, as Ctrl-C would; the queue goes on afterwards."""
        if not self.running:
            raise self.not_running()
        if not self._busy:
            return
        self._interrupted = True
        if self._process is not None:
            self._process.signal_all(signal.SIGINT)
        # else: the turn is starting; it is signalled as soon as its process exists

    def stop(self) -> None:
        """Interrupt the running turn, drop the queue, close the conversation; a turn still
        running after the grace period is killed."""
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
        return self._process.pid if self._process else None

    def agent(self) -> Agent:
        return self.agent_state.to_agent()

    def state(self) -> dict[str, Any]:
        return self.agent_state.to_record()

    def status_extra(self) -> dict[str, Any]:
        return {"agent": self.agent_state.to_status()}

    def claimed_ids(self) -> list[str]:
        return list(self.agent_state.known_ids)

    # -- turns --------------------------------------------------------------------------------

    @property
    def _busy(self) -> bool:
        return self._runner is not None and not self._runner.done()

    def _emit(self, data: EventData) -> None:
        if not self.host.gone:
            self.host.emit(data)

    def _recover(self) -> None:
        """After a crash: the turn that was running, and the prompts that waited, are gone."""
        self._drop_queue(self.agent_state.queued, "the backend stopped")
        self._interrupted = True
        self.agent_state.state = IDLE
        self.agent_state.queued = 0
        self._end_turn()

    async def _end(
        self, signals: tuple[int, ...], why: str, grace: float | None = None
    ) -> tuple[bool, bool]:
        """Drop the queue and stop the running turn with ``signals``, then SIGKILL after
        ``grace``. Returns whether a turn was running, and whether it had to be killed."""
        self._closing = True
        self._end_signals = signals
        if grace is not None:
            self._end_grace = grace
        self._drop_queue(len(self._queue), why)
        self._queue.clear()
        busy = self._busy
        if busy:
            self._interrupted = True
        forced = False
        if self._process is not None:
            forced = await self._process.terminate(self._end_grace, signals)
        if self._runner is not None:
            await asyncio.gather(self._runner, return_exceptions=True)
            # A turn whose process started meanwhile was ended there (_run_turn).
            forced = forced or self._forced
        return busy, forced

    def _drop_queue(self, count: int, why: str) -> None:
        if count:
            message = f"{count} queued prompt(s) were not run: {why}"
            self.report(message)

    async def _run_queue(self, first: str) -> None:
        prompt: str | None = first
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

    async def _run_turn(self, prompt: str) -> None:
        self._result = None
        self._parser = TranscriptParser(self.session_id)
        self._partial.clear()
        self._partial_size = 0
        settings = self.context.settings
        env = await self.context.environment()
        binary = self._binary(env)
        if binary is None:
            self._emit(
                Error(session_id=self.session_id, timestamp=now_ms(), message=self._missing())
            )
            self._result = TurnResult(Usage(), 0, True, "not-started")
            return
        if settings.claude_home is not None:
            env["CLAUDE_CONFIG_DIR"] = str(settings.claude_home)
        if self._interrupted or self._closing:
            return  # stopped before it began
        record = self.host.record
        # A long prompt, or one that looks like an option ("--help me"), goes to standard input.
        on_stdin = len(prompt.encode()) > MAX_ARGV_PROMPT or prompt.startswith("-")
        argv = [binary, "-p", *([] if on_stdin else [prompt])]
        argv += ["--output-format", "stream-json", "--verbose"]
        resume = self.agent_state.agent_session_id
        if resume and is_agent_id(resume):
            argv += ["--resume", resume]
        argv += record.argv
        spec = LaunchSpec(tuple(argv), record.working_dir, env, tty=False)
        process = SessionProcess(spec, self._on_output, settings.coalesce_seconds)
        try:
            await process.start()
        except (OSError, ValueError) as exc:
            where = exc.filename if isinstance(exc, OSError) and exc.filename else binary
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            message = f"could not start {binary!r} in {record.working_dir}: {where}: {reason}"
            self.report(message)
            self._result = TurnResult(Usage(), 0, True, "not-started")
            return
        self._process = process
        if on_stdin:
            process.write(prompt.encode())
        process.close_input()  # claude -p reads its standard input to its end
        if self._closing:  # ended while it started: as the end asked
            self._forced = await process.terminate(self._end_grace, self._end_signals)
        elif self._interrupted:
            process.signal_all(signal.SIGINT)
        try:
            code = await process.wait()
        finally:
            self._process = None
        self._flush_partial()
        if self._result is None and not self._interrupted:
            message = f"claude ended (exit code {code}) without a result"
            self.report(message)

    def _on_output(self, stream: str, text: str) -> None:
        if stream == "stderr":
            self._emit(
                Output(session_id=self.session_id, timestamp=now_ms(), type="stderr", content=text)
            )
        else:
            self._split_lines(text)
        store = self.context.store
        process = self._process
        if process is not None and store.congested:
            process.pause_reading()
            store.call_when_drained(process.resume_reading)

    def _split_lines(self, text: str) -> None:
        start = 0
        while (end := text.find("\n", start)) >= 0:
            if self._partial:
                self._partial.append(text[start:end])
                line = "".join(self._partial)
                self._partial.clear()
                self._partial_size = 0
            else:
                line = text[start:end]
            self._line(line)
            start = end + 1
        rest = text[start:]
        if rest:
            self._partial_size += len(rest)
            if self._partial_size > MAX_LINE_CHARS:
                message = f"a line from claude was longer than {MAX_LINE_CHARS} characters"
                self.report(message)
                self._partial.clear()
                self._partial_size = -(10**18)  # drop the rest of this line
            elif self._partial_size > 0:
                self._partial.append(rest)

    def _flush_partial(self) -> None:
        if self._partial:
            line = "".join(self._partial)
            self._partial.clear()
            self._line(line)
        self._partial_size = 0

    def _line(self, line: str) -> None:
        if self._partial_size < 0:  # the tail of an over-long line
            self._partial_size = 0
            return
        try:
            parsed: Parsed = self._parser.feed(line)
        except Exception:
            log.exception("could not read a line from claude")
            message = "a line from claude could not be read"
            self.report(message)
            return
        agent_id = parsed.agent_session_id
        if agent_id and agent_id != self.agent_state.agent_session_id:
            self.agent_state.remember(agent_id)
            self._save()
        for event in parsed.events:
            self._emit(event)
        if parsed.result is not None:
            self._result = parsed.result

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
            turn = result.to_turn()
        else:
            subtype = "interrupted" if self._interrupted else "no-result"
            turn = TurnResult(Usage(), 0, not self._interrupted, subtype).to_turn(
                interrupted=self._interrupted
            )
        self._status(turn=turn, totals=self.agent_state.totals.to_totals())
