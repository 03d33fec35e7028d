"""Permission requests of a Claude session, for the desktop's cards (Qt-free, I/O-free).

What a request asks (a command, an edit as a diff, a path, questions, a plan), the words of the
CLI's "always allow" suggestions, the answers to a questions card, and what changed in a session
that is worth a notification: the same rules as resources/web/approval.js and attention.js, so
both clients say the same (tests/web/test_approvals_parity.py compares them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final, Literal

from desktop.format import format_count
from desktop.session_actions import is_agent, is_running

QUESTIONS: Final = "AskUserQuestion"
PLAN: Final = "ExitPlanMode"
MAX_BODY_CHARS: Final = 20_000  # of a command, a file's content or a plan shown in a card
RESOLVED: Final = {
    "allow": "Allowed",
    "deny": "Denied",
    "cancelled": "Withdrawn by Claude",
    "expired": "Expired: its claude process ended",
}
MODE_NAMES: Final = {
    "default": "ask before edits",
    "acceptEdits": "accept edits",
    "plan": "plan",
    "bypassPermissions": "bypass permissions",
}
# The permission modes a person can switch to, as the mode switcher lists them.
MODES: Final = (
    ("default", "Ask before edits"),
    ("acceptEdits", "Accept edits"),
    ("plan", "Plan"),
    ("bypassPermissions", "Bypass permissions"),
)
BodyKind = Literal["command", "diff", "path", "questions", "plan", "json"]


@dataclass(frozen=True, slots=True)
class About:
    """What a card shows of a request: a title, and a body of one kind."""

    title: str
    kind: BodyKind
    text: str = ""
    note: str = ""


def clip(text: object, width: int = MAX_BODY_CHARS) -> str:
    value = "" if text is None else str(text)
    if len(value) <= width:
        return value
    return f"{value[:width]}\n… ({format_count(len(value) - width)} more characters)"


def short_path(path: object, working_dir: str = "") -> str:
    value = "" if path is None else str(path)
    folder = working_dir.rstrip("/")
    if folder and value.startswith(folder + "/"):
        return value[len(folder) + 1 :]
    return value


def edit_diff(old: object, new: object) -> str:
    """Lines removed then added: the old and new strings of an Edit as a small diff."""

    def lines(text: object, mark: str) -> list[str]:
        value = "" if text is None else str(text)
        value = value[:-1] if value.endswith("\n") else value
        return [mark + line for line in value.split("\n")]

    removed = lines(old, "-") if old else []
    return "\n".join([*removed, *lines(new, "+")])


def describe(data: dict[str, Any], working_dir: str = "") -> About:
    """The card of a ``permission-request`` event's data."""
    tool = str(data.get("tool") or "?")
    raw = data.get("input")
    tool_input: dict[str, Any] = raw if isinstance(raw, dict) else {}
    named = tool_input.get("file_path") or tool_input.get("notebook_path") or tool_input.get("path")
    path = short_path(named or "", working_dir)
    if tool == "Bash":
        note = tool_input.get("description")
        return About(
            "Claude wants to run a command",
            "command",
            clip(tool_input.get("command")),
            note if isinstance(note, str) else "",
        )
    if tool == "Edit":
        diff = edit_diff(tool_input.get("old_string"), tool_input.get("new_string"))
        return About(f"Claude wants to edit {path}", "diff", clip(diff))
    if tool == "MultiEdit":
        edits = tool_input.get("edits")
        edits = edits if isinstance(edits, list) else []
        diff = "\n".join(
            edit_diff(e.get("old_string"), e.get("new_string")) if isinstance(e, dict) else ""
            for e in edits
        )
        return About(f"Claude wants to edit {path} ({len(edits)} changes)", "diff", clip(diff))
    if tool == "Write":
        return About(
            f"Claude wants to write {path}", "diff", clip(edit_diff("", tool_input.get("content")))
        )
    if tool == "Read":
        return About("Claude wants to read a file", "path", path)
    if tool == QUESTIONS:
        return About("Claude has questions for you", "questions")
    if tool == PLAN:
        return About("Claude's plan", "plan", clip(tool_input.get("plan")))
    if path:
        return About(f"Claude wants to use {tool}", "path", clip(path))
    return About(f"Claude wants to use {tool}", "json", clip(json.dumps(tool_input, indent=2)))


