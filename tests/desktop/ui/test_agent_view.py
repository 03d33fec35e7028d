"""Agent sessions on screen: documented events through a real stream, the feed and the view."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest
from aiohttp import web
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QFont, QTextBlock, QTextCharFormat, QTextCursor
from pytestqt.qtbot import QtBot

from desktop.agent import (
    FOLD_LINKS,
    HIDE_DIFF,
    PROMPT_MARK,
    SHOW_DIFF,
    AgentRenderer,
    Row,
    operation_row,
)
from desktop.sse_client import Event
from desktop.ui.feed import LINES_PER_FLUSH, SessionFeed
from desktop.ui.output_view import (
    AMBER,
    DIFF_GONE,
    GREEN,
    RED,
    OutputView,
    SessionDocument,
    utf16_length,
)
from desktop.ui.panels import SessionsPanel
from tests.agent_events import DIFF, SESSION, TOTALS, WRITE_DIFF, conversation

Stored = list[tuple[int, str, dict[str, Any]]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def wait_until(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


def frame(event_id: int | None, kind: str, data: dict[str, Any]) -> str:
    head = "" if event_id is None else f"id: {event_id}\n"
    return f"{head}event: {kind}\ndata: {json.dumps(data)}\n\n"


@contextlib.asynccontextmanager
async def serving(
    events: Stored,
    *,
    live: asyncio.Queue[tuple[int | None, str, dict[str, Any]]] | None = None,
    cut_after: int | None = None,
    resumed_from: list[int | None] | None = None,
    sessions: list[dict[str, Any]] | None = None,
    routes: Sequence[tuple[str, str, Handler]] = (),
) -> AsyncIterator[str]:
    """A server whose events route streams ``events`` after the client's Last-Event-ID, as the
    backend replays stored events, then stays open, sending what is put in ``live`` (an id of
    None: a control event, which is not stored).

    ``cut_after``: the first connection ends after that event (the client reconnects).
    ``resumed_from`` collects each connection's Last-Event-ID. ``sessions`` answers
    ``GET /api/sessions``, as the backend lists them; ``routes`` are more ``(method, path,
    handler)``."""
    done = asyncio.Event()
    stored = list(events)

    async def handler(request: web.Request) -> web.StreamResponse:
        header = request.headers.get("Last-Event-ID")
        if resumed_from is not None:
            resumed_from.append(None if header is None else int(header))
        after = int(header or 0)
        first = cut_after is not None and header is None
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        greeting = {"sessionId": SESSION, "clientId": "c1", "lastEventId": after or None,
                    "sessionLastEventId": len(stored), "heartbeatInterval": 15}  # fmt: skip
        body = frame(None, "connected", greeting)
        body += "".join(
            frame(n, kind, data)
            for n, kind, data in stored
            if n > after and not (first and cut_after is not None and n > cut_after)
        )
        await response.write(body.encode())
        if first:
            return response  # the stream ends here
        ended = asyncio.ensure_future(done.wait())
        try:
            while live is not None:
                news = asyncio.ensure_future(live.get())
                await asyncio.wait({news, ended}, return_when=asyncio.FIRST_COMPLETED)
                if not news.done():
                    news.cancel()
                    break
                event_id, kind, data = news.result()
                if event_id is not None:  # a control event is not replayed
                    stored.append((event_id, kind, data))
                await response.write(frame(event_id, kind, data).encode())
            await ended
        finally:
            ended.cancel()
        return response

    async def list_sessions(request: web.Request) -> web.Response:
        return web.json_response({"sessions": sessions or []})

    app = web.Application()
    app.router.add_get("/api/session/{id}/events", handler)
    app.router.add_get("/api/sessions", list_sessions)
    for method, path, route in routes:
        app.router.add_route(method, path, route)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        done.set()
        await runner.cleanup()


@pytest.fixture
def view(qtbot: QtBot) -> OutputView:
    widget = OutputView()
    qtbot.addWidget(widget)
    widget.resize(900, 700)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


@contextlib.asynccontextmanager
async def feeding(
    view: OutputView, events: Stored, serve: dict[str, Any] | None = None, **options: Any
) -> AsyncIterator[tuple[SessionFeed, SessionDocument]]:
    """A real SessionFeed for an agent session, wired to ``view`` as the main window does;
    ``serve`` are options of ``serving``."""
    document = view.new_document()
    view.show_document(document)
    async with serving(events, **(serve or {})) as url:
        feed = SessionFeed(url, "token", SESSION, None, 15.0, agent=True, **options)
        feed.agent_events_received.connect(lambda _, batch: view.append_agent(document, batch))
        feed.lines_skipped.connect(lambda _, n: document.append_notice(f"… {n} lines not shown"))
        feed.start()
        try:
            yield feed, document
        finally:
            await feed.stop()


def format_at(document: SessionDocument, text: str) -> QTextCharFormat:
    """The format of the first character of ``text`` in the document."""
    cursor = document.document.find(text)
    assert not cursor.isNull(), text
    cursor.setPosition(cursor.selectionStart() + 1)
    return cursor.charFormat()


def color_of(document: SessionDocument, text: str) -> tuple[int, int, int]:
    return rgb(format_at(document, text).foreground().color())


def rgb(color: Any) -> tuple[int, int, int]:
    return color.red(), color.green(), color.blue()


def link_block(document: SessionDocument, path: str) -> QTextBlock:
    [block] = [b for b in document.diff_links() if f"  {path}  " in b.text()]
    return block


def link_point(view: OutputView, block: QTextBlock) -> QPoint:
    """Where a user clicks on a block's fold link (show diff…), in viewport coordinates."""
    cursor = QTextCursor(block)
    text = block.text()
    at = max(text.rfind(link) for links in FOLD_LINKS.values() for link in links)
    cursor.setPosition(block.position() + utf16_length(text[:at]) + 3)  # Qt's units
    return view.text.cursorRect(cursor).center()


