"""Terminal sessions: a shell or a command in a pseudo-terminal, with the screen kept here.

Programs see a real terminal (colors, line buffering, job control, SIGWINCH): the PTY is their
controlling terminal. Ctrl-C reaches the terminal's foreground job, and clients can see which
job that is before they stop the whole shell.

The backend keeps each session's screen in a terminal emulator (``screen.py``), as tmux does:
it answers the program's terminal queries once, however many clients watch, and a client that
attaches gets the current screen (``snapshot``) instead of the whole history. Keystrokes
(``input``) go to the PTY as they are and are never stored: a password typed at a prompt must
not reach the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import msgspec

from backend.protocol.api import Foreground, NewSession, ScreenFormat
from backend.protocol.events import ENDED_STATUSES, Resize, now_ms
from backend.protocol.sse import StoredEvent
from backend.runtimes.base import Plan, RuntimeContext, SessionHost, SessionRuntime
from backend.runtimes.hosted import HostedProcess
from backend.runtimes.program import ProgramKind, ProgramRuntime
from backend.runtimes.screen import (
    Screen,
    ScreenClosed,
    ScreenOptions,
    View,
    engine,
    new_emulator,
    rebuild,
)

log = logging.getLogger(__name__)


class _Status(msgspec.Struct):
    status: str


_decode_status = msgspec.json.Decoder(_Status).decode


def _status_of(event: StoredEvent) -> str:
    return _decode_status(event.data).status


# Screens of ended sessions kept in memory for the next attach (a few MB each with a full
# scrollback); the least recently used is freed first and rebuilt from the store when asked.
ENDED_SCREENS = 8
# The emulators' worker threads' nice value: below the loop and the store's writer.
SCREEN_NICE = 10


def _background_priority() -> None:
    """Lower this thread's CPU priority (on Linux a thread has a nice value of its own). A
    session printing at full speed keeps its emulator busy; the echo of a key typed in another
    session must not wait behind that work for the CPU. An emulator that falls behind pauses
    its own session (flow control): the loud session slows down, not the quiet one."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), SCREEN_NICE)


def _load_emulator() -> None:
    _background_priority()  # as the emulators' own work: the loop and the writer come first
    importlib.import_module("vtengine.emulator")


class TerminalKind(ProgramKind):
    name = "terminal"
    tty = True

    def __init__(self, context: RuntimeContext) -> None:
        super().__init__(context)
        self.options = ScreenOptions(scrollback_lines=context.settings.scrollback_lines)
        # Every emulator's work runs here, one job at a time per screen (screen.py), at a lower
        # priority than the loop and the store's writer.
        self.executor = ThreadPoolExecutor(
            max_workers=2, thread_name_prefix="screen", initializer=_background_priority
        )
        self._ended: OrderedDict[str, Screen] = OrderedDict()

    def prepare_environment(self, env: dict[str, str]) -> None:
        env["TERM"] = "xterm-256color"
        env["COLORTERM"] = "truecolor"

    async def prepare(self, request: NewSession) -> Plan:
        plan = await super().prepare(request)
        # The size it starts with stays known (an asciicast export's header), after resizes too.
        size = {"cols": plan.cols, "rows": plan.rows}
        plan.state = {**size, "startCols": plan.cols, "startRows": plan.rows}
        return plan

    def runtime(self, host: SessionHost) -> SessionRuntime:
        return TerminalRuntime(host, self.context, self)

    async def start(self) -> None:
        # The emulator library takes most of a second to load: load it now, off the loop,
        # rather than when the first terminal session starts. A daemon thread, not the
        # executor: a backend stopped meanwhile exits at once instead of waiting for the load
        # (the interpreter joins executor threads at exit; a short-lived backend, as in the
        # tests, spent half a second there).
        threading.Thread(target=_load_emulator, name="emulator-load", daemon=True).start()

    # -- screens of ended sessions ------------------------------------------------------------

    def ended_screen(self, session_id: str) -> Screen | None:
        screen = self._ended.get(session_id)
        if screen is not None:
            self._ended.move_to_end(session_id)
        return screen

    def keep_ended(self, session_id: str, screen: Screen) -> None:
        self._ended[session_id] = screen
        self._ended.move_to_end(session_id)
        while len(self._ended) > ENDED_SCREENS:
            _, oldest = self._ended.popitem(last=False)
            asyncio.get_running_loop().create_task(oldest.close())

    def drop_ended(self, session_id: str) -> Screen | None:
        return self._ended.pop(session_id, None)


