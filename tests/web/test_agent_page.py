"""Agent sessions in the page: a real backend running the fake `claude` (tests/fixtures), a real
Chromium. Prose, tool lines, diffs, turn costs, queued prompts, interrupt, an imported
conversation continued in a new session (once), replays that do not pass for live events,
reloads and reconnects that show each entry once, and the memory kept for other sessions."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from desktop.session_actions import trimmed_notice
from tests.claude import FAKE_CLAUDE, HISTORY_FIXTURES, history_file
from tests.server import Server, running_server
from tests.web.helpers import Dock, pumped, wait_for_stream, wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route


PROMPT = "\u276f"  # the mark before the user's prompts
MINUS = "\u2212"  # the minus sign of a diff's line counts

SERVER_ARGS = ["--heartbeat-interval", "1", "--claude-path", str(FAKE_CLAUDE)]
SAMPLE_ID = "0b8f3c1e-7d2a-4c55-9e1b-3f6a2d9c8e71"  # tests/fixtures/claude/history/sample.jsonl


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """The backend with the fake `claude`, and a Claude Code folder of its own (claude_home)."""
    with running_server(tmp_path / "data", *SERVER_ARGS) as srv:
        yield srv


def entries(page: Page, selector: str = ".a-entry") -> list[str]:
    return [" ".join(t.split()) for t in page.locator(f"#output-host {selector}").all_inner_texts()]


def send(page: Page, text: str) -> None:
    page.fill("#prompt", text)
    page.press("#prompt", "Enter")


def prompt(dock: Dock, session_id: str, text: str) -> None:
    """A prompt sent through the API, as another client would."""
    response = dock.client.post(f"/api/session/{session_id}/prompt", json={"command": text})
    assert response.is_success, response.text


def stored(dock: Dock, session_id: str, check: Callable[[dict[str, Any]], bool]) -> None:
    """Wait until the session's history holds an event that passes ``check``."""
    wait_until(lambda: any(check(e) for e in dock.history(session_id)), 10, "a stored event")


def session_id_shown(page: Page) -> str:
    return str(page.evaluate("location.hash")).rsplit("/s/", 1)[1]


def project_id_shown(page: Page) -> str:
    return str(page.evaluate("location.hash")).split("/")[2]


def open_session(page: Page, session_id: str) -> None:
    page.click(f"#sessions [data-id='{session_id}']")
    page.wait_for_selector(f"#sessions [data-id='{session_id}'][aria-current='true']")
    wait_for_stream(page, "connected")


def start_claude(dock: Dock, page: Page, workdir: Path) -> str:
    """A project for ``workdir``, shown, and a new Claude session in it; the session's id."""
    project = dock.project(str(workdir))
    dock.open(page, project["id"])
    page.click("#new-claude")
    wait_for_stream(page, "connected")
    page.wait_for_selector("#prompt:enabled")
    assert page.is_disabled("#interrupt-session")  # nothing to interrupt yet
    assert page.is_enabled("#stop-session")  # but a conversation to end
    assert page.is_disabled("#continue-session")
    return session_id_shown(page)


def open_imported(dock: Dock, server: Server, page: Page, workdir: Path) -> None:
    """The sample conversation in Claude Code's history, shown in the page."""
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


