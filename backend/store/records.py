"""What the store keeps of projects and sessions, as plain rows (no SQL here)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ProjectRecord:
    id: str
    name: str
    path: str
    created_at: int


@dataclass(slots=True)
class SessionRecord:
    """A session's row. ``runtime`` names what runs it; ``state`` is that runtime's own JSON
    object (an agent's conversation, an import's offset), kept across restarts."""

    id: str
    project_id: str
    name: str
    kind: str
    argv: list[str]
    working_dir: str
    tty: bool
    status: str
    created_at: int
    runtime: str
    exit_code: int | None = None
    ended_at: int | None = None
    state: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> SessionRecord:
        return cls(
            id=row["id"],
            project_id=row["project_id"],
            name=row["name"],
            kind=row["kind"],
            argv=_json_list(row["argv"]),
            working_dir=row["working_dir"],
            tty=bool(row["tty"]),
            status=row["status"],
            created_at=row["created_at"],
            runtime=row["runtime"],
            exit_code=row["exit_code"],
            ended_at=row["ended_at"],
            state=_json_object(row["state"]),
        )


def _json_list(text: str) -> list[str]:
    try:
        value = json.loads(text)
    except ValueError:
        log.warning("a stored argv is not JSON: %r", text[:80])
        return []
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _json_object(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        log.warning("a stored session state is not JSON: %r", text[:80])
        return {}
    return value if isinstance(value, dict) else {}
