"""A Claude Code demo for screenshots: a project folder, its stored history, and the fake agent.

The screenshots cannot run the real ``claude`` here (no network, no account), so they use the
fake from tests/fixtures, which replays a recorded transcript (Read, Edit, Write, Bash, …) of
the same shape the real CLI prints. ``prepare`` lays out the folders and returns what the
backend needs; both screenshot scripts use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAKE_CLAUDE = ROOT / "tests" / "fixtures" / "fake_claude"
SAMPLE = ROOT / "tests" / "fixtures" / "claude" / "history" / "sample.jsonl"
SAMPLE_ID = "0b8f3c1e-7d2a-4c55-9e1b-3f6a2d9c8e71"
PROMPT = "tools: total() skips the first item. Fix it and run the tests."


@dataclass(frozen=True)
class AgentDemo:
    project: Path
    claude_home: Path

    @property
    def env(self) -> dict[str, str]:
        """What the backend needs to run the fake agent and list the stored history."""
        return {
            "SESSIONDOCK_CLAUDE_PATH": str(FAKE_CLAUDE),
            "CLAUDE_CONFIG_DIR": str(self.claude_home),
        }


def prepare(base: Path) -> AgentDemo:
    project = base / "billing"
    project.mkdir(parents=True)
    (project / "app.py").write_text("def total(items):\n    return sum(items[1:])\n")
    home = base / "claude"
    folder = home / "projects" / "".join(c if c.isalnum() else "-" for c in str(project))
    folder.mkdir(parents=True)
    history = SAMPLE.read_text().replace("{cwd}", str(project))
    (folder / f"{SAMPLE_ID}.jsonl").write_text(history)
    return AgentDemo(project, home)
