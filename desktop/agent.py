"""Agent-session events to styled rows: what the view shows of a Claude Code conversation.

Qt-free and I/O-free, like the ANSI renderer: ``AgentRenderer.render(events)`` answers with the
rows to append, each a tuple of ``(text, role)`` spans. The view maps roles to its own formats
(colors, fonts), so the meaning stays here and the looks stay with the theme. The events are
those of docs/api.md, "Agent sessions"; what each becomes is in docs/architecture.md, "How the
clients show an agent session", which resources/web/agent.js follows line for line
(tests/web/test_renderer_parity.py compares the two):

- ``output`` ``assistant``: prose, one row per line, with ```` ``` ```` fences, ``# headings``,
  ```code``` and ``**bold**`` marked; ``thinking``: its first line, folded; ``stderr``: muted red;
- ``output`` ``tool-result``: one dim row (the tool, the first line, how many lines), red if an
  error, which folds the whole result (cut at ``MAX_RESULT_CHARS``, as the page cuts it) when
  that row does not show all of it;
- ``operations-detected``: one row per operation, the tool colored by its type, then its path or
  command and a diff's counts; an edit or write folds its unified diff (``Row.fold``);
- ``prompt``: the prompt mark and its text, with ``queued #N`` when it waits for the running turn;
- ``status``: the turn's cost, tokens and duration (or that it was interrupted or failed), and
  how the session ended; ``error`` red; ``raw`` lines are not shown.

A row's text is its content only: its indentation (``Row.indent``) and the link that opens its
fold are the view's to draw, as the web page draws them with CSS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias

from desktop.approval import MODE_NAMES, describe, resolution_text
from desktop.format import format_cost, format_count, format_duration, number

Role: TypeAlias = Literal[
    "prose", "bold", "heading", "code", "thinking", "stderr", "plain", "muted",
    "result", "result-error", "prompt",
    "op-read", "op-write", "op-edit", "op-delete", "op-bash", "op-other", "target", "toggle",
    "diff-file", "diff-hunk", "diff-add", "diff-del", "diff-context",
    "turn", "turn-interrupted", "turn-error", "error",
]  # fmt: skip
Span: TypeAlias = tuple[str, Role]
FoldKind: TypeAlias = Literal["diff", "thinking", "result"]

PROMPT_MARK: Final = "\N{HEAVY RIGHT-POINTING ANGLE QUOTATION MARK ORNAMENT} "
OPERATION_MARK: Final = "● "
RESULT_MARK: Final = "↳ "
THINKING_MARK: Final = "thinking"
GAP: Final = "  "  # between the parts of a row
MINUS_SIGN: Final = "\N{MINUS SIGN}"  # before the count of a diff's removed lines
TRUNCATED: Final = "(truncated)"
SHOW_DIFF: Final = "▸ show diff"
HIDE_DIFF: Final = "▾ hide diff"
# The link that opens and closes each kind of fold: (closed, open).
FOLD_LINKS: Final[dict[FoldKind, tuple[str, str]]] = {
    "diff": (SHOW_DIFF, HIDE_DIFF),
    "thinking": ("▸ show all", "▾ show less"),
    "result": ("▸ show output", "▾ hide output"),
}
MAX_ROW_CHARS: Final = 160  # a one-line summary (tool result, thinking, command) is cut here
MAX_SAMPLE_CHARS: Final = 120  # of the line quoted by an error
MAX_COUNTED_LINES: Final = 1_000  # a tool result's line count stops there ("1,000+ lines")
# Of a tool result's folded text, as the page keeps it (agent.js): the backend sends results
# whole, and a build log can run to megabytes.
MAX_RESULT_CHARS: Final = 20_000
RESULT_INDENT: Final = 2
RESULT_BODY_INDENT: Final = 4
DIFF_INDENT: Final = 6
OP_ROLES: Final[dict[str, Role]] = {
    "read": "op-read", "write": "op-write", "edit": "op-edit",
    "delete": "op-delete", "bash": "op-bash",
}  # fmt: skip
# Escape sequences in tool output and stderr: CSI, OSC (to BEL or ST), and two-character escapes.
_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_INLINE = re.compile(r"`([^`\n]+)`|\*\*([^*\n]+)\*\*")
_HEADING = re.compile(r"#{1,6}[ \t]+")
_FENCE = re.compile(r"[ \t]*```")
# White space is ASCII white space, as in agent.js: Python's str.split() and JavaScript's \s
# disagree on a few Unicode characters.
_SPACE = " \t\n\r\f\v"
_SPACES = re.compile(r"[ \t\r\f\v]+")
_NOT_SPACE = re.compile(r"[^ \t\n\r\f\v]")
_LINE_BREAK = re.compile(r"\r\n|[\r\n]")


@dataclass(frozen=True, slots=True)
class Fold:
    """What a row opens into: an edit's unified diff (``truncated``: the backend cut it), the
    whole of a thinking block, or a tool's result (cut, see ``clip``)."""

    kind: FoldKind
    text: str
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the view: its spans, what it opens into, and how far it is indented."""

    spans: tuple[Span, ...]
    fold: Fold | None = None
    indent: int = 0


BLANK: Final = Row(())


def plain(row: Row) -> str:
    """The row's text: what tests/web/test_renderer_parity.py compares with the web page's."""
    return "".join(text for text, _ in row.spans)


def strip_escapes(text: str) -> str:
    return _ESCAPES.sub("", text) if "\x1b" in text else text


def shorten(text: str, width: int = MAX_ROW_CHARS) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def one_line(text: str) -> str:
    """A name or a reason that should fit on its row: its line breaks become spaces."""
    return _LINE_BREAK.sub(" ", text)


def summary(text: str, width: int = MAX_ROW_CHARS) -> str:
    """The first line that is not blank, its runs of white space as one space, cut to ``width``."""
    found = _NOT_SPACE.search(text)
    if found is None:
        return ""
    end = text.find("\n", found.start())
    line = text[found.start() : end if end >= 0 else len(text)]
    return shorten(_SPACES.sub(" ", line).rstrip(" "), width)


def clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, and a line that says how many more there were: the
    page's clip() in agent.js, which counts code points as Python does."""
    if len(text) <= width:
        return text
    return f"{text[:width]}\n({format_count(len(text) - width)} more characters not shown)"