async def test_a_conversation_reads_as_prose_tool_lines_and_turns(view: OutputView) -> None:
    async with feeding(view, conversation()) as (feed, document):
        await wait_until(lambda: "malformed stream-json line" in document.plain_text())
        text = view.text.toPlainText()
        assert feed.last_event_id == len(conversation())
    lines = text.splitlines()
    assert f"{PROMPT_MARK}Fix the greeting in src/app.py" in lines
    assert f"{PROMPT_MARK}Then run the tests  queued #1" in lines
    assert "I'll read src/app.py first." in lines  # prose, markup gone
    assert "Fixed: it now prints hello." in lines
    assert "● Read  src/app.py" in lines
    show_output = FOLD_LINKS["result"][0]
    assert f"  ↳ Read: 1 def main():  (3 lines)  {show_output}" in lines  # under its tool
    assert f"● Edit  src/app.py  +1 \N{MINUS SIGN}1  {SHOW_DIFF}" in lines
    assert "● Bash  python -m pytest -q" in lines
    assert "turn: $0.04 · 476 tokens out · 12.3 s" in lines
    assert "turn interrupted: 800 ms" in lines
    assert "warning: slow disk" in lines  # escape sequences gone
    assert "init" not in text and "print('hi')" not in text  # raw lines; diffs start collapsed
    # Colors and fonts say what is what.
    assert color_of(document, "● Edit") == rgb(AMBER)
    assert color_of(document, "FAILED tests") == rgb(RED)
    assert color_of(document, "error: malformed") == rgb(RED)
    assert format_at(document, "Fix the greeting").fontWeight() >= QFont.Weight.Bold
    # Prose in the UI's font; code (inline or fenced) in the output's fixed font.
    assert format_at(document, "I'll read").fontFamilies() == [view.formats.prose_family]
    assert not format_at(document, "src/app.py first").fontFamilies()
    assert not format_at(document, "print('hello')").fontFamilies()
    assert format_at(document, "The greeting is").fontItalic()  # thinking
    assert color_of(document, "+1 \N{MINUS SIGN}1") == rgb(GREEN)


