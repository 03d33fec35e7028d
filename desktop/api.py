"""An async client for the backend's REST API (docs/api.md), on any asyncio loop and without Qt.

Every method returns the JSON the backend documents, as plain dicts; list routes return the list
itself. A response with an error status raises ``ApiError`` with the backend's ``code``; a backend
that cannot be reached (nothing listening, connection dropped, no answer in time) raises
``BackendUnavailable``, so the app can tell "you asked for something wrong" from "restart it".
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import quote

import httpx

# One request's whole time, the same in the web page (resources/web/api.js): past it, a frozen
# backend or a half-open connection counts as an unreachable backend.
DEFAULT_TIMEOUT = 20.0


class BackendError(Exception):
    """Anything that went wrong talking to the backend."""


class ApiError(BackendError):
    """The backend answered with an error status; ``code`` is its machine-readable code and
    ``message`` what it said. ``ours``: the answer is the backend's own error body (not a
    proxy's page, nor something that is no JSON), so ``message`` is a sentence for a user."""

    def __init__(self, status: int, code: str, message: str, *, ours: bool = False) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.ours = ours

    def for_user(self) -> str:
        """What to show a user: the backend's own sentence (a 507 says the disk is full and
        what to do), as the web page shows it; else the status and code with what came."""
        return self.message if self.ours and self.message else str(self)


class BackendUnavailable(BackendError):
    """The backend could not be reached or did not answer."""


