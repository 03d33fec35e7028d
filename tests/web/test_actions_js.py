"""resources/web/actions.js and desktop/session_actions.py give the same answers: which actions a
session offers, what Stop, Delete and removing a project ask, how a status reads; and the two
clients wait as long for an answer. Run in Chromium against the Python rules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from desktop import session_actions
from desktop.api import DEFAULT_TIMEOUT
from tests.web.helpers import Dock

if TYPE_CHECKING:
    from playwright.sync_api import Page

RULES_JS = """async (sessions) => {
  const a = await import('/actions.js');
  return sessions.map((s) => ({
    label: a.statusLabel(s),
    interrupt: a.canInterrupt(s),
    stop: a.canStop(s),
    continue: a.canContinue(s),
    question: a.stopQuestion(s),
    deleteQuestion: a.deleteQuestion(s),
    hints: a.hints(s),
    placeholder: a.promptPlaceholder(s),
  }));
}"""


def session(kind: str, status: str, **fields: Any) -> dict[str, Any]:
    return {"id": "s", "name": 'make "<all>"', "kind": kind, "status": status, "exitCode": None,
            "signal": None, "foreground": None, "agent": None, **fields}  # fmt: skip


def agent(status: str, **state: Any) -> dict[str, Any]:
    return session("claude", status, agent={"agentSessionId": None, "state": "idle", **state})


AGENT_ID = "7f0c1d2e-0000-4000-8000-000000000001"

# (session, its label, the actions it offers, what Stop asks)
CASES: list[tuple[dict[str, Any], str, set[str], str | None]] = [
    (session("shell", "running"), "running", {"interrupt", "stop"}, None),
    (
        session("shell", "running", foreground={"pid": 7, "name": "vim"}),
        "running", {"interrupt", "stop"}, "Stop the shell? It is running vim.",
    ),
    (
        session("shell", "running", foreground={"pid": 7, "name": ""}),
        "running", {"interrupt", "stop"}, "Stop the shell? It is running a program.",
    ),
    # A command is the program itself: Stop asks nothing.
    (session("command", "running", foreground={"pid": 7, "name": "make"}), "running",
     {"interrupt", "stop"}, None),
    (session("command", "exited", exitCode=0), "exited 0", set(), None),
    (session("command", "failed", exitCode=3), "failed 3", set(), None),
    (session("command", "failed", exitCode=-9, signal="SIGKILL"), "failed SIGKILL", set(), None),
    # An older backend named no signal: its number shows.
    (session("command", "failed", exitCode=-9), "failed signal 9", set(), None),
    (session("command", "failed", exitCode=-10, signal="SIGUSR1"), "failed SIGUSR1", set(),
     None),
    (session("command", "failed"), "failed", set(), None),  # could not start
    (session("shell", "stopped", exitCode=-1, signal="SIGHUP"), "stopped SIGHUP", set(), None),
    (session("command", "stopped", exitCode=-2, signal="SIGINT"), "stopped SIGINT", set(), None),
    (session("command", "stopped", exitCode=0), "stopped", set(), None),
    (session("shell", "interrupted"), "interrupted", set(), None),
    (session("shell", "mystery", exitCode=-9), "mystery", set(), None),
    (agent("running"), "running", {"stop"}, None),
    (agent("running", state="working"), "running", {"interrupt", "stop"}, None),
    (agent("running", state="waiting"), "running", {"interrupt", "stop"}, None),
    (agent("stopped", agentSessionId=AGENT_ID), "stopped", {"continue"}, None),
    (agent("stopped", agentSessionId=AGENT_ID) | {"exitCode": -9, "signal": "SIGKILL"},
     "stopped SIGKILL",
     {"continue"}, None),
    (agent("exited", agentSessionId=AGENT_ID), "exited 0", {"continue"}, None),
    (agent("failed", agentSessionId=AGENT_ID), "failed", {"continue"}, None),
    (agent("interrupted", agentSessionId=AGENT_ID), "interrupted", {"continue"}, None),
    (agent("stopped"), "stopped", set(), None),  # ended before Claude Code named it
    (agent("imported"), "imported", {"continue"}, None),
    (session("claude", "stopped"), "stopped", set(), None),  # no agent object at all
]  # fmt: skip


# What the prompt line says while it is empty.
PLACEHOLDERS = {
    "continue": "Continue this conversation… (Enter starts a new Claude session from here)",
    "claude": "Message Claude and press Enter (while it works, prompts queue)",
    "shell": "Type a command for the session and press Enter",
    "command": "Type a command for the session and press Enter",
    "ended": "The session is not running",
}


@pytest.fixture
def rules(dock: Dock, page: Page) -> list[dict[str, Any]]:
    page.goto(dock.server.url + "/")
    page.wait_for_selector("#app", state="visible")
    answers: list[dict[str, Any]] = page.evaluate(RULES_JS, [case[0] for case in CASES])
    return answers


def python_rules(s: dict[str, Any]) -> dict[str, Any]:
    return {
        "label": session_actions.status_label(s),
        "interrupt": session_actions.can_interrupt(s),
        "stop": session_actions.can_stop(s),
        "continue": session_actions.can_continue(s),
        "question": session_actions.stop_question(s),
        "deleteQuestion": session_actions.delete_question(s),
        "hints": session_actions.hints(s),
        "placeholder": session_actions.prompt_placeholder(s),
    }


def test_both_clients_follow_the_same_rules(rules: list[dict[str, Any]]) -> None:
    for (s, label, offered, question), js in zip(CASES, rules, strict=True):
        python = python_rules(s)
        assert js == python, s
        actions = {a for a in ("interrupt", "stop", "continue") if python[a]}
        assert (python["label"], actions, python["question"]) == (label, offered, question), s
        ending = " It is still running; it will be stopped." if python["stop"] else ""
        asked = f'Delete the session "make "<all>"" and its history?{ending}'
        assert python["deleteQuestion"] == asked
        assert (
            python["placeholder"]
            == PLACEHOLDERS[
                "continue"
                if python["continue"]
                else s["kind"]
                if s["status"] == "running"
                else "ended"
            ]
        )


PROJECT = {"id": "p1", "name": 'my "app"', "path": "/work/app"}
# (the project's sessions, what removing it asks)
REMOVALS: list[tuple[list[dict[str, Any]], str]] = [
    ([], "It has no sessions."),
    ([session("command", "exited", exitCode=0)], "Its session and its history will be deleted."),
    ([session("shell", "running")],
     "Its session and its history will be deleted; it is still running and will be stopped."),
    ([session("shell", "running"), agent("imported"), agent("running")],
     "Its 3 sessions and their history will be deleted; 2 of them are still running and will "
     "be stopped."),
    ([session("shell", "stopped"), session("command", "running")],
     "Its 2 sessions and their history will be deleted; 1 of them is still running and will "
     "be stopped."),
    ([session("shell", "stopped"), agent("imported")],
     "Its 2 sessions and their history will be deleted."),
]  # fmt: skip


def test_both_clients_ask_the_same_before_removing_a_project(dock: Dock, page: Page) -> None:
    page.goto(dock.server.url + "/")
    page.wait_for_selector("#app", state="visible")
    asked: list[str] = page.evaluate(
        """async ([project, cases]) => {
          const a = await import('/actions.js');
          return cases.map((sessions) => a.removeProjectQuestion(project, sessions));
        }""",
        [PROJECT, [sessions for sessions, _ in REMOVALS]],
    )
    for (sessions, middle), js in zip(REMOVALS, asked, strict=True):
        python = session_actions.remove_project_question(PROJECT, sessions)
        assert js == python
        assert python == f'Remove the project "my "app""? {middle} Its folder is left as it is.'


def test_imported_and_working_look_alike_in_both_clients(dock: Dock, page: Page) -> None:
    """The page's colors (its light scheme, as in Chromium by default) are the desktop's."""
    from desktop.ui.panels import STATUS_COLORS, WORKING_COLOR

    page.goto(dock.server.url + "/")
    page.wait_for_selector("#app", state="visible")
    colors: dict[str, str] = page.evaluate(
        """() => {
          const list = document.querySelector('#sessions');
          const row = document.createElement('li');
          row.innerHTML = `<button class="item session"><span class="badge imported">imported</span>
            <span class="sub"><span class="agent-state working">working…</span></span></button>`;
          list.append(row);
          const color = (selector) => getComputedStyle(row.querySelector(selector)).color;
          const colors = {imported: color('.badge'), working: color('.agent-state')};
          row.remove();
          return colors;
        }"""
    )

    def css(color: Any) -> str:
        return f"rgb({color.red()}, {color.green()}, {color.blue()})"

    assert colors == {"imported": css(STATUS_COLORS["imported"]), "working": css(WORKING_COLOR)}


# (a session, the state the list shows beside its cost)
STATES: list[tuple[dict[str, Any], str | None]] = [
    (agent("running"), "idle"),
    (agent("running", state="working"), "working…"),
    (agent("running", state="working", queued=2), "working… · queued 2"),
    (agent("running", state="waiting"), "needs you"),
    (agent("running", state="waiting", queued=1), "needs you · queued 1"),
    (agent("running", queued=0), "idle"),
    (session("claude", "running"), "idle"),  # no agent object yet
    (agent("stopped", agentSessionId=AGENT_ID), None),
    (agent("imported"), None),
    (session("shell", "running"), None),
]


def test_both_lists_show_a_conversation_s_state_alike(dock: Dock, page: Page) -> None:
    page.goto(dock.server.url + "/")
    page.wait_for_selector("#app", state="visible")
    shown: list[str | None] = page.evaluate(
        """async (sessions) => {
          const a = await import('/actions.js');
          return sessions.map((s) => a.conversationState(s));
        }""",
        [s for s, _ in STATES],
    )
    for (s, state), js in zip(STATES, shown, strict=True):
        assert js == session_actions.conversation_state(s) == state, s


def test_with_no_session_the_prompt_says_to_pick_one(dock: Dock, page: Page) -> None:
    page.goto(dock.server.url + "/")
    page.wait_for_selector("#app", state="visible")
    assert page.get_attribute("#prompt", "placeholder") == "Pick a session"
    js = page.evaluate("async () => (await import('/actions.js')).promptPlaceholder(null)")
    assert js == session_actions.prompt_placeholder(None) == "Pick a session"


def test_both_clients_say_alike_that_older_history_was_trimmed(dock: Dock, page: Page) -> None:
    page.goto(dock.server.url + "/")
    page.wait_for_selector("#app", state="visible")
    js = page.evaluate("async () => (await import('/actions.js')).trimmedNotice(42)")
    expected = "… older output was trimmed; history resumes at event 42"
    assert js == session_actions.trimmed_notice(42) == expected


# (the reason of a storage-error event, what the banner over the output says)
STORAGE_WARNINGS: list[tuple[object, str]] = [
    ("the disk is full", "Cannot store output: the disk is full. The session is paused until "
     "space is freed; nothing is lost."),
    ("the database file is read-only", "Cannot store output: the database file is read-only. "
     "The session is paused until that is fixed; nothing is lost."),
    ("the disk reports an I/O error (disk I/O error)", "Cannot store output: the disk reports "
     "an I/O error (disk I/O error). The session is paused until that is fixed; nothing is "
     "lost."),
    # An event without a reason (none has one today) still says what goes on.
    (None, "Cannot store output: the database refuses writes. The session is paused until "
     "that is fixed; nothing is lost."),
    ("", "Cannot store output: the database refuses writes. The session is paused until that "
     "is fixed; nothing is lost."),
    (7, "Cannot store output: the database refuses writes. The session is paused until that "
     "is fixed; nothing is lost."),
]  # fmt: skip


def test_both_clients_say_alike_that_nothing_can_be_stored(dock: Dock, page: Page) -> None:
    page.goto(dock.server.url + "/")
    page.wait_for_selector("#app", state="visible")
    shown: list[str] = page.evaluate(
        """async (reasons) => {
          const a = await import('/actions.js');
          return reasons.map((reason) => a.storageWarning(reason));
        }""",
        [reason for reason, _ in STORAGE_WARNINGS],
    )
    for (reason, expected), js in zip(STORAGE_WARNINGS, shown, strict=True):
        assert js == session_actions.storage_warning(reason) == expected, reason


def test_the_storage_banner_looks_alike_in_both_clients(dock: Dock, page: Page) -> None:
    """The page's warning colors (its light scheme, as in Chromium by default) are the
    desktop's."""
    from desktop.ui.panels import WARNING_COLORS

    page.goto(dock.server.url + "/")
    page.wait_for_selector("#app", state="visible")
    colors: dict[str, str] = page.evaluate(
        """() => {
          const banner = document.querySelector('#storage-warning');
          banner.hidden = false;
          const style = getComputedStyle(banner);
          const colors = {fg: style.color, bg: style.backgroundColor,
                          border: style.borderTopColor};
          banner.hidden = true;
          return colors;
        }"""
    )

    def css(color: Any) -> str:
        return f"rgb({color.red()}, {color.green()}, {color.blue()})"

    assert colors == {part: css(color) for part, color in WARNING_COLORS.items()}


def test_both_clients_wait_as_long_for_an_answer(dock: Dock, page: Page) -> None:
    page.goto(dock.server.url + "/")
    page.wait_for_selector("#app", state="visible")
    timeout_ms = page.evaluate("async () => (await import('/api.js')).limits.timeoutMs")
    assert timeout_ms == DEFAULT_TIMEOUT * 1000 == 20_000
