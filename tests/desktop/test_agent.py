"""The agent renderer: documented events in, rows out, without Qt."""

from __future__ import annotations

from desktop.agent import (
    PROMPT_MARK,
    AgentRenderer,
    Fold,
    Row,
    diff_rows,
    fold_rows,
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
        "thinking  The greeting is in main().",
        "I'll read src/app.py first.",
        "● Read  src/app.py",
        "↳ Read: 1 def main():  (3 lines)",
        "",
        f"{PROMPT_MARK}Then run the tests  queued #1",
        "● Edit  src/app.py  +1 \N{MINUS SIGN}1",
        "● Write  NOTES.md  +2 \N{MINUS SIGN}0",
        "● Bash  python -m pytest -q",
        "● Bash  rm -rf build",
        "↳ Edit: The file src/app.py has been updated.",
        "↳ Bash: FAILED tests/test_app.py::test_main  (2 lines)",
        "",
        "Fixed: it now prints hello.",
        "",
        "print('hello')",
        "turn: $0.04 · 476 tokens out · 12.3 s",
        "warning: slow disk",
        "turn interrupted: 800 ms",
        "error: malformed stream-json line  (line: {not json)",
    ]


def test_roles_carry_the_meaning() -> None:
    rows = {plain(row): row for row in rendered()}
    edit = rows["● Edit  src/app.py  +1 \N{MINUS SIGN}1"]
    assert edit.spans[0] == ("● Edit", "op-edit")
    assert edit.spans[-2:] == (("  +1", "diff-add"), (" \N{MINUS SIGN}1", "diff-del"))
    assert edit.fold == Fold("diff", DIFF)
    assert rows["● Write  NOTES.md  +2 \N{MINUS SIGN}0"].spans[0][1] == "op-write"
    assert rows["● Read  src/app.py"].fold is None
    assert rows["● Bash  rm -rf build"].spans[0][1] == "op-delete"
    assert rows["● Bash  python -m pytest -q"].spans[0][1] == "op-bash"
    failed = rows["↳ Bash: FAILED tests/test_app.py::test_main  (2 lines)"]
    assert failed.spans[0][1] == "result-error" and failed.spans[1] == ("  (2 lines)", "muted")
    done = rows["↳ Edit: The file src/app.py has been updated."]
    assert done.spans[0][1] == "result" and done.indent == 2
    # Thinking shows its first line; the whole of it is folded under the row.
    thinking = rows["thinking  The greeting is in main()."]
    assert thinking.spans == (("thinking", "muted"), ("  The greeting is in main().", "thinking"))
    assert thinking.fold is None  # one line: nothing more to show
    assert rows["I'll read src/app.py first."].spans == (
        ("I'll read ", "prose"), ("src/app.py", "code"), (" first.", "prose"),
    )  # fmt: skip
    assert rows["print('hello')"].spans == (("print('hello')", "code"),)
    assert rows["warning: slow disk"].spans == (("warning: slow disk", "stderr"),)
    assert rows["turn interrupted: 800 ms"].spans[0][1] == "turn-interrupted"
    assert rows["error: malformed stream-json line  (line: {not json)"].spans[0][1] == "error"


def test_long_thinking_folds_away_all_but_its_first_line() -> None:
    content = "\n  First,\tthe file.\nThen the edit.\n"
    [row] = AgentRenderer().render([("output", {"type": "thinking", "content": content})])
    assert plain(row) == "thinking  First, the file."
    assert row.fold == Fold("thinking", content)
    assert [(plain(r), r.indent) for r in fold_rows(row.fold)] == [
        ("  First,\tthe file.", 2), ("Then the edit.", 2),
    ]  # fmt: skip


def test_diff_rows_are_colored_by_their_first_character() -> None:
    roles = [row.spans[0][1] for row in diff_rows(DIFF)]
    assert roles == [
        "diff-file", "diff-file", "diff-hunk", "diff-context", "diff-del", "diff-add",
        "diff-context",
    ]  # fmt: skip
    assert {row.indent for row in diff_rows(DIFF)} == {6}
    assert texts(diff_rows("@@ -1 +1 @@\n-a\n+b\n", truncated=True))[-1] == "(truncated)"
    note = diff_rows("@@ -1 +1 @@\n-a\n+b\n\\ No newline at end of file\n")[-1]
    assert note.spans[0][1] == "diff-hunk"


