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

    def opened(self, session_id: str) -> None:
        self.total_created += 1
        self.by_session[session_id] += 1

    def closed(self, session_id: str) -> None:
        self.total_closed += 1
        self.by_session[session_id] -= 1
        if self.by_session[session_id] <= 0:
            del self.by_session[session_id]

    def metrics(self) -> dict[str, Any]:
        connections = sum(self.by_session.values())
        return {
            "totalSessions": len(self.by_session),
            "totalConnections": connections,
            "sessions": dict(self.by_session),
            "totalCreated": self.total_created,
            "totalClosed": self.total_closed,
            # Every open stream keeps its own heartbeat timer.
            "activeHeartbeats": connections,
        }
