"""``GET /api/session/{id}/export``: a session as a file, streamed a page of events at a time."""

from __future__ import annotations

import asyncio
import re
import unicodedata
from urllib.parse import quote

from aiohttp import web

from backend.errors import InvalidInput
from backend.protocol import api
from backend.protocol.sse import StoredEvent
from backend.store.search import TERMINAL_RUNTIMES
from backend.text.export import MEDIA_TYPES, About, Row, exporter
from backend.web import validate
from backend.web.keys import MANAGER, STORE

# Events read per page: an output event holds at most 64 KiB, so a page at most 4 MiB (and
# two pages are in memory at once: the one written, the one read).
PAGE = 64


def file_name(name: str, session_id: str, extension: str) -> str:
    """The session's name made safe as a file name, with the end of its id (names repeat)."""
    cleaned = "".join(c if unicodedata.category(c)[0] in "LN" else "-" for c in name)
    stem = re.sub("-{2,}", "-", cleaned).strip("-")[:60] or "session"
    return f"{stem}-{session_id.removeprefix('session-')[:8]}.{extension}"


def disposition(filename: str) -> str:
    """An attachment's header: an ASCII name for old clients, the real one (RFC 6266/5987)."""
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


async def export(request: web.Request) -> web.StreamResponse:
    manager, store = request.app[MANAGER], request.app[STORE]
    session = manager.get_session(request.match_info["id"])
    params = validate.query(request, api.ExportQuery)
    record = session.record
    terminal = record.runtime in TERMINAL_RUNTIMES
    if params.format == "cast" and not terminal:
        raise InvalidInput("format: cast is for terminal sessions (try md, txt or jsonl)")
    state = record.state or {}
    about = About(
        name=record.name,
        kind=record.kind,
        terminal=terminal,
        tty=record.tty,
        working_dir=record.working_dir,
        created_at=record.created_at,
        cols=int(state.get("startCols", state.get("cols", 120))),
        rows=int(state.get("startRows", state.get("rows", 32))),
    )
    if store.failure is None:
        await manager.catch_up(session.id)  # imported history: all of it
        await store.flush(write=False)
    last = store.events.last_seq(session.id)  # what is stored now: the file ends there
    writer = exporter(params.format, about)
    response = web.StreamResponse(
        headers={
            "Content-Type": MEDIA_TYPES[params.format],
            "Content-Disposition": disposition(file_name(record.name, record.id, params.format)),
            "Cache-Control": "no-store",
        }
    )
    await response.prepare(request)
    await response.write(writer.start().encode())

    def page(events: list[StoredEvent]) -> bytes:
        rows = [Row(e.seq, e.type, e.data, e.timestamp) for e in events if e.seq <= last]
        return writer.page(rows).encode()

    # A page is made into text off the loop (a page can be megabytes: the loop goes on serving
    # streams meanwhile), while the next one is read: the two overlap.
    reading = asyncio.ensure_future(store.events.read(session.id, 0, PAGE))
    try:
        while events := await reading:
            after = events[-1].seq
            if after < last:
                reading = asyncio.ensure_future(store.events.read(session.id, after, PAGE))
            text = await asyncio.to_thread(page, events)
            await response.write(text)
            if after >= last:
                break
    finally:
        reading.cancel()
        if reading.done() and not reading.cancelled():
            reading.exception()  # a read-ahead that failed after the write did: seen, not logged
    await response.write(writer.end().encode())
    await response.write_eof()
    return response