async def test_clicking_show_diff_expands_it_inline_and_again_collapses_it(
    view: OutputView, qtbot: QtBot
) -> None:
    async with feeding(view, conversation()) as (_, document):
        await wait_until(lambda: "malformed stream-json line" in document.plain_text())
    collapsed = document.plain_text()
    edit = link_block(document, "src/app.py")
    qtbot.mouseClick(view.text.viewport(), Qt.MouseButton.LeftButton, pos=link_point(view, edit))
    expanded = document.plain_text()
    assert (
        f"● Edit  src/app.py  +1 \N{MINUS SIGN}1  {HIDE_DIFF}\n"
        "      --- a/src/app.py\n"
        "      +++ b/src/app.py\n"
        "      @@ -1,3 +1,3 @@\n"
        "       def main():\n"
        "      -    print('hi')\n"
        "      +    print('hello')\n"
        "           return 0\n"
        f"● Write  NOTES.md  +2 \N{MINUS SIGN}0  {SHOW_DIFF}\n"
    ) in expanded
    assert color_of(document, "-    print('hi')") == rgb(RED)
    assert color_of(document, "+    print('hello')") == rgb(GREEN)
    assert document.is_expanded(edit)
    # The other edit expands on its own; collapsing the first leaves the second open.
    write = link_block(document, "NOTES.md")
    qtbot.mouseClick(view.text.viewport(), Qt.MouseButton.LeftButton, pos=link_point(view, write))
    assert "      +# Notes\n      +greeting fixed\n● Bash" in document.plain_text()
    qtbot.mouseClick(view.text.viewport(), Qt.MouseButton.LeftButton, pos=link_point(view, edit))
    assert "print('hi')" not in document.plain_text()
    edit_row = f"● Edit  src/app.py  +1 \N{MINUS SIGN}1  {SHOW_DIFF}"
    assert (
        f"{edit_row}\n● Write  NOTES.md  +2 \N{MINUS SIGN}0  {HIDE_DIFF}" in document.plain_text()
    )
    assert document.toggle_diff(write)
    assert document.plain_text() == collapsed
    # Clicking elsewhere changes nothing.
    qtbot.mouseClick(view.text.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(5, 5))
    assert document.plain_text() == collapsed
    assert not document.toggle_diff(document.document.firstBlock())


async def test_long_thinking_opens_and_closes_like_a_diff(view: OutputView, qtbot: QtBot) -> None:
    document = view.new_document()
    view.show_document(document)
    thinking = "The user wants a fix.\n\nFirst the file,\tthen the test."
    rows = AgentRenderer().render([
        ("output", {"type": "thinking", "content": "A single line is not folded."}),
        ("output", {"type": "thinking", "content": thinking}),
        ("output", {"type": "assistant", "content": "Done."}),
    ])  # fmt: skip
    document.append_rows(rows)
    show, hide = FOLD_LINKS["thinking"]
    collapsed = document.plain_text()
    assert collapsed == (
        f"thinking  A single line is not folded.\nthinking  The user wants a fix.  {show}\nDone.\n"
    )
    [link] = document.diff_links()
    assert format_at(document, "The user wants").fontItalic()
    qtbot.mouseClick(view.text.viewport(), Qt.MouseButton.LeftButton, pos=link_point(view, link))
    assert document.plain_text() == (
        f"thinking  A single line is not folded.\nthinking  The user wants a fix.  {hide}\n"
        "  The user wants a fix.\n\n  First the file,\tthen the test.\nDone.\n"
    )
    qtbot.mouseClick(view.text.viewport(), Qt.MouseButton.LeftButton, pos=link_point(view, link))
    assert document.plain_text() == collapsed


