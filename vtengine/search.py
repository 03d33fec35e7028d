"""Find in a terminal's scrollback and screen: libghostty's search.

The search runs over the terminal's pages in steps (``tick``, and ``feed`` when it needs the
terminal's latest content), so ``update`` is cheap to call once a frame while output arrives.
The selected match becomes the terminal's selection (drawn, and copied, like any selection) and
the viewport scrolls to it when it is out of sight; the matches in the viewport are given as
rows and columns, for a renderer to highlight them all.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from vtengine._lib import FREE, ffi, lib
from vtengine.terminal import EmulatorError, Terminal

__all__ = ["Search"]

MAX_HIGHLIGHTS = 512  # matches in the viewport highlighted at once


def _check(result: int, what: str) -> None:
    if result != lib.GHOSTTY_SUCCESS:
        raise EmulatorError(f"{what} failed: {result}")


class _NativeSearch:
    def __init__(self, pointer: Any) -> None:
        self.pointer = pointer
        self.freed = False

    def free(self) -> None:
        if not self.freed:
            self.freed = True
            FREE["search"](self.pointer[0])


def _release(forget: Callable[[], None], native: _NativeSearch) -> None:
    forget()
    native.free()


class Search:
    """A search over one terminal. ``close`` it (or drop it) before the terminal goes."""

    def __init__(self, terminal: Terminal) -> None:
        self.terminal = terminal
        self.needle = ""
        self._search = ffi.new("GhosttySearch*")
        _check(lib.ghostty_search_new(ffi.NULL, self._search, terminal.handle), "search_new")
        # Freed before the terminal is, whichever goes first (``Terminal.depend``).
        native = self._native = _NativeSearch(self._search)
        self.close = weakref.finalize(self, _release, terminal.depend(native.free), native)
        scroll = ffi.new("GhosttySearchScroll*", lib.GHOSTTY_SEARCH_SCROLL_IF_NEEDED)
        _check(
            lib.ghostty_search_set(self._search[0], lib.GHOSTTY_SEARCH_OPT_SELECT_SCROLL, scroll),
            "select scroll",
        )
        self._status = ffi.new("GhosttySearchStatus*")
        self._count = ffi.new("size_t*")
        self._highlights = ffi.new("GhosttySelection[]", MAX_HIGHLIGHTS)
        for selection in self._highlights:
            selection.size = ffi.sizeof("GhosttySelection")
        self._coordinate = ffi.new("GhosttyPointCoordinate*")

    @property
    def alive(self) -> bool:
        """False once closed, or once its terminal was closed (which freed it): then it must
        not be used (its methods raise ``EmulatorError`` rather than reach freed memory)."""
        return not self._native.freed

    def _check_alive(self) -> None:
        if self._native.freed:
            raise EmulatorError("this search's terminal was closed")

    def find(self, needle: str) -> int:
        """Search for ``needle`` (empty: no search); how many matches there are."""
        self._check_alive()
        self.needle = needle
        data = needle.encode()
        text = ffi.new("char[]", data)
        string = ffi.new("GhosttyString*", {"ptr": ffi.cast("uint8_t*", text), "len": len(data)})
        _check(
            lib.ghostty_search_set(self._search[0], lib.GHOSTTY_SEARCH_OPT_NEEDLE, string), "needle"
        )
        return self.update()

    def update(self) -> int:
        """Bring the matches up to date with the terminal's content; how many there are."""
        self._check_alive()
        search, status = self._search[0], self._status
        _check(lib.ghostty_search_feed(search), "search_feed")  # what was written meanwhile
        while True:
            _check(lib.ghostty_search_tick(search, status), "search_tick")
            if status[0] == lib.GHOSTTY_SEARCH_STATUS_COMPLETE:
                break
            if status[0] == lib.GHOSTTY_SEARCH_STATUS_FEED_REQUIRED:
                _check(lib.ghostty_search_feed(search), "search_feed")
        return self.total

    @property
    def total(self) -> int:
        self._check_alive()
        key = lib.GHOSTTY_SEARCH_DATA_TOTAL_MATCHES
        _check(lib.ghostty_search_get(self._search[0], key, self._count), "total")
        return int(self._count[0])

    @property
    def index(self) -> int | None:
        """The selected match's place among them (0 the newest), or None."""
        self._check_alive()
        key = lib.GHOSTTY_SEARCH_DATA_SELECTED_INDEX
        result = lib.ghostty_search_get(self._search[0], key, self._count)
        if result == lib.GHOSTTY_NO_VALUE:
            return None
        _check(result, "selected index")
        return int(self._count[0])

    def select(self, older: bool = True) -> bool:
        """Select the next match, towards older output (up) or newer: it becomes the
        terminal's selection and comes into view. Whether there was one."""
        self._check_alive()
        if not self.update():
            return False
        option = lib.GHOSTTY_SEARCH_OPT_SELECT_NEXT if older else lib.GHOSTTY_SEARCH_OPT_SELECT_PREV
        _check(lib.ghostty_search_set(self._search[0], option, ffi.NULL), "select")
        selection = ffi.new("GhosttySelection*")
        selection.size = ffi.sizeof("GhosttySelection")
        key = lib.GHOSTTY_SEARCH_DATA_SELECTED_MATCH
        result = lib.ghostty_search_get(self._search[0], key, selection)
        if result == lib.GHOSTTY_NO_VALUE:
            return False
        _check(result, "selected match")
        handle = self.terminal.handle
        _check(
            lib.ghostty_terminal_set(handle, lib.GHOSTTY_TERMINAL_OPT_SELECTION, selection),
            "set selection",
        )
        return True

    def visible(self) -> list[tuple[int, int, int, int]]:
        """The matches in the viewport as (first column, first row, last column, last row),
        viewport rows from the top; a match cut by the viewport's edge is left out."""
        self._check_alive()
        buffer = ffi.new(
            "GhosttySelectionBuffer*", {"ptr": self._highlights, "cap": MAX_HIGHLIGHTS, "len": 0}
        )
        key = lib.GHOSTTY_SEARCH_DATA_VIEWPORT_MATCHES
        result = lib.ghostty_search_get(self._search[0], key, buffer)
        if result == lib.GHOSTTY_NO_VALUE:
            return []
        _check(result, "viewport matches")
        rows = int(self.terminal.get("ROWS"))
        found = []
        for i in range(min(int(buffer.len), MAX_HIGHLIGHTS)):
            match = self._highlights[i]
            start = self._viewport_point(match.start)
            end = self._viewport_point(match.end)
            # The library's list can lag a scroll by a frame: keep what is on screen now.
            if start is not None and end is not None and 0 <= start[1] <= end[1] < rows:
                found.append((start[0], start[1], end[0], end[1]))
        return found

    def _viewport_point(self, ref: object) -> tuple[int, int] | None:
        out = self._coordinate
        result = lib.ghostty_terminal_point_from_grid_ref(
            self.terminal.handle, ffi.addressof(ref), lib.GHOSTTY_POINT_TAG_VIEWPORT, out
        )
        if result != lib.GHOSTTY_SUCCESS:
            return None
        return int(out.x), int(out.y)
