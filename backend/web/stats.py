"""Counts of SSE connections, reported as the reference guide's ``sse`` metrics object."""

from __future__ import annotations

from collections import Counter

from backend.protocol.api import StreamMetrics


class StreamStats:
    """Open streams per session, how many were ever opened and closed, and how many were
    refused for the limit."""

    def __init__(self, max_streams: int) -> None:
        self.max_streams = max_streams
        self.by_session: Counter[str] = Counter()
        self.open = 0
        self.total_created = 0
        self.total_closed = 0
        self.total_refused = 0

    @property
    def full(self) -> bool:
        return self.open >= self.max_streams

    def refused(self) -> None:
        self.total_refused += 1

    def opened(self, session_id: str) -> None:
        self.total_created += 1
        self.open += 1
        self.by_session[session_id] += 1

    def closed(self, session_id: str) -> None:
        self.total_closed += 1
        self.open -= 1
        self.by_session[session_id] -= 1
        if self.by_session[session_id] <= 0:
            del self.by_session[session_id]

    def metrics(self, slow_clients_dropped: int) -> StreamMetrics:
        connections = self.open
        return StreamMetrics(
            total_sessions=len(self.by_session),
            total_connections=connections,
            sessions=dict(self.by_session),
            total_created=self.total_created,
            total_closed=self.total_closed,
            # The guide counts a heartbeat timer per stream; here one sweep serves them all.
            active_heartbeats=connections,
            slow_clients_dropped=slow_clients_dropped,
            max_streams=self.max_streams,
            total_refused=self.total_refused,
        )
