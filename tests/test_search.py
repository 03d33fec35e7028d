"""Full-text search (``GET /api/search``) against a real backend: real processes, the real
SQLite index the writer keeps, the fake ``claude`` for an agent session."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.claude import FAKE_CLAUDE
from tests.conftest import new_session
from tests.server import Server
from tests.sse import Stream
from tests.test_claude_history import imported, put_sample
from tests.test_claude_sessions import new_claude, prompt, wait_turns

# A shell session prints: a word, an identifier, a phrase, a path; a progress bar redrawn 100
# times (one line a person saw); and a line that stays under way (no newline) for a while.
SCRIPT = (
    "echo 'the disk said ENOENT while reading'; "
    "echo 'call my_helper_function now'; "
    "echo 'open /usr/share/dict/words for me'; "
    "for i in $(seq 1 100); do printf '\\rcopying %d%%' $i; sleep 0.002; done; echo; "
    "printf 'half a line'; sleep 0.5; echo ' and its end'"
)


@pytest.fixture
def claude_server(tmp_path: Path) -> Iterator[Server]:
    server = Server(tmp_path / "data", ["--claude-path", str(FAKE_CLAUDE)]).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def capi(claude_server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with claude_server.async_client() as client:
        yield client


async def search(api: httpx.AsyncClient, q: str, **params: Any) -> dict[str, Any]:
    response = await api.get("/api/search", params={"q": q, **params})
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def hits_for(
    api: httpx.AsyncClient, q: str, count: int = 1, timeout: float = 10.0, **params: Any
) -> list[dict[str, Any]]:
    """The hits of ``q`` once there are at least ``count`` (the index follows the store)."""
    deadline = time.monotonic() + timeout
    while True:
        hits: list[dict[str, Any]] = (await search(api, q, **params))["hits"]
        if len(hits) >= count or time.monotonic() > deadline:
            return hits
        await asyncio.sleep(0.05)


async def event_text(api: httpx.AsyncClient, session_id: str, event_id: int) -> str:
    response = await api.get(
        f"/api/session/{session_id}/history", params={"after": event_id - 1, "limit": 1}
    )
    event = response.json()["events"][0]
    assert event["id"] == event_id
    data = event["data"]
    return str(data.get("content") or data.get("command") or data)


async def printed(api: httpx.AsyncClient, workdir: Path) -> dict[str, Any]:
    session = await new_session(api, workdir, kind="command", argv=["bash", "-c", SCRIPT])
    async with Stream(api, session["id"]) as stream:
        await stream.wait_for(lambda e: e.event == "status" and e.data["status"] == "exited")
    return session


async def test_a_shell_sessions_words_identifiers_phrases_and_paths_are_found(
    api: httpx.AsyncClient, workdir: Path
) -> None:
    session = await printed(api, workdir)
    disk = "the disk said ENOENT while reading"
    for query, line, marked in [
        ("ENOENT", disk, ["ENOENT"]),
        ("noen", disk, ["NOEN"]),  # a substring, case aside
        ("helper_func", "call my_helper_function now", ["helper_func"]),  # in an identifier
        ('"said ENOENT while"', disk, ["said ENOENT while"]),  # a phrase
        ("share/dict", "open /usr/share/dict/words for me", ["share/dict"]),  # part of a path
        ('ENOENT "the disk"', disk, ["the disk", "ENOENT"]),  # all of them
        ("half a line", "half a line and its end", ["half", "a", "line"]),  # two events' line
    ]:
        hits = await hits_for(api, query)
        assert len(hits) == 1, (query, hits)
        hit = hits[0]
        assert hit["sessionId"] == session["id"]
        assert hit["projectId"] == session["projectId"]
        assert hit["sessionName"] == session["name"]
        assert hit["snippet"] == line
        shown = [line[start:end] for start, end in hit["highlights"]]
        assert [m for m in shown if len(m) > 1] == [m for m in marked if len(m) > 1], query
        # The hit is the event the line began in.
        assert line.split()[0] in await event_text(api, session["id"], hit["eventId"])
    # A phrase is found only as a phrase; every word must be there, in the lines of one event.
    assert (await search(api, '"ENOENT said"'))["hits"] == []
    assert (await search(api, "ENOENT copying"))["hits"] == []


async def test_a_progress_bar_redrawn_a_hundred_times_is_one_hit(
    api: httpx.AsyncClient, workdir: Path
) -> None:
    await printed(api, workdir)
    await hits_for(api, "half a line")  # indexed past the bar
    hits = (await search(api, "copying"))["hits"]
    assert [h["snippet"] for h in hits] == ["copying 100%"]


async def test_words_in_claudes_answers_and_tool_calls_are_found(
    capi: httpx.AsyncClient, workdir: Path
) -> None:
    session = await new_claude(capi, workdir)
    async with Stream(capi, session["id"]) as stream:
        await prompt(capi, session["id"], "remember the word quetzalcoatl")
        await prompt(capi, session["id"], "tools please")
        await wait_turns(stream, 2)
    hits = await hits_for(capi, "quetzal", count=2)
    # The prompt, and Claude's answer that quotes it; newest first.
    assert [h["snippet"] for h in hits] == [
        "You said: remember the word quetzalcoatl. This is turn 1 of our conversation.",
        "remember the word quetzalcoatl",
    ]
    assert all(h["sessionId"] == session["id"] for h in hits)
    answer = await event_text(capi, session["id"], hits[0]["eventId"])
    assert "This is turn 1" in answer
    # A tool call's path, and a command (the tools transcript writes NOTES.md and deletes
    # build/old.log).
    for query in ("NOTES.md", "build/old.log"):
        found = await hits_for(capi, query)
        assert found and all(h["sessionId"] == session["id"] for h in found), query
        assert query in found[-1]["snippet"]


async def test_pages_walk_every_hit_newest_first(api: httpx.AsyncClient, workdir: Path) -> None:
    script = 'for i in 1 2 3 4 5 6 7; do echo "marker line $i"; sleep 0.05; done'
    session = await new_session(api, workdir, kind="command", argv=["bash", "-c", script])
    async with Stream(api, session["id"]) as stream:
        await stream.wait_for(lambda e: e.event == "status" and e.data["status"] == "exited")
    # A hit per event that printed the word (a loaded machine may read two lines as one).
    response = await api.get(f"/api/session/{session['id']}/history")
    printed = [
        e["id"]
        for e in response.json()["events"]
        if e["type"] == "output" and "marker" in e["data"]["content"]
    ]
    every = await hits_for(api, "marker", count=len(printed))
    assert sorted(h["eventId"] for h in every) == sorted(printed)
    assert [h["eventId"] for h in every] == sorted(printed, reverse=True)  # newest first
    times = [h["timestamp"] for h in every]
    assert times == sorted(times, reverse=True)
    walked: list[int] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await search(api, "marker", **params)
        assert len(page["hits"]) <= 2
        walked += [h["eventId"] for h in page["hits"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert walked == [h["eventId"] for h in every]  # every hit once, in order
    # Filters: this session, its project, its kind; another kind finds nothing.
    for filters in (
        {"sessionId": session["id"]},
        {"projectId": session["projectId"]},
        {"kind": "command"},
    ):
        assert len((await search(api, "marker", **filters))["hits"]) == len(every), filters
    assert (await search(api, "marker", kind="shell"))["hits"] == []
    assert (await search(api, "marker", sessionId="session-none"))["hits"] == []


async def test_filters_keep_a_sessions_hits_among_the_rows_of_others(
    api: httpx.AsyncClient, workdir: Path, tmp_path: Path
) -> None:
    """A search within a session or project walks the span of its rows: rows of another
    session inside that span are not its hits, and hits at both ends are."""
    other = tmp_path / "other"
    other.mkdir()
    script = "echo 'osprey a1'; sleep 0.8; echo 'osprey a2'"
    first = await new_session(api, workdir, kind="command", argv=["bash", "-c", script])
    await hits_for(api, "osprey a1")
    second = await new_session(api, other, kind="command", argv=["echo", "osprey b1"])
    await hits_for(api, "osprey", count=3)
    everything = [h["snippet"] for h in (await search(api, "osprey"))["hits"]]
    assert everything == ["osprey a2", "osprey b1", "osprey a1"]  # b1 amid a's span
    for filters, expected in [
        ({"sessionId": first["id"]}, ["osprey a2", "osprey a1"]),
        ({"sessionId": second["id"]}, ["osprey b1"]),
        ({"projectId": second["projectId"]}, ["osprey b1"]),
        ({"projectId": first["projectId"], "kind": "command"}, ["osprey a2", "osprey a1"]),
    ]:
        found = [h["snippet"] for h in (await search(api, "osprey", **filters))["hits"]]
        assert found == expected, filters
    page = await search(api, "osprey", sessionId=first["id"], limit=1)
    assert [h["snippet"] for h in page["hits"]] == ["osprey a2"]
    rest = await search(api, "osprey", sessionId=first["id"], cursor=page["nextCursor"])
    assert [h["snippet"] for h in rest["hits"]] == ["osprey a1"]


async def test_words_whose_lower_case_is_longer_are_found(
    api: httpx.AsyncClient, workdir: Path
) -> None:
    """ "İ" is two characters in lower case: still one trigram's worth to the index."""
    await new_session(api, workdir, kind="command", argv=["echo", "flights to İstanbul"])
    for query in ("İstanbul", "İst", "İSTANBUL"):
        hits = await hits_for(api, query)
        assert [h["snippet"] for h in hits] == ["flights to İstanbul"], query


