"""A terminal session's screen in the app, without Qt: the backend's own emulator class
(``vtengine.emulator``), fed the session's stream opened with ``?attach=screen``.

- ``snapshot`` resets it and draws the screen the backend has (scrollback, both screens, modes,
  cursor); ``output`` feeds it; ``resize`` resizes it. Its id is the stream's resume point.
- **It never answers the program**: what the emulator would reply to a query (``feed``'s return
  value) is dropped. The backend's emulator has answered already, once.
- **History behind the first frame.** A stream attaches with at most ``FIRST_FRAME_LINES`` of
  history, so that the first frame comes quickly; when the screen keeps more, the rest comes
  behind it: ``draw`` makes an emulator from a deeper snapshot (``GET /screen?format=vt``, any
  thread) and ``take_history`` puts it in place after replaying the events this screen applied
  since its own snapshot (recorded until then) that the deeper one had not seen.
- Keys go through libghostty's key encoder with this emulator's modes, which the snapshot set and
  the output keeps up to date: arrows in vim send what vim asked for.

The widget (``desktop/ui/terminal_view.py``) paints it through ``render``.
"""

from __future__ import annotations

import asyncio
import logging
import re

from desktop.api import ApiClient, ApiError, BackendError
from desktop.sse_client import SNAPSHOT, Event, output_text
from vtengine.emulator import Emulator
from vtengine.keys import KeyEncoder, KeyPress
from vtengine.render import RenderState

log = logging.getLogger(__name__)

# Events that change the screen; the stream's other events (status, errors…) do not.
SCREEN_EVENTS = frozenset({SNAPSHOT, "output", "resize"})
MAX_SCROLLBACK_LINES = 10_000
# History a stream attaches with: the first frame comes sooner (at 10,000 lines the backend
# formats, sends and this side parses ~1.4 MB of VT before it); the rest comes behind it.
FIRST_FRAME_LINES = 1000
# Output recorded while the deeper history is fetched; beyond it the fetch is given up (a
# session printing that much fills the scrollback with its own lines meanwhile).
MAX_RECORDED_BYTES = 16 * 1024 * 1024
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
        # Screen events since a snapshot of less history than the screen keeps, while a deeper
        # one is wanted; None when none is.
        self._recorded: list[Event] | None = None
        self._recorded_bytes = 0
        self._history_asked = False  # load_history is under way for the last snapshot
        # The last event a deeper snapshot had drawn: the stream may still bring those after it.
        self._covered = 0

    @property
    def size(self) -> tuple[int, int]:
        return self.emulator.size

    @property
    def attach_lines(self) -> int:
        """The history a stream should attach with (``?scrollback=``)."""
        return min(self.scrollback_lines, FIRST_FRAME_LINES)

    @property
    def loading_history(self) -> bool:
        """Whether a deeper history was asked for and is not in place yet."""
        return self._recorded is not None and self._history_asked

    @property
    def wants_history(self) -> bool:
        """Whether it shows less history than it keeps and a deeper snapshot should follow
        (and none is on its way)."""
        return self._recorded is not None and not self._history_asked

    def apply(self, events: list[Event]) -> bool:
        """Take the stream's screen events in order; whether the screen changed."""
        changed = False
        for event in events:
            if event.type not in SCREEN_EVENTS:
                continue
            if event.type != SNAPSHOT and event.id is not None and event.id <= self._covered:
                continue  # the deeper snapshot drew it already
            if event.type == SNAPSHOT:
                data = event.data
                self._reset(int(data["cols"]), int(data["rows"]), str(data.get("vt", "")))
                # A snapshot that did not fill its history has all there is. On the alternate
                # screen (vim, less) the scrollbar tells nothing of the primary screen's
                # history: ask for the deeper one all the same.
                total, _, shown = self.emulator.terminal.scrollbar()
                filled = bool(data.get("altScreen")) or total - shown >= self.attach_lines
                shallow = filled and self.attach_lines < self.scrollback_lines
                self._recorded = [] if shallow else None
                self._recorded_bytes = 0
                self._history_asked = False
            else:
                self._play(self.emulator, event)
                self._record(event)
            changed = True
            if event.id is not None:
                self.last_event_id = event.id
        return changed

    @staticmethod
    def _play(emulator: Emulator, event: Event) -> None:
        if event.type == "output":
            emulator.feed(output_text(event.data).encode())  # its replies are the backend's job
        else:
            emulator.resize(int(event.data["cols"]), int(event.data["rows"]))

    def _record(self, event: Event) -> None:
        if self._recorded is None:
            return
        self._recorded.append(event)
        self._recorded_bytes += len(output_text(event.data)) if event.type == "output" else 0
        if self._recorded_bytes > MAX_RECORDED_BYTES:
            self._recorded = None

    def draw(self, cols: int, rows: int, vt: str) -> Emulator:
        """A new emulator of this screen's size in history, showing ``vt`` (a snapshot of
        ``cols`` x ``rows``). Touches nothing of this screen: any thread may call it."""
        emulator = Emulator(cols, rows, scrollback_lines=self.scrollback_lines)
        emulator.feed(vt.encode())
        return emulator

    def take_history(self, emulator: Emulator, last_event_id: int, generation: int) -> bool:
        """Show ``emulator`` (``draw``'s, of a snapshot up to ``last_event_id``, asked for at
        ``generation``) in place of the shallower screen, once the events it had not seen are
        replayed on it; whether it took it. It does not when that history is not wanted any
        more (a new snapshot came meanwhile, or too much output): the emulator is closed."""
        if generation != self.generation or self._recorded is None:
            emulator.close()
            return False
        recorded, self._recorded = self._recorded, None
        for event in recorded:
            if event.id is None or event.id > last_event_id:
                self._play(emulator, event)
        emulator.terminal.on_bell(self._ring)
        self._covered = last_event_id
        self.last_event_id = max(self.last_event_id or 0, last_event_id)
        old, self.emulator = self.emulator, emulator
        old.close()
        self.generation += 1
        return True

    def forgo_history(self) -> None:
        """Keep the shallower screen (the deeper snapshot could not be had)."""
        self._recorded = None

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
        self._recorded = None  # a deeper history on its way is dropped
        self.render.close()
        self.keys.close()
        self.emulator.close()


async def load_history(api: ApiClient, session_id: str, screen: TerminalScreen) -> bool:
    """The rest of ``screen``'s history behind its first frame: a snapshot as deep as it keeps,
    drawn on a worker thread (libghostty parses without the GIL), then put in place. Whether it
    now shows it (not when it could not be had, or is not wanted any more)."""
    generation = screen.generation
    screen._history_asked = True
    try:
        view = await api.screen(session_id, "vt", screen.scrollback_lines)
        emulator = await asyncio.to_thread(
            screen.draw, int(view["cols"]), int(view["rows"]), str(view["content"])
        )
    except (ApiError, BackendError) as error:
        log.info("%s: no deeper history (%s)", session_id, error)
        if screen.generation == generation:
            screen.forgo_history()
        return False
    return screen.take_history(emulator, int(view["lastEventId"]), generation)
