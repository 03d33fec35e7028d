"""Both clients describe a permission request alike (desktop/approval.py and approval.js), name
the CLI's suggestions alike, and find the same news in a session's change (attention.js)."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from desktop import approval
from tests.web.helpers import Dock

if TYPE_CHECKING:
    from playwright.sync_api import Page

WORKDIR = "/home/me/app"
REQUESTS: list[dict[str, Any]] = [
    {"tool": "Bash", "input": {"command": "rm -rf build", "description": "Remove the build"}},
    {"tool": "Bash", "input": {"command": "x" * 25_000}},
    {"tool": "Edit",
     "input": {"file_path": f"{WORKDIR}/app.py", "old_string": "a\nb\n", "new_string": "c"}},
    {"tool": "MultiEdit", "input": {"file_path": "/etc/hosts", "edits": [
        {"old_string": "x", "new_string": "y"}, {"old_string": "", "new_string": "z\n"}]}},
    {"tool": "Write", "input": {"file_path": f"{WORKDIR}/notes/a.md", "content": "# A\n\nhello\n"}},
    {"tool": "Read", "input": {"file_path": f"{WORKDIR}/README.md"}},
    {"tool": "AskUserQuestion", "input": {"questions": []}},
    {"tool": "ExitPlanMode", "input": {"plan": "# Plan\n1. do it"}},
    {"tool": "WebFetch", "input": {"url": "https://example.com", "prompt": "summarise"}},
    {"tool": "NotebookEdit", "input": {"notebook_path": f"{WORKDIR}/a.ipynb"}},
    {"input": "not an object"},
]  # fmt: skip
SUGGESTIONS: list[Any] = [
    {"type": "addRules", "rules": [{"toolName": "Bash", "ruleContent": "npm test"}],
     "behavior": "allow", "destination": "localSettings"},
    {"type": "addRules", "rules": [{"toolName": "Read"}, {"toolName": "Grep", "ruleContent": "*"}],
     "behavior": "allow", "destination": "userSettings"},
    {"type": "setMode", "mode": "acceptEdits", "destination": "session"},
    {"type": "setMode", "mode": "default", "destination": "projectSettings"},
    {"type": "addDirectories", "directories": ["/tmp", "/var/tmp"], "destination": "session"},
    {"type": "removeRules", "destination": "nowhere"},
    "not an object",
]  # fmt: skip


def conversation(status: str = "running", state: str = "idle", **agent: Any) -> dict[str, Any]:
    return {"id": "s1", "kind": "claude", "name": "fix the bug", "status": status,
            "agent": {"state": state, **agent}}  # fmt: skip


ASKING = conversation(state="waiting", pending=[{"tool": "Bash"}])
CHANGES: list[tuple[dict[str, Any] | None, dict[str, Any]]] = [
    (None, ASKING),
    (conversation(state="working"), ASKING),
    (conversation(state="working"),
     conversation(state="waiting", pending=[{"tool": "AskUserQuestion"}])),
    (conversation(), conversation(state="waiting", pending=[{"tool": "ExitPlanMode"}])),
    (conversation(), conversation(state="waiting")),
    (ASKING, conversation(state="working")),
    (ASKING, conversation()),
    (conversation(state="working"), conversation()),
    (conversation(), conversation(state="working")),
    (conversation(state="working"), conversation("stopped")),
    (conversation(), conversation("failed")),
    (conversation("stopped"), conversation("stopped")),
    ({"id": "t", "kind": "shell", "status": "running"},
     {"id": "t", "kind": "shell", "status": "exited"}),
]  # fmt: skip

PARITY_JS = """async ([requests, suggestions, changes, workdir]) => {
  const approval = await import('/approval.js');
  const attention = await import('/attention.js');
  return {
    described: requests.map((r) => approval.describeRequest(r, workdir)),
    labels: suggestions.map((s) => approval.suggestionLabel(s)),
    news: changes.map(([before, after]) => attention.news(before, after)),
  };
}"""


def test_both_clients_describe_requests_alike(dock: Dock, page: Page) -> None:
    page.goto(dock.server.url + "/")
    page.wait_for_selector("#app", state="visible")
    js = page.evaluate(PARITY_JS, [REQUESTS, SUGGESTIONS, CHANGES, WORKDIR])
    python = [asdict(approval.describe(r, WORKDIR)) for r in REQUESTS]
    for request, theirs, ours in zip(REQUESTS, js["described"], python, strict=True):
        theirs = {"note": "", **theirs}
        assert theirs == ours, request
    assert js["labels"] == [approval.suggestion_label(s) for s in SUGGESTIONS]
    ours_news = [approval.news(before, after) for before, after in CHANGES]
    assert js["news"] == [asdict(n) if n else None for n in ours_news]
    assert python[0]["title"] == "Claude wants to run a command"
    assert python[2]["text"] == "-a\n-b\n+c"
    assert ours_news[0] is None and ours_news[1] is not None
