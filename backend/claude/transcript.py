"""Claude Code's JSON lines → SessionDock events, without any I/O.

One parser serves both sources: the ``stream-json`` lines of a running turn and the lines of a
stored history file. Both carry the same API messages (assistant ``content`` blocks: text,
thinking, tool_use; user ``content`` blocks: tool_result) and differ only around them: a turn
has ``system`` and ``result`` lines, a history file has the user's own prompts and bookkeeping
lines (``summary``, snapshots…) that a viewer does not need.
"""

from __future__ import annotations

import difflib
import json
import math
import shlex
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from backend.protocol.api import AGENT_ID
from backend.protocol.events import (
    Error,
    EventData,
    Operation,
    OperationsDetected,
    Output,
    Prompt,
    Raw,
    Totals,
    Turn,
    now_ms,
)

RESPONSE_CHARS = 500
MAX_DIFF_CHARS = 64 * 1024
MAX_RESULT_CHARS = 256 * 1024  # of one tool result (a Read of a big file)
MAX_LINE_SAMPLE = 200
# What the parser remembers across lines is bounded, so reading a history file of any size
# takes the same memory: the text of the latest messages, and calls not yet answered.
REMEMBERED_MESSAGES = 16
REMEMBERED_CALLS = 1024


def is_agent_id(value: object) -> bool:
    """A Claude Code session id is a UUID, and it becomes the argument of --resume: nothing else
    (nothing that could pass for an option) gets through."""
    return isinstance(value, str) and AGENT_ID.fullmatch(value) is not None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def loads(line: str | bytes) -> Any:
    """Strict JSON: NaN and Infinity are refused; nesting too deep is a ValueError too."""
    try:
        return json.loads(line, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None


READ_TOOLS = frozenset({"Read", "NotebookRead", "Glob", "Grep", "LS"})
EDIT_TOOLS = frozenset({"Edit", "MultiEdit", "NotebookEdit"})
DELETE_COMMANDS = frozenset({"rm", "rmdir", "unlink"})


@dataclass(slots=True)
class Usage:
    """Token counts and cost, as a turn's result reports them or as a history file adds up."""

    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    duration_ms: int = 0
    turns: int = 0

    def add(self, other: Usage) -> None:
        self.cost_usd += other.cost_usd
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.cache_creation_tokens += other.cache_creation_tokens
        self.duration_ms += other.duration_ms
        self.turns += other.turns

    def to_totals(self) -> Totals:
        return Totals(
            cost_usd=round(self.cost_usd, 6),
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cache_read_tokens=self.cache_read_tokens,
            cache_creation_tokens=self.cache_creation_tokens,
            duration_ms=self.duration_ms,
            turns=self.turns,
        )

    def to_json(self) -> dict[str, Any]:
        """As stored in a session's state (the totals' JSON names)."""
        return msgspec.to_builtins(self.to_totals())  # type: ignore[no-any-return]

    @classmethod
    def from_json(cls, data: Any) -> Usage:
        if not isinstance(data, dict):
            return cls()
        return cls(
            cost_usd=_number(data.get("costUsd")),
            input_tokens=int(_number(data.get("inputTokens"))),
            output_tokens=int(_number(data.get("outputTokens"))),
            cache_read_tokens=int(_number(data.get("cacheReadTokens"))),
            cache_creation_tokens=int(_number(data.get("cacheCreationTokens"))),
            duration_ms=int(_number(data.get("durationMs"))),
            turns=int(_number(data.get("turns"))),
        )

    @classmethod
    def from_api(cls, usage: Any, cost: Any = 0.0, duration: Any = 0, turns: int = 0) -> Usage:
        """From an API ``usage`` object (a result line's or an assistant message's)."""
        usage = usage if isinstance(usage, dict) else {}
        return cls(
            cost_usd=_number(cost),
            input_tokens=int(_number(usage.get("input_tokens"))),
            output_tokens=int(_number(usage.get("output_tokens"))),
            cache_read_tokens=int(_number(usage.get("cache_read_input_tokens"))),
            cache_creation_tokens=int(_number(usage.get("cache_creation_input_tokens"))),
            duration_ms=int(_number(duration)),
            turns=turns,
        )


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    number = float(value)
    return number if math.isfinite(number) else 0.0


@dataclass(slots=True)
class TurnResult:
    """What a ``result`` line says about the turn it ends."""

    usage: Usage
    num_turns: int
    is_error: bool
    subtype: str

    def to_turn(self, *, interrupted: bool = False) -> Turn:
        usage = self.usage
        return Turn(
            cost_usd=round(usage.cost_usd, 6),
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_creation_tokens=usage.cache_creation_tokens,
            duration_ms=usage.duration_ms,
            num_turns=self.num_turns,
            is_error=self.is_error,
            subtype=self.subtype,
            interrupted=interrupted,
        )


@dataclass(slots=True)
class _Message:
    text: str = ""
    counted: bool = False


@dataclass(slots=True)
class Parsed:
    """The events one line makes, and what it tells the caller about the conversation."""

    events: list[EventData] = field(default_factory=list)
    agent_session_id: str | None = None
    result: TurnResult | None = None
    usage: Usage | None = None  # a history file's assistant message (counted once per message)


class TranscriptParser:
    """Turns lines into events. Keeps a little state across lines: the assistant text around a
    tool call (a message's blocks may come on separate lines) and each call's tool name, so a
    tool result can say which tool it answers."""

    def __init__(self, session_id: str, *, history: bool = False) -> None:
        self.session_id = session_id
        self.history = history
        self._timestamp = 0  # of the line being read
        # Message id → its text so far (and whether its usage was counted), newest last.
        self._messages: OrderedDict[str, _Message] = OrderedDict()
        self._last_text = ""
        self._tools: OrderedDict[str, str] = OrderedDict()  # calls not yet answered

    def feed(self, line: str | bytes) -> Parsed:
        """The events of one line. A malformed line becomes an ``error`` event."""
        if isinstance(line, bytes):
            line = line.decode("utf-8", errors="replace")
        line = line.strip()
        if not line:
            return Parsed()
        try:
            obj = loads(line)
        except ValueError as exc:
            if self.history:
                return Parsed()  # a torn or foreign line in a stored file is skipped
            return Parsed([self._error(f"malformed line from claude: {exc}", line)])
        if not isinstance(obj, dict):
            if self.history:
                return Parsed()
            return Parsed([self._error("line is not a JSON object", line)])
        return self.feed_object(obj)

    def _error(self, message: str, line: str) -> Error:
        return Error(
            session_id=self.session_id,
            timestamp=now_ms(),
            message=message,
            line=line[:MAX_LINE_SAMPLE],
        )

    def feed_object(self, obj: dict[str, Any]) -> Parsed:
        kind = obj.get("type")
        parsed = Parsed()
        session_id = obj.get("session_id") or obj.get("sessionId")
        if is_agent_id(session_id):
            parsed.agent_session_id = session_id
        # History lines say when they were written; a live line is now.
        self._timestamp = parse_timestamp(obj.get("timestamp")) or now_ms()
        if kind == "assistant":
            self._assistant(obj, parsed)
        elif kind == "user":
            self._user(obj, parsed)
        elif kind == "result" and not self.history:
            self._result(obj, parsed)
        elif not self.history:
            parsed.events.append(
                Raw(session_id=self.session_id, timestamp=self._timestamp, line=obj)
            )
        return parsed

    def _output(self, kind: str, content: str, **extra: Any) -> Output:
        return Output(
            session_id=self.session_id,
            timestamp=self._timestamp,
            type=kind,  # type: ignore[arg-type]
            content=content,
            **extra,
        )

    # -- line types ---------------------------------------------------------------------------

    def _assistant(self, obj: dict[str, Any], parsed: Parsed) -> None:
        message = obj.get("message")
        if not isinstance(message, dict):
            return
        raw_id = message.get("id")
        message_id = raw_id if isinstance(raw_id, str) else ""
        blocks = _blocks(message.get("content"))
        texts = [
            b["text"] for b in blocks if b.get("type") == "text" and isinstance(b.get("text"), str)
        ]
        remembered = self._message(message_id)
        if texts:
            joined = "\n".join(texts)
            if remembered is not None:
                remembered.text = (remembered.text + joined)[:RESPONSE_CHARS]
            self._last_text = joined[:RESPONSE_CHARS]
        operations = []
        for block in blocks:
            block_type = block.get("type")
            if block_type == "text" and isinstance(block.get("text"), str) and block["text"]:
                parsed.events.append(self._output("assistant", block["text"]))
            elif block_type == "thinking" and isinstance(block.get("thinking"), str):
                parsed.events.append(self._output("thinking", block["thinking"]))
            elif block_type == "tool_use":
                operation = operation_of(block)
                if operation.tool_use_id:
                    self._tools[operation.tool_use_id] = operation.tool
                    if len(self._tools) > REMEMBERED_CALLS:
                        self._tools.popitem(last=False)
                operations.append(operation)
        if operations:
            around = (remembered.text if remembered else "") or self._last_text
            parsed.events.append(
                OperationsDetected(
                    session_id=self.session_id,
                    timestamp=self._timestamp,
                    operations=operations,
                    response=around[:RESPONSE_CHARS],
                )
            )
        if self.history and remembered is not None and not remembered.counted:
            # A message split over several lines repeats its usage on each: count it once.
            remembered.counted = True
            parsed.usage = Usage.from_api(message.get("usage"), obj.get("costUSD"))

    def _message(self, message_id: str) -> _Message | None:
        """What is remembered of a message (its lines come one after another), if it has an id."""
        if not message_id:
            return None
        message = self._messages.get(message_id)
        if message is None:
            message = self._messages[message_id] = _Message()
            if len(self._messages) > REMEMBERED_MESSAGES:
                self._messages.popitem(last=False)
        return message

    def _user(self, obj: dict[str, Any], parsed: Parsed) -> None:
        message = obj.get("message")
        if not isinstance(message, dict):
            return
        content = message.get("content")
        # Only a history file holds the user's own words (a turn's prompt is ours already), and
        # not every user line there is the user: subagents' prompts, compaction summaries and
        # the echoes of slash commands are not.
        own_words = self.history and not (
            obj.get("isMeta") or obj.get("isSidechain") or obj.get("isCompactSummary")
        )
        if isinstance(content, str):
            if own_words and content.strip() and not content.startswith("<"):
                parsed.events.append(self._prompt(content))
            return
        for block in _blocks(content):
            if block.get("type") == "tool_result":
                tool_use_id = block.get("tool_use_id")
                tool_use_id = tool_use_id if isinstance(tool_use_id, str) else ""
                text = _result_text(block.get("content"))
                result = self._output(
                    "tool-result",
                    text[:MAX_RESULT_CHARS],
                    tool_use_id=tool_use_id,
                    tool=self._tools.pop(tool_use_id, ""),
                    is_error=block.get("is_error") is True,
                )
                if len(text) > MAX_RESULT_CHARS:
                    result.truncated = True
                parsed.events.append(result)
            elif (
                own_words
                and block.get("type") == "text"
                and isinstance(block.get("text"), str)
                and not block["text"].startswith("<")
            ):
                parsed.events.append(self._prompt(block["text"]))

    def _prompt(self, command: str) -> Prompt:
        return Prompt(session_id=self.session_id, timestamp=self._timestamp, command=command)

    def _result(self, obj: dict[str, Any], parsed: Parsed) -> None:
        num_turns = int(_number(obj.get("num_turns")))
        usage = Usage.from_api(
            obj.get("usage"), obj.get("total_cost_usd"), obj.get("duration_ms"), turns=1
        )
        parsed.result = TurnResult(
            usage=usage,
            num_turns=num_turns,
            is_error=obj.get("is_error") is True,
            subtype=str(obj.get("subtype") or ""),
        )
        self._messages.clear()
        self._last_text = ""


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        return []
    return [block for block in content if isinstance(block, dict)]


def _result_text(content: Any) -> str:
    """A tool result's text: a string, or the text blocks of a list (images are named)."""
    if isinstance(content, str):
        return content
    parts = []
    for block in _blocks(content):
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            parts.append(block["text"])
        elif isinstance(block.get("type"), str):
            parts.append(f"[{block['type']}]")
    return "\n".join(parts)


def parse_timestamp(value: Any) -> int | None:
    """An ISO 8601 timestamp (as history lines carry) in milliseconds since the epoch."""
    if not isinstance(value, str):
        return None
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


# -- operations ---------------------------------------------------------------------------------


def operation_of(block: dict[str, Any]) -> Operation:
    """One ``tool_use`` block as an operation: what it does and to which file or command."""
    name, raw_input, raw_id = block.get("name"), block.get("input"), block.get("id")
    tool = name if isinstance(name, str) else "?"
    tool_input: dict[str, Any] = raw_input if isinstance(raw_input, dict) else {}
    tool_use_id = raw_id if isinstance(raw_id, str) else ""
    operation = Operation(tool=tool, type="other", tool_use_id=tool_use_id)
    path = _first_string(tool_input, "file_path", "notebook_path", "path")
    if tool in READ_TOOLS:
        operation.type = "read"
        path = path or _first_string(tool_input, "pattern")
    elif tool == "Write":
        operation.type = "write"
        content = tool_input.get("content")
        if isinstance(content, str):
            _put_diff(operation, path or "file", "", content)
    elif tool in EDIT_TOOLS:
        operation.type = "edit"
        edits = _edits(tool, tool_input)
        if edits:
            _put_diff(operation, path or "file", *_joined(edits))
    elif tool == "Bash":
        command = _first_string(tool_input, "command")
        operation.type = "bash"
        if command:
            operation.command = command
            target = deleted_paths(command)
            if target is not None:
                operation.type = "delete"
                path = path or target
    if path:
        operation.path = path
    return operation


def _first_string(data: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _edits(tool: str, tool_input: dict[str, Any]) -> list[tuple[str, str]]:
    if tool == "MultiEdit":
        edits = tool_input.get("edits")
        items = edits if isinstance(edits, list) else []
    elif tool == "NotebookEdit":
        items = [{"old_string": "", "new_string": tool_input.get("new_source", "")}]
    else:
        items = [tool_input]
    result = []
    for item in items:
        if isinstance(item, dict):
            old, new = item.get("old_string", ""), item.get("new_string", "")
            if isinstance(old, str) and isinstance(new, str):
                result.append((old, new))
    return result


def _joined(edits: list[tuple[str, str]]) -> tuple[str, str]:
    """Several edits as one old and one new text, separated so each shows as its own hunk."""
    gap = "\n" * 4
    return gap.join(old for old, _ in edits), gap.join(new for _, new in edits)


def _put_diff(operation: Operation, path: str, old: str, new: str) -> None:
    diff = unified_diff(path, old, new)
    if len(diff) > MAX_DIFF_CHARS:
        diff = diff[:MAX_DIFF_CHARS]
        diff = diff[: diff.rfind("\n") + 1]
        operation.truncated = True
    operation.diff = diff


def unified_diff(path: str, old: str, new: str) -> str:
    lines: Iterator[str] = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=f"a/{path.lstrip('/')}" if old else "/dev/null",
        tofile=f"b/{path.lstrip('/')}",
        n=3,
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def deleted_paths(command: str) -> str | None:
    """The paths a Bash command deletes, if it is a delete (``rm``, ``git rm``…); else None."""
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    if words[:2] == ["git", "rm"]:
        words = words[1:]
    elif not words or words[0] not in DELETE_COMMANDS:
        return None
    if any(word in {"&&", "||", ";", "|"} or word.endswith(";") for word in words):
        return None  # a compound command does more than delete
    targets = [word for word in words[1:] if not word.startswith("-")]
    return " ".join(targets) if targets else None
