"""The key encoder: a key press in, the bytes the program expects out.

Which bytes a key sends depends on the terminal's modes: application cursor keys (vim, less),
the keypad mode, modifyOtherKeys, the kitty keyboard protocol a program may switch on. The
encoder reads them from the terminal at each key (``setopt_from_terminal``), so a client that
feeds its terminal the session's output sends what the program asked for.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

from vtengine._lib import FREE, ffi, lib
from vtengine.terminal import EmulatorError, Terminal

__all__ = ["ALT", "CTRL", "SHIFT", "SUPER", "KeyEncoder", "KeyPress", "key_code"]

SHIFT = 1 << 0
CTRL = 1 << 1
ALT = 1 << 2
SUPER = 1 << 3


def key_code(name: str) -> int:
    """The library's code of a physical key by its name: ``"A"``, ``"ARROW_UP"``, ``"F5"``,
    ``"ESCAPE"``, ``"NUMPAD_ENTER"`` (the names of ``GHOSTTY_KEY_*``). KeyError if unknown."""
    try:
        return int(getattr(lib, f"GHOSTTY_KEY_{name}"))
    except AttributeError:
        raise KeyError(name) from None


@dataclass(frozen=True, slots=True)
class KeyPress:
    """One key: its physical ``key`` (``key_code``), the modifiers held, the text the layout
    makes of it without Ctrl or Alt (empty for keys that make none: arrows, F-keys, Esc…), and
    the code point of the key without Shift (0 if unknown)."""

    key: int
    mods: int = 0
    text: str = ""
    unshifted: int = 0
    repeat: bool = False


class KeyEncoder:
    """Encodes key presses for one terminal; reused for every key."""

    def __init__(self) -> None:
        self._encoder = ffi.new("GhosttyKeyEncoder*")
        _check(lib.ghostty_key_encoder_new(ffi.NULL, self._encoder), "key_encoder_new")
        self._event = ffi.new("GhosttyKeyEvent*")
        _check(lib.ghostty_key_event_new(ffi.NULL, self._event), "key_event_new")
        self._out = ffi.new("char[]", 128)
        self._written = ffi.new("size_t*")
        self.close = weakref.finalize(self, _free, self._encoder[0], self._event[0])

    def encode(self, terminal: Terminal, press: KeyPress) -> bytes:
        """The bytes ``press`` sends to the program of ``terminal`` (empty: none, as for a
        modifier key alone)."""
        encoder, event = self._encoder[0], self._event[0]
        lib.ghostty_key_encoder_setopt_from_terminal(encoder, terminal.handle)
        action = lib.GHOSTTY_KEY_ACTION_REPEAT if press.repeat else lib.GHOSTTY_KEY_ACTION_PRESS
        lib.ghostty_key_event_set_action(event, action)
        lib.ghostty_key_event_set_key(event, press.key)
        lib.ghostty_key_event_set_mods(event, press.mods)
        lib.ghostty_key_event_set_consumed_mods(
            event, SHIFT if press.text and press.mods & SHIFT else 0
        )
        lib.ghostty_key_event_set_unshifted_codepoint(event, press.unshifted)
        # Control characters are never the text: the encoder makes them from key and mods.
        text = "".join(c for c in press.text if c >= " " and c != "\x7f").encode()
        keep: Any = ffi.new("char[]", text) if text else ffi.NULL
        lib.ghostty_key_event_set_utf8(event, keep, len(text))
        out, written = self._out, self._written
        result = lib.ghostty_key_encoder_encode(encoder, event, out, len(out), written)
        if result == lib.GHOSTTY_OUT_OF_SPACE:
            self._out = out = ffi.new("char[]", int(written[0]))
            result = lib.ghostty_key_encoder_encode(encoder, event, out, len(out), written)
        _check(result, "key_encoder_encode")
        return bytes(ffi.buffer(out, int(written[0])))


def _free(encoder: Any, event: Any) -> None:
    FREE["key_event"](event)
    FREE["key_encoder"](encoder)


def _check(result: int, what: str) -> None:
    if result != lib.GHOSTTY_SUCCESS:
        raise EmulatorError(f"{what} failed: {result}")
