"""The mouse encoder: clicks, drags and the wheel as a program that asked for them reads them.

Programs ask for mouse reports with modes (``?1000h`` clicks, ``?1002h`` drags, ``?1003h`` all
motion) in one of several encodings (X10, UTF-8, SGR, urxvt, SGR pixels). The encoder reads them
from the terminal at each event and returns nothing when the program asked for nothing, or not
for this kind of event.
"""

from __future__ import annotations

import weakref
from typing import Any, Literal

from vtengine._lib import FREE, ffi, lib
from vtengine.terminal import EmulatorError, Terminal

__all__ = ["MouseEncoder", "tracking"]

Action = Literal["press", "release", "motion"]
_ACTIONS = {
    "press": lib.GHOSTTY_MOUSE_ACTION_PRESS,
    "release": lib.GHOSTTY_MOUSE_ACTION_RELEASE,
    "motion": lib.GHOSTTY_MOUSE_ACTION_MOTION,
}
# Buttons by the usual numbers: 1 left, 2 right, 3 middle, 4 wheel up, 5 wheel down.
LEFT, RIGHT, MIDDLE, WHEEL_UP, WHEEL_DOWN = 1, 2, 3, 4, 5


def _free(encoder: Any, event: Any) -> None:
    FREE["mouse_event"](event)
    FREE["mouse_encoder"](encoder)


def _check(result: int, what: str) -> None:
    if result != lib.GHOSTTY_SUCCESS:
        raise EmulatorError(f"{what} failed: {result}")


def tracking(terminal: Terminal) -> bool:
    """Whether the program asked for mouse reports of any kind."""
    return any(terminal.mode(mode) for mode in (9, 1000, 1002, 1003))


class MouseEncoder:
    """Encodes mouse events for one terminal at a time; reused for every event."""

    def __init__(self) -> None:
        self._encoder = ffi.new("GhosttyMouseEncoder*")
        _check(lib.ghostty_mouse_encoder_new(ffi.NULL, self._encoder), "mouse_encoder_new")
        self._event = ffi.new("GhosttyMouseEvent*")
        _check(lib.ghostty_mouse_event_new(ffi.NULL, self._event), "mouse_event_new")
        self._size = ffi.new("GhosttyMouseEncoderSize*")
        self._size.size = ffi.sizeof("GhosttyMouseEncoderSize")
        self._pressed = ffi.new("bool*")
        self._out = ffi.new("char[]", 64)
        self._written = ffi.new("size_t*")
        self.close = weakref.finalize(self, _free, self._encoder[0], self._event[0])

    def encode(
        self,
        terminal: Terminal,
        action: Action,
        button: int | None,
        position: tuple[float, float],
        *,
        mods: int = 0,
        any_pressed: bool = False,
        surface: tuple[int, int, int, int] = (640, 384, 8, 16),
    ) -> bytes:
        """The report of one event at pixel ``position`` on a surface of (width, height, cell
        width, cell height) pixels; ``button`` None for motion with no button held. Empty when
        the program does not want it."""
        encoder, event = self._encoder[0], self._event[0]
        lib.ghostty_mouse_encoder_setopt_from_terminal(encoder, terminal.handle)
        size = self._size
        size.screen_width, size.screen_height, size.cell_width, size.cell_height = surface
        lib.ghostty_mouse_encoder_setopt(encoder, lib.GHOSTTY_MOUSE_ENCODER_OPT_SIZE, size)
        self._pressed[0] = any_pressed
        lib.ghostty_mouse_encoder_setopt(
            encoder, lib.GHOSTTY_MOUSE_ENCODER_OPT_ANY_BUTTON_PRESSED, self._pressed
        )
        lib.ghostty_mouse_event_set_action(event, _ACTIONS[action])
        if button is None:
            lib.ghostty_mouse_event_clear_button(event)
        else:
            lib.ghostty_mouse_event_set_button(event, button)
        lib.ghostty_mouse_event_set_mods(event, mods)
        lib.ghostty_mouse_event_set_position(event, {"x": position[0], "y": position[1]})
        out, written = self._out, self._written
        _check(lib.ghostty_mouse_encoder_encode(encoder, event, out, len(out), written), "mouse")
        return bytes(ffi.buffer(out, int(written[0])))
