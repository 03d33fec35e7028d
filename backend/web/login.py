"""One-time login links: a browser signs in without the token ever being in its history.

The desktop app asks for a link (``POST /api/login-link``, with the token) and opens it; the
page at ``/login/{code}`` trades the code, once and within ``LINK_SECONDS``, for the same
HttpOnly cookie that ``/?token=`` sets, and redirects to ``/``. A used or expired code is a 403.
"""

from __future__ import annotations

import secrets
import time

LINK_SECONDS = 60.0  # time enough to open a browser, or to paste a copied link
MAX_LINKS = 64  # outstanding at once; the oldest give way


class LoginLinks:
    """Codes not yet used, with the monotonic time each expires at."""

    def __init__(self, seconds: float = LINK_SECONDS) -> None:
        self.seconds = seconds
        self._expiry: dict[str, float] = {}

    def make(self) -> str:
        now = time.monotonic()
        self._expiry = {c: t for c, t in self._expiry.items() if t > now}
        while len(self._expiry) >= MAX_LINKS:
            del self._expiry[next(iter(self._expiry))]
        code = secrets.token_urlsafe(24)
        self._expiry[code] = now + self.seconds
        return code

    def use(self, code: str) -> bool:
        """Whether ``code`` is valid now; it never is again."""
        expiry = self._expiry.pop(code, None)
        return expiry is not None and expiry > time.monotonic()
