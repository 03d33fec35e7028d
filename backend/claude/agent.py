"""What a session knows of its Claude Code conversation, kept in the session's state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from backend.claude.transcript import Usage, is_agent_id
from backend.protocol.api import Agent
from backend.protocol.events import AgentStatus

IDLE: Final = "idle"
WORKING: Final = "working"


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

    def remember(self, agent_session_id: str) -> None:
        self.agent_session_id = agent_session_id
        if agent_session_id not in self.known_ids:
            self.known_ids.append(agent_session_id)

    def to_agent(self) -> Agent:
        return Agent(
            agent_session_id=self.agent_session_id,
            state=WORKING if self.state == WORKING else IDLE,
            queued=self.queued,
            totals=self.totals.to_totals(),
            source=self.source,
        )

    def to_status(self) -> AgentStatus:
        return AgentStatus(
            state=WORKING if self.state == WORKING else IDLE,
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
        return cls(
            agent_session_id=agent_id if is_agent_id(agent_id) else None,
            state=WORKING if data.get("state") == WORKING else IDLE,
            totals=Usage.from_json(data.get("totals")),
            source=source if isinstance(source, str) else None,
            queued=queued if isinstance(queued, int) and queued > 0 else 0,
            known_ids=[i for i in known if is_agent_id(i)] if isinstance(known, list) else [],
        )