async def test_a_tool_result_opens_into_its_output_cut_as_the_page_cuts_it(
    view: OutputView, qtbot: QtBot
) -> None:
    document = view.new_document()
    view.show_document(document)
    long_output = "".join(f"🎉 row {n}\n" for n in range(1, 3001))  # over 20,000 characters
    source = "1\tdef main():\n2\t  pass\n"
    rows = AgentRenderer().render([
        ("output", {"type": "tool-result", "tool": "Glob", "content": "src/app.py"}),
        ("output", {"type": "tool-result", "tool": "Read", "content": source}),
        ("output", {"type": "tool-result", "tool": "Bash", "content": long_output}),
    ])  # fmt: skip
    document.append_rows(rows)
    show, hide = FOLD_LINKS["result"]
    collapsed = document.plain_text()
    assert collapsed == (
        "  ↳ Glob: src/app.py\n"  # its line is all of it: nothing to open
        f"  ↳ Read: 1 def main():  (2 lines)  {show}\n"
        f"  ↳ Bash: 🎉 row 1  (1,000+ lines)  {show}\n"
    )
    read, bash = document.diff_links()
    qtbot.mouseClick(view.text.viewport(), Qt.MouseButton.LeftButton, pos=link_point(view, read))
    assert document.plain_text() == (
        "  ↳ Glob: src/app.py\n"
        f"  ↳ Read: 1 def main():  (2 lines)  {hide}\n"
        "    1\tdef main():\n    2\t  pass\n"
        f"  ↳ Bash: 🎉 row 1  (1,000+ lines)  {show}\n"
    )
    assert not format_at(document, "1\tdef main").fontItalic()  # the program's text, as it is
    qtbot.mouseClick(view.text.viewport(), Qt.MouseButton.LeftButton, pos=link_point(view, read))
    assert document.plain_text() == collapsed
    # The page's cut: 20,000 characters (an emoji is one), then how many more there were.
    assert document.toggle_diff(bash)
    body = document.plain_text().split("\n")[3:-1]
    kept = long_output[:20_000].split("\n")
    assert body == [
        *(f"    {line}" for line in kept),
        f"    ({len(long_output) - 20_000:,} more characters not shown)",
    ]
    assert kept[-1] and not long_output[20_000 - len(kept[-1]) :].startswith(f"{kept[-1]}\n")
    assert document.toggle_diff(bash)
    assert document.plain_text() == collapsed


async def test_the_link_points_and_rows_added_later_keep_the_links_working(
    view: OutputView, qtbot: QtBot
) -> None:
    events = conversation()
    async with feeding(view, events[:10]) as (_, document):
        await wait_until(lambda: "● Bash  rm -rf build" in document.plain_text())
    edit = link_block(document, "src/app.py")
    assert view.toggle_diff_at(link_point(view, edit))
    view.append_agent(document, [Event(n, kind, data) for n, kind, data in events[10:]])
    assert "turn: $0.04" in document.plain_text()
    assert view.toggle_diff_at(link_point(view, link_block(document, "src/app.py")))
    assert "print('hi')" not in document.plain_text()
    assert not view.toggle_diff_at(QPoint(5, 5))


async def test_a_replay_of_thousands_of_events_is_handed_over_in_bounded_pieces(
    view: OutputView,
) -> None:
    replay: Stored = []
    for n in range(1, 6001):
        if n % 1000 == 0:
            replay.append((n, "prompt", {"sessionId": SESSION, "command": f"prompt {n}"}))
        else:
            content = f"answer {n}\nsecond line of {n}"
            replay.append((n, "output", {"sessionId": SESSION, "type": "assistant",
                                         "content": content}))  # fmt: skip
    batches: list[list[Event]] = []
    skipped: list[int] = []
    async with feeding(view, replay, max_pending_lines=1000) as (feed, document):
        feed.agent_events_received.connect(lambda _, batch: batches.append(batch))
        feed.lines_skipped.connect(lambda _, n: skipped.append(n))
        await wait_until(lambda: "prompt 6000" in document.plain_text())
    for batch in batches:
        rows = sum(2 if e.type == "output" else 1 for e in batch)
        assert rows <= LINES_PER_FLUSH
    ids = [e.id for batch in batches for e in batch]
    assert ids == sorted(ids)
    shown = document.plain_text()
    for n in range(1000, 6001, 1000):
        assert f"prompt {n}" in shown  # prompts are never skipped
    answers = sum(1 for e in ids if e is not None and e % 1000)
    assert 2 * answers + sum(skipped) == 2 * 5994  # every row shown or said to be skipped
    assert "answer 5999\nsecond line of 5999" in shown  # the newest is always shown


def agent_session(session_id: str, status: str, **agent: Any) -> dict[str, Any]:
    return {
        "id": session_id, "projectId": "p1", "name": session_id, "kind": "claude", "argv": [],
        "workingDir": "/work/app", "tty": False, "status": status, "exitCode": None,
        "createdAt": 1795723060000 + len(session_id), "endedAt": None, "lastEventId": 3,
        "pid": None,
        "agent": {"agentSessionId": None, "state": "idle", "queued": 0, "source": None,
                  "totals": {"costUsd": 0, "turns": 0}, **agent},
    }  # fmt: skip