async def test_a_deleted_session_vanishes_from_results(
    api: httpx.AsyncClient, workdir: Path
) -> None:
    keep = await new_session(api, workdir, kind="command", argv=["echo", "zanzibar one"])
    drop = await new_session(api, workdir, kind="command", argv=["echo", "zanzibar two"])
    assert len(await hits_for(api, "zanzibar", count=2)) == 2
    response = await api.delete(f"/api/session/{drop['id']}")
    assert response.status_code == 200
    hits = (await search(api, "zanzibar"))["hits"]
    assert [h["sessionId"] for h in hits] == [keep["id"]]


@pytest.mark.parametrize(
    "query",
    ['"', "*", "NEAR(", "NEAR(a b)", "-", "- foo", "a*b", "AND", "x" * 10_000, "abc\x00def", "\x00",
     "' OR 1=1 --", '"""', "col:value", "^start", "{a b}", "é" * 1000, "😀" * 300, "İİİ"],
)  # fmt: skip
async def test_hostile_queries_are_answered_200_or_400_never_500(
    api: httpx.AsyncClient, workdir: Path, query: str
) -> None:
    await new_session(api, workdir, kind="command", argv=["echo", "anything at all"])
    response = await api.get("/api/search", params={"q": query})
    assert response.status_code in (200, 400), response.text
    body = response.json()
    if response.status_code == 400:
        assert body["code"] in ("invalid_query", "invalid_input")
        assert "three characters in a row" in body["error"] or "1000" in body["error"]
    else:
        assert isinstance(body["hits"], list)


