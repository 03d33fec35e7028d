"""desktop/session_actions.py on its own: what quitting an app that owns its backend would stop,
and how it asks (the rules both clients share are held to resources/web/actions.js in
tests/web/test_actions_js.py)."""

from __future__ import annotations

from typing import Any

from desktop.session_actions import ended_by_quitting, quit_question


def session(kind: str, status: str, state: str | None = None) -> dict[str, Any]:
    agent = {"state": state, "agentSessionId": None} if kind == "claude" else None
    return {"id": "s", "kind": kind, "status": status, "agent": agent, "foreground": None}


def test_what_quitting_stops() -> None:
    sessions = [
        session("shell", "running"),
        session("command", "running"),
        session("command", "exited"),
        session("claude", "running", "idle"),  # a conversation outlives the backend
        session("claude", "running", "working"),  # its running turn does not
        session("claude", "imported"),
    ]
    assert ended_by_quitting(sessions) == 3
    assert ended_by_quitting(sessions[2:4]) == 0
    assert ended_by_quitting([]) == 0


def test_the_quit_question_counts() -> None:
    assert quit_question(3) == (
        "Quit SessionDock? 3 sessions are running. Stop them, or keep them running in the "
        "background: SessionDock shows them again when you start it next (sessiondock stop "
        "ends them)."
    )
    assert quit_question(1).startswith("Quit SessionDock? 1 session is running. Stop it, or")
