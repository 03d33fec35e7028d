"""The server's log, which a flood of failures cannot flood.

Anyone who can reach the port can make aiohttp log a traceback, with the offending request
line, for every malformed request (32 MB for a thousand of them), and a process out of file
descriptors fails the same way many times a second. So each warning or error is let through at
most once a second per place that logs it, and the next one that passes says how many were held
back; while the flood goes on, the wait doubles, up to a minute. Info and debug lines always
pass: they are what a user asked to see.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
from collections.abc import Callable

INTERVAL = 1.0
MAX_INTERVAL = 60.0
# Keys are mostly message templates, a fixed set; preformatted messages (asyncio's) are not.
MAX_KEYS = 1000


class Throttle(logging.Filter):
    """At most one warning or error per ``interval`` (doubled while they keep coming, up to
    ``MAX_INTERVAL``) for each logger and message template."""

    def __init__(
        self, interval: float = INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()  # the store's writer thread logs too
        # key -> (when one last passed, how many were held back since, the wait before the next)
        self._seen: dict[tuple[str, int, str], tuple[float, int, float]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        with self._lock:
            last, held, wait = self._seen.get(key, (-math.inf, 0, self.interval))
            if now - last < wait:
                self._seen[key] = (last, held + 1, wait)
                return False
            if len(self._seen) >= MAX_KEYS:
                self._seen = {k: v for k, v in self._seen.items() if now - v[0] < v[2]}
            flooding = held and now - last < 2 * wait
            wait = min(wait * 2, MAX_INTERVAL) if flooding else self.interval
            self._seen[key] = (now, 0, wait)
        if held:
            record.msg = f"{record.msg} [and {held} more like this in {now - last:.0f} s]"
        return True


def setup(level: str) -> None:
    """Log to stderr at ``level`` (stdout carries only the ready line)."""
    logging.basicConfig(
        stream=sys.stderr,
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(Throttle())
