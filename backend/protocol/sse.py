"""The Server-Sent Events encoding, and the stored event as it travels, without any I/O.

Every event a session produces is stored once and sent to each client as the same bytes, so the
frame is built once per event (``StoredEvent.frame``) and shared by all subscribers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from backend.protocol.events import EventData, Wire

# Event ids are SQLite integers; anything larger cannot name an event.
MAX_EVENT_ID: Final = 2**62
# Checked before int(), which refuses (ValueError) strings of more than 4,300 digits.
_MAX_DIGITS: Final = len(str(MAX_EVENT_ID))

_encoder = msgspec.json.Encoder()


def encode_data(data: Wire) -> str:
    """Compact one-line JSON of an event's data (an SSE ``data:`` line holds no newline).

    Text that UTF-8 cannot hold (a lone surrogate: JSON may spell one, as ``"\\ud83d"``, and
    JavaScript writes one when it cuts an emoji in half) becomes U+FFFD, as undecodable bytes do
    in a program's output."""
    try:
        return _encoder.encode(data).decode()
    except UnicodeEncodeError:
        return _encoder.encode(_scrub(msgspec.to_builtins(data))).decode()


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        # Through UTF-16, surrogate pairs join into their characters and lone ones are replaced.
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, dict):
        return {_scrub(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


@dataclass(slots=True)
class StoredEvent:
    """One event of a session's history: ``seq`` is its SSE id, ``data`` its JSON payload."""

    session_id: str
    seq: int
    type: str
    data: str
    timestamp: int
    _frame: bytes | None = field(default=None, repr=False)
    # Not stored, no id (a ``delta``): sent to whoever watches now, never replayed.
    transient: bool = False
    _chunk: bytes | None = field(default=None, repr=False)
    # A hosted session's output (backend/host): the stream and the offset its bytes reach, stored
    # with the event in one transaction. Never sent.
    mark: tuple[str, int] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, seq: int, data: EventData, encoded: str | None = None) -> StoredEvent:
        text = encode_data(data) if encoded is None else encoded
        return cls(data.session_id, seq, data.event, text, data.timestamp)

    @classmethod
    def passing(cls, session_id: str, data: Wire) -> StoredEvent:
        """A control event of a session's (``delta``) that goes to its live subscribers only."""
        event: str = getattr(data, "event")  # noqa: B009 - a ClassVar of each control type
        frame = encode_event(event, encode_data(data))
        return cls(session_id, 0, event, "", 0, frame, transient=True)

    @property
    def frame(self) -> bytes:
        if self._frame is None:
            self._frame = encode_event(self.type, self.data, self.seq)
        return self._frame

    @property
    def chunk(self) -> bytes:
        """The frame as one chunk of HTTP/1.1's chunked encoding: made once, written as it is
        to every stream that takes events straight from the bus."""
        if self._chunk is None:
            frame = self.frame
            self._chunk = b"%x\r\n%b\r\n" % (len(frame), frame)
        return self._chunk


def encode_event(event: str, data: str, event_id: int | None = None) -> bytes:
    """Encode one SSE event. ``data`` must be a single line (compact JSON always is)."""
    if "\n" in data or "\r" in data:
        raise ValueError("SSE data must be a single line")
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {data}\n\n".encode()


def encode_control(data: Wire) -> bytes:
    """A control event (``connected``, ``heartbeat``, ``history-trimmed``): no ``id:`` line."""
    event: str = getattr(data, "event")  # noqa: B009 - a ClassVar of each control type
    return encode_event(event, encode_data(data))


def encode_retry(milliseconds: int) -> bytes:
    return f"retry: {milliseconds}\n\n".encode()


def parse_last_event_id(value: str | None) -> int | None:
    """Parse a Last-Event-ID: a non-negative integer up to MAX_EVENT_ID, else None."""
    if value is None:
        return None
    value = value.strip()
    digits = value.lstrip("0") or "0"
    if not value.isascii() or not value.isdigit() or len(digits) > _MAX_DIGITS:
        return None
    number = int(digits)
    return number if number <= MAX_EVENT_ID else None
