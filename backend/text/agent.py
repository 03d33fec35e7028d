"""What a person would search for in an agent session's events: prompts, Claude's text, tool
commands and paths, diffs and tool results (escape sequences removed).

Events come as stored: a type and its JSON data (docs/api.md, "Agent sessions"). Anything of
another shape gives nothing; nothing here raises on odd data.
"""

from __future__ import annotations

from typing import Any

from backend.text.terminal import strip_escapes

# Output types whose ``content`` is text a person reads.
PROSE = frozenset({"assistant", "thinking", "tool-result", "stderr"})


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def operation_texts(operation: object) -> list[str]:
    """A tool call's tool, command or path, and its diff."""
    if not isinstance(operation, dict):
        return []
    head = " ".join(
        part for part in (_text(operation.get("tool")), _text(operation.get("command"))) if part
    )
    path = _text(operation.get("path"))
    texts = [" ".join(part for part in (head, path) if part)]
    diff = _text(operation.get("diff"))
    if diff:
        texts.append(diff)
    return [text for text in texts if text]


def request_texts(data: dict[str, Any]) -> list[str]:
    """A permission request: the tool, and what it would run or touch."""
    tool_input = data.get("input")
    tool_input = tool_input if isinstance(tool_input, dict) else {}
    parts = [_text(data.get("tool"))]
    for key in ("command", "file_path", "path", "url", "pattern"):
        parts.append(_text(tool_input.get(key)))
    for question in tool_input.get("questions") or []:
        if isinstance(question, dict):
            parts.append(_text(question.get("question")))
    return [" ".join(part for part in parts if part)]


def event_texts(event_type: str, data: object) -> list[str]:
    """The searchable texts of one stored event of an agent session."""
    if not isinstance(data, dict):
        return []
    texts: list[str] = []
    if event_type == "prompt":
        texts.append(_text(data.get("command")))
    elif event_type == "output" and data.get("type") in PROSE:
        content = _text(data.get("content"))
        texts.append(
            content if data.get("type") in ("assistant", "thinking") else strip_escapes(content)
        )
    elif event_type == "operations-detected":
        for operation in data.get("operations") or []:
            texts.extend(operation_texts(operation))
    elif event_type == "permission-request":
        texts.extend(request_texts(data))
    elif event_type == "error":
        texts.append(_text(data.get("message")))
    return [text for text in texts if text.strip()]
