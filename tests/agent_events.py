"""The corpus of agent-session events (tests/fixtures/agent_events/*.json), for tests.

Each file is a list of ``{type, data}`` events as the backend stores and streams them
(docs/api.md, "Agent sessions"), without the ``sessionId`` and ``timestamp`` every event's data
carries: ``load`` adds those, and the ids (1, 2, 3, … in file order). Paths in the files lie
inside or outside ``WORKDIR``, the session's folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).parent / "fixtures" / "agent_events"
WORKDIR = "/home/me/app"
SESSION = "session-agent0001"
T0 = 1795723060000

Stored = list[tuple[int, str, dict[str, Any]]]


def names() -> list[str]:
    """The corpus's files, by name (``conversation``, ``operations``…)."""
    return sorted(path.stem for path in CORPUS.glob("*.json"))


def load(name: str, session_id: str = SESSION) -> Stored:
    """``(id, event type, data)`` of one corpus file."""
    events = json.loads((CORPUS / f"{name}.json").read_text(encoding="utf-8"))
    return [
        (n, event["type"], {"sessionId": session_id, **event["data"], "timestamp": T0 + n})
        for n, event in enumerate(events, start=1)
    ]


def conversation(session_id: str = SESSION) -> Stored:
    """One turn that reads, edits, writes, runs and fails a test, a second prompt queued
    meanwhile, and that second turn interrupted (its paths are relative)."""
    return load("conversation", session_id)


def _operation(tool_use_id: str) -> dict[str, Any]:
    return next(
        op
        for _, kind, data in conversation()
        if kind == "operations-detected"
        for op in data["operations"]
        if op["toolUseId"] == tool_use_id
    )


_FIRST_END = next(data for _, kind, data in conversation() if "turn" in data)
DIFF: str = _operation("toolu_2")["diff"]  # the Edit's
WRITE_DIFF: str = _operation("toolu_3")["diff"]
TURN: dict[str, Any] = _FIRST_END["turn"]
TOTALS: dict[str, Any] = _FIRST_END["totals"]
