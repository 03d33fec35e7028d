"""Agent-session events to styled rows: what the view shows of a Claude Code conversation.

Qt-free and I/O-free, like the ANSI renderer: ``AgentRenderer.render(events)`` answers with the
rows to append, each a tuple of ``(text, role)`` spans. The view maps roles to its own formats
(colors, fonts), so the meaning stays here and the looks stay with the theme. The events are
those of docs/api.md, "Agent sessions":

- ``output`` ``assistant``: prose, one row per line, with ```` ``` ```` fences, ``# headings``,
  ```code``` and ``**bold**`` marked; ``thinking`` dim; ``stderr`` muted red;
- ``output`` ``tool-result``: one dim row (its first line and how many more), red if an error;
- ``operations-detected``: one row per operation, the tool colored by its type, then its path or
  command; an edit or write carries its unified diff (``Row.diff``) for the view to expand;
- ``prompt``: the prompt mark and its text, with ``queued #N`` when it waits for the running turn;
- ``status`` with ``turn``: the turn's cost, tokens and duration, or that it was interrupted or
  failed; ``error`` red; ``raw`` lines are not shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias

Role: TypeAlias = Literal[
    "prose", "bold", "heading", "code", "thinking", "stderr", "plain", "muted",
    "result", "result-error", "prompt",
    "op-read", "op-write", "op-edit", "op-delete", "op-bash", "op-other", "target", "toggle",
    "diff-file", "diff-hunk", "diff-add", "diff-del", "diff-context",
    "turn", "turn-interrupted", "turn-error", "error",
]  # fmt: skip
Span: TypeAlias = tuple[str, Role]

PROMPT_MARK: Final = "\N{HEAVY RIGHT-POINTING ANGLE QUOTATION MARK ORNAMENT} "
SHOW_DIFF: Final = "▸ show diff"
HIDE_DIFF: Final = "▾ hide diff"
MAX_ROW_CHARS: Final = 160  # a compact row (tool result, command) is cut here
OP_ROLES: Final[dict[str, Role]] = {
    "read": "op-read", "write": "op-write", "edit": "op-edit",
    "delete": "op-delete", "bash": "op-bash",
}  # fmt: skip
# Escape sequences in tool output and stderr: CSI, OSC (to BEL or ST), and two-character escapes.
_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_INLINE = re.compile(r"`([^`\n]+)`|\*\*([^*\n]+)\*\*")
_HEADING = re.compile(r"#{1,6}\s+")


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the view. ``diff`` is an edit's unified diff, shown when the row is expanded;
    ``truncated`` says the backend cut that diff."""

    spans: tuple[Span, ...]
    diff: str | None = None
    truncated: bool = False


BLANK: Final = Row(())


def plain(row: Row) -> str:
    return "".join(text for text, _ in row.spans)


def strip_escapes(text: str) -> str:
    return _ESCAPES.sub("", text) if "\x1b" in text else text


def shorten(text: str, width: int = MAX_ROW_CHARS) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def format_cost(usd: float) -> str:
    """A total for the session list: ``$0.04``; under a cent ``$0.003``, ``<$0.001``."""
    if 0 < usd < 0.0005:
        return "<$0.001"
    return f"${usd:.3f}" if 0 < usd < 0.0095 else f"${usd:.2f}"


def format_duration(ms: float) -> str:
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s"


def row_estimate(event_type: str, data: dict[str, Any]) -> int:
    """About how many rows an event makes, without rendering it (the feed's budget unit)."""
    if event_type == "output" and data.get("type") != "tool-result":
        content = data.get("content")
        return content.count("\n") + 1 if isinstance(content, str) else 1
    if event_type == "operations-detected":
        operations = data.get("operations")
        return len(operations) if isinstance(operations, list) else 1
    return 1


