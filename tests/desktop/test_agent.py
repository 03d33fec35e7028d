"""The agent renderer: documented events in, rows out, without Qt."""

from __future__ import annotations

from desktop.agent import (
    PROMPT_MARK,
    SHOW_DIFF,
    AgentRenderer,
    Row,
    diff_rows,
    format_cost,
    plain,
    row_estimate,
    turn_row,
)
from tests.agent_events import DIFF, TURN, conversation


def rendered() -> list[Row]:
    return AgentRenderer().render([(kind, data) for _, kind, data in conversation()])


def texts(rows: list[Row]) -> list[str]:
    return [plain(row) for row in rows]


def test_a_conversation_reads_top_to_bottom() -> None:
    assert texts(rendered()) == [
        f"{PROMPT_MARK}Fix the greeting in src/app.py",
        "",
        "The greeting is in main().",
        "I'll read src/app.py first.",
        "● Read  src/app.py",
        "  └ 1 def main():  … 2 more lines",
        "",
        f"{PROMPT_MARK}Then run the tests  queued #1",
        "● Edit  src/app.py  " + SHOW_DIFF,
        "● Write  NOTES.md  " + SHOW_DIFF,
        "● Bash  python -m pytest -q",
        "● Bash  rm -rf build",
        "  └ The file src/app.py has been updated.",
        "  └ FAILED tests/test_app.py::test_main  … 1 more line",
        "",
        "Fixed: it now prints hello.",
        "",
        "print('hello')",
        "turn: $0.0421 · 476 tokens out · 12.3 s",
        "warning: slow disk",
        "turn: interrupted · 0.8 s",
        "error: malformed stream-json line  (line: {not json)",
    ]


def test_roles_carry_the_meaning() -> None:
    rows = {plain(row): row for row in rendered()}
    assert rows["● Edit  src/app.py  " + SHOW_DIFF].spans[0] == ("● Edit", "op-edit")
    assert rows["● Edit  src/app.py  " + SHOW_DIFF].spans[-1] == (SHOW_DIFF, "toggle")
    assert rows["● Edit  src/app.py  " + SHOW_DIFF].diff == DIFF
    assert rows["● Write  NOTES.md  " + SHOW_DIFF].spans[0][1] == "op-write"
    assert rows["● Read  src/app.py"].diff is None
    assert rows["● Bash  rm -rf build"].spans[0][1] == "op-delete"
    assert rows["● Bash  python -m pytest -q"].spans[0][1] == "op-bash"
    failed = rows["  └ FAILED tests/test_app.py::test_main  … 1 more line"]
    assert failed.spans[0][1] == "result-error"
    assert rows["  └ The file src/app.py has been updated."].spans[0][1] == "result"
    assert rows["The greeting is in main()."].spans == (("The greeting is in main().", "thinking"),)
    assert rows["I'll read src/app.py first."].spans == (
        ("I'll read ", "prose"), ("src/app.py", "code"), (" first.", "prose"),
    )  # fmt: skip
    assert rows["print('hello')"].spans == (("print('hello')", "code"),)
    assert rows["warning: slow disk"].spans == (("warning: slow disk", "stderr"),)
    assert rows["turn: interrupted · 0.8 s"].spans[0][1] == "turn-interrupted"
    assert rows["error: malformed stream-json line  (line: {not json)"].spans[0][1] == "error"


def test_diff_rows_are_colored_by_their_first_character() -> None:
    roles = [row.spans[0][1] for row in diff_rows(DIFF)]
    assert roles == [
        "diff-file", "diff-file", "diff-hunk", "diff-context", "diff-del", "diff-add",
        "diff-context",
    ]  # fmt: skip
    assert texts(diff_rows("@@ -1 +1 @@\n-a\n+b\n", truncated=True))[-1].endswith("64 KiB")


