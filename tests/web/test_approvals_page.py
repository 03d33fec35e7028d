"""Interactive Claude sessions in the page: permission cards (allow, deny with a message),
questions, plans, the mode switcher, interrupt, streamed text, what needs you (the list, the
tab's title) and notifications, against a real backend running the fake ``claude`` and a real
Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.claude import FAKE_CLAUDE, fake_answers
from tests.server import Server, running_server
from tests.web.helpers import Dock, wait_for_stream, wait_until
from tests.web.test_agent_page import send, start_claude, stored

if TYPE_CHECKING:
    from playwright.sync_api import Page

CARD = "#output-host .a-request"


@pytest.fixture
def fake_log(tmp_path: Path) -> Path:
    return tmp_path / "fake-claude.log"


@pytest.fixture
def server(tmp_path: Path, fake_log: Path) -> Iterator[Server]:
    with running_server(
        tmp_path / "data", "--claude-path", str(FAKE_CLAUDE),
        env={"FAKE_CLAUDE_LOG": str(fake_log), "FAKE_CLAUDE_DELTA_SECONDS": "0.03"},
    ) as srv:  # fmt: skip
        yield srv


def open_card(page: Page) -> Any:
    """The first open card, found by its request (it stays the same card once resolved)."""
    card = page.locator(f"{CARD}:not(.resolved)").first
    card.wait_for()
    return page.locator(f"{CARD}[data-request-id='{card.get_attribute('data-request-id')}']")


def resolved(dock: Dock, session_id: str) -> list[dict[str, Any]]:
    return [e["data"] for e in dock.history(session_id) if e["type"] == "permission-resolved"]


def test_a_command_is_allowed_from_its_card(
    dock: Dock, page: Page, workdir: Path, fake_log: Path
) -> None:
    session_id = start_claude(dock, page, workdir)
    send(page, "ask to clean")
    card = open_card(page)
    assert card.locator(".a-request-title").inner_text() == "Claude wants to run a command"
    assert card.locator(".a-request-command").inner_text() == "$ rm -rf build"
    # The list marks the session, and the tab's title counts it.
    page.wait_for_selector(f"#sessions [data-id='{session_id}'] .agent-state.waiting")
    wait_until(lambda: page.title().startswith("(1) "), 5, "the count in the title")
    # It took the keys: Y allows.
    page.wait_for_function("document.activeElement?.classList.contains('a-request')")
    page.keyboard.press("y")
    page.wait_for_selector(f"{CARD}.resolved-allow")
    assert card.locator(".a-request-outcome").inner_text() == "Allowed"
    page.wait_for_selector("#output-host .a-text:has-text('Done asking about: ask to clean')")
    assert fake_answers(fake_log)[0]["response"]["behavior"] == "allow"
    wait_until(lambda: not page.title().startswith("("), 5, "the count gone from the title")
    page.wait_for_selector(f"#sessions [data-id='{session_id}'] .agent-state:not(.waiting)")


def test_a_deny_carries_its_message_and_a_second_client_sees_it_resolved(
    dock: Dock, page: Page, workdir: Path, fake_log: Path
) -> None:
    session_id = start_claude(dock, page, workdir)
    send(page, "ask to clean")
    open_card(page)
    other = dock.new_page()
    dock.open(other, page.evaluate("location.hash").split("/")[2], session_id)
    open_card(other)
    card = open_card(page)
    card.locator(".a-request-message").fill("Keep the build folder")
    card.locator(".a-request-message").press("Enter")
    for each in (page, other):
        each.wait_for_selector(f"{CARD}.resolved-deny")
        outcome = each.locator(f"{CARD} .a-request-outcome").inner_text()
        assert outcome == "Denied: Keep the build folder"
    assert fake_answers(fake_log)[0]["response"]["message"] == "Keep the build folder"
    assert [r["behavior"] for r in resolved(dock, session_id)] == ["deny"]


def test_always_allow_sends_the_cli_s_suggestion(
    dock: Dock, page: Page, workdir: Path, fake_log: Path
) -> None:
    start_claude(dock, page, workdir)
    send(page, "ask to clean")
    card = open_card(page)
    button = card.get_by_role("button", name="Always allow Bash(rm -rf build) in this project")
    button.click()
    page.wait_for_selector(f"{CARD}.resolved-allow")
    (sent,) = fake_answers(fake_log)
    assert sent["response"]["updatedPermissions"][0]["rules"][0]["ruleContent"] == "rm -rf build"


def test_two_questions_are_answered(dock: Dock, page: Page, workdir: Path, fake_log: Path) -> None:
    start_claude(dock, page, workdir)
    send(page, "question time")
    card = open_card(page)
    assert card.locator(".a-request-title").inner_text() == "Claude has questions for you"
    card.get_by_label("PostgreSQL").check()
    card.get_by_label("Search").check()
    card.get_by_label("Sync").check()
    card.get_by_label("other answer to: Which features do you want?").fill("Undo")
    card.get_by_role("button", name="Answer").click()
    page.wait_for_selector(f"{CARD}.resolved-allow")
    (sent,) = fake_answers(fake_log)
    assert sent["response"]["updatedInput"]["answers"] == {
        "Which database should I use?": "PostgreSQL",
        "Which features do you want?": "Search, Sync, Undo",
    }
    page.wait_for_selector("#output-host .a-text:has-text('Thanks, going with your answers.')")


def test_a_plan_is_approved_and_the_mode_follows(dock: Dock, page: Page, workdir: Path) -> None:
    session_id = start_claude(dock, page, workdir)
    page.wait_for_selector("#agent-mode-label:not([hidden])")
    page.select_option("#agent-mode", "plan")
    agent = lambda: dock.client.get(f"/api/session/{session_id}").json()["agent"]  # noqa: E731
    wait_until(lambda: agent()["mode"] == "plan")
    send(page, "plan the flag")
    card = open_card(page)
    assert card.locator(".a-request-title").inner_text() == "Claude's plan"
    # Markdown: its heading and its code block as the conversation shows them.
    assert card.locator(".a-request-plan .md-heading").inner_text() == "Plan"
    assert 'parser.add_argument("--verbose")' in card.locator(".a-request-plan").inner_text()
    card.get_by_role("button", name="Approve").click()
    page.wait_for_selector(f"{CARD}.resolved-allow")
    page.wait_for_function("document.querySelector('#agent-mode').value === 'acceptEdits'")
    page.wait_for_selector("#output-host .a-mode:has-text('mode: accept edits')")


def test_interrupt_withdraws_the_open_cards(dock: Dock, page: Page, workdir: Path) -> None:
    session_id = start_claude(dock, page, workdir)
    send(page, "parallel work")
    page.locator(f"{CARD}:not(.resolved)").nth(1).wait_for()
    page.click("#interrupt-session")
    page.wait_for_selector(f"{CARD}.resolved-cancelled >> nth=1")
    assert page.locator(f"{CARD}:not(.resolved)").count() == 0
    assert {r["behavior"] for r in resolved(dock, session_id)} == {"cancelled"}


def test_text_streams_in_then_is_replaced_by_the_message(
    dock: Dock, page: Page, workdir: Path
) -> None:
    start_claude(dock, page, workdir)
    # Every streaming entry that comes, however briefly it stays.
    page.evaluate(
        """window.streamed = [];
        new MutationObserver((records) => {
          for (const record of records) for (const node of record.addedNodes) {
            if (node.classList?.contains("a-streaming")) window.streamed.push(node);
          }
        }).observe(document.querySelector("#output-host"), {childList: true, subtree: true})"""
    )
    send(page, "tell me a story")
    final = "You said: tell me a story. This is turn 1 of our conversation."
    page.wait_for_selector(f"#output-host .a-text:not(.a-streaming):has-text('{final}')")
    assert page.locator("#output-host .a-streaming").count() == 0
    assert page.locator(f"#output-host .a-text:has-text('{final}')").count() == 1
    # It streamed in (its last text was the message's), and left when the message landed.
    streamed = page.evaluate("window.streamed.map((node) => [node.textContent, node.isConnected])")
    assert streamed and streamed[-1] == [final, False]


def test_slash_commands_are_offered(dock: Dock, page: Page, workdir: Path) -> None:
    session_id = start_claude(dock, page, workdir)
    send(page, "hello")
    stored(dock, session_id, lambda e: e["type"] == "status" and "turn" in e["data"])
    page.reload()
    wait_for_stream(page, "connected")
    options = page.locator("#slash-commands option")
    wait_until(lambda: options.count() == 3, 5, "three slash commands")
    assert options.first.get_attribute("value") == "/review"
    assert "[path]" in (options.first.get_attribute("label") or "")


def test_a_notification_when_a_session_not_shown_needs_you(dock: Dock, workdir: Path) -> None:
    context = dock.new_context()
    context.grant_permissions(["notifications"], origin=dock.server.url)
    # Every Notification made is a real one; the test only keeps a note of it.
    context.add_init_script(
        """(() => {
          const Real = window.Notification;
          window.madeNotifications = [];
          class Kept extends Real {
            constructor(title, options) {
              super(title, options);
              window.madeNotifications.push({title, body: options?.body ?? "", tag: options?.tag});
              window.lastNotification = this;
            }
          }
          window.Notification = Kept;
        })()"""
    )
    page = context.new_page()
    page.on("pageerror", lambda error: dock.page_errors.append(str(error)))
    project = dock.project(str(workdir))
    asker = dock.session(project["id"], kind="claude", name="asker")
    shown = dock.session(project["id"], kind="claude", name="shown")
    dock.open(page, project["id"], shown["id"])
    page.wait_for_selector("#notifications[aria-pressed='true']")  # on: the permission is granted
    dock.client.post(f"/api/session/{asker['id']}/prompt", json={"command": "ask to clean"})
    page.wait_for_function("window.madeNotifications.length > 0", timeout=10_000)
    made = page.evaluate("window.madeNotifications")
    assert made[0]["title"] == "Claude wants to use Bash" and made[0]["body"] == "asker"
    page.wait_for_selector(f"#projects [data-id='{project['id']}'] .needs-you")
    # Its click shows that session.
    page.evaluate("window.lastNotification.onclick()")
    page.wait_for_selector(f"#sessions [data-id='{asker['id']}'][aria-current='true']")
    open_card(page)
    # Turned off, it says nothing more.
    page.click("#notifications")
    page.wait_for_selector("#notifications[aria-pressed='false']")
    count = len(page.evaluate("window.madeNotifications"))
    dock.client.post(f"/api/session/{shown['id']}/prompt", json={"command": "ask again"})
    stored(dock, shown["id"], lambda e: e["type"] == "permission-request")
    page.wait_for_timeout(2500)  # a poll of the list
    assert len(page.evaluate("window.madeNotifications")) == count