def test_the_session_list_shows_state_and_cost(qtbot: QtBot) -> None:
    panel = SessionsPanel()
    qtbot.addWidget(panel)
    shell = {**agent_session("shell", "exited"), "kind": "shell", "argv": ["bash"],
             "agent": None, "exitCode": 0}  # fmt: skip
    panel.set_sessions([
        agent_session("idle", "running", totals=TOTALS),
        agent_session("busy", "running", state="working", queued=2, totals=TOTALS),
        agent_session("fresh", "running", state="working"),
        agent_session("old", "imported", source="/home/me/.claude/projects/-work-app/7f0c.jsonl",
                      totals={"costUsd": 1.234, "turns": 4}),
        agent_session("unpriced", "imported", totals={"costUsd": 0, "turns": 3}),
        agent_session("ended", "exited", totals={"costUsd": 0, "turns": 1}),
        shell,
    ])  # fmt: skip
    assert panel.row_text("idle")[1] == "idle · $0.04"
    assert panel.row_text("busy")[1] == "working… · queued 2 · $0.04"
    assert panel.row_text("fresh")[1] == "working…"
    assert panel.row_text("old")[1] == "imported · $1.23"
    assert panel.row_text("unpriced")[1] == "imported"  # history files mostly hold no costs
    assert panel.row_text("ended")[1] == "exited 0 · $0.00"  # a turn that cost nothing did
    assert panel.row_text("shell")[1] == "exited 0"
    item = panel._item("old")
    assert item is not None and item.font(0).italic() and "imported from" in item.toolTip(0)
    # A live status event updates the row before the next refresh.
    panel.update_session("idle", {"agent": {"state": "working", "queued": 1}})
    assert panel.row_text("idle")[1] == "working… · queued 1 · $0.04"
    panel.select("idle")
    assert panel.interrupt_button.isEnabled() and panel.stop_button.isEnabled()
    panel.update_session("idle", {"agent": {"state": "idle", "queued": 0,
                                            "totals": {**TOTALS, "costUsd": 0.5}}})  # fmt: skip
    assert panel.row_text("idle")[1] == "idle · $0.50"
    assert not panel.interrupt_button.isEnabled() and panel.stop_button.isEnabled()


async def test_a_stream_cut_and_resumed_reads_as_one_read_at_once(view: OutputView) -> None:
    events = conversation()
    async with feeding(view, events) as (_, whole):
        await wait_until(lambda: "malformed stream-json line" in whole.plain_text())
    resumed_from: list[int | None] = []
    # Cut after a tool result: the queued prompt that follows still gets its blank row.
    serve = {"cut_after": 8, "resumed_from": resumed_from}
    async with feeding(view, events, serve) as (feed, document):
        await wait_until(lambda: "malformed stream-json line" in document.plain_text())
        assert feed.last_event_id == len(events)
    assert resumed_from == [None, 8]
    assert document.plain_text() == whole.plain_text()
    assert html(document) == html(whole)  # the same formats
    for shown in (whole, document):
        assert shown.toggle_diff(link_block(shown, "src/app.py"))
    assert document.plain_text() == whole.plain_text()


def html(document: SessionDocument) -> str:
    """The document as HTML, without its blocks' user states (diff numbers differ)."""
    return re.sub(r"-qt-user-state:\d+;", "", document.document.toHtml())


def numbered(count: int) -> list[Row]:
    return [Row(((f"row {i}", "prose"),)) for i in range(count)]


