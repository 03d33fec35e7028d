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
from backend.claude.transcript import Parsed, TranscriptParser, TurnResult, Usage
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

    def to_json(self) -> dict[str, Any]:
        return {
            "agentSessionId": self.agent_session_id,
            "state": self.state,
            "queued": self.queued,
            "totals": self.totals.to_json(),
            "source": self.source,
        }

    @classmethod
    def from_json(cls, data: Any) -> AgentState:
        if not isinstance(data, dict):
            return cls()
        agent_id = data.get("agentSessionId")
        source = data.get("source")
        return cls(
            agent_session_id=agent_id if isinstance(agent_id, str) else None,
            state=WORKING if data.get("state") == WORKING else IDLE,
            totals=Usage.from_json(data.get("totals")),
            source=source if isinstance(source, str) else None,
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
    ) -> None:
        self.setup = setup
        self.agent = agent
        self._emit = emit
        self._on_change = on_change  # the agent state changed: persist it
        self._congested = congested
        self._call_when_drained = call_when_drained
        self._queue: deque[str] = deque()
        self._process: SessionProcess | None = None
        self._runner: asyncio.Task[None] | None = None
        self._interrupted = False
        self._closing = False
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

    # -- prompts ------------------------------------------------------------------------------

    def submit(self, prompt: str) -> PromptAck:
        """Record the prompt and run it now, or after the turns before it."""
        position = len(self._queue) + (1 if self.busy else 0)
        payload: dict[str, Any] = {"command": prompt, "timestamp": now_ms()}
        if position:
            payload["queued"] = True
            payload["position"] = position
        event = self._emit(protocol.PROMPT, payload)
        self._queue.append(prompt)
        self.agent.queued = len(self._queue) - (0 if self.busy else 1)
        if not self.busy:
            self._runner = asyncio.create_task(self._run_queue(), name="claude turns")
        else:
            self._on_change()
        return PromptAck(event.seq, bool(position), position)

    def interrupt(self) -> None:
        """SIGINT to the running turn, as Ctrl-C would; the queue goes on afterwards."""
        if self._process is not None:
            self._interrupted = True
            self._process.signal_all(signal.SIGINT)

    async def close(self, signum: int = signal.SIGTERM) -> bool:
        """End the conversation: drop the queue, stop the running turn. Returns whether a turn
        was running (and so was killed)."""
        self._closing = True
        dropped = len(self._queue)
        self._queue.clear()
        if dropped:
            self._emit(
                protocol.ERROR,
                {"message": f"{dropped} queued prompt(s) were not run: the session was closed"},
            )
        process, killed = self._process, self._process is not None
        if process is not None:
            self._interrupted = True
            process.signal_all(signum)
            await process.terminate(0.5)
        if self._runner is not None:
            await asyncio.gather(self._runner, return_exceptions=True)
        return killed

    async def stop(self, grace: float) -> None:
        """The backend is stopping: end the running turn (recorded as interrupted) and say which
        queued prompts did not run. The conversation itself goes on after a restart."""
        self._closing = True
        dropped = len(self._queue)
        self._queue.clear()
        if dropped:
            self._emit(
                protocol.ERROR,
                {"message": f"{dropped} queued prompt(s) were not run: the backend stopped"},
            )
        if self._process is not None:
            self._interrupted = True
            await self._process.terminate(grace)
        if self._runner is not None:
            await asyncio.gather(self._runner, return_exceptions=True)

    # -- turns --------------------------------------------------------------------------------

    async def _run_queue(self) -> None:
        while self._queue and not self._closing:
            prompt = self._queue.popleft()
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

    async def _run_turn(self, prompt: str) -> None:
        self._interrupted = False
        self._result = None
        self._parser = TranscriptParser()
        self._partial.clear()
        self._partial_size = 0
        try:
            setup = await self.setup()
        except OSError as exc:
            self._emit(protocol.ERROR, {"message": str(exc)})
            self._result = TurnResult(Usage(), 0, True, "not-started", "")
            return
        # A long prompt, or one that looks like an option ("--help me"), goes to standard input.
        on_stdin = len(prompt.encode()) > MAX_ARGV_PROMPT or prompt.startswith("-")
        argv = [setup.binary, "-p", *([] if on_stdin else [prompt])]
        argv += ["--output-format", "stream-json", "--verbose"]
        if self.agent.agent_session_id:
            argv += ["--resume", self.agent.agent_session_id]
        argv += setup.extra_args
        spec = LaunchSpec(tuple(argv), setup.cwd, setup.env, tty=False)
        process = SessionProcess(spec, self._on_output, setup.coalesce_seconds)
        try:
            await process.start()
        except OSError as exc:
            self._emit(
                protocol.ERROR,
                {"message": f"could not start {setup.binary!r}: {exc.strerror or exc}"},
            )
            self._result = TurnResult(Usage(), 0, True, "not-started", "")
            return
        self._process = process
        if on_stdin:
            process.write(prompt.encode())
        process.close_input()  # claude -p reads its standard input to its end
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
        parsed: Parsed = self._parser.feed(line)
        if parsed.agent_session_id and parsed.agent_session_id != self.agent.agent_session_id:
            self.agent.agent_session_id = parsed.agent_session_id
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
            turn = {**Usage().to_json(), "numTurns": 0, "isError": not self._interrupted}
            del turn["turns"]
            turn["subtype"] = "interrupted" if self._interrupted else "no-result"
        turn["interrupted"] = self._interrupted
        self._status({"turn": turn, "totals": self.agent.totals.to_json()})
