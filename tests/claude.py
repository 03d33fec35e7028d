"""What the agent-session tests share: the fake ``claude`` and Claude Code's history layout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FAKE_CLAUDE = FIXTURES / "fake_claude"
HISTORY_FIXTURES = FIXTURES / "claude" / "history"


def encode_folder(path: str | Path) -> str:
    """The folder name Claude Code keeps a project's sessions under."""
    return "".join(c if c.isalnum() else "-" for c in str(path))


def history_file(home: Path, cwd: Path | str, session_id: str) -> Path:
    folder = home / "projects" / encode_folder(cwd)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{session_id}.jsonl"


def history_line(kind: str, cwd: Path | str, session_id: str, message: Any, **extra: Any) -> str:
    """One line as Claude Code stores it."""
    line = {
        "parentUuid": None,
        "isSidechain": False,
        "userType": "external",
        "cwd": str(cwd),
        "sessionId": session_id,
        "version": "2.0.14",
        "type": kind,
        "message": message,
        "uuid": f"{kind}-{abs(hash(json.dumps(message)))}",
        "timestamp": "2026-11-20T10:00:00.000Z",
        **extra,
    }
    return json.dumps(line) + "\n"


def _logged(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def fake_calls(log: Path) -> list[dict[str, Any]]:
    """The fake's recorded turns, oldest first: each with its process's ``argv`` and ``pid``
    and its ``prompt`` (a live process logs one per turn)."""
    return [entry for entry in _logged(log) if "argv" in entry]


def fake_answers(log: Path) -> list[dict[str, Any]]:
    """The control responses the fake received (``{subtype, request_id, response}``)."""
    return [entry["answer"] for entry in _logged(log) if "answer" in entry]
