"""One long-lived ``claude`` process holding a conversation, spoken to in stream-json lines.

``AgentProcess`` owns the child (``process.py``, on pipes), splits what it writes into lines,
answers the control protocol's plumbing itself (matching the CLI's ``control_response`` lines to
the requests it sent) and hands everything else to its ``AgentListener``: the conversation's
lines, the CLI's own requests (``can_use_tool``) and their cancellations, its stderr.

``LivePool`` keeps the number of such processes bounded across the backend: admitting one over
the limit closes the least recently used idle one (its conversation resumes with ``--resume``
at its next prompt).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from backend.claude import control
from backend.claude.transcript import loads
from backend.errors import AgentNotAnswering
from backend.runtimes.process import LaunchSpec, SessionProcess
from backend.store import Store

log = logging.getLogger(__name__)

# A stream-json line longer than this (a huge tool result) is dropped, and said so.
MAX_LINE_CHARS = 64 * 1024 * 1024
REQUEST_TIMEOUT = 30.0  # seconds a control request of ours may wait for its answer


class AgentListener(Protocol):
    def agent_line(self, line: dict[str, Any]) -> None:
        """A line of the conversation (``system``, ``assistant``, ``user``, ``result``,
        ``stream_event``, and any type a newer CLI adds)."""

    def agent_bad_line(self, line: str) -> None:
        """A line that is not a JSON object, or one too long (then ``line`` is empty)."""

    def agent_stderr(self, text: str) -> None: ...

    def agent_request(self, request_id: str, request: dict[str, Any]) -> None:
        """The CLI asks the host (``can_use_tool``…); answer with ``AgentProcess.answer``."""

    def agent_cancel(self, request_id: str) -> None:
        """The CLI no longer needs the answer to its request ``request_id``."""


class AgentProcess:
    def __init__(
        self, spec: LaunchSpec, listener: AgentListener, store: Store, coalesce_seconds: float
    ) -> None:
        self.process = SessionProcess(spec, self._on_output, coalesce_seconds, store.after_commit)
        self._listener = listener
        self._store = store
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._partial: list[str] = []
        self._partial_size = 0
        self._skipping = False  # the rest of an over-long line
        self.exit_code: int | None = None
        self.closing = False  # its input is closed: it takes no more prompts or answers

    @property
    def pid(self) -> int | None:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.exit_code is None

    async def start(self) -> None:
        await self.process.start()

    async def wait(self) -> int:
        """Wait for the process to end, its output read to the end; its exit code."""
        code = await self.process.wait()
        self._flush_partial()
        self.exit_code = code
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(AgentNotAnswering(f"claude ended (exit code {code})"))
        self._waiting.clear()
        return code

    # -- what the host writes ---------------------------------------------------------------

    def _write(self, line: bytes) -> bool:
        try:
            self.process.write(line)
        except OSError:
            return False  # its input is closed: it is ending
        return True

    @property
    def usable(self) -> bool:
        """It runs and takes input (not ending, nor being closed)."""
        return self.alive and not self.closing

    def prompt(self, text: str) -> bool:
        return self.usable and self._write(control.user_line(text))

    def answer(self, request_id: str, response: dict[str, Any]) -> bool:
        """Send the answer to a request of the CLI's; False if it can no longer take it."""
        return self.usable and self._write(control.success_line(request_id, response))

    def refuse(self, request_id: str, message: str) -> None:
        self._write(control.error_line(request_id, message))

    async def request(
        self, subtype: str, *, within: float = REQUEST_TIMEOUT, **fields: Any
    ) -> dict[str, Any]:
        """Send a control request and wait for its answer (``AgentNotAnswering`` for an error
        answer, no answer ``within`` seconds, or the process ending first)."""
        request_id = control.new_request_id()
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            line = control.request_line(request_id, subtype, **fields)
            if not self.usable or not self._write(line):
                raise AgentNotAnswering(f"claude is not running to take {subtype!r}")
            return await asyncio.wait_for(future, within)
        except TimeoutError:
            message = f"claude did not answer {subtype!r} in {within:g} s"
            raise AgentNotAnswering(message) from None
        finally:
            self._waiting.pop(request_id, None)

    def close_input(self) -> None:
        """EOF on its input: the CLI ends when it has nothing more to do."""
        self.closing = True
        self.process.close_input()

    async def close(self, grace: float) -> None:
        """End it: EOF, then SIGTERM if it is still there after ``grace``, then SIGKILL."""
        self.close_input()
        try:
            await asyncio.wait_for(asyncio.shield(self.process.wait()), grace)
        except TimeoutError:
            await self.process.terminate(grace)

    # -- what it writes ---------------------------------------------------------------------

    def _on_output(self, stream: str, text: str, mark: int | None = None) -> None:
        if stream == "stderr":
            self._listener.agent_stderr(text)
        else:
            self._split_lines(text)
        if self._store.congested:  # flow control: it blocks writing until the store catches up
            self.process.pause_reading()
            self._store.call_when_drained(self.process.resume_reading)

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
            if self._skipping:
                self._skipping = False
            else:
                self._line(line)
            start = end + 1
        rest = text[start:]
        if rest and not self._skipping:
            self._partial_size += len(rest)
            if self._partial_size > MAX_LINE_CHARS:
                self._partial.clear()
                self._partial_size = 0
                self._skipping = True
                self._listener.agent_bad_line("")
            else:
                self._partial.append(rest)

    def _flush_partial(self) -> None:
        if self._partial:
            line = "".join(self._partial)
            self._partial.clear()
            self._line(line)
        self._partial_size = 0
        self._skipping = False

    def _line(self, line: str) -> None:
        line = line.strip()
        if not line:
            return
        try:
            obj = loads(line)
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            self._listener.agent_bad_line(line)
            return
        kind = obj.get("type")
        try:
            if kind == "control_response":
                self._response(obj.get("response"))
            elif kind == "control_request":
                self._request(obj)
            elif kind == "control_cancel_request":
                request_id = obj.get("request_id")
                if isinstance(request_id, str):
                    self._listener.agent_cancel(request_id)
            else:
                self._listener.agent_line(obj)
        except Exception:
            log.exception("could not take a line from claude")
            self._listener.agent_bad_line(line)

    def _response(self, response: Any) -> None:
        if not isinstance(response, dict):
            return
        future = self._waiting.get(str(response.get("request_id")))
        if future is None or future.done():
            return
        if response.get("subtype") == "error":
            future.set_exception(AgentNotAnswering(f"claude refused: {response.get('error')}"))
        else:
            answer = response.get("response")
            future.set_result(answer if isinstance(answer, dict) else {})

    def _request(self, obj: dict[str, Any]) -> None:
        request_id, request = obj.get("request_id"), obj.get("request")
        if not isinstance(request_id, str) or not isinstance(request, dict):
            return
        self._listener.agent_request(request_id, request)


class LivePool:
    """The live conversations of the backend, least recently used first."""

    def __init__(self, limit: Callable[[], int]) -> None:
        self._limit = limit
        self._live: OrderedDict[int, Any] = OrderedDict()

    def __len__(self) -> int:
        return len(self._live)

    def touch(self, owner: Any) -> None:
        """``owner`` (with ``idle`` and ``close_idle()``) holds a live process and was used now;
        over the limit, the least recently used idle ones close."""
        self._live[id(owner)] = owner
        self._live.move_to_end(id(owner))
        excess = len(self._live) - self._limit()
        for other in list(self._live.values()):
            if excess <= 0:
                break
            if other is not owner and other.idle:
                other.close_idle()
                excess -= 1

    def drop(self, owner: Any) -> None:
        self._live.pop(id(owner), None)
