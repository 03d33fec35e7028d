"""The server's log: one line per record on stderr, with every token taken out, which a flood
of failures cannot flood.

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
import re
import sys
import threading
import time
from collections.abc import Callable

REDACTED = "REDACTED"
# ``?token=`` in a URL (aiohttp's access log writes request lines and Referers at debug level),
# the cookie, and a bearer credential, whoever's token they carry.
_CREDENTIALS = re.compile(r"(token=|bearer\s+)[^\s&;,\"']+", re.IGNORECASE)


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then takes out credentials and the server's token wherever they
    appear (a traceback may quote a header, a request line or a file)."""

    def __init__(self, fmt: str, token: str | None) -> None:
        super().__init__(fmt)
        self.token = token

    def format(self, record: logging.LogRecord) -> str:
        text = _CREDENTIALS.sub(rf"\1{REDACTED}", super().format(record))
        return text.replace(self.token, REDACTED) if self.token else text


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


def configure(level: str, token: str | None) -> None:
    """Log to stderr at ``level`` (stdout carries only the ready line), tokens redacted,
    floods throttled."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", token)
    )
    handler.addFilter(Throttle())
    logging.basicConfig(level=level.upper(), handlers=[handler])
