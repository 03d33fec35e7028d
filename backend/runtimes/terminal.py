"""Terminal sessions: a shell or a command in a pseudo-terminal.

Programs see a real terminal (colors, line buffering, job control, SIGWINCH): the PTY is their
controlling terminal. Ctrl-C reaches the terminal's foreground job, and clients can see which
job that is before they stop the whole shell.
"""

from __future__ import annotations

from backend.protocol.api import Foreground
from backend.runtimes.base import SessionHost, SessionRuntime
from backend.runtimes.program import ProgramKind, ProgramRuntime


class TerminalKind(ProgramKind):
    name = "terminal"
    tty = True

    def prepare_environment(self, env: dict[str, str]) -> None:
        env["TERM"] = "xterm-256color"
        env["COLORTERM"] = "truecolor"

    def runtime(self, host: SessionHost) -> SessionRuntime:
        return TerminalRuntime(host, self.context)


class TerminalRuntime(ProgramRuntime):
    def resize(self, cols: int, rows: int) -> None:
        self._live().resize(cols, rows)

    def foreground(self) -> Foreground | None:
        job = self.process.foreground() if self.process is not None else None
        return Foreground(pid=job.pid, name=job.name) if job is not None else None