def count_lines(text: str, cap: int = MAX_COUNTED_LINES) -> int:
    """The lines from the first that is not blank to the last, counted up to ``cap`` + 1."""
    return min(text.strip(_SPACE).count("\n") + 1, cap + 1) if text.strip(_SPACE) else 0


def row_estimate(event_type: str, data: dict[str, Any]) -> int:
    """About how many rows an event makes, without rendering it (the feed's budget unit)."""
    if event_type == "output" and data.get("type") not in ("tool-result", "thinking"):
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
        if event_type == "permission-request":
            return "tools", request_rows(data, self.cwd or "")
        if event_type == "permission-resolved":
            return "tools", [resolution_row(data)]
        if event_type == "mode":
            mode = data.get("mode")
            name = MODE_NAMES.get(mode, mode) if isinstance(mode, str) else None
            return "output", [Row(((f"mode: {name}", "muted"),))] if name else []
        return "raw", []  # raw stream-json lines (and anything newer) are not shown

    def _output(self, data: dict[str, Any]) -> tuple[str, list[Row]]:
        kind = data.get("type")
        content = _text(data.get("content"))
        if kind == "assistant":
            return "assistant", prose_rows(content)
        if kind == "tool-result":
            tool = data.get("tool")
            name = tool if isinstance(tool, str) else ""
            return "tools", [tool_result_row(content, data.get("isError") is True, name)]
        if kind == "thinking":
            return "assistant", [thinking_row(content)]
        role: Role = "stderr" if kind == "stderr" else "plain"
        return "output", _lines(strip_escapes(content).rstrip("\n"), role)


def prose_rows(text: str) -> list[Row]:
    """Assistant text, a row per line: fenced code stays verbatim, the rest gets light markup."""
    rows: list[Row] = []
    fenced = False
    for line in text.strip("\n").split("\n"):
        if _FENCE.match(line):
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


def thinking_row(content: str) -> Row:
    """``thinking  The greeting is in main().``: the first line; the rest folded."""
    first = summary(content)
    spans: tuple[Span, ...] = ((THINKING_MARK, "muted"), (GAP + first, "thinking"))
    more = first != content.strip(_SPACE)
    return Row(spans, fold=Fold("thinking", content) if more else None)


def tool_result_row(content: str, is_error: bool, tool: str = "") -> Row:
    """``↳ Read: 1 def main():  (3 lines)``: the tool, its result's first line and size; the
    whole result folded, unless that line is all of it."""
    text = strip_escapes(content)
    role: Role = "result-error" if is_error else "result"
    head = RESULT_MARK + (f"{one_line(tool)}: " if tool else "")
    first = summary(text)
    spans: list[Span] = [(head + (first or "(no output)"), role)]
    lines = count_lines(text)
    if lines > 1:
        count = format_count(min(lines, MAX_COUNTED_LINES)) + (
            "+" if lines > MAX_COUNTED_LINES else ""
        )
        spans.append((f"{GAP}({count} lines)", "muted"))
    more = first != text.strip(_SPACE)  # as thinking_row: a fold that shows nothing new is noise
    fold = Fold("result", clip(text, MAX_RESULT_CHARS)) if more else None
    return Row(tuple(spans), fold=fold, indent=RESULT_INDENT)


