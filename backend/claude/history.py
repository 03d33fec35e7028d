"""Claude Code's stored sessions: finding them cheaply, and reading one lazily, in chunks.

Files live at ``<claude home>/projects/<encoded folder>/<session uuid>.jsonl``. The folder name
cannot be turned back into a path (every non-alphanumeric character became ``-``), so the real
folder is the ``cwd`` field inside the file. Listing reads only a file's head; the whole file is
read only when its session is opened, a chunk at a time, so memory does not grow with its size.
Everything here is blocking file I/O: callers run it in a thread.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from backend.claude.transcript import Parsed, TranscriptParser, parse_timestamp

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
            found.append(FileStamp(entry.path, stat.st_size, stat.st_mtime_ns))
    return found


def read_head(path: str) -> Head | None:
    """The head of one history file, or None if no line in its first MiB names a ``cwd``."""
    cwd: str | None = None
    title: str | None = None
    started: int | None = None
    agent_id = Path(path).stem
    try:
        with open(path, "rb") as handle:
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
    if not cwd:
        return None
    return Head(path, agent_id, cwd, title or f"Claude session {agent_id[:8]}", started)


def _scan_head(data: bytes, agent_id: str) -> tuple[str | None, str | None, int | None, str]:
    cwd = title = None
    started = None
    for raw in data.splitlines():
        try:
            obj = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(obj, dict):
            continue
        if cwd is None and isinstance(obj.get("cwd"), str) and obj["cwd"]:
            cwd = obj["cwd"]
            if isinstance(obj.get("sessionId"), str) and obj["sessionId"]:
                agent_id = obj["sessionId"]
        if started is None:
            started = parse_timestamp(obj.get("timestamp"))
        if title is None and obj.get("type") == "user" and not obj.get("isMeta"):
            title = _prompt_title(obj.get("message"))
        if cwd and title:
            break
    return cwd, title, started, agent_id


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
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size <= offset:
            return Chunk([], offset, True)
        handle.seek(offset)
        data = handle.read(CHUNK_BYTES)
        end = data.rfind(b"\n")
        while end < 0 and len(data) < MAX_LINE_BYTES:
            more = handle.read(CHUNK_BYTES)
            if not more:
                return Chunk([], offset, True)  # one unfinished line
            data += more
            end = data.rfind(b"\n")
        if end < 0:
            log.warning("skipping a line over %d bytes in %s", MAX_LINE_BYTES, path)
            return Chunk([], _skip_line(handle, offset + len(data)), False)
    parsed = [parser.feed(line) for line in _lines(data[: end + 1])]
    new_offset = offset + end + 1
    return Chunk([p for p in parsed if p.events or p.usage], new_offset, new_offset >= size)


def _lines(data: bytes) -> Iterator[bytes]:
    return iter(data.splitlines())


def _skip_line(handle: BinaryIO, position: int) -> int:
    """The offset after the next newline from ``position`` (or the end of the file)."""
    handle.seek(position)
    while chunk := handle.read(CHUNK_BYTES):
        newline = chunk.find(b"\n")
        if newline >= 0:
            return position + newline + 1
        position += len(chunk)
    return position
