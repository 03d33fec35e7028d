"""Counts of SSE connections, reported as the reference guide's ``sse`` metrics object."""

from __future__ import annotations

from collections import Counter
from typing import Any


class StreamStats:
    """Open streams per session, and how many were ever opened and closed."""

    def __init__(self) -> None:
        self.by_session: Counter[str] = Counter()
        self.total_created = 0
        self.total_closed = 0
        self.heartbeats = 0  # streams in their live phase, each with a heartbeat timer

    def opened(self, session_id: str) -> None:
        self.total_created += 1
        self.by_session[session_id] += 1

    def closed(self, session_id: str) -> None:
        self.total_closed += 1
        self.by_session[session_id] -= 1
        if self.by_session[session_id] <= 0:
            del self.by_session[session_id]

    def metrics(self) -> dict[str, Any]:
        return {
            "totalSessions": len(self.by_session),
            "totalConnections": sum(self.by_session.values()),
            "sessions": dict(self.by_session),
            "totalCreated": self.total_created,
            "totalClosed": self.total_closed,
            "activeHeartbeats": self.heartbeats,
        }