def test_dashes_and_pluses_inside_a_hunk_are_lines_not_file_names() -> None:
    diff = (
        "--- a/query.sql\n+++ b/query.sql\n@@ -1,3 +1,3 @@\n"
        "--- the old comment\n+++i;\n select 1;\n-- -\n++ +\n"
    )
    rows = diff_rows(diff)
    assert [(plain(row).strip(), row.spans[0][1]) for row in rows] == [
        ("--- a/query.sql", "diff-file"),
        ("+++ b/query.sql", "diff-file"),
        ("@@ -1,3 +1,3 @@", "diff-hunk"),
        ("--- the old comment", "diff-del"),  # "-- the old comment" removed
        ("+++i;", "diff-add"),  # "++i;" added
        ("select 1;", "diff-context"),
        ("-- -", "diff-del"),
        ("++ +", "diff-add"),
    ]


def test_turn_rows() -> None:
    assert plain(turn_row(TURN)) == "turn: $0.0421 · 476 tokens out · 12.3 s"
    failed = turn_row({**TURN, "isError": True, "subtype": "error_max_turns"})
    assert plain(failed) == "turn failed (error_max_turns): $0.0421 · 476 tokens out · 12.3 s"
    assert failed.spans[0][1] == "turn-error"
    assert plain(turn_row({"interrupted": True})) == "turn: interrupted"
    unknown = {"costUsd": 0, "outputTokens": 0, "durationMs": 0, "interrupted": True}
    assert plain(turn_row(unknown)) == "turn: interrupted"
    assert plain(turn_row({**TURN, "durationMs": 125_000})).endswith("2 min 5 s")


def test_commands_and_results_stay_one_line() -> None:
    bash = {"tool": "Bash", "type": "bash", "command": "cd x &&\n make " + "y" * 400}
    [row] = AgentRenderer().render([("operations-detected", {"operations": [bash]})])
    assert plain(row).startswith("● Bash  cd x && …")
    [row] = AgentRenderer().render([
        ("output", {"type": "tool-result", "content": "", "isError": False}),
    ])  # fmt: skip
    assert plain(row) == "  └ (no output)"
    [row] = AgentRenderer().render([
        ("output", {"type": "tool-result", "content": "x" * 1000, "isError": False}),
    ])  # fmt: skip
    assert len(plain(row)) < 320


def test_raw_lines_and_turn_starts_show_nothing() -> None:
    renderer = AgentRenderer()
    assert renderer.render([("raw", {"line": {"type": "system"}})]) == []
    assert renderer.render([("status", {"status": "running", "agent": {"state": "working"}})]) == []
    assert texts(renderer.render([("status", {"status": "exited", "exitCode": 0})])) == [
        "— the conversation ended: exited"
    ]


def test_costs_and_estimates() -> None:
    assert format_cost(0.0421) == "$0.04"
    assert format_cost(1.5) == "$1.50"
    assert format_cost(0.0031) == "$0.003"
    assert format_cost(0.0001) == "<$0.001"
    assert format_cost(0.0096) == "$0.01"
    assert format_cost(0) == "$0.00"
    assert row_estimate("output", {"type": "assistant", "content": "a\nb\nc"}) == 3
    assert row_estimate("output", {"type": "tool-result", "content": "a\nb\nc"}) == 1
    assert row_estimate("operations-detected", {"operations": [{}, {}]}) == 2
    assert row_estimate("status", {}) == 1


def test_paths_inside_the_session_folder_are_shown_relative() -> None:
    renderer = AgentRenderer(cwd="/home/me/app")
    ops = [
        {"tool": "Read", "type": "read", "path": "/home/me/app/src/x.py"},
        {"tool": "Grep", "type": "read", "path": "/home/me/app"},
        {"tool": "Read", "type": "read", "path": "/home/me/application/y.py"},
        {"tool": "Bash", "type": "delete", "command": "rm /home/me/app/z", "path": "/home/me/app"},
    ]
    assert texts(renderer.render([("operations-detected", {"operations": ops})])) == [
        "● Read  src/x.py",
        "● Grep  .",
        "● Read  /home/me/application/y.py",
        "● Bash  rm /home/me/app/z",  # a command is shown as it was run
    ]
