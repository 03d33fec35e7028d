"""``GET /api/session/{id}/export`` against a real backend: the .cast plays back with the real
``asciinema``, the Markdown parses with a CommonMark parser (markdown-it-py) and holds the whole
conversation, the text and JSON lines are what was stored."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from markdown_it import MarkdownIt

from tests.claude import FAKE_CLAUDE
from tests.conftest import new_session
from tests.server import Server
from tests.sse import Stream
from tests.test_claude_sessions import new_claude, prompt, wait_turns

ASCIINEMA = Path(sys.executable).with_name("asciinema")


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


async def export(api: httpx.AsyncClient, session_id: str, fmt: str) -> httpx.Response:
    response = await api.get(f"/api/session/{session_id}/export", params={"format": fmt})
    assert response.status_code == 200, response.text
    return response


async def history(api: httpx.AsyncClient, session_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/api/session/{session_id}/history", params={"limit": 10_000})
    events: list[dict[str, Any]] = response.json()["events"]
    return events


async def finished(api: httpx.AsyncClient, workdir: Path, **body: Any) -> dict[str, Any]:
    session = await new_session(api, workdir, **body)
    async with Stream(api, session["id"]) as stream:
        await stream.wait_for(lambda e: e.event == "status" and e.data["status"] != "running")
    return session


async def test_a_terminal_session_exports_as_an_asciicast_that_asciinema_plays(
    api: httpx.AsyncClient, workdir: Path, tmp_path: Path
) -> None:
    script = "printf '\\033[1;31mred\\033[0m line\\n'; sleep 0.3; echo 'second line'; sleep 0.3"
    session = await new_session(
        api, workdir, kind="command", argv=["bash", "-c", script], tty=True, cols=100, rows=30
    )
    async with Stream(api, session["id"]) as stream:
        await stream.wait_for_output("red")
        response = await api.post(
            f"/api/session/{session['id']}/resize", json={"cols": 90, "rows": 20}
        )
        assert response.status_code == 200, response.text
        await stream.wait_for(lambda e: e.event == "status" and e.data["status"] == "exited")
    response = await export(api, session["id"], "cast")
    assert response.headers["content-type"] == "application/x-asciicast"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=") and '.cast"' in disposition
    lines = response.text.splitlines()
    header = json.loads(lines[0])
    assert header["version"] == 2
    assert (header["width"], header["height"]) == (100, 30)  # the size it started with
    assert header["timestamp"] == session["createdAt"] // 1000
    events = [json.loads(line) for line in lines[1:]]
    assert {e[1] for e in events} == {"o", "r"}  # output and resizes, no input
    assert [e[2] for e in events if e[1] == "r"] == ["90x20"]
    times = [e[0] for e in events]
    assert times == sorted(times) and times[-1] >= 0.25  # seconds since the start
    stored = "".join(
        e["data"]["content"] for e in await history(api, session["id"]) if e["type"] == "output"
    )
    assert "".join(e[2] for e in events if e[1] == "o") == stored
    # The real asciinema plays it back: the text, colours and all.
    cast = tmp_path / "session.cast"
    cast.write_bytes(response.content)
    played = subprocess.run(
        [str(ASCIINEMA), "cat", str(cast)], capture_output=True, check=True, timeout=30
    ).stdout.decode()
    assert played == stored
    assert "\x1b[1;31mred\x1b[0m line" in played and "second line" in played


async def test_a_session_on_pipes_plays_without_a_staircase(
    api: httpx.AsyncClient, workdir: Path
) -> None:
    argv = ["printf", "one\\ntwo\\n"]
    session = await finished(api, workdir, kind="command", argv=argv, tty=False)
    assert session["tty"] is False
    events = [
        json.loads(line)
        for line in (await export(api, session["id"], "cast")).text.splitlines()[1:]
    ]
    assert "".join(e[2] for e in events) == "one\r\ntwo\r\n"


async def test_text_is_what_a_person_saw_and_jsonl_is_what_was_stored(
    api: httpx.AsyncClient, workdir: Path
) -> None:
    script = (
        "echo start; for i in 1 2 3; do printf '\\r%d%%' $((i*33)); sleep 0.01; done; echo; "
        "printf 'no newline'"
    )
    session = await finished(api, workdir, kind="command", argv=["bash", "-c", script], tty=True)
    text = await export(api, session["id"], "txt")
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    assert text.text == "start\n99%\nno newline\n"
    jsonl = await export(api, session["id"], "jsonl")
    stored = await history(api, session["id"])
    assert [json.loads(line) for line in jsonl.text.splitlines()] == stored


async def test_a_conversation_exports_as_markdown_with_every_prompt_answer_and_diff(
    capi: httpx.AsyncClient, workdir: Path
) -> None:
    session = await new_claude(capi, workdir)
    prompts = ["tools please", "and now say hello\nover two lines"]
    async with Stream(capi, session["id"]) as stream:
        for text in prompts:
            await prompt(capi, session["id"], text)
        await wait_turns(stream, 2)
    events = await history(capi, session["id"])
    answers = [
        e["data"]["content"]
        for e in events
        if e["type"] == "output" and e["data"]["type"] == "assistant"
    ]
    diffs = [
        op["diff"]
        for e in events
        if e["type"] == "operations-detected"
        for op in e["data"]["operations"]
        if op.get("diff")
    ]
    costs = [
        e["data"]["turn"]["costUsd"]
        for e in events
        if e["type"] == "status" and "turn" in e["data"]
    ]
    assert len(answers) >= 2 and diffs and len(costs) == 2
    response = await export(capi, session["id"], "md")
    assert response.headers["content-type"] == "text/markdown; charset=utf-8"
    markdown = response.text
    tokens = MarkdownIt("commonmark").parse(markdown)
    fences = {(t.info, t.content) for t in tokens if t.type == "fence"}
    quotes = _blockquotes(tokens)
    for text in prompts:
        assert text in quotes, text
    for diff in diffs:
        assert ("diff", diff if diff.endswith("\n") else diff + "\n") in fences
    html = MarkdownIt("commonmark").render(markdown)
    for answer in answers:
        first = answer.strip().splitlines()[0]
        assert first in markdown
    assert "<h1>" in html and html.count("<h2>You") == len(prompts)
    total = sum(costs)
    assert f"${total:.4f}".rstrip("0").rstrip(".") in markdown.splitlines()[-1]
    # Plain text of a conversation: the same, read as it is.
    assert (await export(capi, session["id"], "txt")).text == markdown
    # A conversation is not a terminal: no asciicast of it.
    refused = await capi.get(f"/api/session/{session['id']}/export", params={"format": "cast"})
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_input"


def _blockquotes(tokens: list[Any]) -> list[str]:
    """The text of each blockquote, its paragraphs' lines joined by newlines."""
    quotes: list[str] = []
    depth = 0
    for token in tokens:
        if token.type == "blockquote_open":
            depth += 1
            quotes.append("")
        elif token.type == "blockquote_close":
            depth -= 1
        elif depth and token.type == "inline":
            quotes[-1] = "\n".join(part for part in (quotes[-1], token.content) if part)
    return quotes


async def test_bad_exports_are_refused_clearly(api: httpx.AsyncClient, workdir: Path) -> None:
    missing = await api.get("/api/session/session-nope/export", params={"format": "txt"})
    assert missing.status_code == 404 and missing.json()["code"] == "session_not_found"
    session = await finished(api, workdir, kind="command", argv=["true"])
    bad = await api.get(f"/api/session/{session['id']}/export", params={"format": "pdf"})
    assert bad.status_code == 400 and "format" in bad.json()["error"]


async def test_an_export_names_its_file_after_the_session(
    api: httpx.AsyncClient, workdir: Path
) -> None:
    session = await finished(api, workdir, kind="command", argv=["echo", "héllo wörld"])
    disposition = (await export(api, session["id"], "md")).headers["content-disposition"]
    suffix = session["id"].removeprefix("session-")[:8]
    assert disposition == (
        f'attachment; filename="echo-h_llo-w_rld-{suffix}.md"; '
        f"filename*=UTF-8''{quote(f'echo-héllo-wörld-{suffix}.md')}"
    )
