"""Selecting text with the mouse, as Ghostty does: libghostty's selection gesture.

The gesture turns presses, drags and releases into a selection: one click anchors a cell
selection, a double click selects a word, a triple click a line (within the repeat interval and
distance), Alt makes a drag rectangular. The selection is set on the terminal, so the render
state marks the selected cells of each row (``RenderState``'s rows) and the selected text comes
from the terminal's own formatter (wrapped lines joined, trailing blanks trimmed).
"""

from __future__ import annotations

import weakref
from typing import Any, Literal

from vtengine._lib import FREE, ffi, lib
from vtengine.terminal import EmulatorError, Terminal

__all__ = ["SelectionGesture", "clear_selection", "selected_text"]

Phase = Literal["press", "drag", "release"]
_TYPES = {
    "press": lib.GHOSTTY_SELECTION_GESTURE_EVENT_TYPE_PRESS,
    "drag": lib.GHOSTTY_SELECTION_GESTURE_EVENT_TYPE_DRAG,
    "release": lib.GHOSTTY_SELECTION_GESTURE_EVENT_TYPE_RELEASE,
}
REPEAT_INTERVAL_NS = 500_000_000  # a second click within this is a double click
REPEAT_DISTANCE_PX = 6.0


def _check(result: int, what: str) -> None:
    if result != lib.GHOSTTY_SUCCESS:
        raise EmulatorError(f"{what} failed: {result}")


class _NativeGesture:
    """libghostty's gesture for one terminal, freed with that terminal (``Terminal.depend``)
    or before it, whichever comes first."""

    def __init__(self, terminal: Terminal) -> None:
        self.pointer = ffi.new("GhosttySelectionGesture*")
        _check(lib.ghostty_selection_gesture_new(ffi.NULL, self.pointer), "gesture_new")
        self._handle = terminal.handle
        self._freed = False
        self.forget = terminal.depend(self.free)

    def free(self) -> None:
        if not self._freed:
            self._freed = True
            FREE["selection_gesture"](self.pointer[0], self._handle)


def _free_events(events: list[Any]) -> None:
    for event in events:
        FREE["selection_gesture_event"](event)


class SelectionGesture:
    """One widget's mouse selection, on one terminal at a time."""

    def __init__(self) -> None:
        self._events: dict[str, Any] = {}
        for phase, kind in _TYPES.items():
            event = ffi.new("GhosttySelectionGestureEvent*")
            _check(lib.ghostty_selection_gesture_event_new(ffi.NULL, event, kind), "event_new")
            self._events[phase] = event
        self._terminal: Terminal | None = None
        self._native: _NativeGesture | None = None
        # The events are this object's; the gesture is freed with its terminal (above), so a
        # gesture left to the collector is freed when its terminal is.
        events = [event[0] for event in self._events.values()]
        self._free_events = weakref.finalize(self, _free_events, events)

    def close(self) -> None:
        self._unbind()
        self._free_events()

    def _unbind(self) -> None:
        native, self._native, self._terminal = self._native, None, None
        if native is not None:
            native.forget()
            native.free()

    def event(
        self,
        terminal: Terminal,
        phase: Phase,
        cell: tuple[int, int],
        position: tuple[float, float],
        *,
        time_ns: int,
        rectangle: bool = False,
        geometry: tuple[int, int, int] = (80, 8, 400),
    ) -> bool:
        """Feed a mouse event at viewport ``cell`` (column, row) and pixel ``position``;
        ``geometry`` is (columns, cell width, screen height in pixels). Sets the terminal's
        selection when the gesture makes one; whether it did."""
        if terminal is not self._terminal or self._native is None:
            self._unbind()
            self._native = _NativeGesture(terminal)
            self._terminal = terminal
        event = self._events[phase][0]
        ref = terminal.viewport_ref(*cell)
        setter = lib.ghostty_selection_gesture_event_set
        _check(setter(event, lib.GHOSTTY_SELECTION_GESTURE_EVENT_OPT_REF, ref), "ref")
        if phase != "release":
            where = ffi.new("GhosttySurfacePosition*", {"x": position[0], "y": position[1]})
            _check(setter(event, lib.GHOSTTY_SELECTION_GESTURE_EVENT_OPT_POSITION, where), "pos")
        if phase == "press":
            for option, value in (
                ("TIME_NS", ffi.new("uint64_t*", time_ns)),
                ("REPEAT_INTERVAL_NS", ffi.new("uint64_t*", REPEAT_INTERVAL_NS)),
                ("REPEAT_DISTANCE", ffi.new("double*", REPEAT_DISTANCE_PX)),
            ):
                key = getattr(lib, f"GHOSTTY_SELECTION_GESTURE_EVENT_OPT_{option}")
                _check(setter(event, key, value), option)
        if phase == "drag":
            shape = ffi.new("GhosttySelectionGestureGeometry*")
            shape.columns, shape.cell_width, shape.screen_height = geometry
            _check(setter(event, lib.GHOSTTY_SELECTION_GESTURE_EVENT_OPT_GEOMETRY, shape), "geo")
            flag = ffi.new("bool*", rectangle)
            _check(setter(event, lib.GHOSTTY_SELECTION_GESTURE_EVENT_OPT_RECTANGLE, flag), "rect")
        selection = ffi.new("GhosttySelection*")
        selection.size = ffi.sizeof("GhosttySelection")
        result = lib.ghostty_selection_gesture_event(
            self._native.pointer[0], terminal.handle, event, selection
        )
        if result == lib.GHOSTTY_NO_VALUE:
            return False
        _check(result, f"selection gesture {phase}")
        key = lib.GHOSTTY_TERMINAL_OPT_SELECTION
        _check(lib.ghostty_terminal_set(terminal.handle, key, selection), "set selection")
        return True


def clear_selection(terminal: Terminal) -> None:
    _check(
        lib.ghostty_terminal_set(terminal.handle, lib.GHOSTTY_TERMINAL_OPT_SELECTION, ffi.NULL),
        "clear selection",
    )


def selected_text(terminal: Terminal) -> str:
    """The selected text (empty without a selection): wrapped lines joined, each line's
    trailing blanks trimmed, a rectangle's rows one per line."""
    selection = ffi.new("GhosttySelection*")
    selection.size = ffi.sizeof("GhosttySelection")
    result = lib.ghostty_terminal_get(
        terminal.handle, lib.GHOSTTY_TERMINAL_DATA_SELECTION, selection
    )
    if result == lib.GHOSTTY_NO_VALUE:
        return ""
    _check(result, "selection")
    options = ffi.new("GhosttyTerminalSelectionFormatOptions*")
    options.size = ffi.sizeof("GhosttyTerminalSelectionFormatOptions")
    options.emit = lib.GHOSTTY_FORMATTER_FORMAT_PLAIN
    options.unwrap, options.trim, options.selection = True, True, selection
    out, size = ffi.new("uint8_t**"), ffi.new("size_t*")
    _check(
        lib.ghostty_terminal_selection_format_alloc(
            terminal.handle, ffi.NULL, options[0], out, size
        ),
        "selection format",
    )
    try:
        return bytes(ffi.buffer(out[0], size[0])).decode("utf-8", "replace") if size[0] else ""
    finally:
        if out[0] != ffi.NULL:
            lib.ghostty_free(ffi.NULL, out[0], size[0])
