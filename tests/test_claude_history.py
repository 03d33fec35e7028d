"""Claude Code's stored sessions, listed and replayed by a real backend from real files."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.claude import FAKE_CLAUDE, HISTORY_FIXTURES, fake_calls, history_file, history_line
from tests.server import Server
from tests.sse import Stream

SAMPLE_ID = "0b8f3c1e-7d2a-4c55-9e1b-3f6a2d9c8e71"
ODD_ID = "6f1d2c3b-4a5e-4f60-8172-93a4b5c6d7e8"


def put_sample(home: Path, cwd: Path, folder: str | None = None) -> Path:
    """The sample history file, as if Claude Code had run in ``cwd``."""
    text = (HISTORY_FIXTURES / "sample.jsonl").read_text().replace("{cwd}", str(cwd))
    if folder is None:
        path = history_file(home, cwd, SAMPLE_ID)
    else:
        path = home / "projects" / folder / f"{SAMPLE_ID}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def assistant(cwd: Path, session_id: str, text: str, message_id: str) -> str:
    message = {"id": message_id, "role": "assistant", "content": [{"type": "text", "text": text}],
               "usage": {"input_tokens": 1, "output_tokens": 2}}  # fmt: skip
    return history_line("assistant", cwd, session_id, message)


@pytest.fixture
def history_server(tmp_path: Path) -> Iterator[Server]:
    server = Server(
        tmp_path / "data",
        # Each conversation is read when opened, as these tests check (not in the background
        # for search: tests/test_search.py).
        ["--claude-path", str(FAKE_CLAUDE), "--history-poll-interval", "0.05",
         "--history-rescan-interval", "0.1", "--no-history-index"],
    )  # fmt: skip
    server.env["FAKE_CLAUDE_LOG"] = str(tmp_path / "fake-claude.log")
    server.claude_home.mkdir()
    yield server
    if server.proc is not None:
        server.stop()


@pytest.fixture
async def history_api(history_server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with history_server.start().async_client() as client:
        yield client


async def imported(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    sessions = (await api.get("/api/sessions")).json()["sessions"]
    return [s for s in sessions if s["status"] == "imported"]


async def all_events(api: httpx.AsyncClient, session_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        page = (
            await api.get(
                f"/api/session/{session_id}/history", params={"after": after, "limit": 10000}
            )
        ).json()
        assert "events" in page, page
        events += page["events"]
        if not page["hasMore"]:
            return events
        after = page["nextAfter"]


async def test_history_is_listed_under_the_folder_it_ran_in(
    history_server: Server, tmp_path: Path
) -> None:
    first, second = tmp_path / "app", tmp_path / "other.project"
    first.mkdir()
    second.mkdir()
    put_sample(history_server.claude_home, first)
    # The folder name is only a lossy encoding: the cwd inside the file decides.
    put_sample(history_server.claude_home, second, folder="-somewhere-else")
    noise = history_server.claude_home / "projects" / "-x"
    noise.mkdir()
    (noise / "empty.jsonl").write_text("")
    (noise / "no-cwd.jsonl").write_text('{"type":"summary","summary":"nothing"}\n')
    (noise / "notes.txt").write_text("not history")
    history_server.start()
    async with history_server.async_client() as api:
        sessions = await imported(api)
        projects = {p["path"]: p for p in (await api.get("/api/projects")).json()["projects"]}

    assert set(projects) == {str(first), str(second)}
    assert {s["projectId"] for s in sessions} == {
        projects[str(first)]["id"],
        projects[str(second)]["id"],
    }
    for session in sessions:
        assert session["kind"] == "claude"
        assert session["name"] == "Why does total() skip the first item?"
        assert session["agent"]["agentSessionId"] == SAMPLE_ID
        assert session["agent"]["source"].endswith(f"{SAMPLE_ID}.jsonl")
        assert session["createdAt"] == 1795168800000  # the first line's time, 2026-11-20 10:00
        assert session["lastEventId"] == 0  # listed from its head: not read yet
    by_project = {s["projectId"]: s for s in sessions}
    assert by_project[projects[str(second)]["id"]]["workingDir"] == str(second)


async def test_an_imported_session_replays_as_events_over_sse(
    history_server: Server, workdir: Path
) -> None:
    put_sample(history_server.claude_home, workdir)
    history_server.start()
    async with history_server.async_client() as api:
        (session,) = await imported(api)
        async with Stream(api, session["id"]) as stream:
            await stream.wait_for(lambda e: "Fixed: total()" in e.data.get("content", ""))
        listed = (await api.get(f"/api/session/{session['id']}")).json()

    stored = [(e.event, e.data.get("type")) for e in stream.events if e.id is not None]
    assert stored == [
        ("prompt", None),
        ("output", "thinking"),
        ("output", "assistant"),
        ("operations-detected", None),
        ("output", "tool-result"),
        ("output", "assistant"),
    ]  # the summary, snapshot, queue-operation, torn and system lines are skipped
    assert stream.ids == list(range(1, 7))
    prompt, _, _, operations, result, _ = (e.data for e in stream.events if e.id is not None)
    assert prompt["command"] == "Why does total() skip the first item?"
    assert prompt["timestamp"] == 1795168800000
    (edit,) = operations["operations"]
    assert (edit["tool"], edit["type"], edit["path"]) == ("Edit", "edit", f"{workdir}/app.py")
    assert "-sum(items[1:])\n+sum(items)\n" in edit["diff"]
    assert operations["response"] == "It slices from index 1. Let me fix it."
    assert result["tool"] == "Edit"
    assert listed["lastEventId"] == 6
    # A message split over two lines counts its tokens once.
    assert listed["agent"]["totals"]["outputTokens"] == 14
    assert listed["agent"]["totals"]["turns"] == 1

    # Resuming by id, as any client does after a reconnect.
    async with (
        history_server.async_client() as api,
        Stream(api, session["id"], last_event_id=4) as resumed,
    ):
        await resumed.wait_for(lambda e: e.id == 6)
    assert resumed.ids == [5, 6]


async def test_lines_appended_while_open_appear_live(history_server: Server, workdir: Path) -> None:
    path = put_sample(history_server.claude_home, workdir)
    history_server.start()
    async with history_server.async_client() as api:
        (session,) = await imported(api)
        async with Stream(api, session["id"]) as stream:
            await stream.wait_for(lambda e: e.id == 6)
            line = assistant(workdir, SAMPLE_ID, "A line written later.", "msg_late")
            with path.open("a") as handle:
                handle.write(line[:40])  # Claude Code mid-write: not a whole line yet
                handle.flush()
                await asyncio.sleep(0.3)
                assert stream.ids[-1] == 6
                handle.write(line[40:])
            await stream.wait_for(lambda e: e.data.get("content") == "A line written later.")
            with path.open("a") as handle:
                handle.write('{"type":"progress","data":{}}\n')  # unknown: skipped
                handle.write(assistant(workdir, SAMPLE_ID, "And another.", "msg_later"))
            await stream.wait_for(lambda e: e.data.get("content") == "And another.")
    assert stream.ids == list(range(1, 9))


async def test_a_large_history_file_is_read_whole_when_opened(
    tmp_path: Path, workdir: Path
) -> None:
    server = Server(tmp_path / "data", ["--max-session-mb", "1"])
    session_id = "9e0c6a43-1b2d-4e5f-8a7b-6c5d4e3f2a10"
    path = history_file(server.claude_home, workdir, session_id)
    lines = 30_000
    filler = "x" * 600
    with path.open("w") as handle:
        handle.write(history_line("user", workdir, session_id, {"role": "user", "content": "big"}))
        for n in range(lines):
            handle.write(assistant(workdir, session_id, f"line {n} {filler}", f"msg_{n}"))
            if n % 1000 == 0:
                handle.write('{"type":"file-history-snapshot","snapshot":{}}\n')
    assert path.stat().st_size > 20 * 1024 * 1024
    server.start()
    try:
        async with server.async_client() as api:
            (session,) = await imported(api)
            events = await all_events(api, session["id"])
            listed = (await api.get(f"/api/session/{session['id']}")).json()
    finally:
        server.stop()
    assert len(events) == lines + 1
    assert events[-1]["data"]["content"] == f"line {lines - 1} {filler}"
    # Imported history is never trimmed, whatever the cap on live sessions.
    # Pages answered while the import went on: every id once, in order.
    assert [e["id"] for e in events] == list(range(1, lines + 2))
    assert listed["agent"]["totals"]["outputTokens"] == 2 * lines


async def test_new_history_files_are_listed_and_deleted_ones_stay_hidden(
    history_server: Server, history_api: httpx.AsyncClient, workdir: Path
) -> None:
    assert await imported(history_api) == []
    put_sample(history_server.claude_home, workdir)
    await asyncio.sleep(0.15)  # past the rescan interval
    (session,) = await imported(history_api)
    response = await history_api.delete(f"/api/session/{session['id']}")
    assert response.status_code == 200
    await asyncio.sleep(0.15)
    assert await imported(history_api) == []
    history_server.restart()
    async with history_server.async_client() as api:
        assert await imported(api) == []


async def test_an_imported_session_keeps_its_id_and_reads_on_after_a_restart(
    history_server: Server, workdir: Path
) -> None:
    path = put_sample(history_server.claude_home, workdir)
    history_server.start()
    async with history_server.async_client() as api:
        (session,) = await imported(api)
        assert len(await all_events(api, session["id"])) == 6
    with path.open("a") as handle:
        handle.write(assistant(workdir, SAMPLE_ID, "Written while the backend was down.", "m9"))
    history_server.restart()
    async with history_server.async_client() as api:
        (again,) = await imported(api)
        events = await all_events(api, session["id"])
    assert again["id"] == session["id"]
    assert [e["id"] for e in events] == list(range(1, 8))  # nothing read twice
    assert events[-1]["data"]["content"] == "Written while the backend was down."


async def test_an_imported_session_is_read_only_and_can_be_continued(
    history_server: Server, workdir: Path, tmp_path: Path
) -> None:
    path = put_sample(history_server.claude_home, workdir)
    history_server.start()
    async with history_server.async_client() as api:
        (old,) = await imported(api)
        response = await api.post(f"/api/session/{old['id']}/prompt", json={"command": "hi"})
        assert response.status_code == 409
        assert '"resume"' in response.json()["error"]

        response = await api.post("/api/sessions", json={"kind": "claude", "resume": old["id"]})
        assert response.status_code == 201, response.text
        new = response.json()
        assert (new["projectId"], new["workingDir"]) == (old["projectId"], str(workdir))
        assert new["agent"]["agentSessionId"] == SAMPLE_ID
        async with Stream(api, old["id"]) as watching_old, Stream(api, new["id"]) as stream:
            await api.post(f"/api/session/{new['id']}/prompt", json={"command": "go on"})
            end = await stream.wait_for(lambda e: e.event == "status" and "turn" in e.data)
            assert end.data["turn"]["isError"] is False, stream.events
            # Claude Code appends the continuation to the same file: the open import shows it.
            await watching_old.wait_for(
                lambda e: e.event == "prompt" and e.data["command"] == "go on"
            )
        sessions = (await api.get("/api/sessions")).json()["sessions"]

    (call,) = fake_calls(tmp_path / "fake-claude.log")
    assert call["argv"][call["argv"].index("--resume") + 1] == SAMPLE_ID
    assert call["cwd"] == str(workdir)
    texts = [e.data["content"] for e in stream.events if e.data.get("type") == "assistant"]
    assert texts == ["You said: go on. This is turn 2 of our conversation."]
    assert sorted(s["status"] for s in sessions) == ["imported", "running"]
    assert len(path.read_text().splitlines()) == 10 + 2  # the fake's prompt and reply


async def test_history_listing_can_be_turned_off(tmp_path: Path, workdir: Path) -> None:
    server = Server(tmp_path / "data", ["--no-claude-history"])
    put_sample(server.claude_home, workdir)
    server.start()
    try:
        async with server.async_client() as api:
            assert (await api.get("/api/sessions")).json()["sessions"] == []
            assert (await api.get("/api/projects")).json()["projects"] == []
    finally:
        server.stop()


def test_a_history_file_with_a_torn_tail_and_odd_lines_lists_and_reads(tmp_path: Path) -> None:
    """The reader on its own: no line of any shape stops it, and torn tails wait."""
    from backend.claude import history
    from backend.claude.transcript import TranscriptParser

    path = tmp_path / "s.jsonl"
    cwd = tmp_path
    clear = {"role": "user", "content": "<command-name>/clear</command-name>"}
    real = {"role": "user", "content": [{"type": "text", "text": "real prompt"}]}
    body = [
        "",
        "not json at all",
        json.dumps([1, 2]),
        json.dumps({"type": "user", "message": "not an object"}),
        json.dumps({"type": "assistant", "message": {"content": "plain string"}}),
        history_line("user", cwd, ODD_ID, clear),
        history_line("user", cwd, ODD_ID, real),
        '{"type":"assistant","message":{"id":"m","content":[{"type":"text","text":"torn',
    ]  # fmt: skip
    path.write_text("\n".join(body))
    head = history.read_head(str(path))
    assert head is not None
    assert (head.cwd, head.title, head.agent_session_id) == (str(cwd), "real prompt", ODD_ID)
    chunk = history.read_chunk(str(path), 0, TranscriptParser("session-odd", history=True))
    events = [event for parsed in chunk.parsed for event in parsed.events]
    assert [(e.event, getattr(e, "type", None) or getattr(e, "command", None)) for e in events] == [
        ("output", "assistant"),
        ("prompt", "real prompt"),  # a slash command's echo is not the user's words
    ]
    assert chunk.offset == len(path.read_bytes()) - len(body[-1])  # the torn line waits


async def test_odd_files_and_lines_cost_only_themselves(
    history_server: Server, workdir: Path
) -> None:
    projects = history_server.claude_home / "projects"
    put_sample(history_server.claude_home, workdir)
    odd = projects / "-odd"
    odd.mkdir()
    os.mkfifo(odd / "5a0c1b2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d.jsonl")  # would block a reader
    (odd / "6b1d2c3e-4f5a-4b6c-9d7e-8f9a0b1c2d3e.jsonl").write_bytes(
        b"[" * 100_000 + b"]" * 100_000 + b"\n"  # nested too deep for json
        + b'{"type":"user","cwd":"' + str(workdir).encode() + b'",'
        b'"message":{"role":"user","content":"after the odd lines \xff"}}\n'
        + b'{"type":"assistant","timestamp":NaN,"message":{"content":"refused"}}\n'
        + b'{"type":"assistant","message":{"id":"m","content":[{"type":"text","text":"x"}],'
        b'"usage":{"output_tokens":1e999}}}\n'
    )  # fmt: skip
    relative = history_line("user", ".", "7c2e3d4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f", "hi")
    (odd / "7c2e3d4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f.jsonl").write_text(relative)
    history_server.start()
    async with history_server.async_client() as api:
        sessions = {s["agent"]["agentSessionId"]: s for s in await imported(api)}
        assert set(sessions) == {SAMPLE_ID, "6b1d2c3e-4f5a-4b6c-9d7e-8f9a0b1c2d3e"}
        odd_session = sessions["6b1d2c3e-4f5a-4b6c-9d7e-8f9a0b1c2d3e"]
        events = await all_events(api, odd_session["id"])
        listed = (await api.get(f"/api/session/{odd_session['id']}")).json()
    # The NaN line is refused whole; the one with an infinite count keeps its text only.
    assert [(e["type"], e["data"].get("content") or e["data"].get("command")) for e in events] == [
        ("prompt", "after the odd lines \ufffd"),
        ("output", "x"),
    ]
    assert all(isinstance(e["data"]["timestamp"], int) for e in events)
    assert listed["agent"]["totals"]["outputTokens"] == 0
    started = time.monotonic()
    assert history_server.stop() == 0
    assert time.monotonic() - started < 5  # no reader left blocked on the FIFO


async def test_a_history_file_cannot_choose_claudes_arguments(
    history_server: Server, workdir: Path, tmp_path: Path
) -> None:
    folder = history_file(history_server.claude_home, workdir, "x").parent
    evil = {"role": "user", "content": "look at this"}
    # Named like an option: not a Claude Code session, not listed.
    (folder / "--mcp-config=evil.jsonl").write_text(
        history_line("user", workdir, "--mcp-config=/tmp/evil.json", evil)
    )
    # A real session's file whose lines claim another id: the file's name is what resumes.
    real_id = "8d3f4e5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a"
    (folder / f"{real_id}.jsonl").write_text(
        history_line("user", workdir, "--dangerously-skip-permissions", evil)
    )
    history_server.start()
    async with history_server.async_client() as api:
        (session,) = await imported(api)
        assert session["agent"]["agentSessionId"] == real_id
        response = await api.post("/api/sessions", json={"kind": "claude", "resume": session["id"]})
        new = response.json()
        async with Stream(api, new["id"]) as stream:
            await api.post(f"/api/session/{new['id']}/prompt", json={"command": "hello"})
            await stream.wait_for(lambda e: e.event == "status" and "turn" in e.data)
    (call,) = fake_calls(tmp_path / "fake-claude.log")
    argv = call["argv"]
    assert argv[argv.index("--resume") + 1] == real_id
    assert not any("mcp" in arg or "dangerously" in arg for arg in argv)


async def test_a_conversation_whose_folder_is_gone_cannot_be_continued(
    history_server: Server, tmp_path: Path
) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    put_sample(history_server.claude_home, gone)
    gone.rmdir()
    history_server.start()
    async with history_server.async_client() as api:
        (session,) = await imported(api)  # still listed: its history is still there
        assert session["workingDir"] == str(gone)
        response = await api.post("/api/sessions", json={"kind": "claude", "resume": session["id"]})
        assert response.status_code == 400
        assert response.json()["code"] == "folder_not_found"
        assert "no longer exists" in response.json()["error"]
        assert len(await all_events(api, session["id"])) == 6


async def test_a_history_line_with_half_an_emoji_is_read(
    history_server: Server, workdir: Path
) -> None:
    """JSON may spell a lone surrogate ("\\ud83d"): it becomes U+FFFD, and nothing is lost or
    stored twice however often the history is asked for."""
    agent_id = "6a0b9c1d-2e3f-4a5b-8c6d-7e8f9a0b1c2d"
    text = "half an emoji: \ud83d!"
    lines = [
        history_line("user", workdir, agent_id, {"role": "user", "content": "hello"}),
        history_line(
            "assistant", workdir, agent_id,
            {"id": "m1", "role": "assistant", "content": [{"type": "text", "text": text}]},
        ),
    ]  # fmt: skip
    assert "\\ud83d" in lines[1]  # escaped in the file, as JavaScript writes it
    history_file(history_server.claude_home, workdir, agent_id).write_text("".join(lines))
    history_server.start()
    async with history_server.async_client() as api:
        (session,) = await imported(api)
        first = await all_events(api, session["id"])
        again = await all_events(api, session["id"])
    assert first == again
    assert [(e["id"], e["type"]) for e in first] == [(1, "prompt"), (2, "output")]
    assert first[1]["data"]["content"] == "half an emoji: \ufffd!"
