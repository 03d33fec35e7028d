"""A generated Claude Code history folder: ``projects/<encoded folder>/<uuid>.jsonl`` files.

The lines have the shapes Claude Code writes (tests/fixtures/claude/history/sample.jsonl and
tests/fixtures/claude/transcripts/tools.jsonl, in Claude Code's compact JSON): bookkeeping lines
(``summary``, ``file-history-snapshot``, a meta caveat and a slash command), the user's prompts,
assistant thinking and text, tool calls (Read, Edit, Write, Bash, one block per line with the
message's usage repeated), and their results, which carry file contents of a few KB twice (in
the message and in ``toolUseResult``), as Claude Code stores them.

Generating a gigabyte must not take longer than measuring it, so lines are not encoded one by
one: a few turns are encoded per project, and each file repeats them with the turn's number and
time substituted (``bytes.replace`` over a whole turn), so every message, tool call and line
still has an id of its own, as a parser that keeps per-id state would see in a real file.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TURN = b"@T@"  # the turn's number, 8 digits (also the first group of each line's uuid)
CLOCK = b"@C@"  # the turn's time, "2026-11-20T13:45:12"
SESSION = "@S@"  # the file's session id (substituted once per file)
CWD_ROOT = "/home/dev/src"
VERSION = "2.0.14"
MODEL = "claude-sonnet-4-5-20250929"
WRITE_BATCH = 8 * 1024 * 1024
VARIANTS = 6  # turn shapes per project

PROMPTS = [
    "Why does total() skip the first item?",
    "Add a --dry-run flag to the sync command and test it",
    "The nightly job fails with a KeyError in load_config; find out why",
    "Refactor the retry loop in client.py so that it backs off exponentially",
    "Write tests for the CSV importer, including the quoting edge cases",
    "Rename the `Widget` model to `Component` everywhere",
    "Profile the report generation; it got slow after the last release",
    "Update the README's install section for the new packaging",
]
WORDS = [
    "items", "config", "value", "result", "handler", "request", "session", "buffer", "record",
    "index", "offset", "parser", "token", "stream", "window", "limit", "cache", "entry",
    "schema", "column", "filter", "order", "total", "count",
]  # fmt: skip


@dataclass(frozen=True)
class Corpus:
    """What was generated: the home to pass as ``--claude-home``, and its files."""

    home: Path
    files: list[Path]
    sizes: dict[Path, int]
    big: Path  # the largest session
    medium: Path  # the second one, a quarter of its size
    marker: str  # the text of the last line of ``big`` and ``medium`` (their own suffix added)
    total_bytes: int

    def end_marker(self, path: Path) -> str:
        return f"{self.marker}-{path.stem}"


def source_file(seed: int, size: int) -> str:
    """A Python-like module of about ``size`` characters."""
    rng = random.Random(seed)
    lines = ['"""Generated module."""', "", "from __future__ import annotations", ""]
    n = 0
    while sum(map(len, lines)) + len(lines) < size:
        a, b, c = rng.sample(WORDS, 3)
        lines += [
            f"def {a}_{b}_{n}({c}: list[int], limit: int = {rng.randint(1, 99)}) -> int:",
            f'    """Sum the {c} up to the {b} limit ({a})."""',
            f"    {a} = [x for x in {c} if x < limit]",
            f"    return sum({a}[{rng.randint(0, 3)}:]) + len({c}) → 0" if n % 7 == 0 else
            f"    return sum({a}[{rng.randint(0, 3)}:]) + len({c})",
            "",
        ]  # fmt: skip
        n += 1
    return "\n".join(lines) + "\n"


def numbered(text: str) -> str:
    """A file as Claude Code's Read returns it: ``cat -n`` style, with an arrow."""
    return "".join(f"{i:6d}→{line}\n" for i, line in enumerate(text.splitlines(), 1))