async def test_bad_parameters_are_400(api: httpx.AsyncClient) -> None:
    for params in (
        {"q": "word", "limit": "0"},
        {"q": "word", "limit": "many"},
        {"q": "word", "cursor": "-1"},
        {"q": "word", "kind": "robot"},
        {},
    ):
        response = await api.get("/api/search", params=params)
        assert response.status_code == 400, (params, response.text)
        assert "error" in response.json()


async def test_an_existing_database_is_indexed_in_the_background_and_resumes(
    tmp_path: Path, workdir: Path
) -> None:
    """Events stored with no index yet (a database from before search) are indexed after a
    start, to the same rows the writer made as they came; the progress is stored, so a
    restart goes on where it stopped, indexing nothing twice."""
    server = Server(tmp_path / "data")
    made = await printed_and_indexed(server, workdir, "pelican", 40)
    assert "\n".join(text for _, text in made).count("pelican") == 40
    # As a database of before search: no rows, no progress.
    db = sqlite3.connect(tmp_path / "data" / "sessiondock.sqlite3")
    with db:
        db.execute("DELETE FROM search")
        db.execute("DELETE FROM search_rows")
        db.execute("DELETE FROM search_progress")
    db.close()
    server.start()
    try:
        async with server.async_client() as api:
            await hits_for(api, "line 39 pelican")
            metrics = (await api.get("/api/debug/metrics")).json()["search"]
            assert metrics["pendingEvents"] == 0 and metrics["indexedEvents"] > 0
    finally:
        server.stop()
    assert indexed(tmp_path / "data" / "sessiondock.sqlite3") == made
    server.start()  # nothing is indexed twice
    try:
        async with server.async_client() as api:
            await asyncio.sleep(0.5)
            assert len((await search(api, "pelican", limit=200))["hits"]) == len(made)
    finally:
        server.stop()
    assert indexed(tmp_path / "data" / "sessiondock.sqlite3") == made


