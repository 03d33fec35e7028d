"""The Server-Sent Events encoding, and the stored event as it travels, without any I/O.

Every event a session produces is stored once and sent to each client as the same bytes, so the
frame is built once per event (``StoredEvent.frame``) and shared by all subscribers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import msgspec

from backend.protocol.events import EventData, Wire

# Event ids are SQLite integers; anything larger cannot name an event.
MAX_EVENT_ID: Final = 2**62

_encoder = msgspec.json.Encoder()


def encode_data(data: Wire) -> str:
    """Compact one-line JSON of an event's data (an SSE ``data:`` line holds no newline)."""
    return _encoder.encode(data).decode()


@dataclass(slots=True)
class StoredEvent:
    """One event of a session's history: ``seq`` is its SSE id, ``data`` its JSON payload."""

    session_id: str
    seq: int
    type: str
    data: str
    timestamp: int
    _frame: bytes | None = field(default=None, repr=False)

    @classmethod
    def of(cls, seq: int, data: EventData) -> StoredEvent:
        return cls(data.session_id, seq, data.event, encode_data(data), data.timestamp)

    @property
    def frame(self) -> bytes:
        if self._frame is None:
            self._frame = encode_event(self.type, self.data, self.seq)
        return self._frame


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
    if not value.isascii() or not value.isdigit() or int(value) > MAX_EVENT_ID:
        return None
    return int(value)