def dumps(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


class Turns:
    """Encoded turns of one project, with the turn number, the time and the session left open."""

    def __init__(self, cwd: str, seed: int) -> None:
        self.cwd = cwd
        rng = random.Random(seed)
        self.variants = [self._turn(rng, v) for v in range(VARIANTS)]

    def _envelope(self, k: int, kind: str, parent: int | None) -> dict[str, Any]:
        turn = TURN.decode()
        return {
            "parentUuid": None if parent is None else f"{turn}-0000-4000-8000-{parent:012d}",
            "isSidechain": False,
            "userType": "external",
            "cwd": self.cwd,
            "sessionId": SESSION,
            "version": VERSION,
            "gitBranch": "main",
            "type": kind,
            "uuid": f"{turn}-0000-4000-8000-{k:012d}",
            "timestamp": f"{CLOCK.decode()}.{k * 37 % 1000:03d}Z",
        }

    def _assistant(self, k: int, message: int, blocks: list[dict[str, Any]]) -> bytes:
        line = self._envelope(k, "assistant", k - 1)
        line["message"] = {
            "model": MODEL,
            "id": f"msg_01{TURN.decode()}{message:02d}",
            "type": "message",
            "role": "assistant",
            "content": blocks,
            "stop_reason": "tool_use" if blocks[-1]["type"] == "tool_use" else None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": 4,
                "cache_creation_input_tokens": 512,
                "cache_read_input_tokens": 14230,
                "output_tokens": 120,
                "service_tier": "standard",
            },
        }
        line["requestId"] = f"req_011{TURN.decode()}{message:02d}"
        return dumps(line)

    def _result(self, k: int, tool_id: str, content: str, extra: dict[str, Any]) -> bytes:
        line = self._envelope(k, "user", k - 1)
        block = {"tool_use_id": tool_id, "type": "tool_result", "content": content}
        line["message"] = {"role": "user", "content": [block]}
        line["toolUseResult"] = extra
        return dumps(line)

    def _turn(self, rng: random.Random, variant: int) -> bytes:
        t = TURN.decode()
        cwd = self.cwd
        path = f"{cwd}/src/{rng.choice(WORDS)}_{variant}.py"
        original = source_file(rng.randrange(1 << 30), rng.randint(2_000, 6_000))
        old = original.splitlines()[6]
        new = old.replace("limit", "bound") + "  # checked"
        edited = original.replace(old, new, 1)
        notes = source_file(rng.randrange(1 << 30), rng.randint(1_000, 4_000))
        stdout = "".join(
            f"tests/test_{rng.choice(WORDS)}.py::test_{rng.choice(WORDS)}_{i} PASSED\n"
            for i in range(rng.randint(10, 60))
        )
        prompt = self._envelope(1, "user", None)
        prompt["message"] = {"role": "user", "content": f"{rng.choice(PROMPTS)} (step {t})"}
        lines = [dumps(prompt)]
        lines.append(self._assistant(2, 1, [{
            "type": "thinking", "signature": "sig" + "x" * 40,
            "thinking": f"I should read {path} first, then fix the {rng.choice(WORDS)} logic.",
        }]))  # fmt: skip
        lines.append(self._assistant(3, 1, [
            {"type": "text", "text": f"I'll read `{path}` first, then make the change."},
        ]))  # fmt: skip
        lines.append(self._assistant(4, 1, [{
            "type": "tool_use", "id": f"toolu_01{t}Read", "name": "Read",
            "input": {"file_path": path},
        }]))  # fmt: skip
        lines.append(self._result(5, f"toolu_01{t}Read", numbered(original), {
            "type": "text",
            "file": {"filePath": path, "content": original,
                     "numLines": original.count("\n"), "startLine": 1,
                     "totalLines": original.count("\n")},
        }))  # fmt: skip
        lines.append(self._assistant(6, 2, [
            {"type": "text", "text": "The bound is applied too late. Fixing it:"},
            {"type": "tool_use", "id": f"toolu_02{t}Edit", "name": "Edit",
             "input": {"file_path": path, "old_string": old, "new_string": new}},
        ]))  # fmt: skip
        snippet = numbered("\n".join(edited.splitlines()[2:12]))
        lines.append(self._result(7, f"toolu_02{t}Edit", (
            f"The file {path} has been updated. Here's the result of running `cat -n` on a "
            f"snippet of the edited file:\n{snippet}"
        ), {
            "filePath": path, "oldString": old, "newString": new, "originalFile": original,
            "structuredPatch": [{"oldStart": 7, "oldLines": 1, "newStart": 7, "newLines": 1,
                                 "lines": [f"-{old}", f"+{new}"]}],
            "userModified": False, "replaceAll": False,
        }))  # fmt: skip
        notes_path = f"{cwd}/docs/NOTES_{variant}.md"
        lines.append(self._assistant(8, 3, [{
            "type": "tool_use", "id": f"toolu_03{t}Write", "name": "Write",
            "input": {"file_path": notes_path, "content": notes},
        }]))  # fmt: skip
        lines.append(self._result(9, f"toolu_03{t}Write",
            f"File created successfully at: {notes_path}",
            {"type": "create", "filePath": notes_path, "content": notes, "structuredPatch": []},
        ))  # fmt: skip
        lines.append(self._assistant(10, 4, [{
            "type": "tool_use", "id": f"toolu_04{t}Bash", "name": "Bash",
            "input": {"command": "python -m pytest -q", "description": "Run the tests"},
        }]))  # fmt: skip
        lines.append(self._result(11, f"toolu_04{t}Bash", stdout, {
            "stdout": stdout, "stderr": "", "interrupted": False, "isImage": False,
        }))  # fmt: skip
        lines.append(self._assistant(12, 5, [
            {"type": "text", "text": f"Done: the {rng.choice(WORDS)} bound is applied first, and "
                                     "the tests pass."},
        ]))  # fmt: skip
        return b"".join(lines)

    def for_session(self, session_id: str) -> list[bytes]:
        return [v.replace(SESSION.encode(), session_id.encode()) for v in self.variants]


