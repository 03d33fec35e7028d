"""Claude Code's stored sessions: finding them cheaply, and reading one lazily, in chunks.

Files live at ``<claude home>/projects/<encoded folder>/<session uuid>.jsonl``. The folder name
cannot be turned back into a path (every non-alphanumeric character became ``-``), so the real
folder is the ``cwd`` field inside the file. Listing reads only a file's head; the whole file is
read only when its session is opened, a chunk at a time, so memory does not grow with its size.
Everything here is blocking file I/O: callers run it in a thread.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from typing import Any, BinaryIO

from backend.claude.transcript import (
    Parsed,
    TranscriptParser,
    is_agent_id,
    loads,
    parse_timestamp,
)

log = logging.getLogger(__name__)

HEAD_BYTES = 64 * 1024  # enough for the first lines of almost every file
MAX_HEAD_BYTES = 1024 * 1024  # the most a listing reads of one file
CHUNK_BYTES = 1024 * 1024  # one read when a session is opened
MAX_LINE_BYTES = 64 * 1024 * 1024  # a longer line is skipped
TITLE_CHARS = 80


def default_home() -> Path:
    configured = os.environ.get("CLAUDE_CONFIG_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".claude"


@dataclass(frozen=True, slots=True)
class FileStamp:
    path: str
    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class Head:
    """What a listing needs of one file: where it ran, what it was about, when it started."""

    path: str
    agent_session_id: str
    cwd: str
    title: str
    started_at: int | None


def list_files(home: Path) -> list[FileStamp]:
    """Every ``projects/*/*.jsonl`` with its size and modification time."""
    found = []
    try:
        folders = list(os.scandir(home / "projects"))
    except OSError:
        return []
    for folder in folders:
        try:
            if not folder.is_dir():
                continue
            entries = list(os.scandir(folder.path))
        except OSError:
            continue
        for entry in entries:
            if not entry.name.endswith(".jsonl"):
                continue
            try:
                stat = entry.stat()
            except OSError:
                continue
            if S_ISREG(stat.st_mode):  # a FIFO or a device would block or never end
                found.append(FileStamp(entry.path, stat.st_size, stat.st_mtime_ns))
    return found


@contextmanager
def open_regular(path: str) -> Iterator[BinaryIO]:
    """Open a regular file for reading, never blocking on what turned into a FIFO meanwhile."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with handle:
        yield handle


def read_head(path: str) -> Head | None:
    """The head of one history file, or None if no line in its first MiB names a ``cwd``."""
    cwd: str | None = None
    title: str | None = None
    started: int | None = None
    # Claude Code names the file after the session: that is what --resume looks up.
    agent_id: str | None = Path(path).stem
    try:
        with open_regular(path) as handle:
            size = HEAD_BYTES
            data = handle.read(size)
            while True:
                complete = data if len(data) < size else data[: data.rfind(b"\n") + 1]
                cwd, title, started, agent_id = _scan_head(complete, agent_id)
                if (cwd and title) or len(data) < size or size >= MAX_HEAD_BYTES:
                    break
                more = handle.read(size)  # double what we have, up to the cap
                data += more
                size *= 2
                if not more:
                    break
    except OSError as exc:
        log.info("cannot read %s: %s", path, exc)
        return None
    if not cwd or not is_agent_id(agent_id):
        return None
    assert agent_id is not None
    return Head(path, agent_id, cwd, title or f"Claude session {agent_id[:8]}", started)


def _scan_head(
    data: bytes, agent_id: str | None
) -> tuple[str | None, str | None, int | None, str | None]:
    cwd = title = None
    started = None
    for raw in data.splitlines():
        try:
            obj = loads(raw.decode("utf-8", errors="replace"))
        except ValueError:
            continue
        if not isinstance(obj, dict):
            continue
        if cwd is None:
            cwd = _folder(obj.get("cwd"))
            if cwd is not None and not is_agent_id(agent_id):
                session_id = obj.get("sessionId")
                agent_id = session_id if is_agent_id(session_id) else None
        if started is None:
            started = parse_timestamp(obj.get("timestamp"))
        if (
            title is None
            and obj.get("type") == "user"
            and not (obj.get("isMeta") or obj.get("isSidechain") or obj.get("isCompactSummary"))
        ):
            title = _prompt_title(obj.get("message"))
        if cwd and title:
            break
    return cwd, title, started, agent_id


def _folder(value: Any) -> str | None:
    """A ``cwd`` worth a project: an absolute path (normalised), without NUL."""
    if not isinstance(value, str) or not value.startswith("/") or "\0" in value:
        return None
    return os.path.normpath(value)


def _prompt_title(message: Any) -> str | None:
    if not isinstance(message, dict):
        return None
    content = message.get("content")
    text = None
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        for block in content:
            if isinstance(block, dict) and block.get("type") == "text":
                text = block.get("text")
                break
    if not isinstance(text, str):
        return None
    # Slash commands and their echoes are wrapped in tags; they make poor titles.
    text = " ".join(text.split())
    if not text or text.startswith("<"):
        return None
    return text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1] + "…"


@dataclass(slots=True)
class Chunk:
    """The events of the complete lines read in one go, and where the next read starts."""

    parsed: list[Parsed]
    offset: int
    at_end: bool


def read_chunk(path: str, offset: int, parser: TranscriptParser) -> Chunk:
    """Parse the complete lines from ``offset`` on, about one CHUNK_BYTES of them.

    A line still being written (no newline yet) is left for the next read; a line longer than
    MAX_LINE_BYTES is skipped."""
    with open_regular(path) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size < offset:
            # Claude Code only appends: a shorter file was rewritten. What was read is kept.
            log.warning("%s is shorter than what was read of it; not reading it again", path)
            return Chunk([], offset, True)
        if size == offset:
            return Chunk([], offset, True)
        handle.seek(offset)
        parts = [handle.read(CHUNK_BYTES)]
        read = len(parts[0])
        end = parts[0].rfind(b"\n")
        while end < 0 and read < MAX_LINE_BYTES:
            # One long line: look for its end in each new piece only (not the whole again).
            more = handle.read(CHUNK_BYTES)
            if not more:
                return Chunk([], offset, True)  # one unfinished line
            newline = more.rfind(b"\n")
            if newline >= 0:
                end = read + newline
            parts.append(more)
            read += len(more)
        if end < 0:
            log.warning("skipping a line over %d bytes in %s", MAX_LINE_BYTES, path)
            return Chunk([], _skip_line(handle, offset + read), False)
    data = b"".join(parts) if len(parts) > 1 else parts[0]
    parsed = [_parse(parser, line, path) for line in data[: end + 1].splitlines()]
    new_offset = offset + end + 1
    return Chunk([p for p in parsed if p.events or p.usage], new_offset, new_offset >= size)


def _parse(parser: TranscriptParser, line: bytes, path: str) -> Parsed:
    """One line; whatever goes wrong with it costs that line only."""
    try:
        return parser.feed(line)
    except Exception:
        log.exception("skipping a line of %s that could not be read", path)
        return Parsed()


def _skip_line(handle: BinaryIO, position: int) -> int:
    """The offset after the next newline from ``position`` (or the end of the file)."""
    handle.seek(position)
    while chunk := handle.read(CHUNK_BYTES):
        newline = chunk.find(b"\n")
        if newline >= 0:
            return position + newline + 1
        position += len(chunk)
    return position
