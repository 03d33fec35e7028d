"""Claude Code's stream-json control protocol, as lines: what the host writes, and how to read
the lines that are not the conversation itself (no I/O here).

One long-lived ``claude`` process holds a conversation: prompts go to its standard input as
``user`` lines, and the host and the CLI ask each other things with ``control_request`` lines
answered by ``control_response`` lines carrying the same ``request_id``
(../shared/reference/claude-control-protocol.md). The CLI's ``can_use_tool`` requests are how
it asks for approval; ``stream_event`` lines carry the model's text as it streams.
"""

from __future__ import annotations

import itertools
import json
import secrets
from dataclasses import dataclass
from typing import Any, Final

# The command line of a live conversation, before --resume and the session's own arguments.
LIVE_FLAGS: Final = (
    "--input-format",
    "stream-json",
    "--output-format",
    "stream-json",
    "--verbose",
    "--permission-prompt-tool",
    "stdio",
    "--include-partial-messages",
)

_ids = itertools.count(1)
_PREFIX = secrets.token_hex(4)


def _dump(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def new_request_id() -> str:
    """An id for a request of ours, unique in this backend's life."""
    return f"sd-{_PREFIX}-{next(_ids)}"


def user_line(text: str) -> bytes:
    """A prompt."""
    return _dump(
        {
            "type": "user",
            "message": {"role": "user", "content": text},
            "parent_tool_use_id": None,
        }
    )


def request_line(request_id: str, subtype: str, **fields: Any) -> bytes:
    """A control request of the host's (``initialize``, ``interrupt``, ``set_permission_mode``,
    ``set_model``)."""
    return _dump(
        {
            "type": "control_request",
            "request_id": request_id,
            "request": {"subtype": subtype, **fields},
        }
    )


def success_line(request_id: str, response: dict[str, Any]) -> bytes:
    """The host's answer to a request of the CLI's."""
    return _dump(
        {
            "type": "control_response",
            "response": {"subtype": "success", "request_id": request_id, "response": response},
        }
    )


def error_line(request_id: str, message: str) -> bytes:
    return _dump(
        {
            "type": "control_response",
            "response": {"subtype": "error", "request_id": request_id, "error": message},
        }
    )


def allow(
    original: dict[str, Any],
    updated_input: dict[str, Any] | None,
    remember: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    """A ``can_use_tool`` answer that lets the tool run (with ``updated_input`` if given)."""
    answer: dict[str, Any] = {
        "behavior": "allow",
        "updatedInput": original if updated_input is None else updated_input,
    }
    if remember:
        answer["updatedPermissions"] = remember
    return answer


def deny(message: str, *, interrupt: bool = False) -> dict[str, Any]:
    return {"behavior": "deny", "message": message, "interrupt": interrupt}


@dataclass(frozen=True, slots=True)
class ToolRequest:
    """A ``can_use_tool`` request: the CLI waits for its answer."""

    request_id: str
    tool: str
    input: dict[str, Any]
    tool_use_id: str | None
    suggestions: list[Any]
    blocked_path: str | None

    @classmethod
    def of(cls, request_id: str, request: dict[str, Any]) -> ToolRequest:
        tool_input = request.get("input")
        suggestions = request.get("permission_suggestions")
        tool_use_id, blocked = request.get("tool_use_id"), request.get("blocked_path")
        return cls(
            request_id=request_id,
            tool=str(request.get("tool_name") or "?"),
            input=tool_input if isinstance(tool_input, dict) else {},
            tool_use_id=tool_use_id if isinstance(tool_use_id, str) else None,
            suggestions=suggestions if isinstance(suggestions, list) else [],
            blocked_path=blocked if isinstance(blocked, str) else None,
        )


@dataclass(frozen=True, slots=True)
class TextDelta:
    message_id: str
    index: int
    text: str


class StreamReader:
    """Takes ``stream_event`` lines; gives the text deltas, each with its message's id (which
    only ``message_start`` names)."""

    def __init__(self) -> None:
        self.message_id = ""

    def feed(self, line: dict[str, Any]) -> TextDelta | None:
        event = line.get("event")
        if not isinstance(event, dict):
            return None
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message")
            if isinstance(message, dict) and isinstance(message.get("id"), str):
                self.message_id = message["id"]
            return None
        if kind != "content_block_delta":
            return None
        delta, index = event.get("delta"), event.get("index")
        if not isinstance(delta, dict) or delta.get("type") != "text_delta":
            return None
        text = delta.get("text")
        if not isinstance(text, str) or not text:
            return None
        return TextDelta(self.message_id, index if isinstance(index, int) else 0, text)


def commands_of(answer: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The slash commands an ``initialize`` answer lists: (name, description, argument hint).
    Releases spell them as objects or as bare names."""
    listed = answer.get("commands")
    if not isinstance(listed, list):
        listed = answer.get("slash_commands")
    found: list[tuple[str, str, str]] = []
    for entry in listed if isinstance(listed, list) else ():
        name = (
            entry
            if isinstance(entry, str)
            else entry.get("name")
            if isinstance(entry, dict)
            else None
        )
        if not isinstance(name, str) or not name.strip().lstrip("/"):
            continue  # releases list a blank one
        if isinstance(entry, str):
            found.append((name.strip().lstrip("/"), "", ""))
        else:
            description, hint = entry.get("description"), entry.get("argumentHint")
            found.append(
                (
                    name.strip().lstrip("/"),
                    description if isinstance(description, str) else "",
                    hint if isinstance(hint, str) else "",
                )
            )
    return found