def operation_row(op: dict[str, Any], cwd: str | None = None) -> Row:
    """``● Edit  src/app.py`` and a diff's counts: the tool in its type's color, then what it
    touches, then how many lines its diff adds and removes."""
    role = OP_ROLES.get(str(op.get("type")), "op-other")
    tool = op.get("tool")
    spans: list[Span] = [
        (OPERATION_MARK + (one_line(tool) if isinstance(tool, str) and tool else "?"), role)
    ]
    command, path = op.get("command"), op.get("path")
    target = ""
    if isinstance(command, str) and command:
        target = command
    elif isinstance(path, str):
        target = relative(path, cwd) if cwd else path
    if shown := summary(target, MAX_ROW_CHARS):
        more = "\n" in target.strip(_SPACE)
        spans.append((GAP + shown + (" …" if more else ""), "target"))
    diff = op.get("diff")
    if not (isinstance(diff, str) and diff):
        return Row(tuple(spans))
    added, removed = diff_stats(diff)
    spans += [(f"{GAP}+{added}", "diff-add"), (f" {MINUS_SIGN}{removed}", "diff-del")]
    truncated = op.get("truncated") is True
    if truncated:
        spans.append((GAP + TRUNCATED, "muted"))
    return Row(tuple(spans), fold=Fold("diff", diff, truncated))


def relative(path: str, cwd: str) -> str:
    """``path`` relative to ``cwd`` when it lies inside it (``.`` for ``cwd`` itself)."""
    folder = cwd.rstrip("/")
    if folder and path.rstrip("/") == folder:
        return "."
    return path[len(folder) + 1 :] if folder and path.startswith(folder + "/") else path


DiffKind: TypeAlias = Literal["file", "hunk", "add", "del", "context"]


def diff_lines(diff: str) -> list[tuple[str, DiffKind]]:
    """Each line of a unified diff with its kind.

    ``---`` and ``+++`` name the files only before the first hunk: inside one they are a
    removed ``-- comment`` or an added ``++i;``. ``\\ No newline at end of file`` is a note."""
    lines: list[tuple[str, DiffKind]] = []
    in_hunks = False
    for line in diff.rstrip("\n").split("\n"):
        kind: DiffKind
        if line.startswith("@@"):
            kind = "hunk"
            in_hunks = True
        elif not in_hunks and line.startswith(("+++ ", "--- ")):
            kind = "file"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        elif line.startswith("\\"):
            kind = "hunk"
        else:
            kind = "context"
        lines.append((line, kind))
    return lines


def diff_stats(diff: str) -> tuple[int, int]:
    """Lines added and removed by a unified diff (its file headers not counted)."""
    kinds = [kind for _, kind in diff_lines(diff)]
    return kinds.count("add"), kinds.count("del")


_DIFF_ROLES: Final[dict[DiffKind, Role]] = {
    "file": "diff-file", "hunk": "diff-hunk", "add": "diff-add", "del": "diff-del",
    "context": "diff-context",
}  # fmt: skip


def diff_rows(diff: str, truncated: bool = False) -> list[Row]:
    """A unified diff, indented under its operation: - red, + green, @@ dim."""
    rows = [
        Row(((line, _DIFF_ROLES[kind]),), indent=DIFF_INDENT) for line, kind in diff_lines(diff)
    ]
    if truncated:
        rows.append(Row(((TRUNCATED, "muted"),), indent=DIFF_INDENT))
    return rows


def fold_rows(fold: Fold) -> list[Row]:
    """The rows a fold opens into."""
    if fold.kind == "diff":
        return diff_rows(fold.text, fold.truncated)
    if fold.kind == "result":  # the program's text, as it wrote it: the output's plain font
        body = _lines(fold.text.strip("\n"), "plain")
        return [Row(row.spans, indent=RESULT_BODY_INDENT) for row in body]
    return [
        Row(row.spans, indent=RESULT_INDENT) for row in _lines(fold.text.strip("\n"), "thinking")
    ]


