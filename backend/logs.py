"""The backend's log: one line per record on stderr, with every token taken out."""

from __future__ import annotations

import logging
import re
import sys

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


def configure(level: str, token: str | None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", token)
    )
    logging.basicConfig(level=level.upper(), handlers=[handler])
