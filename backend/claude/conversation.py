"""One ``claude`` session's runtime: its prompt queue and the turn that runs now.

A conversation has no process between turns. Each prompt runs ``claude -p`` once; its
stream-json lines become events (backend/claude/transcript.py) and the agent's session id, taken
from the turn's own output, makes the next turn ``--resume`` it. Prompts sent while a turn runs
wait in a queue and run in order.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from backend import protocol
from backend.claude.transcript import Parsed, TranscriptParser, TurnResult, Usage, is_agent_id
from backend.process import LaunchSpec, SessionProcess
from backend.protocol import StoredEvent, now_ms

log = logging.getLogger(__name__)

# One argument may hold at most 128 KiB (MAX_ARG_STRLEN); longer prompts go to standard input.
MAX_ARGV_PROMPT = 100 * 1024
# A stream-json line longer than this (a huge tool result) is dropped with an error event.
MAX_LINE_CHARS = 64 * 1024 * 1024

IDLE = "idle"
WORKING = "working"

Emit = Callable[[str, dict[str, Any]], StoredEvent]


@dataclass(slots=True)
class AgentState:
    """What a session knows of its agent; stored as JSON in the session's ``agent`` column."""

    agent_session_id: str | None = None
    state: str = IDLE
    totals: Usage = field(default_factory=Usage)
    source: str | None = None  # the history file of an imported session
    queued: int = 0
    # Every Claude Code session id this conversation ran under (some releases start a new one
    # on each --resume): their history files are this session's, not sessions to import.
    known_ids: list[str] = field(default_factory=list)

    def remember(self, agent_session_id: str) -> None:
        self.agent_session_id = agent_session_id
        if agent_session_id not in self.known_ids:
            self.known_ids.append(agent_session_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "agentSessionId": self.agent_session_id,
            "state": self.state,
            "queued": self.queued,
            "totals": self.totals.to_json(),
            "source": self.source,
        }

    def to_record(self) -> dict[str, Any]:
        return {**self.to_json(), "knownIds": self.known_ids}

    @classmethod
    def from_record(cls, data: Any) -> AgentState:
        if not isinstance(data, dict):
            return cls()
        agent_id, source, queued = (
            data.get("agentSessionId"),
            data.get("source"),
            data.get("queued"),
        )
        known = data.get("knownIds")
        return cls(
            agent_session_id=agent_id if is_agent_id(agent_id) else None,
            state=WORKING if data.get("state") == WORKING else IDLE,
            totals=Usage.from_json(data.get("totals")),
            source=source if isinstance(source, str) else None,
            queued=queued if isinstance(queued, int) and queued > 0 else 0,
            known_ids=[i for i in known if is_agent_id(i)] if isinstance(known, list) else [],
        )


@dataclass(frozen=True, slots=True)
class TurnSetup:
    """How to run a turn: the binary, the extra arguments, where, and with what environment."""

    binary: str
    extra_args: tuple[str, ...]
    cwd: str
    env: dict[str, str]
    coalesce_seconds: float


@dataclass(frozen=True, slots=True)
class PromptAck:
    event_id: int
    queued: bool
    position: int


