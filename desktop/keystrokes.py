"""Keystrokes to a terminal session's program, in order: one request at a time.

Two requests in flight at once may reach the backend in either order (they can travel on two
connections), and a key typed after another must never arrive first. So one task sends, and what
is typed while a request is out goes in the next one, joined: a fast typist or a paste makes a
few requests, not one per key. A request carries at most ``MAX_CHARS`` characters (the backend
takes at most 64 KiB of UTF-8; a character is at most 4 bytes).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

MAX_CHARS = 16 * 1024

Send = Callable[[str, str], Awaitable[None]]  # (session id, keystrokes)


class KeystrokeSender:
    """``push`` keystrokes for a session; ``send`` delivers them in order. An error from
    ``send`` goes to ``on_error`` with the session's id, and the keys queued behind it for the
    same session are dropped (a session that ended takes no more)."""

    def __init__(self, send: Send, on_error: Callable[[str, Exception], None]) -> None:
        self._send = send
        self._on_error = on_error
        self._queue: deque[tuple[str, str]] = deque()
        self._task: asyncio.Task[None] | None = None

    def push(self, session_id: str, data: str) -> None:
        if not data:
            return
        self._queue.append((session_id, data))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        while self._queue:
            session_id, parts = self._queue[0][0], []
            while self._queue and self._queue[0][0] == session_id:
                parts.append(self._queue.popleft()[1])
            data = "".join(parts)
            try:
                for start in range(0, len(data), MAX_CHARS):
                    await self._send(session_id, data[start : start + MAX_CHARS])
            except Exception as exc:
                while self._queue and self._queue[0][0] == session_id:
                    self._queue.popleft()
                self._on_error(session_id, exc)

    async def aclose(self) -> None:
        """Stop sending; what is still queued is dropped."""
        self._queue.clear()
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
