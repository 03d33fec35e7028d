"""A session's stored events as a file: asciicast v2, Markdown, plain text or JSON lines.

Each format is an ``Exporter`` fed the events in order, a page at a time, that returns text to
write as it goes: nothing is kept but what the format needs to carry from one event to the next
(the line under way, a turn's number), so an export of any size runs in flat memory.

- ``cast``: asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/) of a terminal
  session: a header with the terminal's size and start time, ``o`` events with their time since
  the start, ``r`` events for resizes; no input. Output of a session on pipes gets ``\\r\\n``
  for ``\\n`` (a terminal would otherwise draw it as a staircase).
- ``txt``: what a person saw: a terminal session's lines (``backend/text/terminal.py``); an agent
  session's conversation as for ``md``.
- ``md``: an agent conversation: each prompt, Claude's answers as it wrote them (Markdown), each
  tool call with its command or path and its diff in fenced blocks, tool results cut short,
  each turn's cost and the total. A terminal session's lines in one fenced block.
- ``jsonl``: the stored events as they are, one JSON object a line (as ``/history`` gives them).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from backend.text.terminal import TerminalLines, strip_escapes

MAX_RESULT_CHARS = 2000  # of a tool result in Markdown


@dataclass(frozen=True, slots=True)
class Row:
    """A stored event, as the store reads it."""

    seq: int
    type: str
    data: str  # JSON
    timestamp: int


@dataclass(frozen=True, slots=True)
class About:
    """What an export says of its session."""

    name: str
    kind: str  # shell, command, claude
    terminal: bool  # shown as a terminal (its output is a program's bytes)
    tty: bool  # in a PTY (else on pipes)
    working_dir: str
    created_at: int
    cols: int = 120
    rows: int = 32


class Exporter:
    """Text for the start, for each page of events, and for the end."""

    def start(self) -> str:
        return ""

    def page(self, rows: list[Row]) -> str:
        raise NotImplementedError

    def end(self) -> str:
        return ""


def _load(row: Row) -> dict[str, Any]:
    try:
        value = json.loads(row.data)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class Jsonl(Exporter):
    def page(self, rows: list[Row]) -> str:
        return "".join(
            f'{{"id":{r.seq},"type":{json.dumps(r.type)},"data":{r.data},'
            f'"timestamp":{r.timestamp}}}\n'
            for r in rows
        )


class Cast(Exporter):
    def __init__(self, about: About) -> None:
        self.about = about
        self.began = about.created_at

    def start(self) -> str:
        header = {
            "version": 2,
            "width": self.about.cols,
            "height": self.about.rows,
            "timestamp": self.began // 1000,
            "title": self.about.name,
            "env": {"TERM": "xterm-256color"},
        }
        return json.dumps(header) + "\n"

    def page(self, rows: list[Row]) -> str:
        out = []
        for row in rows:
            if row.type not in ("output", "resize"):
                continue
            data = _load(row)
            at = round(max(0, row.timestamp - self.began) / 1000, 6)
            if row.type == "output":
                text = data.get("content")
                if not isinstance(text, str) or not text:
                    continue
                if not self.about.tty:  # (two replaces: a regex is four times slower)
                    text = text.replace("\r\n", "\n").replace("\n", "\r\n")
                out.append(json.dumps([at, "o", text]))
            elif isinstance(data.get("cols"), int) and isinstance(data.get("rows"), int):
                out.append(json.dumps([at, "r", f"{data['cols']}x{data['rows']}"]))
        return "".join(line + "\n" for line in out)


class TerminalText(Exporter):
    def __init__(self) -> None:
        self.lines = TerminalLines()
        self.last = 0

    def page(self, rows: list[Row]) -> str:
        out: list[str] = []
        for row in rows:
            self.last = row.seq
            if row.type == "output":
                content = _load(row).get("content")
                if isinstance(content, str):
                    out.append(self.lines.feed_text(row.seq, content))
        return "".join(out)

    def end(self) -> str:
        return "".join(line.text + "\n" for line in self.lines.finish(self.last))


def fence(text: str, info: str = "") -> str:
    """``text`` in a fenced code block whose fence no run of backticks in it can close."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    marks = "`" * max(3, longest + 1)
    body = text if text.endswith("\n") else text + "\n"
    return f"{marks}{info}\n{body}{marks}\n"


def _cost(value: object) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return ""
    return f"${value:.4f}".rstrip("0").rstrip(".") if value else "$0"


class Conversation(Exporter):
    """An agent session as Markdown."""

    def __init__(self, about: About) -> None:
        self.about = about
        self.turns = 0
        self.total = 0.0
        self.costed = False

    def start(self) -> str:
        began = datetime.fromtimestamp(self.about.created_at / 1000, UTC)
        return (
            f"# {self.about.name}\n\n"
            f"Claude Code in `{self.about.working_dir}`, started {began:%Y-%m-%d %H:%M} UTC.\n\n"
        )

    def page(self, rows: list[Row]) -> str:
        return "".join(self._event(row.type, _load(row)) for row in rows)

    def _event(self, kind: str, data: dict[str, Any]) -> str:
        if kind == "prompt":
            command = data.get("command")
            if not isinstance(command, str):
                return ""
            quoted = "\n".join(f"> {line}" if line else ">" for line in command.splitlines())
            # Sent while a turn ran: it runs after that turn, where the log has it.
            queued = " (queued)" if data.get("queued") else ""
            return f"## You{queued}\n\n{quoted}\n\n"
        if kind == "output":
            return self._output(data)
        if kind == "operations-detected":
            return "".join(self._operation(op) for op in data.get("operations") or [])
        if kind == "status" and isinstance(data.get("turn"), dict):
            return self._turn(data["turn"])
        if kind == "error" and isinstance(data.get("message"), str):
            return f"**Error:** {data['message']}\n\n"
        return ""

    def _output(self, data: dict[str, Any]) -> str:
        kind, content = data.get("type"), data.get("content")
        if not isinstance(content, str) or not content.strip():
            return ""
        if kind == "assistant":
            return f"{content.rstrip()}\n\n"
        if kind == "thinking":
            quoted = "\n".join(f"> {line}" if line else ">" for line in content.splitlines())
            return f"> *Thinking*\n>\n{quoted}\n\n"
        if kind == "tool-result":
            text = strip_escapes(content)
            cut = len(text) - MAX_RESULT_CHARS
            text = text[:MAX_RESULT_CHARS]
            more = f"\n({cut:,} more characters not shown)" if cut > 0 else ""
            label = "Error from" if data.get("isError") else "Result of"
            return f"{label} {data.get('tool') or 'the tool'}:\n\n{fence(text + more, 'text')}\n"
        if kind == "stderr":
            return fence(strip_escapes(content), "text") + "\n"
        return ""

    def _operation(self, operation: object) -> str:
        if not isinstance(operation, dict):
            return ""
        tool = str(operation.get("tool") or "a tool")
        command, path, diff = operation.get("command"), operation.get("path"), operation.get("diff")
        out = f"**{tool}**"
        if isinstance(path, str) and path:
            out += f" `{path}`"
        out += "\n\n"
        if isinstance(command, str) and command:
            out += fence(command, "sh") + "\n"
        if isinstance(diff, str) and diff:
            out += fence(diff, "diff") + "\n"
        return out

    def _turn(self, turn: dict[str, Any]) -> str:
        self.turns += 1
        cost = turn.get("costUsd")
        parts = [f"Turn {self.turns}"]
        if _cost(cost):
            self.total += float(cost)  # type: ignore[arg-type]
            self.costed = True
            parts.append(_cost(cost))
        tokens = turn.get("outputTokens")
        if isinstance(tokens, int) and not isinstance(tokens, bool):
            parts.append(f"{tokens:,} tokens out")
        duration = turn.get("durationMs")
        if isinstance(duration, (int, float)) and not isinstance(duration, bool):
            parts.append(f"{duration / 1000:.1f} s")
        return f"*{' · '.join(parts)}*\n\n"

    def end(self) -> str:
        if not self.turns:
            return ""
        cost = f", {_cost(self.total)} in all" if self.costed else ""
        return f"---\n\n**{self.turns} turn{'s' if self.turns != 1 else ''}{cost}.**\n"


class TerminalMarkdown(TerminalText):
    """A terminal session's lines in one fenced block. Streamed, the fence cannot be chosen
    to fit what follows: it is ten backticks, and a longer run in a line becomes nine."""

    FENCE = "`" * 10

    def __init__(self, about: About) -> None:
        super().__init__()
        self.about = about

    def start(self) -> str:
        return f"# {self.about.name}\n\nIn `{self.about.working_dir}`.\n\n{self.FENCE}text\n"

    def page(self, rows: list[Row]) -> str:
        return _shorter_runs(super().page(rows))

    def end(self) -> str:
        return _shorter_runs(super().end()) + self.FENCE + "\n"


def _shorter_runs(text: str) -> str:
    return re.sub("`{10,}", "`" * 9, text) if "`" * 10 in text else text


def exporter(fmt: str, about: About) -> Exporter:
    if fmt == "jsonl":
        return Jsonl()
    if fmt == "cast":
        return Cast(about)
    if about.terminal:
        return TerminalText() if fmt == "txt" else TerminalMarkdown(about)
    return Conversation(about)


MEDIA_TYPES = {
    "cast": "application/x-asciicast",
    "md": "text/markdown; charset=utf-8",
    "txt": "text/plain; charset=utf-8",
    "jsonl": "application/x-ndjson",
}