class Conversation:
    """Queues prompts and runs them as turns, one at a time, in order."""

    def __init__(
        self,
        setup: Callable[[], Awaitable[TurnSetup]],
        agent: AgentState,
        emit: Emit,
        on_change: Callable[[], None],
        *,
        congested: Callable[[], bool],
        call_when_drained: Callable[[Callable[[], None]], None],
        grace: float = 0.5,
    ) -> None:
        self.setup = setup
        self.agent = agent
        self._emit_to_store = emit
        self._on_change = on_change  # the agent state changed: persist it
        self._congested = congested
        self._call_when_drained = call_when_drained
        self._grace = grace
        self._queue: deque[str] = deque()  # prompts waiting for the running turn
        self._process: SessionProcess | None = None
        self._runner: asyncio.Task[None] | None = None
        # Set for the running turn (also while it starts: a signal then is not lost).
        self._interrupted = False
        self._closing = False
        self._detached = False
        self._parser = TranscriptParser()
        self._partial: list[str] = []
        self._partial_size = 0
        self._result: TurnResult | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def busy(self) -> bool:
        return self._runner is not None and not self._runner.done()

    def _emit(self, event_type: str, payload: dict[str, Any]) -> None:
        if not self._detached:
            self._emit_to_store(event_type, payload)

    def detach(self) -> None:
        """The session is gone: from now on nothing is recorded for it."""
        self._detached = True

    # -- prompts ------------------------------------------------------------------------------

    def submit(self, prompt: str) -> PromptAck:
        """Record the prompt and run it now, or after the turns before it."""
        position = len(self._queue) + 1 if self.busy else 0
        payload: dict[str, Any] = {"command": prompt, "timestamp": now_ms()}
        if position:
            payload["queued"] = True
            payload["position"] = position
        event = self._emit_to_store(protocol.PROMPT, payload)
        if self.busy:
            self._queue.append(prompt)
            self.agent.queued = len(self._queue)
            self._on_change()
        else:
            self._runner = asyncio.create_task(self._run_queue(prompt), name="claude turns")
        return PromptAck(event.seq, bool(position), position)

    def recover(self) -> None:
        """After a crash: the turn that was running, and the prompts that waited, are gone."""
        if self.agent.state != WORKING:
            return
        self._drop_queue(self.agent.queued, "the backend stopped")
        self._interrupted = True
        self.agent.state = IDLE
        self.agent.queued = 0
        self._end_turn()

    def interrupt(self) -> None:
        """SIGINT to the running turn, as Ctrl-C would; the queue goes on afterwards."""
        if not self.busy:
            return
        self._interrupted = True
        if self._process is not None:
            self._process.signal_all(signal.SIGINT)
        # else: the turn is starting; it is signalled as soon as its process exists

    async def close(self, signum: int = signal.SIGTERM) -> bool:
        """End the conversation: drop the queue, stop the running turn. Returns whether a turn
        was running (and so was killed)."""
        return await self._end((signum,), "the session was closed")

    async def finish(self, grace: float) -> bool:
        """A user's Stop: drop the queue, interrupt the running turn as Ctrl-C would, and kill
        it only if it is still running after ``grace``. Returns whether a turn was running."""
        return await self._end((signal.SIGINT,), "the session was stopped", grace)

    async def stop(self) -> None:
        """The backend is stopping: end the running turn (recorded as interrupted) and say which
        queued prompts did not run. The conversation itself goes on after a restart."""
        await self._end((signal.SIGTERM,), "the backend stopped")

    async def _end(self, signals: tuple[int, ...], why: str, grace: float | None = None) -> bool:
        self._closing = True
        self._drop_queue(len(self._queue), why)
        self._queue.clear()
        killed = self.busy
        if killed:
            self._interrupted = True
        if self._process is not None:
            await self._process.terminate(self._grace if grace is None else grace, signals)
        if self._runner is not None:
            await asyncio.gather(self._runner, return_exceptions=True)
        return killed

    def _drop_queue(self, count: int, why: str) -> None:
        if count:
            self._emit(protocol.ERROR, {"message": f"{count} queued prompt(s) were not run: {why}"})

    # -- turns --------------------------------------------------------------------------------

    async def _run_queue(self, first: str) -> None:
        prompt: str | None = first
        while prompt is not None and not self._closing:
            self.agent.queued = len(self._queue)
            self.agent.state = WORKING
            self._status()
            try:
                await self._run_turn(prompt)
            except Exception:
                log.exception("a claude turn failed")
                self._emit(protocol.ERROR, {"message": "the turn failed inside SessionDock"})
            self.agent.state = IDLE
            self.agent.queued = len(self._queue)
            self._end_turn()
            self._interrupted = False
            prompt = self._queue.popleft() if self._queue else None

    async def _run_turn(self, prompt: str) -> None:
        self._result = None
        self._parser = TranscriptParser()
        self._partial.clear()
        self._partial_size = 0
        try:
            setup = await self.setup()
        except OSError as exc:
            self._emit(protocol.ERROR, {"message": str(exc)})
            self._result = TurnResult(Usage(), 0, True, "not-started")
            return
        if self._interrupted or self._closing:
            return  # stopped before it began
        # A long prompt, or one that looks like an option ("--help me"), goes to standard input.
        on_stdin = len(prompt.encode()) > MAX_ARGV_PROMPT or prompt.startswith("-")
        argv = [setup.binary, "-p", *([] if on_stdin else [prompt])]
        argv += ["--output-format", "stream-json", "--verbose"]
        resume = self.agent.agent_session_id
        if resume and is_agent_id(resume):
            argv += ["--resume", resume]
        argv += setup.extra_args
        spec = LaunchSpec(tuple(argv), setup.cwd, setup.env, tty=False)
        process = SessionProcess(spec, self._on_output, setup.coalesce_seconds)
        try:
            await process.start()
        except (OSError, ValueError) as exc:
            where = exc.filename if isinstance(exc, OSError) and exc.filename else setup.binary
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            self._emit(
                protocol.ERROR,
                {"message": f"could not start {setup.binary!r} in {setup.cwd}: {where}: {reason}"},
            )
            self._result = TurnResult(Usage(), 0, True, "not-started")
            return
        self._process = process
        if on_stdin:
            process.write(prompt.encode())
        process.close_input()  # claude -p reads its standard input to its end
        if self._closing:
            await process.terminate(self._grace)  # stopped while it started
        elif self._interrupted:
            process.signal_all(signal.SIGINT)
        try:
            code = await process.wait()
        finally:
            self._process = None
        self._flush_partial()
        if self._result is None and not self._interrupted:
            self._emit(
                protocol.ERROR,
                {"message": f"claude ended (exit code {code}) without a result"},
            )

    def _on_output(self, stream: str, text: str) -> None:
        if stream == "stderr":
            self._emit(protocol.OUTPUT, {"type": "stderr", "content": text, "timestamp": now_ms()})
        else:
            self._split_lines(text)
        process = self._process
        if process is not None and self._congested():
            process.pause_reading()
            self._call_when_drained(process.resume_reading)

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
                self._emit(
                    protocol.ERROR,
                    {"message": f"a line from claude was longer than {MAX_LINE_CHARS} characters"},
                )
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
            self._emit(protocol.ERROR, {"message": "a line from claude could not be read"})
            return
        if parsed.agent_session_id and parsed.agent_session_id != self.agent.agent_session_id:
            self.agent.remember(parsed.agent_session_id)
            self._on_change()
        for event_type, payload in parsed.events:
            payload.setdefault("timestamp", now_ms())
            self._emit(event_type, payload)
        if parsed.result is not None:
            self._result = parsed.result

    def _status(self, extra: dict[str, Any] | None = None) -> None:
        payload: dict[str, Any] = {
            "status": protocol.RUNNING,
            "timestamp": now_ms(),
            "agent": {
                "state": self.agent.state,
                "queued": self.agent.queued,
                "agentSessionId": self.agent.agent_session_id,
            },
        }
        if extra:
            payload.update(extra)
        self._emit(protocol.STATUS, payload)
        self._on_change()

    def _end_turn(self) -> None:
        result = self._result
        if result is not None:
            self.agent.totals.add(result.usage)
            turn = result.to_json()
        else:
            subtype = "interrupted" if self._interrupted else "no-result"
            turn = TurnResult(Usage(), 0, not self._interrupted, subtype).to_json()
        # A turn that reached its result finished, whatever came after.
        turn["interrupted"] = self._interrupted and result is None
        self._status({"turn": turn, "totals": self.agent.totals.to_json()})