def api_error(response: httpx.Response) -> ApiError:
    """The ``ApiError`` an error response stands for, also when its body is not ours (a proxy's)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("code"), str):
        return ApiError(response.status_code, body["code"], str(body.get("error", "")), ours=True)
    message = response.text[:200].strip() or response.reason_phrase
    return ApiError(response.status_code, f"http_{response.status_code}", message)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def segment(value: str) -> str:
    """``value`` as one path segment, whatever it holds."""
    return quote(value, safe="")


class ApiClient:
    """The backend's REST API. Use as ``async with ApiClient(url, token) as api:`` or call
    ``aclose()``; ``set_endpoint()`` points it at a restarted backend (new port or token)."""

    def __init__(self, base_url: str, token: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        # trust_env=False: the backend is on loopback, and an HTTP_PROXY meant for the internet
        # must not capture it.
        self._client = httpx.AsyncClient(
            base_url=base_url, headers=bearer(token), timeout=timeout, trust_env=False
        )
        self.timeout = timeout

    @property
    def base_url(self) -> str:
        return str(self._client.base_url)

    def set_endpoint(self, base_url: str, token: str) -> None:
        """Send the next requests to ``base_url`` with ``token``. Pooled connections to the old
        address are never reused for the new one, so nothing needs closing."""
        self._client.base_url = httpx.URL(base_url)
        self._client.headers.update(bearer(token))

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, str | int] | None = None,
    ) -> dict[str, Any]:
        try:
            # httpx's timeout bounds each phase (connect, each read); this bounds the request.
            async with asyncio.timeout(self.timeout):
                response = await self._client.request(method, path, json=body, params=params)
        except (TimeoutError, httpx.TimeoutException) as exc:
            message = f"the backend did not answer within {self.timeout:g} s"
            raise BackendUnavailable(f"{method} {path}: {message}") from exc
        except httpx.TransportError as exc:
            raise BackendUnavailable(f"{method} {path}: {exc!r}") from exc
        if response.is_error:
            raise api_error(response)
        try:
            result = response.json()
        except ValueError:
            result = None
        if not isinstance(result, dict):
            raise ApiError(response.status_code, "invalid_response", "expected a JSON object")
        return result

    # -- health and metrics

    async def health(self) -> dict[str, Any]:
        """``{"status": "ok", "version"}``; needs no token."""
        return await self._call("GET", "/api/health")

    async def metrics(self) -> dict[str, Any]:
        return await self._call("GET", "/api/debug/metrics")

    async def login_link(self) -> str:
        """A one-time link that signs a browser in (the token is never in it)."""
        link = await self._call("POST", "/api/login-link")
        return str(link["url"])

    # -- projects

    async def list_projects(self) -> list[dict[str, Any]]:
        result = await self._call("GET", "/api/projects")
        projects: list[dict[str, Any]] = result["projects"]
        return projects

    async def create_project(
        self, path: str | os.PathLike[str], name: str | None = None
    ) -> dict[str, Any]:
        """The project of folder ``path``: created, or the existing one of that folder."""
        body: dict[str, Any] = {"path": os.fspath(path)}
        if name is not None:
            body["name"] = name
        return await self._call("POST", "/api/projects", body=body)

    async def get_project(self, project_id: str) -> dict[str, Any]:
        """The project with its ``sessions``."""
        return await self._call("GET", f"/api/projects/{segment(project_id)}")

    async def delete_project(self, project_id: str) -> None:
        """Stop and delete the project's sessions, then the project."""
        await self._call("DELETE", f"/api/projects/{segment(project_id)}")

    # -- sessions

    async def list_sessions(self, project_id: str | None = None) -> list[dict[str, Any]]:
        params: dict[str, str | int] | None = None
        if project_id is not None:
            params = {"projectId": project_id}
        result = await self._call("GET", "/api/sessions", params=params)
        sessions: list[dict[str, Any]] = result["sessions"]
        return sessions

    async def create_session(
        self,
        project_id: str | None = None,
        *,
        working_dir: str | os.PathLike[str] | None = None,
        kind: Literal["shell", "command", "claude"] = "shell",
        argv: Sequence[str] | None = None,
        name: str | None = None,
        tty: bool = True,
        cols: int | None = None,
        rows: int | None = None,
        resume: str | None = None,
    ) -> dict[str, Any]:
        """Start a session in a project, or in ``working_dir`` (whose project is found or made).

        ``kind="claude"`` starts a Claude Code conversation (no terminal: ``tty``, ``cols`` and
        ``rows`` are not sent); with ``resume`` (a session's id or an agent session id) it
        continues that conversation, in the project of the resumed session unless
        ``project_id`` says otherwise. A program that cannot start still gives a session, with
        status ``failed``."""
        if project_id is None and working_dir is None and resume is None:
            raise ValueError("create_session needs project_id or working_dir (or resume)")
        body: dict[str, Any] = {"kind": kind}
        if kind != "claude":
            body["tty"] = tty
        optional = {
            "projectId": project_id,
            "workingDir": None if working_dir is None else os.fspath(working_dir),
            "argv": None if argv is None else list(argv),
            "name": name,
            "cols": cols,
            "rows": rows,
            "resume": resume,
        }
        body.update({key: value for key, value in optional.items() if value is not None})
        return await self._call("POST", "/api/sessions", body=body)

    async def get_session(self, session_id: str) -> dict[str, Any]:
        return await self._call("GET", f"/api/session/{segment(session_id)}")

    async def delete_session(self, session_id: str) -> None:
        """Stop the session, delete its history and end its streams."""
        await self._call("DELETE", f"/api/session/{segment(session_id)}")

    async def send_prompt(self, session_id: str, command: str) -> int:
        """Write ``command`` and a newline to the session; the id of the ``prompt`` event.

        A ``claude`` session runs it as its next turn, or queues it while a turn runs."""
        result = await self._call(
            "POST", f"/api/session/{segment(session_id)}/prompt", body={"command": command}
        )
        return int(result["eventId"])

    async def send_input(self, session_id: str, data: str) -> None:
        """Keystrokes for a terminal session's PTY, as they are (``"\\r"`` is Enter); never
        stored. At most 64 KiB of UTF-8 a request."""
        await self._call("POST", f"/api/session/{segment(session_id)}/input", body={"data": data})

    async def interrupt(self, session_id: str) -> None:
        """Ctrl-C: SIGINT to the terminal's foreground job, or a conversation's running turn."""
        await self._call("POST", f"/api/session/{segment(session_id)}/interrupt")

    async def answer_permission(
        self, session_id: str, request_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """Answer a Claude session's open permission request ({behavior, updatedInput?,
        message?, remember?})."""
        path = f"/api/session/{segment(session_id)}/permission"
        return await self._call("POST", path, body={"requestId": request_id, **body})

    async def set_mode(self, session_id: str, mode: str) -> dict[str, Any]:
        path = f"/api/session/{segment(session_id)}/mode"
        return await self._call("POST", path, body={"mode": mode})

    async def stop(self, session_id: str) -> None:
        """End the session gracefully (it ends ``stopped``); answered at once, before it ends."""
        await self._call("POST", f"/api/session/{segment(session_id)}/stop")

    async def send_signal(
        self, session_id: str, name: Literal["SIGINT", "SIGTERM", "SIGKILL"]
    ) -> None:
        await self._call(
            "POST", f"/api/session/{segment(session_id)}/signal", body={"signal": name}
        )

    async def resize(self, session_id: str, cols: int, rows: int) -> dict[str, Any]:
        """Resize the session's terminal; ``{cols, rows}``."""
        return await self._call(
            "POST", f"/api/session/{segment(session_id)}/resize", body={"cols": cols, "rows": rows}
        )

    async def history(self, session_id: str, after: int = 0, limit: int = 1000) -> dict[str, Any]:
        """One page of stored events after ``after``: ``{sessionId, events, hasMore, nextAfter,
        lastEventId, trimmedThrough}``; page on with ``after=nextAfter`` while ``hasMore``."""
        return await self._call(
            "GET",
            f"/api/session/{segment(session_id)}/history",
            params={"after": after, "limit": limit},
        )

    async def search(
        self, query: str, *, limit: int = 50, cursor: str | None = None
    ) -> dict[str, Any]:
        """Every session's output and conversations: ``{hits, nextCursor}``, newest first;
        ``ApiError`` 400 for a search with nothing to look up."""
        params: dict[str, str | int] = {"q": query, "limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        return await self._call("GET", "/api/search", params=params)

    async def export(
        self,
        session_id: str,
        fmt: Literal["cast", "md", "txt", "jsonl"],
        target: Path,
        progress: Callable[[int], None] = lambda written: None,
    ) -> int:
        """Save a session's export to ``target`` as it streams in (written beside it first,
        then renamed: a failed export leaves no half file); ``progress`` hears the bytes written
        so far. Returns their count."""
        path = f"/api/session/{segment(session_id)}/export"
        partial = target.with_name(target.name + ".part")
        written = 0
        try:
            async with self._client.stream("GET", path, params={"format": fmt}) as response:
                if response.is_error:
                    await response.aread()
                    raise api_error(response)
                with partial.open("wb") as handle:
                    async for chunk in response.aiter_bytes():
                        handle.write(chunk)
                        written += len(chunk)
                        progress(written)
            partial.replace(target)
        except httpx.TransportError as exc:
            raise BackendUnavailable(f"GET {path}: {exc!r}") from exc
        finally:
            partial.unlink(missing_ok=True)
        return written

    async def screen(
        self, session_id: str, fmt: Literal["text", "vt", "html"] = "text", scrollback: int = 0
    ) -> dict[str, Any]:
        """A terminal session's screen now: ``{cols, rows, cursor, altScreen, title,
        lastEventId, format, content}``; as VT, with ``scrollback`` lines of history above it."""
        params: dict[str, str | int] = {"format": fmt}
        if fmt == "vt":
            params["scrollback"] = scrollback
        return await self._call("GET", f"/api/session/{segment(session_id)}/screen", params=params)