def head_lines(cwd: str, session_id: str, index: int, rng: random.Random) -> bytes:
    """What comes before the first turn: summaries (a resumed session), a snapshot, sometimes a
    slash command with its meta caveat (so the title is the prompt after it)."""
    out = [
        dumps({"type": "summary", "summary": f"{rng.choice(PROMPTS)} ({n})", "leafUuid": f"l{n}"})
        for n in range(rng.choice([0, 0, 1, 3]))
    ]
    out.append(dumps({
        "type": "file-history-snapshot", "messageId": f"m-{session_id}",
        "snapshot": {"messageId": f"m-{session_id}", "trackedFileBackups": {
            f"{cwd}/src/{w}.py": {"backupFileName": f"{w}@v1", "version": 1,
                                  "backupTime": "2026-11-20T09:59:59.000Z"}
            for w in rng.sample(WORDS, 5)
        }, "timestamp": "2026-11-20T09:59:59.000Z"}, "isSnapshotUpdate": False,
    }))  # fmt: skip
    if index % 5 == 0:
        base = {
            "parentUuid": None, "isSidechain": False, "userType": "external", "cwd": cwd,
            "sessionId": session_id, "version": VERSION, "gitBranch": "main", "type": "user",
            "timestamp": "2026-11-20T09:59:59.500Z",
        }  # fmt: skip
        caveat = (
            "Caveat: The messages below were generated by the user while running local "
            "commands. DO NOT respond to these messages unless the user asks you to."
        )
        command = "<command-name>/model</command-name>\n<command-args>sonnet</command-args>"
        out.append(dumps({**base, "message": {"role": "user", "content": caveat},
                          "isMeta": True, "uuid": f"meta-{session_id}"}))  # fmt: skip
        out.append(dumps({**base, "message": {"role": "user", "content": command},
                          "uuid": f"cmd-{session_id}"}))  # fmt: skip
    return b"".join(out)


