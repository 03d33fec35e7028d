"""The text/event-stream format, decoded without I/O: text in, events out.

The parsing rules are WHATWG HTML's "Server-sent events" section ("Parsing an event stream" and
"Interpreting an event stream"); web-platform-tests' ``eventsource/format-*`` tests check the
same cases as tests/desktop/test_event_stream.py. A chunk may end anywhere, inside a line or
between the CR and LF of a line ending: the decoder keeps what it has not finished.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE_END = re.compile(r"\r\n|\r|\n")
_BOM = "\ufeff"


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One dispatched event. ``id`` is the value of the event's own ``id`` field, or None if
    it had none (the spec's last event ID, which carries over, is ``EventStreamDecoder``'s)."""

    type: str
    data: str
    id: str | None = None


class EventStreamDecoder:
    """Feed it the stream's text as it comes; it returns the events each piece completes.

    ``last_event_id`` is what a reconnecting client sends as ``Last-Event-ID``; ``retry`` is the
    reconnection time in milliseconds the server last asked for (None if it never did).
    """

    def __init__(self) -> None:
        self.last_event_id = ""
        self.retry: int | None = None
        self._partial: list[str] = []  # the line still being received
        self._skip_lf = False  # the last piece ended with CR: an LF that follows is its pair
        self._at_start = True
        self._type = ""
        self._data: list[str] = []
        self._id: str | None = None  # this event's own id field
        self._id_buffer = ""  # the spec's last event ID buffer, which outlives events

    def feed(self, text: str) -> list[ServerSentEvent]:
        if not text:
            return []
        if self._at_start:
            self._at_start = False
            text = text.removeprefix(_BOM)  # only one, and only at the start of the stream
        if self._skip_lf and text.startswith("\n"):
            text = text[1:]
        self._skip_lf = text.endswith("\r")
        *lines, rest = _LINE_END.split(text)
        if not lines:
            if rest:
                self._partial.append(rest)
            return []
        if self._partial:
            lines[0] = "".join(self._partial) + lines[0]
        self._partial = [rest] if rest else []
        events: list[ServerSentEvent] = []
        for line in lines:
            if not line:
                event = self._dispatch()
                if event is not None:
                    events.append(event)
            elif not line.startswith(":"):  # a comment otherwise
                name, _, value = line.partition(":")
                self._field(name, value)
        return events

    def _field(self, name: str, value: str) -> None:
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._type = value
        elif name == "id" and "\0" not in value:
            self._id = self._id_buffer = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry = int(value)
        # Any other field, and an id with a NUL or a retry that is not a number, is ignored.

    def _dispatch(self) -> ServerSentEvent | None:
        self.last_event_id = self._id_buffer
        event_id, self._id = self._id, None
        event_type, self._type = self._type, ""
        if not self._data:
            return None  # the spec dispatches nothing for an event without data
        data, self._data = "\n".join(self._data), []
        return ServerSentEvent(event_type or "message", data, event_id)