def test_dashes_and_pluses_inside_a_hunk_are_lines_not_file_names() -> None:
    diff = (
        "--- a/query.sql\n+++ b/query.sql\n@@ -1,3 +1,3 @@\n"
        "--- the old comment\n+++i;\n select 1;\n-- -\n++ +\n"
    )
    rows = diff_rows(diff)
    assert [(plain(row), row.spans[0][1]) for row in rows] == [
        ("--- a/query.sql", "diff-file"),
        ("+++ b/query.sql", "diff-file"),
        ("@@ -1,3 +1,3 @@", "diff-hunk"),
        ("--- the old comment", "diff-del"),  # "-- the old comment" removed
        ("+++i;", "diff-add"),  # "++i;" added
        (" select 1;", "diff-context"),
        ("-- -", "diff-del"),
        ("++ +", "diff-add"),
    ]


def test_turn_rows() -> None:
    assert plain(turn_row(TURN)) == "turn: $0.04 · 476 tokens out · 12.3 s"
    failed = turn_row({**TURN, "isError": True, "subtype": "error_max_turns"})
    assert plain(failed) == "turn failed (error_max_turns): $0.04 · 476 tokens out · 12.3 s"
    assert failed.spans[0][1] == "turn-error"
    assert plain(turn_row({"interrupted": True})) == "turn interrupted"
    unknown = {"costUsd": 0, "outputTokens": 0, "durationMs": 0, "interrupted": True}
    assert plain(turn_row(unknown)) == "turn interrupted"
    # A turn that ran to its result: its zeros are facts.
    free = {**TURN, "costUsd": 0, "outputTokens": 1, "durationMs": 0}
    assert plain(turn_row(free)) == "turn: $0.00 · 1 token out · 0 ms"
    big = {**TURN, "costUsd": 123.456, "outputTokens": 1_234_567, "durationMs": 125_000}
    assert plain(turn_row(big)) == "turn: $123.46 · 1,234,567 tokens out · 2 min 5 s"
    assert plain(turn_row({"costUsd": "0.5", "outputTokens": True})) == "turn: done"


def test_commands_and_results_stay_one_line() -> None:
    bash = {"tool": "Bash", "type": "bash", "command": "cd x &&\n make " + "y" * 400}
    [row] = AgentRenderer().render([("operations-detected", {"operations": [bash]})])
    assert plain(row) == "● Bash  cd x && …"
    [row] = AgentRenderer().render([
        ("output", {"type": "tool-result", "content": "", "isError": False}),
    ])  # fmt: skip
    assert plain(row) == "↳ (no output)"
    [row] = AgentRenderer().render([
        ("output", {"type": "tool-result", "tool": "Bash", "content": " \n\t\n", "isError": False}),
    ])  # fmt: skip
    assert plain(row) == "↳ Bash: (no output)"
    [row] = AgentRenderer().render([
        ("output", {"type": "tool-result", "content": "x" * 1000, "isError": False}),
    ])  # fmt: skip
    assert len(plain(row)) < 320


def test_raw_lines_and_turn_starts_show_nothing() -> None:
    renderer = AgentRenderer()
    assert renderer.render([("raw", {"line": {"type": "system"}})]) == []
    assert renderer.render([("status", {"status": "running", "agent": {"state": "working"}})]) == []
    assert texts(renderer.render([("status", {"status": "exited", "exitCode": 0})])) == [
        "session exited"
    ]
    stopped = {"status": "stopped", "exitCode": -15, "signal": "SIGTERM"}
    [row] = renderer.render([("status", stopped)])
    assert row.spans == (("session stopped (SIGTERM)", "turn-interrupted"),)
    [row] = renderer.render([("status", {"status": "failed", "exitCode": 3})])
    assert row.spans == (("session failed (exit code 3)", "turn-error"),)


def test_estimates() -> None:
    assert row_estimate("output", {"type": "assistant", "content": "a\nb\nc"}) == 3
    assert row_estimate("output", {"type": "tool-result", "content": "a\nb\nc"}) == 1
    assert row_estimate("output", {"type": "thinking", "content": "a\nb\nc"}) == 1
    assert row_estimate("operations-detected", {"operations": [{}, {}]}) == 2
    assert row_estimate("status", {}) == 1


def test_paths_inside_the_session_folder_are_shown_relative() -> None:
    renderer = AgentRenderer(cwd="/home/me/app")
    ops = [
        {"tool": "Read", "type": "read", "path": "/home/me/app/src/x.py"},
        {"tool": "Grep", "type": "read", "path": "/home/me/app"},
        {"tool": "Read", "type": "read", "path": "/home/me/application/y.py"},
        {"tool": "LS", "type": "read", "path": "/home/me/app/"},
        {"tool": "Bash", "type": "delete", "command": "rm /home/me/app/z", "path": "/home/me/app"},
    ]
    assert texts(renderer.render([("operations-detected", {"operations": ops})])) == [
        "● Read  src/x.py",
        "● Grep  .",
        "● Read  /home/me/application/y.py",
        "● LS  .",
        "● Bash  rm /home/me/app/z",  # a command is shown as it was run
    ]
