"""The index's writer side (backend/store/search.py) on a real SQLite database: steps, a
restart in the middle of a line, retention, deletes. The server-level behaviour is in
tests/test_search.py."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.store.schema import connect, prepare
from backend.store.search import Indexer
from backend.text.query import parse
from backend.text.terminal import TerminalLines


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    path = tmp_path / "store.sqlite3"
    prepare(path)
    conn = connect(path)
    conn.execute("INSERT INTO projects VALUES ('p', 'p', '/p', 0)")
    for sid, runtime in (("term", "terminal"), ("chat", "conversation")):
        conn.execute(
            "INSERT INTO sessions (id, project_id, name, kind, argv, working_dir, tty, status, "
            "created_at, runtime) VALUES (?, 'p', ?, 'shell', '[]', '/p', 1, 'running', 0, ?)",
            (sid, sid, runtime),
        )
    yield conn
    conn.close()


class Store:
    """Events as the writer stores them, and the last seq of each session."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.last: dict[str, int] = {}

    def add(self, sid: str, kind: str, data: dict[str, object], ts: int = 1000) -> None:
        seq = self.last.get(sid, 0) + 1
        self.last[sid] = seq
        full = {"sessionId": sid, "timestamp": ts, **data}  # as the backend stores them
        self.conn.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?)", (sid, seq, kind, json.dumps(full), ts)
        )

    def output(self, text: str, ts: int = 1000) -> None:
        self.add("term", "output", {"type": "stdout", "content": text}, ts)


def rows(conn: sqlite3.Connection) -> list[tuple[str, int, str]]:
    return conn.execute(
        "SELECT r.session_id, r.seq, s.text FROM search s JOIN search_rows r ON r.row = s.rowid "
        "ORDER BY r.seq, s.rowid"
    ).fetchall()


def test_a_restart_in_the_middle_of_a_line_indexes_nothing_twice(db: sqlite3.Connection) -> None:
    store = Store(db)
    indexer = Indexer(lambda: store.last)
    store.output("first\nsecond\nthe line under ")
    indexer.step(db)
    assert rows(db) == [("term", 1, "first\nsecond")]
    assert db.execute("SELECT next_seq, skip FROM search_progress").fetchall() == [(1, 2)]
    # A restart: what was in memory is gone, the progress is read back.
    indexer = Indexer(lambda: store.last)
    store.output("way\r\nthird\n")
    indexer.step(db)
    assert rows(db) == [
        ("term", 1, "first\nsecond"),
        ("term", 1, "the line under way"),
        ("term", 2, "third"),
    ]
    assert not indexer.behind()


def test_a_line_under_way_is_indexed_when_the_session_ends(db: sqlite3.Connection) -> None:
    store = Store(db)
    indexer = Indexer(lambda: store.last)
    store.output("$ no newline at the end")
    indexer.step(db)
    assert rows(db) == []
    store.add("term", "status", {"status": "exited", "exitCode": 0})
    indexer.step(db)
    assert rows(db) == [("term", 1, "$ no newline at the end")]


def test_rows_are_newest_first_by_their_events_time(db: sqlite3.Connection) -> None:
    store = Store(db)
    indexer = Indexer(lambda: store.last)
    store.output("late words\n", ts=5000)
    store.add("chat", "prompt", {"command": "early words"}, ts=1000)
    store.add("chat", "prompt", {"command": "same ms words"}, ts=5000)
    indexer.step(db)
    found = db.execute(
        "SELECT text FROM search WHERE search MATCH ? ORDER BY rowid DESC", (parse("words").match,)
    ).fetchall()
    assert [t for (t,) in found] == ["same ms words", "late words", "early words"]


def test_retention_and_deletes_take_their_rows(db: sqlite3.Connection) -> None:
    store = Store(db)
    indexer = Indexer(lambda: store.last)
    for n in range(5):
        store.output(f"line {n}\n")
    store.add("chat", "prompt", {"command": "a prompt to keep"})
    indexer.step(db)
    db.execute("BEGIN")
    indexer.trimmed(db, "term", 3)
    db.execute("COMMIT")
    assert [seq for sid, seq, _ in rows(db) if sid == "term"] == [4, 5]
    db.execute("BEGIN")
    indexer.forget(db, "term")
    db.execute("COMMIT")
    assert rows(db) == [("chat", 1, "a prompt to keep")]  # found no more, at once
    assert db.execute("SELECT session_id FROM search_progress").fetchall() == [("chat",)]
    # Their texts leave the FTS table later, a step at a time.
    assert db.execute("SELECT count(*) FROM search").fetchone() == (6,)
    indexer.purge(db, seconds=1.0)
    assert db.execute("SELECT count(*) FROM search").fetchone() == (1,)
    assert db.execute("SELECT count(*) FROM search_garbage").fetchone() == (0,)
    assert not indexer.garbage


def test_the_lines_a_person_saw() -> None:
    lines = TerminalLines()
    out = lines.feed(1, "\x1b[1;32mok\x1b[0m plain\r\n")
    out += lines.feed(2, "downloading 10 MB\r\x1b[Kdone\n")  # erased, then written over
    out += lines.feed(3, "12345\r\x1b[2Kab\n")  # the whole line erased
    out += lines.feed(4, "abcdef\b\b\bXY\n")  # backspaces
    out += lines.feed(5, "\x1b]0;a title\x07titled\n")  # an OSC string
    out += lines.feed(6, "col\x1b[10Gten\n")  # to column 10
    out += lines.feed(7, "50%\r100%\n")  # a carriage return: written over
    out += lines.feed(8, "split \x1b[3")  # a colour cut in two by a read ...
    out += lines.feed(9, "1mred\x1b")  # ... and the start of its reset
    out += lines.feed(10, "[0m ok\n")
    assert [(line.seq, line.text) for line in out] == [
        (1, "ok plain"),
        (2, "done"),
        (3, "ab"),
        (4, "abcXYf"),
        (5, "titled"),
        (6, "col      ten"),
        (7, "100%"),
        (8, "split red ok"),
    ]


# Output in pieces as a program writes them: plain text, colours, overwrites, long lines.
_PIECES = st.lists(
    st.sampled_from(
        [
            "word",
            " ",
            "\n",
            "\r\n",
            "\r",
            "\x1b[31m",
            "\x1b[3",
            "\x1b",
            "1m",
            "\x1b[0m",
            "\x1b[K",
            "\b",
            "\t",
            "é",
            "  \n",
            "x" * 5000,
            "y" * 17000,
        ]
    ),
    max_size=12,
).map("".join)


@given(st.lists(_PIECES, max_size=8))
def test_an_exports_text_is_the_lines_search_sees(feeds: list[str]) -> None:
    """``feed_text`` (exports' fast path) ends the same lines as ``feed``, as text."""
    by_lines, by_text = TerminalLines(), TerminalLines()
    for seq, text in enumerate(feeds, 1):
        expected = "".join(line.text + "\n" for line in by_lines.feed(seq, text))
        assert by_text.feed_text(seq, text) == expected
    assert by_text.finish(99) == by_lines.finish(99)
