"""Every event the test suite made, checked against its declared wire type.

Each backend a test starts keeps its database under pytest's base temporary folder. When the
session ends, ``stored_events_fit_their_types`` (an autouse fixture in conftest.py) reads every
event left in every one of them, and the stream helper (tests/sse.py) checks every event it
receives, stored or not, as it arrives: so events of sessions deleted later are checked too.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import msgspec

from backend.protocol.events import EventData, validate


def check(event: str, data: str | bytes, session_id: str | None = None) -> None:
    """Raise AssertionError unless ``data`` fits ``event``'s declared type (and, for a stored
    event, names ``session_id``)."""
    try:
        decoded = validate(event, data)
    except (KeyError, msgspec.ValidationError) as exc:
        raise AssertionError(f"{event} event does not fit its type: {exc}: {data!r:.300}") from None
    if session_id is not None:
        assert isinstance(decoded, EventData), f"{event} is not a stored event"
        assert decoded.session_id == session_id, (
            f"{event} of {session_id} names {decoded.session_id}"
        )


def stored_events(root: Path) -> Iterator[tuple[Path, str, int, str, str]]:
    """(database, session id, seq, event type, data) of every event under ``root``."""
    for path in sorted(root.rglob("*.sqlite3")):
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
            if "events" not in tables:
                continue
            for session_id, seq, kind, data in conn.execute(
                "SELECT session_id, seq, type, data FROM events"
            ):
                yield path, session_id, seq, kind, data
        finally:
            conn.close()


def misfits(root: Path) -> tuple[int, list[str]]:
    """How many stored events there are under ``root``, and what is wrong with those that do
    not fit their types."""
    count = 0
    problems = []
    for path, session_id, seq, kind, data in stored_events(root):
        count += 1
        try:
            check(kind, data, session_id)
        except AssertionError as exc:
            problems.append(f"{path.relative_to(root)} {session_id}#{seq}: {exc}")
    return count, problems