def prompt_rows(data: dict[str, Any]) -> list[Row]:
    lines = _text(data.get("command")).strip("\n").split("\n")
    rows = [Row(((PROMPT_MARK + lines[0], "prompt"),))]
    rows += [Row(((line, "prompt"),) if line else (), indent=2) for line in lines[1:]]
    if data.get("queued") is True:
        position = data.get("position")
        known = isinstance(position, int) and not isinstance(position, bool)
        rows[0] = Row(
            (*rows[0].spans, (f"{GAP}queued" + (f" #{position}" if known else ""), "muted"))
        )
    return rows


def status_rows(data: dict[str, Any]) -> list[Row]:
    """The end of a turn and of the session; nothing when a turn starts."""
    rows = []
    turn = data.get("turn")
    if isinstance(turn, dict):
        rows.append(turn_row(turn))
    status = data.get("status")
    if isinstance(status, str) and status not in ("running", "imported"):
        rows.append(end_row(data, status))
    return rows


def turn_row(turn: dict[str, Any]) -> Row:
    """``turn: $0.04 · 476 tokens out · 12.3 s``, ``turn interrupted: 800 ms``,
    ``turn failed (error_max_turns): …``: what the turn cost, made and took."""
    interrupted = turn.get("interrupted") is True
    cost, tokens, duration = (
        number(turn.get(key)) for key in ("costUsd", "outputTokens", "durationMs")
    )
    parts = []
    # An interrupted turn has no result line: its zeros are unknowns, not facts.
    if cost is not None and not (interrupted and cost == 0):
        parts.append(format_cost(cost))
    if tokens is not None and not (interrupted and tokens == 0):
        parts.append(f"{format_count(tokens)} token{'' if tokens == 1 else 's'} out")
    if duration is not None and not (interrupted and duration == 0):
        parts.append(format_duration(duration))
    role: Role = "turn"
    head = "turn"
    if interrupted:
        role, head = "turn-interrupted", "turn interrupted"
    elif turn.get("isError") is True:
        subtype = turn.get("subtype")
        why = f" ({one_line(subtype)})" if isinstance(subtype, str) and subtype else ""
        role, head = "turn-error", f"turn failed{why}"
    text = f"{head}: {' · '.join(parts)}" if parts else (head if head != "turn" else "turn: done")
    return Row(((text, role),))


def end_row(data: dict[str, Any], status: str) -> Row:
    """``session exited``, ``session failed (exit code 3)``, ``session stopped (SIGTERM)``."""
    signal, code = data.get("signal"), data.get("exitCode")
    detail = ""
    if isinstance(signal, str) and signal:
        detail = f" ({one_line(signal)})"
    elif isinstance(code, int) and not isinstance(code, bool) and code != 0:
        detail = f" (exit code {code})" if code > 0 else f" (signal {-code})"
    role: Role = "turn"
    if status == "failed":
        role = "turn-error"
    elif status in ("stopped", "interrupted"):
        role = "turn-interrupted"
    return Row(((f"session {one_line(status)}{detail}", role),))


def request_rows(data: dict[str, Any], cwd: str) -> list[Row]:
    """``? Claude wants to run a command`` and its command, or its diff folded: a permission
    request in the conversation (its card, with the answers, is at the conversation's foot)."""
    about = describe(data, cwd)
    rows = [Row((("? ", "turn-interrupted"), (about.title, "bold")))]
    if about.kind == "command":
        rows.append(Row(((f"$ {summary(about.text)}", "target"),), indent=RESULT_INDENT))
    elif about.kind == "diff":
        rows[0] = Row(rows[0].spans, fold=Fold("diff", about.text))
    elif about.kind == "path":
        rows.append(Row(((summary(about.text), "target"),), indent=RESULT_INDENT))
    return rows


def resolution_row(data: dict[str, Any]) -> Row:
    behavior = data.get("behavior")
    role: Role = "muted" if behavior != "deny" else "turn-error"
    return Row(((RESULT_MARK + one_line(resolution_text(data)), role),), indent=RESULT_INDENT)


def error_rows(data: dict[str, Any]) -> list[Row]:
    """``error: message  (line: {not json)``: the message, and the start of the line it is about."""
    first, *rest = _text(data.get("message")).strip("\n").split("\n")
    rows = [Row((("error: " + first, "error"),))]
    rows += [Row(((line, "error"),) if line else (), indent=2) for line in rest]
    line = data.get("line")
    sample = summary(line, MAX_SAMPLE_CHARS) if isinstance(line, str) else ""
    if sample:
        rows[-1] = Row(
            (*rows[-1].spans, (f"{GAP}(line: {sample})", "muted")), indent=rows[-1].indent
        )
    return rows


def _lines(text: str, role: Role) -> list[Row]:
    return [Row(((line, role),) if line else ()) for line in text.split("\n")]


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    return "" if value is None else str(value)
