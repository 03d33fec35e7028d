"""The event bus: fans committed events out to per-client bounded queues.

The publisher never awaits a subscriber. A subscriber whose queue would grow past its byte budget
is cut off (it resumes later with Last-Event-ID), so a slow client can neither slow the session
nor the other clients.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable

from backend.protocol.api import EventBusMetrics
from backend.protocol.sse import StoredEvent

# Why a subscriber was closed.
SLOW = "slow"
SESSION_DELETED = "session-deleted"
SHUTDOWN = "shutdown"


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Subscriber:
    """One client's queue of events, filled by the bus and drained by that client's writer."""

    __slots__ = (
        "_bytes",
        "_events",
        "_sink",
        "_waiter",
        "active_at",
        "client_id",
        "close_reason",
        "limit_bytes",
        "on_close",
        "session_id",
    )

    def __init__(self, session_id: str, client_id: str, limit_bytes: int) -> None:
        self.session_id = session_id
        self.client_id = client_id
        self.limit_bytes = limit_bytes
        self.close_reason: str | None = None
        self.on_close: Callable[[str], None] | None = None
        self._events: list[StoredEvent] = []
        self._bytes = 0
        self._waiter: asyncio.Future[None] | None = None
        # While its writer waits with nothing queued: writes an event straight to the client
        # (False: it cannot now, queue it). A delivery is then a write, not a task's wakeup.
        self._sink: Callable[[StoredEvent], bool] | None = None
        self.active_at = time.monotonic()  # when its writer last had something to do

    @property
    def queued_bytes(self) -> int:
        return self._bytes

    @property
    def queued_events(self) -> int:
        return len(self._events)

    def offer(self, event: StoredEvent) -> bool:
        """Hand an event on: straight to the client if its writer waits and the client takes
        it, else into the queue; False if that would exceed the budget (the caller cuts us
        off)."""
        if self._sink is not None and not self._events and self._sink(event):
            return True
        size = len(event.frame)
        if self._bytes + size > self.limit_bytes and self._events:
            return False
        self._events.append(event)
        self._bytes += size
        if self._waiter is not None:
            _wake(self._waiter)
        return True

    def close(self, reason: str) -> None:
        if self.close_reason is not None:
            return
        self.close_reason = reason
        self._events.clear()
        self._bytes = 0
        if self._waiter is not None:
            _wake(self._waiter)
        if self.on_close is not None:
            self.on_close(reason)

    def wake(self) -> None:
        """Make a waiting ``take`` return [] (a heartbeat is due)."""
        if self._waiter is not None:
            _wake(self._waiter)

    async def take(self, sink: Callable[[StoredEvent], bool] | None = None) -> list[StoredEvent]:
        """Everything queued, waiting for something; [] when woken for a heartbeat. While it
        waits, ``sink`` takes what is offered, for as long as it can (``offer``)."""
        if not self._events and self.close_reason is None:
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            self._sink = sink
            try:
                await waiter
            finally:
                self._waiter = None
                self._sink = None
        events, self._events = self._events, []
        self._bytes = 0
        self.active_at = time.monotonic()
        return events


class EventBus:
    """Owns the subscriptions of every session and counts what passes through."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscriber]] = {}
        # The backend's own followers of a session (a terminal's emulator): called with each
        # committed event in order, never cut off, never awaited.
        self._observers: dict[str, Callable[[StoredEvent], None]] = {}
        self.events_emitted = 0
        self.events_by_type: Counter[str] = Counter()
        self.slow_clients_dropped = 0
        # The last event of each watched session: how long it took to hand to all its
        # subscribers, and when that ended (perf_counter).
        self._costs: dict[str, tuple[float, float]] = {}

    def subscribe(self, session_id: str, client_id: str, limit_bytes: int) -> Subscriber:
        subscriber = Subscriber(session_id, client_id, limit_bytes)
        self._subscribers.setdefault(session_id, set()).add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        subscribers = self._subscribers.get(subscriber.session_id)
        if subscribers is None:
            return
        subscribers.discard(subscriber)
        if not subscribers:
            del self._subscribers[subscriber.session_id]
            self._costs.pop(subscriber.session_id, None)

    def observe(self, session_id: str, callback: Callable[[StoredEvent], None] | None) -> None:
        """Call ``callback`` with every event of the session published from now on (None: stop).
        One observer per session."""
        if callback is None:
            self._observers.pop(session_id, None)
        else:
            self._observers[session_id] = callback

    def has_subscribers(self, session_id: str) -> bool:
        return bool(self._subscribers.get(session_id))

    def publish(self, events: list[StoredEvent]) -> None:
        observers = self._observers
        for event in events:
            self.events_emitted += 1
            self.events_by_type[event.type] += 1
            if observers:
                observer = observers.get(event.session_id)
                if observer is not None:
                    observer(event)
            subscribers = self._subscribers.get(event.session_id)
            if not subscribers:
                continue
            began = time.perf_counter()
            for subscriber in tuple(subscribers):
                if subscriber.close_reason is None and not subscriber.offer(event):
                    self.slow_clients_dropped += 1
                    subscriber.close(SLOW)
            ended = time.perf_counter()
            self._costs[event.session_id] = (ended - began, ended)

    def cost(self, session_id: str) -> tuple[float, float]:
        """How long the session's last event took to hand to every subscriber, and how long
        ago that ended, in seconds ((0, 0): nobody watches)."""
        # Kept only while the session has subscribers (``unsubscribe`` drops it with the last).
        entry = self._costs.get(session_id)
        if entry is None:
            return 0.0, 0.0
        cost, ended = entry
        return cost, time.perf_counter() - ended

    def pass_on(self, event: StoredEvent) -> None:
        """Offer a transient event (``StoredEvent.passing``) to the session's subscribers now.
        Not counted as emitted (it is not stored), not seen by observers; a client too slow
        for it is cut off as for any event."""
        self.events_by_type[event.type] += 1
        for subscriber in tuple(self._subscribers.get(event.session_id, ())):
            if subscriber.close_reason is None and not subscriber.offer(event):
                self.slow_clients_dropped += 1
                subscriber.close(SLOW)

    def wake_idle(self, interval: float) -> None:
        """Wake every subscriber idle for ``interval`` seconds, so its writer sends a heartbeat.

        One periodic sweep instead of a timer per subscriber per wait: arming and cancelling a
        timer on every event was a fifth of the loop's time with 1000 clients.
        """
        due = time.monotonic() - interval
        for subscribers in self._subscribers.values():
            for subscriber in subscribers:
                if subscriber.active_at <= due:
                    subscriber.wake()

    def wake_all(self) -> None:
        """Wake every subscriber's writer (the store's health changed: it has news to send)."""
        for subscribers in self._subscribers.values():
            for subscriber in subscribers:
                subscriber.wake()

    def close_session(self, session_id: str, reason: str) -> None:
        for subscriber in tuple(self._subscribers.get(session_id, ())):
            subscriber.close(reason)

    def close_all(self, reason: str) -> None:
        for session_id in tuple(self._subscribers):
            self.close_session(session_id, reason)

    def metrics(self) -> EventBusMetrics:
        """The reference guide's ``eventBus`` object, plus queue depths."""
        listener_counts = {sid: len(subs) for sid, subs in self._subscribers.items()}
        depths = [s.queued_events for subs in self._subscribers.values() for s in subs]
        return EventBusMetrics(
            events_emitted=self.events_emitted,
            events_by_type=dict(self.events_by_type),
            listener_counts=listener_counts,
            active_listeners=sum(listener_counts.values()),
            slow_clients_dropped=self.slow_clients_dropped,
            max_queue_depth=max(depths, default=0),
            queued_events=sum(depths),
        )