def suggestion_label(suggestion: Any) -> str:
    """A suggestion of the CLI's as a button's words."""
    if not isinstance(suggestion, dict):
        return "Allow, and remember (?)"
    where = {
        "session": "for this session",
        "localSettings": "in this project (just you)",
        "projectSettings": "in this project",
        "userSettings": "everywhere",
    }.get(str(suggestion.get("destination")), "")
    kind = suggestion.get("type")
    if kind == "setMode":
        mode = MODE_NAMES.get(str(suggestion.get("mode")), str(suggestion.get("mode")))
        if suggestion.get("mode") == "default":
            mode = "ask"
        return f"Allow, and {mode} {where}".strip()
    rules = suggestion.get("rules")
    if kind == "addRules" and isinstance(rules, list):
        names = [
            f"{r.get('toolName')}({r['ruleContent']})"
            if r.get("ruleContent")
            else str(r.get("toolName"))
            for r in rules
            if isinstance(r, dict)
        ]
        return f"Always allow {', '.join(names)} {where}".strip()
    folders = suggestion.get("directories")
    if kind == "addDirectories" and isinstance(folders, list):
        return f"Allow, and allow {', '.join(map(str, folders))} {where}".strip()
    return f"Allow, and remember ({kind or '?'}) {where}".strip()


def answers(questions: list[Any], chosen: list[list[str]], other: list[str]) -> dict[str, str]:
    """A questions card's answers: {question: the labels chosen, and the text typed, joined}."""
    result: dict[str, str] = {}
    for index, question in enumerate(questions):
        if not isinstance(question, dict):
            continue
        picked = list(chosen[index]) if index < len(chosen) else []
        typed = other[index].strip() if index < len(other) else ""
        if typed:
            picked.append(typed)
        result[str(question.get("question"))] = ", ".join(picked)
    return result


def resolution_text(data: dict[str, Any]) -> str:
    behavior = str(data.get("behavior"))
    message = data.get("message")
    label = RESOLVED.get(behavior, behavior)
    return f"{label}: {message}" if isinstance(message, str) and message else label


@dataclass(frozen=True, slots=True)
class News:
    title: str
    body: str
    kind: Literal["waiting", "turn", "ended"]


def _state(session: dict[str, Any]) -> str:
    if session.get("status") != "running":
        return str(session.get("status"))
    return str((session.get("agent") or {}).get("state") or "idle")


def news(before: dict[str, Any] | None, after: dict[str, Any] | None) -> News | None:
    """What changed in a conversation since it was last seen that is worth telling: it started
    waiting for you, finished its turn, or ended. None for anything else."""
    if before is None or after is None or not is_agent(after):
        return None
    was, now = _state(before), _state(after)
    if was == now:
        return None
    name = str(after.get("name") or "")
    if now == "waiting":
        pending = ((after.get("agent") or {}).get("pending") or [None])[0]
        tool = pending.get("tool") if isinstance(pending, dict) else None
        if tool == QUESTIONS:
            what = "has questions for you"
        elif tool == PLAN:
            what = "has a plan for you to approve"
        else:
            what = f"wants to use {tool}" if tool else "needs you"
        return News(f"Claude {what}", name, "waiting")
    if now == "idle" and was in ("working", "waiting"):
        return News("Claude finished its turn", name, "turn")
    if not is_running(after) and was in ("idle", "working", "waiting"):
        return News(f"Claude session {after.get('status')}", name, "ended")
    return None