def test_a_turn_shows_prose_tool_lines_diffs_and_its_cost(
    dock: Dock, page: Page, workdir: Path
) -> None:
    session_id = start_claude(dock, page, workdir)
    send(page, "tools fix the bug")
    page.wait_for_selector("#output-host .a-turn")

    assert entries(page, ".a-prompt") == [f"{PROMPT} tools fix the bug"]
    prose = entries(page, ".a-text")
    assert prose[0] == "I'll read the module first, then fix the off-by-one."
    assert prose[-1] == "Fixed: total() now sums every item, and the tests pass."  # `code`
    # Prose, not the terminal grid: no ANSI line elements in an agent session.
    assert (
        page.locator("#output-host .a-text").first.evaluate("e => getComputedStyle(e).whiteSpace")
        == "pre-wrap"
    )
    assert page.locator("#output-host .output .l").count() == 0

    assert entries(page, ".a-op") == [
        "● Read app.py",
        f"● Edit app.py +1 {MINUS}1",
        f"● Write NOTES.md +3 {MINUS}0",
        "● Bash python -m pytest -q",
        "● Grep .",  # the session's own folder
        "● Bash rm -f build/old.log",
        "● TodoWrite",
        "● Bash cat missing.txt",
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

    assert entries(page, ".a-turn") == ["turn: $0.04 · 476 tokens out · 12.3 s"]
    cost = page.locator(f"#sessions [data-id='{session_id}'] .cost")
    wait_until(lambda: cost.inner_text() == "$0.04", 5, "the session's cost in the list")
    assert "entries" in page.inner_text("#lines-info")


def test_prompts_queue_while_claude_works_and_interrupt_ends_the_turn(
    dock: Dock, page: Page, workdir: Path
) -> None:
    session_id = start_claude(dock, page, workdir)
    send(page, "slow down")
    page.wait_for_selector("#interrupt-session:enabled")
    item = page.locator(f"#sessions [data-id='{session_id}'] .agent-state")
    wait_until(lambda: item.count() and item.inner_text() == "working…", 5, "working…")

    # Typing while it works queues, never cancels.
    send(page, "wait for me")
    page.wait_for_selector("#output-host .a-prompt .queued")
    assert entries(page, ".a-prompt") == [f"{PROMPT} slow down", f"{PROMPT} wait for me queued #1"]
    wait_until(lambda: item.inner_text() == "working… · queued 1", 5, "queued 1 in the list")

    page.click("#interrupt-session")
    page.wait_for_selector("#output-host .a-turn.interrupted")
    # The queued prompt runs next (the fake's `wait` reply), and the session goes on.
    wait_until(lambda: len(entries(page, ".a-turn")) == 2, 10, "the second turn")
    assert entries(page, ".a-turn")[0].startswith("turn interrupted")
    assert entries(page, ".a-turn")[1].startswith("turn: $")
    wait_until(lambda: item.inner_text() == "idle", 5, "idle again")
    assert page.inner_text("#session-badge") == "running"
    assert page.is_enabled("#prompt")


def test_an_imported_conversation_is_shown_and_continued(
    dock: Dock, server: Server, page: Page, workdir: Path
) -> None:
    open_imported(dock, server, page, workdir)
    assert entries(page, ".a-prompt")[0] == f"{PROMPT} Why does total() skip the first item?"
    page.wait_for_selector("#output-host details.a-op.t-edit")
    assert page.locator("#output-host .a-thinking").count() >= 1
    field = page.locator("#prompt")
    assert field.is_enabled()
    assert (field.get_attribute("placeholder") or "").startswith("Continue this conversation")
    assert page.is_disabled("#interrupt-session")  # an imported conversation runs no turn
    assert page.is_disabled("#stop-session")
    assert page.is_enabled("#continue-session")
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
    assert page.is_enabled("#stop-session") and page.is_disabled("#continue-session")


def hold_session_creation(page: Page) -> list[Route]:
    """``POST /api/sessions`` from the page waits, unanswered, in the returned list (until a
    test continues it); listing sessions goes through."""
    held: list[Route] = []

    def hold(route: Route) -> None:
        if route.request.method == "POST":
            held.append(route)
        else:
            route.continue_()

    page.route("**/api/sessions", hold)
    return held


def test_continuing_an_imported_conversation_starts_one_session(
    dock: Dock, server: Server, page: Page, workdir: Path
) -> None:
    """Enter again while the new session is being made starts no second one: the prompt waits
    until the first text is sent, and keeps what was typed meanwhile."""
    open_imported(dock, server, page, workdir)
    imported_id = session_id_shown(page)
    held = hold_session_creation(page)
    send(page, "default first")
    pumped(page, lambda: held, message="the new session asked for")
    # A second Enter before the answer (as a fast typist's, whatever the prompt's state).
    page.evaluate(
        """() => {
          const field = document.querySelector('#prompt');
          field.value = 'default second';
          field.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', cancelable: true}));
        }"""
    )
    page.wait_for_timeout(300)
    assert len(held) == 1
    assert page.is_disabled("#prompt")
    held[0].continue_()
    page.unroute("**/api/sessions")

    wait_until(lambda: session_id_shown(page) != imported_id, 5, "the new session shown")
    page.wait_for_selector("#prompt:enabled")
    page.wait_for_selector("#output-host .a-turn")
    assert entries(page, ".a-prompt") == [f"{PROMPT} default first"]
    assert page.input_value("#prompt") == "default second"
    sessions = dock.client.get("/api/sessions", params={"projectId": project_id_shown(page)})
    started = [s for s in sessions.json()["sessions"] if s["status"] != "imported"]
    assert [s["id"] for s in started] == [session_id_shown(page)]


def test_a_failed_continuation_gives_the_text_back(
    dock: Dock, server: Server, page: Page, workdir: Path
) -> None:
    open_imported(dock, server, page, workdir)
    imported_id = session_id_shown(page)

    def refuse(route: Route) -> None:
        if route.request.method == "POST":
            route.fulfill(status=503, json={"error": "no room for a session", "code": "busy"})
        else:
            route.continue_()

    page.route("**/api/sessions", refuse)
    send(page, "default lost?")
    page.wait_for_selector("#error:visible")
    assert page.inner_text("#error-text") == "no room for a session"
    page.wait_for_selector("#prompt:enabled")
    assert page.input_value("#prompt") == "default lost?"
    assert session_id_shown(page) == imported_id


def test_a_continuation_that_gets_no_answer_gives_the_prompt_back(
    dock: Dock, server: Server, page: Page, workdir: Path
) -> None:
    """A create request that hangs (a frozen backend) times out: the prompt is usable again."""
    open_imported(dock, server, page, workdir)
    page.evaluate("async () => { (await import('/api.js')).limits.timeoutMs = 500; }")
    held = hold_session_creation(page)  # never answered
    send(page, "default anyone there?")
    page.wait_for_selector("#error:visible")
    assert page.inner_text("#error-text") == "the backend did not answer within 0.5 s"
    page.wait_for_selector("#prompt:enabled")
    assert page.input_value("#prompt") == "default anyone there?"
    assert len(held) == 1
    page.unroute("**/api/sessions")


def test_a_continuation_under_way_blocks_only_its_own_prompt(
    dock: Dock, server: Server, page: Page, workdir: Path
) -> None:
    """...and the text that could not go out comes back only to the conversation it was for."""
    project = dock.project(str(workdir))
    shell = dock.session(project["id"], "cat", tty=False)  # a running session with a prompt
    open_imported(dock, server, page, workdir)
    imported_id = session_id_shown(page)
    held = hold_session_creation(page)
    send(page, "default later")
    pumped(page, lambda: held, message="the new session asked for")
    assert page.is_disabled("#prompt")  # the imported session's text waits
    page.click(f"#sessions [data-id='{shell['id']}']")
    wait_for_stream(page, "connected")
    page.wait_for_selector("#prompt:enabled")  # another session's prompt is usable meanwhile
    held[0].fulfill(status=503, json={"error": "no room for a session", "code": "busy"})
    page.unroute("**/api/sessions")
    page.wait_for_selector("#error:visible")
    assert page.input_value("#prompt") == ""  # not for the shell: Enter would have run it there
    open_session(page, imported_id)
    page.wait_for_selector("#prompt:enabled")
    assert page.input_value("#prompt") == "default later"


# Whether the page's list or head ever looked live, from its first moment: a state in the list
# ("working…", "working… · queued 1", "idle"), Interrupt enabled, a "running" badge.
LIVE_LOOKS_JS = """
// What the replay hands to the list: only an ending may get there.
globalThis.listCalls = [];
let dock;
Object.defineProperty(globalThis, 'sessionDock', {
  configurable: true,
  get: () => dock,
  set(app) {
    dock = app;
    const statusChanged = app.statusChanged.bind(app);
    app.statusChanged = (id, data) => {
      listCalls.push(`status ${data.status}`);
      statusChanged(id, data);
    };
    const promptQueued = app.promptQueued.bind(app);
    app.promptQueued = (id, data) => { listCalls.push('prompt queued'); promptQueued(id, data); };
  },
});
document.addEventListener('DOMContentLoaded', () => {
  globalThis.liveLooks = [];
  const look = () => {
    const state = document.querySelector('#sessions .agent-state');
    if (state) liveLooks.push(`list: ${state.textContent}`);
    if (!document.querySelector('#interrupt-session').disabled) liveLooks.push('Interrupt enabled');
    const badge = document.querySelector('#session-badge');
    if (!badge.hidden && badge.textContent === 'running') liveLooks.push('badge: running');
  };
  const all = {subtree: true, childList: true, attributes: true, characterData: true};
  new MutationObserver(look).observe(document.body, all);
});
"""


def test_the_replay_of_an_ended_session_does_not_look_live(
    dock: Dock, page: Page, workdir: Path
) -> None:
    """Its stored turn starts and queued prompts show in the view, never in the list, the
    badge, Interrupt or the prompt."""
    project = dock.project(str(workdir))
    session_id = dock.session(project["id"], kind="claude")["id"]
    prompt(dock, session_id, "slow down")
    stored(dock, session_id, lambda e: e["type"] == "status" and "turn" not in e["data"])

    def agent_id() -> str | None:
        agent = dock.client.get(f"/api/session/{session_id}").json()["agent"]
        return str(agent["agentSessionId"]) if agent["agentSessionId"] else None

    # Claude Code has named the conversation (its turn's first line): it can be continued.
    wait_until(agent_id, 10, "the conversation's agent id")
    prompt(dock, session_id, "wait for me")
    stored(dock, session_id, lambda e: e["type"] == "prompt" and e["data"].get("queued") is True)
    response = dock.client.post(f"/api/session/{session_id}/signal", json={"signal": "SIGTERM"})
    assert response.is_success, response.text
    stored(dock, session_id, lambda e: e["type"] == "status" and e["data"]["status"] != "running")

    page.add_init_script(LIVE_LOOKS_JS)
    dock.open(page, project["id"], session_id)
    page.wait_for_selector("#output-host .a-notice:has-text('session stopped')")
    assert entries(page, ".a-prompt") == [f"{PROMPT} slow down", f"{PROMPT} wait for me queued #1"]
    page.wait_for_timeout(200)  # a few frames: the list is drawn at most once a frame
    assert page.evaluate("liveLooks") == []
    assert page.evaluate("listCalls") == ["status stopped"]  # the replay's starts stay out
    assert page.inner_text("#session-badge") == "stopped SIGTERM"
    # A stopped conversation that Claude Code named can be continued (the prompt line then
    # takes a prompt for that).
    page.wait_for_selector("#continue-session:enabled")
    page.wait_for_selector("#prompt:enabled")
    assert page.get_attribute("#prompt", "placeholder") == (
        "Continue this conversation… (Enter starts a new Claude session from here)"
    )


def test_a_burst_of_status_events_draws_the_list_once_a_frame(
    dock: Dock, page: Page, workdir: Path
) -> None:
    session_id = start_claude(dock, page, workdir)
    polls: list[Route] = []  # held: the poll's answer must not draw the list meanwhile
    page.route("**/api/sessions", lambda route: polls.append(route))
    drawn = page.evaluate(
        """async (id) => {
          const records = [];
          const observer = new MutationObserver((batch) => records.push(...batch));
          observer.observe(document.querySelector('#sessions'), {childList: true});
          for (let n = 1; n <= 300; n++) {
            const agent = {state: 'idle', queued: 0};
            sessionDock.statusChanged(id, {status: 'running', agent, totals: {costUsd: n}});
          }
          const frame = () => new Promise((resolve) => requestAnimationFrame(resolve));
          await frame();
          await frame();
          records.push(...observer.takeRecords());
          observer.disconnect();
          return records
            .filter((record) => record.addedNodes.length)
            .map((record) => [...record.addedNodes].map((node) => node.textContent).join(' | '));
        }""",
        session_id,
    )
    for poll in polls:
        poll.continue_()
    page.unroute("**/api/sessions")
    assert len(drawn) == 1, drawn
    assert "$300.00" in drawn[0], drawn


def test_a_reloaded_or_reconnected_page_shows_each_entry_once(
    dock: Dock, page: Page, workdir: Path
) -> None:
    session_id = start_claude(dock, page, workdir)
    project_id = project_id_shown(page)
    send(page, "tools fix the bug")
    page.wait_for_selector("#output-host .a-turn")
    send(page, "slow down")  # a turn that runs for 30 s: mid-session from here on
    page.wait_for_selector("#output-host .a-text:has-text('Starting a long job')")
    shown = entries(page)
    assert len(shown) > 20

    page.reload()
    wait_for_stream(page, "connected")
    wait_until(lambda: entries(page) == shown, 5, "the same entries after a reload")

    # Away and back: the kept view goes on from its last event.
    other = dock.session(project_id, kind="claude")["id"]
    page.wait_for_selector(f"#sessions [data-id='{other}']")
    open_session(page, other)
    open_session(page, session_id)
    assert entries(page) == shown

    # The backend goes away mid-turn and comes back: the stream resumes where it stopped.
    dock.server.restart()
    wait_for_stream(page, "connected", timeout=15_000)
    fresh = dock.new_page()
    dock.open(fresh, project_id, session_id)
    wait_until(lambda: entries(page) == entries(fresh) != shown, 10, "the page as a fresh one")
    assert entries(page)[: len(shown)] == shown


def test_views_of_other_sessions_are_kept_within_a_budget(
    dock: Dock, page: Page, workdir: Path
) -> None:
    first = start_claude(dock, page, workdir)
    send(page, "tools fix the bug")
    page.wait_for_selector("#output-host .a-turn")
    first_shown = entries(page)
    page.click("#new-claude")
    wait_until(lambda: session_id_shown(page) != first, 5, "the second session")
    second = session_id_shown(page)
    wait_for_stream(page, "connected")
    send(page, "default hello")
    page.wait_for_selector("#output-host .a-turn")
    second_shown = entries(page)
    assert page.evaluate("[...sessionDock.views.keys()]") == [first, second]

    # Kept while they fit; the view on screen always is.
    page.evaluate("sessionDock.keptChars = 0")
    open_session(page, first)
    assert page.evaluate("[...sessionDock.views.keys()]") == [first]
    assert entries(page) == first_shown
    open_session(page, second)  # made again from its history
    wait_until(lambda: entries(page) == second_shown, 5, "the second session's entries")
    assert page.evaluate("[...sessionDock.views.keys()]") == [second]


def test_a_conversation_says_its_older_history_was_trimmed_as_a_terminal_does(
    browser: Browser, tmp_path: Path, workdir: Path
) -> None:
    """Retention took the oldest events of a conversation: opening it says so, in the words
    the desktop app and a terminal's view use."""
    options = [*SERVER_ARGS, "--max-session-mb", "0.05"]
    with running_server(tmp_path / "small", *options) as server, server.client() as client:
        dock = Dock(browser, server, client)
        try:
            project = dock.project(str(workdir))
            session_id = dock.session(project["id"], kind="claude")["id"]
            for n in range(3):  # each turn stores its 30 KB prompt twice (the reply echoes it)
                prompt(dock, session_id, f"default {n} {'x' * 30_000}")
            stored(dock, session_id, lambda e: "turn 3 of our" in str(e["data"].get("content")))
            page = dock.new_page()
            dock.open(page, project["id"], session_id)
            history = client.get(f"/api/session/{session_id}/history").json()
            first = history["trimmedThrough"] + 1
            assert first > 1
            notice = page.locator("#output-host .a-notice").first
            notice.wait_for()
            assert notice.inner_text() == trimmed_notice(first)
        finally:
            dock.close()
        assert dock.page_errors == []