async def test_expanding_a_diff_in_a_full_document_keeps_its_link(view: OutputView) -> None:
    document = view.new_document(scrollback=12)
    view.show_document(document)
    diff = "@@ -1,4 +1,4 @@\n" + "".join(f"-old {i}\n+new {i}\n" for i in range(4))  # 9 rows
    edit = operation_row({"tool": "Edit", "type": "edit", "path": "a.py", "diff": diff})
    document.append_rows([Row((("first", "prose"),)), edit, *numbered(9)])
    assert document.document.blockCount() == 12  # full: 11 rows and the empty last block
    collapsed = document.plain_text()
    assert view.toggle_diff_at(link_point(view, link_block(document, "a.py")))
    expanded = document.plain_text()
    assert expanded.startswith(
        f"first\n● Edit  a.py  +4 \N{MINUS SIGN}4  {HIDE_DIFF}\n      @@ -1,4 +1,4 @@\n"
    )
    assert "      +new 3\nrow 0\n" in expanded and expanded.endswith("row 8\n")
    assert view.toggle_diff_at(link_point(view, link_block(document, "a.py")))
    assert document.plain_text() == collapsed
    # Open, the diff does not count against the scrollback: newer rows push out older ones
    # above it, then its link, then (no longer expandable) its rows.
    assert document.toggle_diff(link_block(document, "a.py"))
    document.append_rows([Row((("more", "prose"),))])
    assert document.plain_text().startswith(
        f"● Edit  a.py  +4 \N{MINUS SIGN}4  {HIDE_DIFF}\n      @@ -1,4"
    )
    assert document.toggle_diff(link_block(document, "a.py"))
    assert document.toggle_diff(link_block(document, "a.py"))
    document.append_rows([Row((("again", "prose"),))])
    assert document.plain_text() == "".join(f"row {i}\n" for i in range(9)) + "more\nagain\n"
    assert document.diff_links() == []
    assert document.document.blockCount() == 12


async def test_separators_inside_a_row_stay_inside_it(view: OutputView) -> None:
    document = view.new_document()
    view.show_document(document)
    crlf = "--- a/w.txt\r\n+++ b/w.txt\r\n@@ -1 +1 @@\r\n-dos\r\n+two\u2029paragraphs\ufdd0\r\n"
    rows = AgentRenderer().render([
        ("output", {"type": "assistant", "content": "one\u2029two\rthree\r"}),
        ("operations-detected", {"operations": [
            {"tool": "Edit", "type": "edit", "path": "w\u2029.txt", "diff": crlf},
        ]}),
    ])  # fmt: skip
    document.append_rows(rows)
    assert document.document.blockCount() == len(rows) + 1
    collapsed = document.plain_text()
    assert collapsed.startswith("one two three\n● Edit  w .txt  ")
    link = link_block(document, "w .txt")
    for _ in range(2):  # collapsing leaves nothing behind; expanding again adds nothing twice
        assert document.toggle_diff(link)
        assert document.plain_text().endswith(
            "      --- a/w.txt\n      +++ b/w.txt\n      @@ -1 +1 @@\n"
            "      -dos\n      +two paragraphs \n"
        )
        assert document.document.blockCount() == len(rows) + 1 + 5
        assert document.toggle_diff(link)
        assert document.plain_text() == collapsed


def folded_chars(events: Stored) -> int:
    """The characters a document keeps for the folds of ``events`` (diffs, thinking, results)."""
    rows = AgentRenderer().render([(kind, data) for _, kind, data in events])
    return sum(len(row.fold.text) for row in rows if row.fold is not None)


async def test_the_diffs_of_all_documents_share_one_budget(view: OutputView) -> None:
    per_conversation = folded_chars(conversation())
    assert per_conversation > len(DIFF) + len(WRITE_DIFF)  # tool results are kept too
    view.diffs.budget_chars = per_conversation
    older, newer = view.new_document(), view.new_document()
    for document in (older, newer):
        document.append_agent([Event(n, kind, data) for n, kind, data in conversation()])
    assert view.diffs.chars == per_conversation  # the older document's diffs made room
    assert newer.toggle_diff(link_block(newer, "src/app.py"))
    assert "      +    print('hello')" in newer.plain_text()
    assert older.toggle_diff(link_block(older, "src/app.py"))
    assert (
        f"● Edit  src/app.py  +1 \N{MINUS SIGN}1  {HIDE_DIFF}\n"
        "      (this diff is no longer kept in memory; the session's stored history has it)\n"
    ) in older.plain_text()
    newer.release()  # a document the window drops frees its share
    assert view.diffs.chars == 0


def edits(tag: str, count: int) -> list[Row]:
    """``count`` edits, each with a diff of 100 characters."""
    return [
        operation_row({"tool": "Edit", "type": "edit", "path": f"{tag}{i}.py", "diff": diff})
        for i, diff in enumerate(f"+{tag} {i}".ljust(99) + "\n" for i in range(count))
    ]


