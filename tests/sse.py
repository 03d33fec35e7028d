"""Reading a real SSE stream in the background, so a test can wait for what it expects."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import EventSource

from backend.protocol.events import STORED_EVENTS
from tests.wire import check

STORED = frozenset(STORED_EVENTS)
# Events with an ``id:`` line: the stored ones, and a snapshot (the last event it covers).
WITH_ID = STORED | {"snapshot"}


@dataclass(frozen=True)
class Received:
    id: int | None
    event: str
    data: dict[str, Any]


class Stream:
    """One client's view of ``/api/session/{id}/events``, collected into ``events``."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        session_id: str,
        *,
        last_event_id: int | None = None,
        params: dict[str, str] | None = None,
    ) -> None:
        self.client = client
        self.session_id = session_id
        self.last_event_id = last_event_id
        self.params = params or {}
        self.events: list[Received] = []
        self.output_chars = 0
        self.status_code: int | None = None
        self.headers: httpx.Headers | None = None
        self.ended = asyncio.Event()
        self.error: BaseException | None = None
        self.misfits: list[str] = []
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Stream:
        self._task = asyncio.create_task(self._run())
        await self.wait_for(lambda e: e.event == "connected")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _run(self) -> None:
        headers = {"Accept": "text/event-stream"}
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = str(self.last_event_id)
        url = f"/api/session/{self.session_id}/events"
        try:
            async with self.client.stream("GET", url, headers=headers, params=self.params) as resp:
                self.status_code = resp.status_code
                self.headers = resp.headers
                resp.raise_for_status()
                async for sse in EventSource(resp).aiter_sse():
                    if not sse.data:  # a retry: line or a comment (httpx-sse issue #35)
                        continue
                    # httpx-sse reports the last id seen (the spec's "last event ID buffer"),
                    # so an id-less control event would look like it repeats the previous id.
                    event_id = int(sse.id) if sse.id and sse.event in WITH_ID else None
                    received = Received(event_id, sse.event, json.loads(sse.data))
                    stored = sse.event in STORED
                    try:  # every event must fit its declared type (tests/wire.py)
                        check(sse.event, sse.data, self.session_id if stored else None)
                    except AssertionError as exc:
                        self.misfits.append(str(exc))
                    self.events.append(received)
                    if received.event == "output":
                        self.output_chars += len(received.data["content"])
                    self._changed.set()
        except (httpx.HTTPError, asyncio.CancelledError) as exc:
            self.error = exc
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            self.ended.set()
            self._changed.set()

    async def wait_for(
        self, predicate: Callable[[Received], bool], timeout: float = 10.0
    ) -> Received:
        """The first received event matching ``predicate``, waiting for it if need be."""
        async with asyncio.timeout(timeout):
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                if self.ended.is_set():
                    raise AssertionError(f"stream ended ({self.error!r}) before the event came")
                self._changed.clear()
                await self._changed.wait()

    async def _wait_until(
        self, condition: Callable[[], bool], what: Callable[[], str], timeout: float
    ) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                if self.ended.is_set():
                    raise AssertionError(f"stream ended before {what()}")
                self._changed.clear()
                await self._changed.wait()

    async def wait_for_output(self, text: str, timeout: float = 10.0) -> None:
        await self._wait_until(
            lambda: text in self.output(), lambda: f"{text[:60]!r} appeared", timeout
        )

    async def wait_for_chars(self, count: int, timeout: float = 10.0) -> None:
        """Wait until at least ``count`` characters of output have arrived."""
        await self._wait_until(
            lambda: self.output_chars >= count,
            lambda: f"{count} characters came ({self.output_chars})",
            timeout,
        )

    def output(self) -> str:
        return "".join(e.data["content"] for e in self.events if e.event == "output")

    @property
    def ids(self) -> list[int]:
        return [e.id for e in self.events if e.id is not None]

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        assert not self.misfits, "events that do not fit their types:\n" + "\n".join(
            self.misfits[:10]
        )