class AgentRenderer:
    """Turns an agent session's events into rows, in order.

    It remembers only what kind of row came last, to leave a blank row where the conversation
    changes hands (before a prompt, before the agent speaks again after its tools). Paths under
    ``cwd`` (the session's folder) are shown relative to it."""

    def __init__(self, cwd: str | None = None) -> None:
        self.cwd = cwd
        self._last = "start"

    def reset(self) -> None:
        self._last = "start"

    def render(self, events: list[tuple[str, dict[str, Any]]]) -> list[Row]:
        """Rows for ``(event type, data)`` pairs, in order."""
        rows: list[Row] = []
        for event_type, data in events:
            group, made = self._rows(event_type, data)
            if not made:
                continue
            if group in ("prompt", "assistant") and self._last not in ("start", group):
                rows.append(BLANK)
            rows.extend(made)
            self._last = group
        return rows

    def _rows(self, event_type: str, data: dict[str, Any]) -> tuple[str, list[Row]]:
        if event_type == "output":
            return self._output(data)
        if event_type == "operations-detected":
            operations = data.get("operations")
            ops = operations if isinstance(operations, list) else []
            return "tools", [operation_row(op, self.cwd) for op in ops if isinstance(op, dict)]
        if event_type == "prompt":
            return "prompt", prompt_rows(data)
        if event_type == "status":
            return "turn", status_rows(data)
        if event_type == "error":
            return "error", error_rows(data)
        return "raw", []  # raw stream-json lines (and anything newer) are not shown

    def _output(self, data: dict[str, Any]) -> tuple[str, list[Row]]:
        kind = data.get("type")
        content = _text(data.get("content"))
        if kind == "assistant":
            return "assistant", prose_rows(content)
        if kind == "tool-result":
            return "tools", [tool_result_row(content, bool(data.get("isError")))]
        if kind == "thinking":
            return "assistant", _lines(content.strip("\n"), "thinking")
        role: Role = "stderr" if kind == "stderr" else "plain"
        return "output", _lines(strip_escapes(content).rstrip("\n"), role)


def prose_rows(text: str) -> list[Row]:
    """Assistant text, a row per line: fenced code stays verbatim, the rest gets light markup."""
    rows: list[Row] = []
    fenced = False
    for line in text.strip("\n").split("\n"):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            rows.append(Row(((line, "code"),) if line else ()))
        elif heading := _HEADING.match(line):
            rows.append(Row(((line[heading.end() :], "heading"),)))
        else:
            rows.append(Row(_inline(line)))
    return rows


def _inline(line: str) -> tuple[Span, ...]:
    spans: list[Span] = []
    at = 0
    for match in _INLINE.finditer(line):
        if match.start() > at:
            spans.append((line[at : match.start()], "prose"))
        code, bold = match.groups()
        spans.append((code, "code") if code is not None else (bold or "", "bold"))
        at = match.end()
    if at < len(line):
        spans.append((line[at:], "prose"))
    return tuple(spans)


def tool_result_row(content: str, is_error: bool) -> Row:
    lines = strip_escapes(content).strip("\n").split("\n")
    first = next((" ".join(line.split()) for line in lines if line.strip()), "")
    more = len(lines) - 1
    text = "  └ " + (shorten(first) if first else "(no output)")
    spans: list[Span] = [(text, "result-error" if is_error else "result")]
    if more > 0:
        spans.append((f"  … {more} more line{'s' if more > 1 else ''}", "muted"))
    return Row(tuple(spans))


def operation_row(op: dict[str, Any], cwd: str | None = None) -> Row:
    """``● Edit  src/app.py  ▸ show diff``: the tool in its type's color, then what it touches."""
    role = OP_ROLES.get(str(op.get("type")), "op-other")
    spans: list[Span] = [(f"● {op.get('tool', '?')}", role)]
    target = op.get("command") if op.get("command") is not None else op.get("path")
    if isinstance(target, str) and target == op.get("path") and cwd:
        target = relative(target, cwd)
    if isinstance(target, str) and target:
        first, *rest = target.strip().split("\n")
        spans.append(("  " + shorten(first) + (" …" if rest else ""), "target"))
    diff = op.get("diff")
    if isinstance(diff, str) and diff:
        spans += [("  ", "target"), (SHOW_DIFF, "toggle")]
        return Row(tuple(spans), diff=diff, truncated=bool(op.get("truncated")))
    return Row(tuple(spans))


