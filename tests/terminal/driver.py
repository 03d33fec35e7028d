"""Drive a terminal session as a person at a keyboard does: keystrokes in (``/input``), the
backend's screen out (``/screen``), polled until it shows what a test waits for."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

# A shell that reads no startup file; its prompt comes from the server's environment
# (``PROMPT``), so every screen is the same on every machine.
SHELL = ["bash", "--norc", "--noprofile"]
PROMPT = "$ "
# Generous: two shared cores may be busy with other work, and a poll ends as soon as it matches.
TIMEOUT = 30.0
POLL = 0.05


@dataclass(frozen=True)
class Screen:
    """One ``GET /screen`` answer."""

    cols: int
    rows: int
    x: int
    y: int
    cursor_visible: bool
    alt_screen: bool
    last_event_id: int
    content: str

    @classmethod
    def of(cls, body: dict[str, Any]) -> Screen:
        cursor = body["cursor"]
        return cls(
            cols=body["cols"],
            rows=body["rows"],
            x=cursor["x"],
            y=cursor["y"],
            cursor_visible=cursor["visible"],
            alt_screen=body["altScreen"],
            last_event_id=body["lastEventId"],
            content=body["content"],
        )

    @property
    def lines(self) -> list[str]:
        """Every row of the screen, trailing blanks trimmed (text format only)."""
        return self.content.split("\n")

    @property
    def drawn(self) -> list[str]:
        """The rows down to the last one that is not blank."""
        lines = self.lines
        while lines and not lines[-1]:
            lines = lines[:-1]
        return lines

    @property
    def at_prompt(self) -> bool:
        """The shell waits for a command: its prompt alone on the cursor's row."""
        return self.lines[self.y] == PROMPT.rstrip() and self.x == len(PROMPT)

    def __str__(self) -> str:
        rows = "\n".join(f"{n:3}|{line}" for n, line in enumerate(self.lines))
        return (
            f"{self.cols}x{self.rows}, cursor ({self.x}, {self.y}), "
            f"{'alternate' if self.alt_screen else 'primary'} screen:\n{rows}"
        )


class Terminal:
    """One terminal session of the backend, typed into and read back."""

    def __init__(self, api: httpx.AsyncClient, session_id: str) -> None:
        self.api = api
        self.id = session_id

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        api: httpx.AsyncClient,
        workdir: Path,
        argv: list[str] | None = None,
        *,
        cols: int = 80,
        rows: int = 24,
    ) -> AsyncIterator[Terminal]:
        """A new session running ``argv`` (the shell when None, ready at its first prompt),
        stopped on the way out unless it ended by itself."""
        response = await api.post(
            "/api/sessions",
            json={
                "workingDir": str(workdir),
                "kind": "shell" if argv is None else "command",
                "argv": argv or SHELL,
                "cols": cols,
                "rows": rows,
            },
        )
        assert response.status_code == 201, response.text
        assert response.json()["tty"] is True
        terminal = cls(api, response.json()["id"])
        try:
            if argv is None:
                # Keys typed before readline takes the terminal would be echoed twice.
                await terminal.wait(lambda s: s.at_prompt, "the first prompt")
            yield terminal
        finally:
            stopped = await api.post(f"/api/session/{terminal.id}/stop")
            assert stopped.status_code in (202, 409), stopped.text  # 409: it had ended

    async def keys(self, data: str) -> None:
        """Type ``data``: its bytes reach the program as they are (``\\r`` is Enter)."""
        response = await self.api.post(f"/api/session/{self.id}/input", json={"data": data})
        assert response.status_code == 202, response.text

    async def screen(self, fmt: str = "text") -> Screen:
        response = await self.api.get(f"/api/session/{self.id}/screen", params={"format": fmt})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["sessionId"] == self.id and body["format"] == fmt
        return Screen.of(body)

    async def wait(
        self,
        condition: Callable[[Screen], bool],
        what: str,
        *,
        fmt: str = "text",
        timeout: float = TIMEOUT,
    ) -> Screen:
        """The first screen that meets ``condition``, polled; fails with the last one seen."""
        deadline = time.monotonic() + timeout
        while True:
            screen = await self.screen(fmt)
            if condition(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {timeout:.0f} s; the screen:\n{screen}")
            await asyncio.sleep(POLL)

    async def wait_for_rows(
        self, rows: list[str], what: str, *, extra: Callable[[Screen], bool] = lambda s: True
    ) -> Screen:
        """A screen whose rows read ``rows`` exactly, blank rows to its bottom (and that meets
        ``extra``)."""

        def matches(s: Screen) -> bool:
            return s.lines == rows + [""] * (s.rows - len(rows)) and extra(s)

        try:
            return await self.wait(matches, what)
        except AssertionError as exc:
            wanted = "\n".join(f"{n:3}|{line}" for n, line in enumerate(rows))
            raise AssertionError(f"{exc}\nwanted:\n{wanted}") from None

    async def session(self) -> dict[str, Any]:
        response = await self.api.get(f"/api/session/{self.id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body
