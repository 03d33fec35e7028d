"""An agent conversation as the backend streams it (docs/api.md, "Agent sessions"), for tests."""

from __future__ import annotations

from typing import Any

SESSION = "session-agent0001"
DIFF = (
    "--- a/src/app.py\n"
    "+++ b/src/app.py\n"
    "@@ -1,3 +1,3 @@\n"
    " def main():\n"
    "-    print('hi')\n"
    "+    print('hello')\n"
    "     return 0\n"
)
WRITE_DIFF = "--- /dev/null\n+++ b/NOTES.md\n@@ -0,0 +1,2 @@\n+# Notes\n+greeting fixed\n"
READ_RESULT = "     1\tdef main():\n     2\t    print('hi')\n     3\t    return 0\n"
FINAL_TEXT = "Fixed: it now prints **hello**.\n\n```python\nprint('hello')\n```"
TURN = {
    "costUsd": 0.0421, "inputTokens": 20, "outputTokens": 476, "cacheReadTokens": 12000,
    "cacheCreationTokens": 1234, "durationMs": 12345, "numTurns": 3, "isError": False,
    "subtype": "success", "interrupted": False,
}  # fmt: skip
TOTALS = {
    "costUsd": 0.0421, "inputTokens": 20, "outputTokens": 476, "cacheReadTokens": 12000,
    "cacheCreationTokens": 1234, "durationMs": 12345, "turns": 1,
}  # fmt: skip


def _agent(state: str, queued: int = 0, agent_id: str | None = "7f0c1d2e") -> dict[str, Any]:
    return {"state": state, "queued": queued, "agentSessionId": agent_id}


def conversation(session_id: str = SESSION) -> list[tuple[int, str, dict[str, Any]]]:
    """``(id, event type, data)`` of one turn that reads, edits, writes, runs and fails a test,
    a second prompt queued meanwhile, and that second turn interrupted."""
    t = 1795723060000
    events: list[tuple[str, dict[str, Any]]] = [
        ("status", {"status": "running", "agent": _agent("idle", agent_id=None)}),
        ("prompt", {"command": "Fix the greeting in src/app.py"}),
        ("status", {"status": "running", "agent": _agent("working", agent_id=None)}),
        ("raw", {"line": {"type": "system", "subtype": "init", "session_id": "7f0c1d2e"}}),
        ("output", {"type": "thinking", "content": "The greeting is in main()."}),
        ("output", {"type": "assistant", "content": "I'll read `src/app.py` first."}),
        ("operations-detected", {
            "operations": [{"tool": "Read", "type": "read", "toolUseId": "toolu_1",
                            "path": "src/app.py"}],
            "response": "I'll read `src/app.py` first.",
        }),
        ("output", {"type": "tool-result", "toolUseId": "toolu_1", "tool": "Read",
                    "isError": False,
                    "content": READ_RESULT}),
        ("prompt", {"command": "Then run the tests", "queued": True, "position": 1}),
        ("operations-detected", {
            "operations": [
                {"tool": "Edit", "type": "edit", "toolUseId": "toolu_2", "path": "src/app.py",
                 "diff": DIFF},
                {"tool": "Write", "type": "write", "toolUseId": "toolu_3", "path": "NOTES.md",
                 "diff": WRITE_DIFF},
                {"tool": "Bash", "type": "bash", "toolUseId": "toolu_4",
                 "command": "python -m pytest -q"},
                {"tool": "Bash", "type": "delete", "toolUseId": "toolu_5",
                 "command": "rm -rf build"},
            ],
            "response": "Now the edit.",
        }),
        ("output", {"type": "tool-result", "toolUseId": "toolu_2", "tool": "Edit",
                    "isError": False, "content": "The file src/app.py has been updated."}),
        ("output", {"type": "tool-result", "toolUseId": "toolu_4", "tool": "Bash",
                    "isError": True,
                    "content": "FAILED tests/test_app.py::test_main\n1 failed in 0.02s\n"}),
        ("output", {"type": "assistant",
                    "content": FINAL_TEXT}),
        ("status", {"status": "running", "agent": _agent("idle"), "turn": TURN,
                    "totals": TOTALS}),
        ("status", {"status": "running", "agent": _agent("working")}),
        ("output", {"type": "stderr", "content": "warning: \x1b[33mslow disk\x1b[0m\n"}),
        ("status", {"status": "running", "agent": _agent("idle"),
                    "turn": {**TURN, "interrupted": True, "costUsd": None,
                             "outputTokens": None, "durationMs": 800},
                    "totals": TOTALS}),
        ("error", {"message": "malformed stream-json line", "line": "{not json"}),
    ]  # fmt: skip
    return [
        (n, kind, {"sessionId": session_id, **data, "timestamp": t + n})
        for n, (kind, data) in enumerate(events, start=1)
    ]
