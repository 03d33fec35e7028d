"""Agent sessions in the page: a real backend running the fake `claude` (tests/fixtures), a real
Chromium. Prose, tool lines, diffs, turn costs, queued prompts, interrupt, and an imported
conversation continued in a new session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.claude import FAKE_CLAUDE, HISTORY_FIXTURES, history_file
from tests.server import Server, running_server
from tests.web.helpers import Dock, wait_for_stream, wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Page

PROMPT = "\u276f"  # the mark before the user's prompts
MINUS = "\u2212"  # the minus sign of a diff's line counts

SERVER_ARGS = ["--heartbeat-interval", "1", "--claude-path", str(FAKE_CLAUDE)]
SAMPLE_ID = "0b8f3c1e-7d2a-4c55-9e1b-3f6a2d9c8e71"  # tests/fixtures/claude/history/sample.jsonl


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """The backend with the fake `claude`, and a Claude Code folder of its own (claude_home)."""
    with running_server(tmp_path / "data", *SERVER_ARGS) as srv:
        yield srv


def entries(page: Page, selector: str) -> list[str]:
    return [" ".join(t.split()) for t in page.locator(f"#output-host {selector}").all_inner_texts()]


def send(page: Page, text: str) -> None:
    page.fill("#prompt", text)
    page.press("#prompt", "Enter")


def start_claude(dock: Dock, page: Page, workdir: Path) -> str:
    """A project for ``workdir``, shown, and a new Claude session in it; the session's id."""
    project = dock.project(str(workdir))
    dock.open(page, project["id"])
    page.click("#new-claude")
    wait_for_stream(page, "connected")
    page.wait_for_selector("#prompt:enabled")
    assert page.inner_text("#stop-session") == "Interrupt"
    assert page.is_disabled("#stop-session")  # nothing to interrupt yet
    return str(page.evaluate("location.hash")).rsplit("/s/", 1)[1]


def test_a_turn_shows_prose_tool_lines_diffs_and_its_cost(
    dock: Dock, page: Page, workdir: Path
) -> None:
    session_id = start_claude(dock, page, workdir)
    send(page, "tools fix the bug")
    page.wait_for_selector("#output-host .a-turn")

    assert entries(page, ".a-prompt") == [f"{PROMPT} tools fix the bug"]
    prose = entries(page, ".a-text")
    assert prose[0] == "I'll read the module first, then fix the off-by-one."
    assert prose[-1] == "Fixed: `total()` now sums every item, and the tests pass."
    # Prose, not the terminal grid: no ANSI line elements in an agent session.
    assert (
        page.locator("#output-host .a-text").first.evaluate("e => getComputedStyle(e).whiteSpace")
        == "pre-wrap"
    )
    assert page.locator("#output-host .output .l").count() == 0

    assert entries(page, ".a-op") == [
        "read Read app.py",
        f"edit Edit app.py +1 {MINUS}1",
        f"write Write NOTES.md +3 {MINUS}0",
        "bash Bash python -m pytest -q",
        "read Grep .",  # the session's own folder
        "delete Bash rm -f build/old.log",
        "other TodoWrite",
        "bash Bash cat missing.txt",
    ]

    # The Edit opens into its diff on a click.
    edit = page.locator("#output-host details.a-op.t-edit")
    assert edit.locator("pre.diff").count() == 0
    edit.locator("summary").click()
    diff = edit.locator("pre.diff")
    diff.wait_for()
    assert diff.locator(".d-del").all_inner_texts() == ["-    return sum(items[1:])"]
    assert diff.locator(".d-add").all_inner_texts() == ["+    return sum(items)"]
    assert diff.locator(".d-hunk").count() == 1

    # Tool results fold into one line each; the failed one is red.
    failed = page.locator("#output-host .a-result.error")
    assert entries(page, ".a-result.error") == [
        "↳ Bash: cat: missing.txt: No such file or directory"
    ]
    assert failed.evaluate("e => getComputedStyle(e).color") == "rgb(207, 34, 46)"

    assert entries(page, ".a-turn") == ["turn: $0.0421 · 476 tokens out · 12.3 s"]
    cost = page.locator(f"#sessions [data-id='{session_id}'] .cost")
    wait_until(lambda: cost.inner_text() == "$0.04", 5, "the session's cost in the list")
    assert "entries" in page.inner_text("#lines-info")


def test_prompts_queue_while_claude_works_and_interrupt_ends_the_turn(
    dock: Dock, page: Page, workdir: Path
) -> None:
    session_id = start_claude(dock, page, workdir)
    send(page, "slow down")
    page.wait_for_selector("#stop-session:enabled")
    item = page.locator(f"#sessions [data-id='{session_id}'] .agent-state")
    wait_until(lambda: item.count() and item.inner_text() == "working…", 5, "working…")

    # Typing while it works queues, never cancels.
    send(page, "wait for me")
    page.wait_for_selector("#output-host .a-prompt .queued")
    assert entries(page, ".a-prompt") == [f"{PROMPT} slow down", f"{PROMPT} wait for me queued #1"]
    wait_until(lambda: item.inner_text() == "queued 1", 5, "queued 1 in the list")

    page.click("#stop-session")
    page.wait_for_selector("#output-host .a-turn.interrupted")
    # The queued prompt runs next (the fake's `wait` reply), and the session goes on.
    wait_until(lambda: len(entries(page, ".a-turn")) == 2, 10, "the second turn")
    assert entries(page, ".a-turn")[0].startswith("turn interrupted")
    assert entries(page, ".a-turn")[1].startswith("turn: $")
    wait_until(lambda: item.count() == 0, 5, "idle again")
    assert page.inner_text("#session-badge") == "running"
    assert page.is_enabled("#prompt")


def test_an_imported_conversation_is_shown_and_continued(
    dock: Dock, server: Server, page: Page, workdir: Path
) -> None:
    text = (HISTORY_FIXTURES / "sample.jsonl").read_text().replace("{cwd}", str(workdir))
    history_file(server.claude_home, workdir, SAMPLE_ID).write_text(text)
    project = dock.project(str(workdir))
    dock.open(page, project["id"])
    imported = page.locator("#sessions .item:has(.badge.imported)")
    imported.wait_for()
    assert imported.locator(".badge").inner_text() == "imported"
    imported.click()
    wait_for_stream(page, "connected")
    page.wait_for_selector("#output-host .a-prompt")
    assert entries(page, ".a-prompt")[0] == f"{PROMPT} Why does total() skip the first item?"
    page.wait_for_selector("#output-host details.a-op.t-edit")
    assert page.locator("#output-host .a-thinking").count() >= 1
    prompt = page.locator("#prompt")
    assert prompt.is_enabled()
    assert (prompt.get_attribute("placeholder") or "").startswith("Continue this conversation")
    old_hash = page.evaluate("location.hash")

    send(page, "default and now?")
    # (page.url is Playwright's copy, updated only while it talks to the page: ask the page.)
    here = wait_until(lambda: (h := page.evaluate("location.hash")) != old_hash and h, 5)
    new_id = here.rsplit("/s/", 1)[1]
    session = dock.client.get(f"/api/session/{new_id}").json()
    assert session["kind"] == "claude" and session["status"] == "running"
    page.wait_for_selector("#output-host .a-turn")
    assert entries(page, ".a-prompt") == [f"{PROMPT} default and now?"]
    assert entries(page, ".a-text")  # the fake's reply
    assert page.inner_text("#stop-session") == "Interrupt"
