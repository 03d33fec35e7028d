"""Sessions on pipes (``"tty": false``): a program whose stdout and stderr are told apart.

Programs block-buffer their output on a pipe, and there is no terminal to resize or to give a
foreground job; everything else is what terminal sessions do.
"""

from __future__ import annotations

from backend.runtimes.base import SessionHost, SessionRuntime
from backend.runtimes.program import ProgramKind, ProgramRuntime


class PipesKind(ProgramKind):
    name = "pipes"
    tty = False

    def runtime(self, host: SessionHost) -> SessionRuntime:
        return PipesRuntime(host, self.context)


class PipesRuntime(ProgramRuntime):
    def resize(self, cols: int, rows: int) -> None:
        self._live()  # an ended session is ``session_not_running`` first, as any action
        super().resize(cols, rows)