def relative(path: str, cwd: str) -> str:
    """``path`` relative to ``cwd`` when it lies inside it (``.`` for ``cwd`` itself)."""
    folder = cwd.rstrip("/")
    if path == folder:
        return "."
    return path[len(folder) + 1 :] if path.startswith(folder + "/") and folder else path


def diff_rows(diff: str, truncated: bool = False) -> list[Row]:
    """A unified diff, indented under its operation: - red, + green, @@ dim.

    ``---`` and ``+++`` name the files only before the first hunk: inside one they are a
    removed ``-- comment`` or an added ``++i;``."""
    rows = []
    in_hunks = False
    for line in diff.rstrip("\n").split("\n"):
        role: Role
        if line.startswith("@@"):
            role = "diff-hunk"
            in_hunks = True
        elif not in_hunks and line.startswith(("+++", "---")):
            role = "diff-file"
        elif line.startswith("+"):
            role = "diff-add"
        elif line.startswith("-"):
            role = "diff-del"
        else:
            role = "diff-context"
        rows.append(Row((("      " + line, role),)))
    if truncated:
        rows.append(Row((("      … the diff was cut at 64 KiB", "muted"),)))
    return rows


def prompt_rows(data: dict[str, Any]) -> list[Row]:
    lines = _text(data.get("command")).strip("\n").split("\n")
    rows = [
        Row((((PROMPT_MARK if i == 0 else "  ") + line, "prompt"),)) for i, line in enumerate(lines)
    ]
    if data.get("queued"):
        position = data.get("position")
        label = f"  queued #{position}" if isinstance(position, int) else "  queued"
        rows[0] = Row((*rows[0].spans, (label, "muted")))
    return rows


def status_rows(data: dict[str, Any]) -> list[Row]:
    """A row for the end of a turn (or of the conversation); nothing when a turn starts."""
    turn = data.get("turn")
    if isinstance(turn, dict):
        return [turn_row(turn)]
    status = data.get("status")
    if status in ("exited", "failed", "interrupted"):
        role: Role = "turn-error" if status == "failed" else "turn"
        return [Row(((f"— the conversation ended: {status}", role),))]
    return []


def turn_row(turn: dict[str, Any]) -> Row:
    """``turn: $0.0421 · 476 tokens out · 12.3 s``, ``turn: interrupted``, or the failure."""
    interrupted = bool(turn.get("interrupted"))
    parts = []
    cost = turn.get("costUsd")
    tokens = turn.get("outputTokens")
    duration = turn.get("durationMs")
    # An interrupted turn has no result line: its zeros are unknowns, not facts.
    if isinstance(cost, int | float) and not (interrupted and cost == 0):
        parts.append(f"${cost:.4f}")
    if isinstance(tokens, int) and not (interrupted and tokens == 0):
        parts.append(f"{tokens} tokens out")
    if isinstance(duration, int | float) and not (interrupted and duration == 0):
        parts.append(format_duration(duration))
    facts = " · ".join(parts)
    if interrupted:
        return Row((("turn: interrupted" + (f" · {facts}" if facts else ""), "turn-interrupted"),))
    if turn.get("isError"):
        subtype = turn.get("subtype")
        why = f" ({subtype})" if isinstance(subtype, str) and subtype else ""
        return Row(((f"turn failed{why}" + (f": {facts}" if facts else ""), "turn-error"),))
    return Row(((f"turn: {facts}" if facts else "turn: done", "turn"),))


def error_rows(data: dict[str, Any]) -> list[Row]:
    spans: list[Span] = [("error: " + _text(data.get("message")), "error")]
    line = data.get("line")
    if isinstance(line, str) and line:
        spans.append(("  (line: " + shorten(line.split("\n")[0], 120) + ")", "muted"))
    return [Row(tuple(spans))]


def _lines(text: str, role: Role) -> list[Row]:
    return [Row(((line, role),) if line else ()) for line in text.split("\n")]


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    return "" if value is None else str(value)
