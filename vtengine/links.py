"""Links on the screen, for Ctrl+click: OSC 8 hyperlinks first (the program named the target),
then plain URLs in the row's text, as GNOME Terminal and kitty find them (in one row: of a URL
wrapped onto the next, the part in the row).

Both read the cell under the pointer through a grid reference in viewport coordinates, so they
work the same in the scrollback.
"""

from __future__ import annotations

import re
from typing import Any

from vtengine._lib import ffi, lib
from vtengine.terminal import Terminal

__all__ = ["OPENABLE", "link_at"]

# What a URL may hold, as terminals commonly match it: a scheme, then no blanks, quotes or
# angle brackets; closing punctuation at its end is the sentence's, not the URL's.
_URL = re.compile(r"\b(?:https?|ftp)://[^\s<>\"'`]+|\bmailto:[^\s<>\"'`]+")
_TRAILING = ".,;:!?)]}'\""
# What a Ctrl+click may open: a program's OSC 8 target with another scheme is not followed.
# Not file://: an OSC 8 target hides behind any text, a desktop opens (or runs) a local file as
# it sees fit, and a remote backend's paths name another machine's files.
OPENABLE = ("http://", "https://", "ftp://", "mailto:")
_URI_BYTES = 2048  # OSC 8 targets longer than this are read with a second, larger buffer


def link_at(terminal: Terminal, x: int, y: int) -> str | None:
    """The link at viewport cell (``x``, ``y``): its hyperlink's target, or a URL written
    there; None if none, or if it is not one to open (``OPENABLE``)."""
    cols, rows = int(terminal.get("COLS")), int(terminal.get("ROWS"))
    if not (0 <= x < cols and 0 <= y < rows):
        return None
    link = _hyperlink(terminal.viewport_ref(x, y)) or _plain_url(terminal, cols, y, x)
    return link if link is not None and link.lower().startswith(OPENABLE) else None


def _hyperlink(ref: Any) -> str | None:
    size = _URI_BYTES
    while True:
        buf = ffi.new("uint8_t[]", size)
        length = ffi.new("size_t*")
        result = lib.ghostty_grid_ref_hyperlink_uri(ref, buf, size, length)
        if result == lib.GHOSTTY_OUT_OF_SPACE and length[0] > size:
            size = int(length[0])
            continue
        if result != lib.GHOSTTY_SUCCESS or length[0] == 0:
            return None
        return bytes(ffi.buffer(buf, length[0])).decode("utf-8", "replace")


def _plain_url(terminal: Terminal, cols: int, y: int, x: int) -> str | None:
    """A URL in row ``y`` that covers column ``x``. Each column gives one character (a blank
    for an empty cell or a wide character's right half), so string offsets are columns."""
    text = "".join(_cell_text(terminal, column, y) for column in range(cols))
    for match in _URL.finditer(text):
        url = match.group().rstrip(_TRAILING.replace(")", ""))
        while url.endswith(")") and url.count(")") > url.count("("):  # "(see http://a/b)"
            url = url[:-1].rstrip(_TRAILING.replace(")", ""))
        if match.start() <= x < match.start() + len(url):
            return url
    return None


def _cell_text(terminal: Terminal, x: int, y: int) -> str:
    ref = terminal.viewport_ref(x, y)
    points = ffi.new("uint32_t[16]")
    length = ffi.new("size_t*")
    if lib.ghostty_grid_ref_graphemes(ref, points, 16, length) != lib.GHOSTTY_SUCCESS:
        return " "
    if length[0] == 0:
        return " "
    return chr(points[0])  # the base character: one per column
