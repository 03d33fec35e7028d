"""What a session knows of its Claude Code conversation, kept in the session's state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from backend.claude.transcript import Usage, is_agent_id
from backend.protocol.api import Agent, PendingPermission, SlashCommand
from backend.protocol.events import AgentStatus

IDLE: Final = "idle"
WORKING: Final = "working"
WAITING: Final = "waiting"
# Answered or void requests remembered, so a late second answer is "already resolved" (409)
# rather than "unknown" (404), across restarts too.
REMEMBERED_RESOLVED = 200


@dataclass(slots=True)
class AgentState:
    """A conversation's agent: its Claude Code session id, what it does, what it cost."""

    agent_session_id: str | None = None
    state: str = IDLE
    totals: Usage = field(default_factory=Usage)
    source: str | None = None  # the history file of an imported session
    queued: int = 0
    # Every Claude Code session id this conversation ran under (some releases start a new one
    # on each --resume): their history files are this session's, not sessions to import.
    known_ids: list[str] = field(default_factory=list)
    mode: str | None = None
    model: str | None = None
    commands: list[SlashCommand] = field(default_factory=list)
    pending: dict[str, PendingPermission] = field(default_factory=dict)  # by request id
    resolved: list[str] = field(default_factory=list)  # the latest resolved request ids
    live: bool = False  # not kept: a process holds the conversation now

    @property
    def shown_state(self) -> str:
        if self.state != WORKING:
            return IDLE
        return WAITING if self.pending else WORKING

    def resolve(self, request_id: str) -> PendingPermission | None:
        request = self.pending.pop(request_id, None)
        if request is not None:
            self.resolved.append(request_id)
            del self.resolved[:-REMEMBERED_RESOLVED]
        return request

    def remember(self, agent_session_id: str) -> None:
        self.agent_session_id = agent_session_id
        if agent_session_id not in self.known_ids:
            self.known_ids.append(agent_session_id)

    def to_agent(self) -> Agent:
        return Agent(
            agent_session_id=self.agent_session_id,
            state=self.shown_state,  # type: ignore[arg-type]
            queued=self.queued,
            totals=self.totals.to_totals(),
            source=self.source,
            pending=list(self.pending.values()),
            mode=self.mode,
            model=self.model,
            commands=list(self.commands),
            live=self.live,
        )

    def to_status(self) -> AgentStatus:
        return AgentStatus(
            state=self.shown_state,  # type: ignore[arg-type]
            queued=self.queued,
            agent_session_id=self.agent_session_id,
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "agentSessionId": self.agent_session_id,
            "state": self.state,
            "queued": self.queued,
            "totals": self.totals.to_json(),
            "source": self.source,
            "knownIds": self.known_ids,
            "mode": self.mode,
            "model": self.model,
            "commands": msgspec.to_builtins(self.commands),
            "pending": msgspec.to_builtins(list(self.pending.values())),
            "resolved": self.resolved,
        }

    @classmethod
    def from_record(cls, data: Any) -> AgentState:
        if not isinstance(data, dict):
            return cls()
        agent_id, source, queued = (
            data.get("agentSessionId"),
            data.get("source"),
            data.get("queued"),
        )
        known = data.get("knownIds")
        mode, model = data.get("mode"), data.get("model")
        return cls(
            mode=mode if isinstance(mode, str) else None,
            model=model if isinstance(model, str) else None,
            commands=_decoded(data.get("commands"), list[SlashCommand]) or [],
            pending={
                p.request_id: p
                for p in _decoded(data.get("pending"), list[PendingPermission]) or []
            },
            resolved=[r for r in data.get("resolved") or [] if isinstance(r, str)][
                -REMEMBERED_RESOLVED:
            ],
            agent_session_id=agent_id if is_agent_id(agent_id) else None,
            state=WORKING if data.get("state") == WORKING else IDLE,
            totals=Usage.from_json(data.get("totals")),
            source=source if isinstance(source, str) else None,
            queued=queued if isinstance(queued, int) and queued > 0 else 0,
            known_ids=[i for i in known if is_agent_id(i)] if isinstance(known, list) else [],
        )


def _decoded(value: Any, kind: Any) -> Any:
    """``value`` (from a stored record) as ``kind``; None if it does not fit."""
    try:
        return msgspec.convert(value, kind)
    except (msgspec.ValidationError, TypeError):
        return None
