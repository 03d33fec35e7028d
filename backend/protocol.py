"""Wire types and the Server-Sent Events encoding, without any I/O.

Every event a session produces is stored once and sent to each client as the same bytes, so the
frame is built once per event (``StoredEvent.frame``) and shared by all subscribers.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Final

# Event types stored in a session's history (``id:`` carries their seq).
OUTPUT: Final = "output"
STATUS: Final = "status"
PROMPT: Final = "prompt"
ERROR: Final = "error"
OPERATIONS_DETECTED: Final = "operations-detected"

# Control events that are never stored and carry no ``id:`` line, so a browser's
# Last-Event-ID is not moved by them.
CONNECTED: Final = "connected"
HEARTBEAT: Final = "heartbeat"
TRIMMED: Final = "history-trimmed"

# Session statuses.
RUNNING: Final = "running"
EXITED: Final = "exited"
FAILED: Final = "failed"
INTERRUPTED: Final = "interrupted"
STOPPED: Final = "stopped"  # a user stopped it (stop, interrupt or a terminating signal)
ENDED_STATUSES: Final = frozenset({EXITED, FAILED, INTERRUPTED, STOPPED})


def now_ms() -> int:
    """Milliseconds since the epoch, the unit JavaScript's ``Date.now()`` uses."""
    return int(time.time() * 1000)


def dumps(value: Any) -> str:
    """Compact one-line JSON (an SSE ``data:`` line must not contain a newline)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass(slots=True)
class StoredEvent:
    """One event of a session's history: ``seq`` is its SSE id, ``data`` its JSON payload."""

    session_id: str
    seq: int
    type: str
    data: str
    timestamp: int
    _frame: bytes | None = field(default=None, repr=False)

    @property
    def frame(self) -> bytes:
        if self._frame is None:
            self._frame = encode_event(self.type, self.data, self.seq)
        return self._frame

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.seq,
            "type": self.type,
            "data": json.loads(self.data),
            "timestamp": self.timestamp,
        }


def encode_event(event: str, data: str, event_id: int | None = None) -> bytes:
    """Encode one SSE event. ``data`` must be a single line (compact JSON always is)."""
    if "\n" in data or "\r" in data:
        raise ValueError("SSE data must be a single line")
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {data}\n\n".encode()


def encode_retry(milliseconds: int) -> bytes:
    return f"retry: {milliseconds}\n\n".encode()


# Event ids are SQLite integers; anything larger cannot name an event.
MAX_EVENT_ID = 2**62


def parse_last_event_id(value: str | None) -> int | None:
    """Parse a Last-Event-ID: a non-negative integer up to MAX_EVENT_ID, else None."""
    if value is None:
        return None
    value = value.strip()
    if not value.isascii() or not value.isdigit() or int(value) > MAX_EVENT_ID:
        return None
    return int(value)