async def test_a_schema_5_index_with_positions_is_made_again(tmp_path: Path, workdir: Path) -> None:
    """Schema 5 kept trigram positions (detail=full): the upgrade drops that index and the
    writer makes the new one from the first event, to the rows it makes as events come."""
    server = Server(tmp_path / "data")
    made = await printed_and_indexed(server, workdir, "heron", 20)
    path = tmp_path / "data" / "sessiondock.sqlite3"
    db = sqlite3.connect(path)
    with db:  # the index as schema 5 had it, holding a text no event printed
        db.execute("DROP TABLE search")
        db.execute("CREATE VIRTUAL TABLE search USING fts5(text, tokenize = 'trigram')")
        db.execute("INSERT INTO search (rowid, text) SELECT row, 'stale egret' FROM search_rows")
        db.execute("PRAGMA user_version = 5")
    db.close()
    server.start()
    try:
        async with server.async_client() as api:
            await hits_for(api, "line 19 heron")
            assert (await search(api, "egret"))["hits"] == []
    finally:
        server.stop()
    assert indexed(path) == made
    with contextlib.closing(sqlite3.connect(path)) as db:
        (sql,) = db.execute("SELECT sql FROM sqlite_master WHERE name = 'search'").fetchone()
    assert "detail = none" in sql
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute(
            "SELECT name FROM sqlite_master WHERE name = 'search_rows_by_time'"
        ).fetchone()


async def printed_and_indexed(
    server: Server, workdir: Path, word: str, count: int
) -> list[tuple[int, str]]:
    """Start ``server``, print ``count`` lines holding ``word`` in a session, wait until the
    last is found, stop: the index's rows then."""
    server.start()
    try:
        async with server.async_client() as api:
            lines = "; ".join(f"echo 'line {n} {word}'; sleep 0.01" for n in range(count))
            await new_session(api, workdir, kind="command", argv=["bash", "-c", lines])
            await hits_for(api, f"line {count - 1} {word}")
    finally:
        server.stop()
    return indexed(server.data_dir / "sessiondock.sqlite3")


def indexed(path: Path) -> list[tuple[int, str]]:
    """Every row of the index: its event and its text."""
    db = sqlite3.connect(path)
    try:
        return db.execute(
            "SELECT r.seq, s.text FROM search s JOIN search_rows r ON r.row = s.rowid "
            "ORDER BY r.seq, s.text"
        ).fetchall()
    finally:
        db.close()


async def test_claude_code_history_nobody_opened_is_found(tmp_path: Path, workdir: Path) -> None:
    server = Server(tmp_path / "data")
    put_sample(server.claude_home, workdir)
    server.start()
    try:
        async with server.async_client() as api:
            (session,) = await imported(api)
            hits = await hits_for(api, "skip the first item", kind="claude")
            assert hits and {h["sessionId"] for h in hits} == {session["id"]}
            # Found without being opened: read into the store in the background.
            listed = (await api.get(f"/api/session/{session['id']}")).json()
            assert listed["status"] == "imported" and listed["lastEventId"] > 0
    finally:
        server.stop()
