"""A terminal session's screen in the app, without Qt: the backend's own emulator class
(``vtengine.emulator``), fed the session's stream opened with ``?attach=screen``.

- ``snapshot`` resets it and draws the screen the backend has (scrollback, both screens, modes,
  cursor); ``output`` feeds it; ``resize`` resizes it. Its id is the stream's resume point.
- **It never answers the program**: what the emulator would reply to a query (``feed``'s return
  value) is dropped. The backend's emulator has answered already, once.
- Keys go through libghostty's key encoder with this emulator's modes, which the snapshot set and
  the output keeps up to date: arrows in vim send what vim asked for.

The widget (``desktop/ui/terminal_view.py``) paints it through ``render``.
"""

from __future__ import annotations

import re

from desktop.sse_client import SNAPSHOT, Event, output_text
from vtengine.emulator import Emulator
from vtengine.keys import KeyEncoder, KeyPress
from vtengine.render import RenderState

# Events that change the screen; the stream's other events (status, errors…) do not.
SCREEN_EVENTS = frozenset({SNAPSHOT, "output", "resize"})
MAX_SCROLLBACK_LINES = 10_000
# A pasted text may not end a bracketed paste early (a program would run the rest as typed).
_PASTE_END = re.compile("\x1b\\[201~")


class TerminalScreen:
    """One session's screen. ``generation`` grows at each reset, so that a view repaints all."""

    def __init__(
        self, cols: int = 120, rows: int = 32, scrollback_lines: int = MAX_SCROLLBACK_LINES
    ) -> None:
        self.scrollback_lines = min(scrollback_lines, MAX_SCROLLBACK_LINES)
        self.bells = 0  # BELs rung by the program's output (a snapshot rings none)
        self.emulator = self._new_emulator(cols, rows)
        self.render = RenderState()
        self.keys = KeyEncoder()
        self.generation = 0
        self.last_event_id: int | None = None

    @property
    def size(self) -> tuple[int, int]:
        return self.emulator.size

    def apply(self, events: list[Event]) -> bool:
        """Take the stream's screen events in order; whether the screen changed."""
        changed = False
        for event in events:
            data = event.data
            if event.type == SNAPSHOT:
                self._reset(int(data["cols"]), int(data["rows"]), str(data.get("vt", "")))
            elif event.type == "output":
                self.emulator.feed(output_text(data).encode())  # its replies are the backend's job
            elif event.type == "resize":
                self.emulator.resize(int(data["cols"]), int(data["rows"]))
            else:
                continue
            changed = True
            if event.id is not None:
                self.last_event_id = event.id
        return changed

    def _new_emulator(self, cols: int, rows: int) -> Emulator:
        emulator = Emulator(cols, rows, scrollback_lines=self.scrollback_lines)
        emulator.terminal.on_bell(self._ring)
        return emulator

    def _ring(self) -> None:
        self.bells += 1

    def _reset(self, cols: int, rows: int, vt: str) -> None:
        old = self.emulator
        self.emulator = self._new_emulator(cols, rows)
        bells = self.bells
        self.emulator.feed(vt.encode())
        self.bells = bells  # drawing the screen again is not the program ringing
        old.close()
        self.generation += 1

    def key(self, press: KeyPress) -> bytes:
        """What ``press`` sends to the program, under its modes."""
        return self.keys.encode(self.emulator.terminal, press)

    def paste(self, text: str) -> str:
        """What pasting ``text`` sends: inside bracketed-paste markers when the program asked
        for them (it then knows it is not typed), with line ends as Enter sends them."""
        text = text.replace("\r\n", "\r").replace("\n", "\r")
        if self.emulator.modes.bracketed_paste:
            return "\x1b[200~" + _PASTE_END.sub("", text) + "\x1b[201~"
        return text

    @property
    def title(self) -> str:
        """The window title the program set (OSC 0 or 2), empty if none."""
        return self.emulator.title

    def pastes_unguarded_lines(self, text: str) -> bool:
        """Whether pasting ``text`` would run lines one by one: several lines, into a program
        that did not ask for bracketed paste (a shell without it runs each at once)."""
        return "\n" in text.strip("\r\n") and not self.emulator.modes.bracketed_paste

    def text(self) -> str:
        """The visible screen as plain text, ``rows`` lines (the backend's ``/screen`` text)."""
        return self.emulator.screen_text()

    def contents(self) -> str:
        """The scrollback and the screen as plain text, wrapped lines joined (to save)."""
        text = self.emulator.terminal.format("plain", unwrap=True, trim=True)
        return text.decode("utf-8", "replace")

    def close(self) -> None:
        self.render.close()
        self.keys.close()
        self.emulator.close()
