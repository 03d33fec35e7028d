"""Counts of SSE connections, reported as the reference guide's ``sse`` metrics object."""

from __future__ import annotations

from collections import Counter

from backend.protocol.api import StreamMetrics


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

    def metrics(self, slow_clients_dropped: int) -> StreamMetrics:
        connections = sum(self.by_session.values())
        return StreamMetrics(
            total_sessions=len(self.by_session),
            total_connections=connections,
            sessions=dict(self.by_session),
            total_created=self.total_created,
            total_closed=self.total_closed,
            # The guide counts a heartbeat timer per stream; here one sweep serves them all.
            active_heartbeats=connections,
            slow_clients_dropped=slow_clients_dropped,
        )