def kept(document: SessionDocument) -> list[bool]:
    """For each "show diff" link, top to bottom, whether expanding it shows its diff."""
    shown = []
    for index in range(len(document.diff_links())):
        link = document.diff_links()[index]
        assert document.toggle_diff(link)
        shown.append(link.next().text() != DIFF_GONE)
        assert document.toggle_diff(link)
    return shown


async def test_the_budget_drops_the_diffs_of_documents_not_on_screen_first(
    view: OutputView,
) -> None:
    view.diffs.budget_chars = 4 * 100
    first, second, third = view.new_document(), view.new_document(), view.new_document()
    for document, tag in ((first, "a"), (second, "b")):
        view.show_document(document)
        document.append_rows(edits(tag, 2))
    view.show_document(first)  # back to the first: the second is now the least recently shown
    view.show_document(third)
    third.append_rows(edits("c", 2))
    assert (kept(first), kept(second), kept(third)) == ([True] * 2, [False] * 2, [True] * 2)
    third.append_rows(edits("d", 1))
    assert (kept(first), kept(third)) == ([False, True], [True] * 3)
    # Past the others', the shown document's own oldest diffs go.
    third.append_rows(edits("e", 4))
    assert (kept(first), kept(third)) == ([False] * 2, [False] * 3 + [True] * 4)
    assert view.diffs.chars == 4 * 100


def expanded_pair(view: OutputView, scrollback: int, below: int) -> SessionDocument:
    """A document with two edits, their 3-row diffs expanded, and ``below`` rows under them."""
    document = view.new_document(scrollback)
    view.show_document(document)
    diff = "@@ -1 +1 @@\n-x\n+y\n"
    ops = [operation_row({"tool": "Edit", "type": "edit", "path": p, "diff": diff}) for p in "ab"]
    document.append_rows([*ops, *numbered(below)])
    for path in "ab":
        assert document.toggle_diff(link_block(document, path))
    assert document.document.blockCount() == 2 + 6 + below + 1
    return document


async def test_rows_trimmed_past_two_expanded_diffs_take_all_their_rows(view: OutputView) -> None:
    document = expanded_pair(view, scrollback=10, below=7)
    document.append_rows(numbered(3))  # one append trims both links
    assert document.plain_text() == "".join(f"row {i}\n" for i in (1, 2, 3, 4, 5, 6, 0, 1, 2))
    assert document.diff_links() == []
    assert document.document.blockCount() == document.document.maximumBlockCount() == 10


async def test_a_lower_scrollback_takes_the_rows_of_the_diffs_it_trims(view: OutputView) -> None:
    document = expanded_pair(view, scrollback=20, below=5)
    document.set_scrollback(6)
    assert document.plain_text() == "".join(f"row {i}\n" for i in range(5))
    assert document.diff_links() == []
    assert document.document.blockCount() == document.document.maximumBlockCount() == 6


async def test_line_breaks_left_inside_a_row_stay_inside_it(view: OutputView) -> None:
    document = view.new_document()
    view.show_document(document)
    rows = AgentRenderer().render([
        ("operations-detected", {"operations": [
            {"tool": "Ed\nit", "type": "edit", "path": "a.py", "diff": "@@ -1 +1 @@\n-x\n+y\n"},
        ]}),
        ("status", {"turn": {"isError": True, "subtype": "error\r\nduring"}}),
        ("error", {"message": "boom\nat line 2", "line": "{oops"}),
    ])  # fmt: skip
    document.append_rows(rows)
    assert document.document.blockCount() == len(rows) + 1
    collapsed = document.plain_text()
    assert collapsed == (
        f"● Ed it  a.py  +1 \N{MINUS SIGN}1  {SHOW_DIFF}\nturn failed (error during)\n"
        "error: boom\n  at line 2  (line: {oops)\n"
    )
    assert document.toggle_diff(link_block(document, "a.py"))
    assert document.document.blockCount() == len(rows) + 1 + 3
    assert document.toggle_diff(link_block(document, "a.py"))
    assert document.plain_text() == collapsed
