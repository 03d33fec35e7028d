"""The one place a session's live stream meets Qt: async events in, batched signals out."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal

from desktop.agent import row_estimate
from desktop.sse_client import Event, SessionStream, StreamState, output_text
from desktop.terminal_screen import SCREEN_EVENTS

FLUSH_MS = 30
# Events a person waits for: handed over at once, whatever the last hand-over was.
URGENT = frozenset({"permission-request", "permission-resolved", "delta"})
# Lines handed to the view at once. Qt takes ~27 µs a line once the scrollback is full, so a
# hand-over stays near 15 ms and the loop answers input in between.
LINES_PER_FLUSH = 500
# Agent events the view may go without when it falls behind; prompts, turns and errors it keeps.
AGENT_SKIPPABLE = frozenset({"output", "operations-detected"})


@dataclass(frozen=True, slots=True)
class _AgentItem:
    """A stored event of an agent session, with about how many rows it makes."""

    event: Event
    lines: int


class SessionFeed(QObject):
    """Streams the session on screen to the view, in order, in bounded pieces.

    Output is handed over at most every 30 ms (at once when nothing was handed over for that
    long: a quiet stream's next event, a keystroke's echo or a permission request, must not wait
    for a timer), at most LINES_PER_FLUSH lines at a time; what is left goes out on the next
    turn of the loop. If more than ``max_pending_lines`` wait (a session
    printing faster than Qt can draw), the oldest are skipped with a notice: the view shows the
    newest output, the store keeps everything.

    An agent session (``agent=True``) has structured events instead of terminal text: its stored
    events go out in lists through ``agent_events_received``, under the same budget (counted in
    the rows they make) and the same skipping (of output and operations only).

    A terminal session shown by the terminal widget (``screen=True``) streams with
    ``?attach=screen``: its ``snapshot``, ``output`` and ``resize`` events go out at once, in
    lists, through ``screen_events_received`` (an emulator takes them far faster than they come,
    and paints at most once a frame), the others through ``event_received``, in order. Nothing
    is skipped: the emulator must see every byte.
    """

    output_received = Signal(str, str)  # session id, text
    agent_events_received = Signal(str, object)  # session id, list[Event] (agent sessions)
    event_received = Signal(str, object)  # session id, Event (status, prompt, error, trimmed)
    state_changed = Signal(str, object)  # session id, StreamState
    lines_skipped = Signal(str, int)  # session id, how many lines the view did not get
    screen_events_received = Signal(str, object)  # session id, list[Event] (screen=True)

    def __init__(
        self,
        base_url: str,
        token: str,
        session_id: str,
        last_event_id: int | None,
        heartbeat_interval: float,
        parent: QObject | None = None,
        max_pending_lines: int = 100_000,
        agent: bool = False,
        screen: bool = False,
        scrollback_lines: int = 1000,
    ) -> None:
        super().__init__(parent)
        self.session_id = session_id
        self.agent = agent
        self.screen = screen
        self.scrollback_lines = scrollback_lines if screen else 0  # a snapshot's history
        self.events_seen = 0
        self.max_pending_lines = max_pending_lines
        self._pending: deque[str | Event | _AgentItem] = deque()
        self._pending_lines = 0
        self._timer = QTimer(self, interval=FLUSH_MS, singleShot=True)
        self._flushed_at = 0.0  # monotonic time of the last hand-over
        self._timer.timeout.connect(self.flush)
        self._stream = SessionStream(
            base_url,
            token,
            session_id,
            last_event_id=last_event_id,
            heartbeat_interval=heartbeat_interval,
            on_events=self._on_screen_events if screen else self._on_events,
            on_state=self._on_state,
            params={"attach": "screen", "scrollback": str(scrollback_lines)} if screen else None,
        )

    @property
    def last_event_id(self) -> int | None:
        return self._stream.last_event_id

    def start(self) -> None:
        self._stream.start()

    async def stop(self) -> None:
        self._timer.stop()
        await self._stream.stop()
        # What is still pending goes to the document now (the stream resumes after it later),
        # but never more than a few hand-overs' worth: a switch must stay instant.
        self._skip_oldest(keep=4 * LINES_PER_FLUSH)
        while self._pending:
            self.flush()

    def set_endpoint(self, base_url: str, token: str) -> None:
        self._stream.set_endpoint(base_url, token)

    def _on_events(self, events: list[Event]) -> None:
        urgent = False
        for event in events:
            urgent = urgent or event.type in URGENT
            self.events_seen += 1
            if self.agent and event.id is not None:
                lines = row_estimate(event.type, event.data)
                self._pending.append(_AgentItem(event, lines))
                self._pending_lines += lines
            elif event.type == "output" and not self.agent:
                text = output_text(event.data)
                self._pending.append(text)
                self._pending_lines += text.count("\n")
            else:
                self._pending.append(event)  # in order with the output around it
        if self._pending_lines > self.max_pending_lines:
            self._skip_oldest(keep=self.max_pending_lines // 2)
        if urgent:
            self._timer.start(0)
        elif not self._timer.isActive():
            since = (time.monotonic() - self._flushed_at) * 1000
            self._timer.start(max(0, round(FLUSH_MS - since)))

    def _on_screen_events(self, events: list[Event]) -> None:
        self.events_seen += len(events)
        batch: list[Event] = []
        for event in events:
            if event.type in SCREEN_EVENTS:
                batch.append(event)
                continue
            if batch:
                self.screen_events_received.emit(self.session_id, batch)
                batch = []
            self.event_received.emit(self.session_id, event)
        if batch:
            self.screen_events_received.emit(self.session_id, batch)

    def _on_state(self, state: StreamState) -> None:
        self.state_changed.emit(self.session_id, state)

    def _skip_oldest(self, keep: int) -> None:
        """Drop the oldest output until at most ``keep`` lines wait."""
        skipped = 0
        pending = self._pending
        kept: deque[str | Event | _AgentItem] = deque()
        while pending and self._pending_lines > keep:
            item = pending.popleft()
            if isinstance(item, Event):
                kept.append(item)  # statuses and notices are never skipped
                continue
            if isinstance(item, _AgentItem):
                if item.event.type in AGENT_SKIPPABLE:
                    skipped += item.lines
                else:
                    kept.append(item)  # prompts, turns and errors are never skipped
                self._pending_lines -= item.lines  # kept ones are counted again below
                continue
            lines = item.count("\n")
            drop = min(lines, self._pending_lines - keep)
            if drop < lines:  # one event can hold thousands of lines: keep its newest
                pending.appendleft(item[_after_nth_newline(item, drop) :])
            skipped += drop
            self._pending_lines -= drop
        pending.extendleft(reversed(kept))
        self._pending_lines += sum(i.lines for i in kept if isinstance(i, _AgentItem))
        if skipped:
            self.lines_skipped.emit(self.session_id, skipped)

    def flush(self) -> None:
        """Hand the view the next piece of what is pending."""
        self._timer.stop()
        self._flushed_at = time.monotonic()
        budget = LINES_PER_FLUSH
        texts: list[str] = []
        agent_events: list[Event] = []
        pending = self._pending
        while pending and budget > 0:
            item = pending[0]
            if isinstance(item, _AgentItem):
                if agent_events and item.lines > budget:
                    break  # the next hand-over starts with it; a lone big event goes whole
                pending.popleft()
                agent_events.append(item.event)
                budget -= item.lines
                self._pending_lines -= item.lines
                continue
            self._emit_agent(agent_events)
            agent_events = []
            if isinstance(item, Event):
                self._emit_output(texts)
                texts = []
                pending.popleft()
                self.event_received.emit(self.session_id, item)
                continue
            lines = item.count("\n")
            if lines <= budget:
                pending.popleft()
                texts.append(item)
                budget -= lines
                self._pending_lines -= lines
                continue
            cut = _after_nth_newline(item, budget)
            texts.append(item[:cut])
            pending[0] = item[cut:]
            self._pending_lines -= budget
            budget = 0
        self._emit_output(texts)
        self._emit_agent(agent_events)
        if pending:
            self._timer.start(0)  # the rest on the next turn, after input and paint

    def _emit_output(self, texts: list[str]) -> None:
        if texts:
            self.output_received.emit(self.session_id, "".join(texts))

    def _emit_agent(self, events: list[Event]) -> None:
        if events:
            self.agent_events_received.emit(self.session_id, events)


def _after_nth_newline(text: str, n: int) -> int:
    index = -1
    for _ in range(n):
        index = text.find("\n", index + 1)
    return index + 1