def last_line(cwd: str, session_id: str, text: str) -> bytes:
    return dumps({
        "parentUuid": None, "isSidechain": False, "userType": "external", "cwd": cwd,
        "sessionId": session_id, "version": VERSION, "gitBranch": "main", "type": "assistant",
        "message": {"model": MODEL, "id": "msg_last", "type": "message", "role": "assistant",
                    "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                    "usage": {"input_tokens": 4, "output_tokens": 9}},
        "uuid": f"last-{session_id}", "timestamp": "2026-11-30T23:59:59.000Z",
    })  # fmt: skip


def write_session(
    path: Path, turns: Turns, size: int, index: int, rng: random.Random, end: str | None
) -> int:
    """Write one session file of about ``size`` bytes; return its exact size."""
    session_id = path.stem
    variants = turns.for_session(session_id)
    start = rng.randrange(10**7)
    written = 0
    with open(path, "wb") as handle:
        pending = [head_lines(turns.cwd, session_id, index, rng)]
        pending_bytes = len(pending[0])
        t = 0
        while written + pending_bytes < size:
            n = start + t
            clock = b"2026-11-%02dT%02d:%02d:%02d" % (
                1 + n // 86400 % 28, n // 3600 % 24, n // 60 % 60, n % 60,
            )  # fmt: skip
            turn = variants[t % VARIANTS].replace(TURN, b"%08d" % n).replace(CLOCK, clock)
            pending.append(turn)
            pending_bytes += len(turn)
            t += 1
            if pending_bytes >= WRITE_BATCH:
                handle.writelines(pending)
                written += pending_bytes
                pending, pending_bytes = [], 0
        if end is not None:
            pending.append(last_line(turns.cwd, session_id, end))
        handle.writelines(pending)
        written += sum(map(len, pending))
    return written


def encode_folder(cwd: str) -> str:
    """Claude Code's folder name for a cwd: every non-alphanumeric character becomes ``-``."""
    return "".join(c if c.isalnum() else "-" for c in cwd)


def generate(
    home: Path, *, total: int, big: int, medium: int, projects: int = 20, seed: int = 6
) -> Corpus:
    """About ``total`` bytes of history: one ``big`` and one ``medium`` session, the rest in
    files of 0.1 to 10 MB (log-uniform) and some short ones (one turn), over ``projects``
    folders. Deterministic for a seed."""
    rng = random.Random(seed)
    marker = f"bench-history-end-{uuid.UUID(int=rng.getrandbits(128))}"
    cwds = [f"{CWD_ROOT}/{rng.choice(WORDS)}-{p:02d}/app" for p in range(projects)]
    folders = []
    for cwd in cwds:
        folder = home / "projects" / encode_folder(cwd)
        folder.mkdir(parents=True, exist_ok=True)
        folders.append(folder)
    turns = [Turns(cwd, seed * 1000 + p) for p, cwd in enumerate(cwds)]
    sizes = [big, medium]
    rest = total - big - medium
    small_limit = max(1, min(10 * 1024 * 1024, rest // 20))
    while rest > 0:
        if len(sizes) % 10 == 9:
            size = rng.randint(5_000, 100_000)
        else:
            size = int(100_000 * (small_limit / 100_000) ** rng.random())
        size = min(size, rest)
        sizes.append(size)
        rest -= size
    files = []
    written: dict[Path, int] = {}
    for index, size in enumerate(sizes):
        p = index % projects
        path = folders[p] / f"{uuid.UUID(int=rng.getrandbits(128), version=4)}.jsonl"
        end = f"{marker}-{path.stem}" if index < 2 else None
        written[path] = write_session(path, turns[p], size, index, rng, end)
        files.append(path)
    return Corpus(home, files, written, files[0], files[1], marker, sum(written.values()))