class TerminalRuntime(ProgramRuntime):
    def __init__(self, host: SessionHost, context: RuntimeContext, kind: TerminalKind) -> None:
        super().__init__(host, context)
        self.kind = kind
        self.screen: Screen | None = None  # the live screen, while the program runs
        self._rebuilding: asyncio.Lock | None = None
        self._adoption: asyncio.Task[None] | None = None  # its live screen, being rebuilt
        state = host.record.state or {}
        self.size = (int(state.get("cols", 120)), int(state.get("rows", 32)))
        self.start_size = (int(state.get("startCols", self.size[0])),
                           int(state.get("startRows", self.size[1])))  # fmt: skip

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self, plan: Plan) -> None:
        self.size = (plan.cols, plan.rows)
        self.start_size = (plan.cols, plan.rows)
        cols, rows, options = plan.cols, plan.rows, self.kind.options
        screen = Screen(
            lambda: new_emulator(cols, rows, options),
            0,
            self.kind.executor,
            on_reply=self._reply,
            on_state=self._keep_state,
        )
        self.screen = screen
        self.context.bus.observe(self.session_id, self._follow)
        await super().start(plan)

    def adopting(self, process: HostedProcess) -> None:
        # The live screen is rebuilt from the store while the host sends what came meanwhile:
        # those events wait here, and go to the screen after what the rebuild read.
        waiting: list[StoredEvent] = []
        self.context.bus.observe(self.session_id, waiting.append)
        self._adoption = self.spawn(self._rebuild_live(waiting), "screen")

    async def _rebuild_live(self, waiting: list[StoredEvent]) -> None:
        screen = await rebuild(
            self.context.store, self.session_id, self.size, self.kind.options, self.kind.executor
        )
        screen.on_reply = self._reply
        screen.on_state = self._keep_state
        self.screen = screen
        self.context.bus.observe(self.session_id, self._follow)
        for event in waiting:
            if event.seq > screen.followed:
                self._follow(event)
        ended = self.host.record.status in ENDED_STATUSES
        if ended and self.screen is screen:
            last = self.context.store.events.last_seq(self.session_id)
            if screen.followed >= last:  # its ending was read by the rebuild itself
                self._ended(screen)

    def _follow(self, event: StoredEvent) -> None:
        screen = self.screen
        if screen is None:
            return
        screen.follow(event)
        if event.type == "status" and _status_of(event) in ENDED_STATUSES:
            self._ended(screen)

    def _ended(self, screen: Screen) -> None:
        """Its last event is in: keep the final state, and the screen for the next attach."""
        screen.save_soon()
        self.context.bus.observe(self.session_id, None)
        self.screen = None
        self.kind.keep_ended(self.session_id, screen)

    def _on_output(self, stream: str, text: str, mark: int | None = None) -> None:
        super()._on_output(stream, text, mark)
        screen, process = self.screen, self.process
        if screen is None or process is None:
            return
        high, low = process.screen_backlog
        if screen.congested(high):
            # The emulator is far behind: let the program wait rather than queue without bound.
            process.pause_reading()
            screen.call_when_drained(low, process.resume_reading)

    def _reply(self, data: bytes) -> None:
        """The emulator's answers to the program's queries go to its PTY, once."""
        process = self.process
        if process is not None and self.running:
            # A program that no longer reads waits for no answer.
            with contextlib.suppress(BrokenPipeError):
                process.write(data)

    def _keep_state(self, seq: int, state: bytes) -> None:
        if not self.host.gone:
            self.context.store.screens.save(self.session_id, seq, engine(), state)

    async def shutdown(self) -> None:
        await super().shutdown()
        # The ending's status event is published once committed, and its screen saves its
        # state then: let both happen before the store closes.
        await self.context.store.flush(write=False)
        screen = self.kind.drop_ended(self.session_id) or self.screen
        self.screen = None
        self.context.bus.observe(self.session_id, None)
        if screen is not None:
            await screen.close()

    async def delete(self) -> None:
        await super().delete()
        self.context.bus.observe(self.session_id, None)
        screen = self.kind.drop_ended(self.session_id) or self.screen
        self.screen = None
        if screen is not None:
            await screen.close()

    # -- actions ------------------------------------------------------------------------------

    def input(self, data: bytes) -> None:
        process = self._live()
        try:
            process.write(data)
        except BrokenPipeError as exc:
            raise self.not_running() from exc

    def resize(self, cols: int, rows: int) -> None:
        process = self._live()
        process.resize(cols, rows)
        self.size = (cols, rows)
        self.host.save_state()
        # Stored, so that replay and export follow the size; the emulator reflows when it
        # reaches this event, in order with the output around it.
        self.host.emit(Resize(session_id=self.session_id, timestamp=now_ms(), cols=cols, rows=rows))

    async def view(self, fmt: ScreenFormat, scrollback: int | None = None) -> View:
        """The screen now (the live one, or the last one of an ended session)."""
        for _ in range(3):
            screen = await self._screen()
            try:
                if fmt == "vt" and scrollback is not None:
                    return await screen.snapshot(scrollback)
                return await screen.view(fmt)
            except ScreenClosed:
                continue  # an ended session's screen was freed meanwhile: build it again
        raise ScreenClosed(f"the screen of {self.session_id} keeps being freed")

    async def _screen(self) -> Screen:
        if self.screen is None and self._adoption is not None and not self._adoption.done():
            await asyncio.shield(self._adoption)
        if self.screen is not None:
            return self.screen
        if self._rebuilding is None:
            self._rebuilding = asyncio.Lock()
        async with self._rebuilding:  # two attaches at once rebuild it once
            screen = self.kind.ended_screen(self.session_id)
            if screen is None:
                screen = await rebuild(
                    self.context.store,
                    self.session_id,
                    self.size,
                    self.kind.options,
                    self.kind.executor,
                )
                self.kind.keep_ended(self.session_id, screen)
            return screen

    def state(self) -> dict[str, Any]:
        (cols, rows), (start_cols, start_rows) = self.size, self.start_size
        return {"cols": cols, "rows": rows, "startCols": start_cols, "startRows": start_rows}

    def foreground(self) -> Foreground | None:
        job = self.process.foreground() if self.process is not None else None
        return Foreground(pid=job.pid, name=job.name) if job is not None else None
