"""One table of Interrupt, Stop and Continue scenarios that both clients run: the desktop app
(tests/desktop/ui/test_session_actions_window.py) and the web page
(tests/web/test_session_actions_page.py) click the same buttons, answer the same questions, and
must reach the same outcome: the session's status, its exit code and signal, the kinds of events
it stored, the label each client shows and the buttons it offers afterwards.

A step is ``(verb, argument)``:

- ``start``: ``shell`` (New shell), ``claude`` (New Claude), ``imported`` (the stored
  conversation of tests/fixtures/claude/history/sample.jsonl, selected), ``command:CMD`` (Run).
- ``type``: the text typed into the prompt line, then Enter.
- ``ctrl-c``: Ctrl-C pressed in the prompt line, with nothing selected in it.
- ``click``: ``interrupt``, ``stop`` or ``continue``; the button must be enabled.
- ``answer``: ``(button, question)``: the question now asked must be ``question``; click
  ``button`` (``Stop`` or ``Cancel``).
- ``wait``: a condition (``met()``) on the session on screen, through the API.
- ``pause``: seconds to let pass (for "and nothing else happens").

Each client's runner answers to a question only in an ``answer`` step: a question asked at any
other time leaves the session running, and the outcome then fails.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop.session_actions import status_label
from tests.claude import HISTORY_FIXTURES, history_file

SAMPLE_ID = "0b8f3c1e-7d2a-4c55-9e1b-3f6a2d9c8e71"  # the session id inside sample.jsonl
# The backend's $SHELL, which New shell starts: the same shell (and so the same signal that
# ends it) whatever the machine's login shell is.
SHELL_ENV = {"SHELL": "/bin/bash"}
# The backend's options for both clients' runs. A generous stop grace: the scenarios expect the
# signal a program ends by when it ends by itself, which a loaded machine must not turn into
# the SIGKILL that follows the grace (CI once saw a shell outlive the default 2 s).
SERVER_OPTIONS = ("--stop-grace", "10")

Step = tuple[str, Any]


@dataclass(frozen=True)
class Outcome:
    """Where a session ends up: its status and label (one of ``labels``: a shell or command
    stopped with SIGTERM and SIGHUP together dies of whichever comes first), and its stored
    events as ``summary()`` reads them."""

    status: str
    labels: tuple[str, ...]
    events: list[str]


@dataclass(frozen=True)
class Scenario:
    name: str
    steps: list[Step]
    original: Outcome
    # The session that continues the original one, shown at the end (None: none was made).
    continued: Outcome | None = None
    # The action buttons enabled for the session on screen at the end.
    buttons: frozenset[str] = field(default_factory=frozenset)


def summary(events: list[dict[str, Any]]) -> list[str]:
    """A session's stored events without its output: ``prompt``, ``error``, the status it
    started with, each turn's start and end, and how it ended (with the signal, if any)."""
    seen: list[str] = []
    for event in events:
        kind, data = event["type"], event["data"]
        if kind in ("prompt", "error"):
            seen.append(kind)
        elif kind == "status" and isinstance(data.get("turn"), dict):
            seen.append("turn interrupted" if data["turn"].get("interrupted") else "turn done")
        elif kind == "status" and data["status"] == "running":
            working = (data.get("agent") or {}).get("state") == "working"
            seen.append("turn started" if working else "running")
        elif kind == "status":
            seen.append(data["status"])
    return seen


def met(condition: str, session: dict[str, Any], events: list[dict[str, Any]]) -> bool:
    """``foreground NAME`` or ``no foreground`` (a shell's job), ``working`` (a turn started and
    said something), ``queued N`` (prompts waiting for the turn), ``idle`` (a conversation
    between turns, after at least one), ``output TEXT``, or a status (``stopped``: the session
    says so and its status event is stored)."""
    output = "".join(e["data"].get("content", "") for e in events if e["type"] == "output")
    statuses = [e["data"] for e in events if e["type"] == "status"]
    job = session.get("foreground")
    agent = session.get("agent") or {}
    if condition.startswith("foreground "):
        return isinstance(job, dict) and job.get("name") == condition.split(" ", 1)[1]
    if condition == "no foreground":
        return session["status"] == "running" and job is None
    if condition.startswith("queued "):
        return agent.get("queued") == int(condition.split(" ", 1)[1])
    if condition == "working":
        return agent.get("state") == "working" and bool(output)
    if condition == "idle":
        a_turn_ended = any(isinstance(data.get("turn"), dict) for data in statuses)
        return session["status"] == "running" and agent.get("state") == "idle" and a_turn_ended
    if condition.startswith("output "):
        return condition.split(" ", 1)[1] in output
    return session["status"] == condition and bool(statuses) and statuses[-1]["status"] == condition


def check(outcome: Outcome, session: dict[str, Any], events: list[dict[str, Any]]) -> None:
    """The session (from the API) and its events reached ``outcome``."""
    assert session["status"] == outcome.status, session
    assert status_label(session) in outcome.labels, session
    assert summary(events) == outcome.events, summary(events)
    statuses = [e["data"] for e in events if e["type"] == "status"]
    ended = [data for data in statuses if data["status"] != "running"]
    if ended:
        # The status event says what the Session object says.
        assert ended[-1]["exitCode"] == session["exitCode"]
        code = session["exitCode"]
        died_of = signal.Signals(-code).name if isinstance(code, int) and code < 0 else None
        assert ended[-1].get("signal") == died_of == session["signal"]


def store_imported(claude_home: Path, workdir: Path) -> None:
    """Claude Code's stored conversation in ``workdir``, for the ``imported`` start."""
    text = (HISTORY_FIXTURES / "sample.jsonl").read_text().replace("{cwd}", str(workdir))
    history_file(claude_home, workdir, SAMPLE_ID).write_text(text)


SLEEPING = [("start", "shell"), ("type", "sleep 100"), ("wait", "foreground sleep")]
ASKED = "Stop the shell? It is running sleep."
RUNNING = ("running",)
ANY_END = ("stopped SIGTERM", "stopped SIGHUP")
TERMINAL = frozenset({"interrupt", "stop"})
TURN = ["prompt", "turn started", "turn done"]

# fmt: off
SCENARIOS = [
    Scenario(
        "interrupt the program a shell runs",
        [*SLEEPING, ("click", "interrupt"), ("wait", "no foreground"),
         ("type", "echo alive-$((6*7))"), ("wait", "output alive-42")],
        Outcome("running", RUNNING, ["running", "prompt", "prompt"]),
        buttons=TERMINAL,
    ),
    Scenario(
        "ctrl-c in the prompt line interrupts the program a shell runs",
        [*SLEEPING, ("ctrl-c", None), ("wait", "no foreground")],
        Outcome("running", RUNNING, ["running", "prompt"]),
        buttons=TERMINAL,
    ),
    Scenario(
        "stop a shell running a program, then cancel",
        [*SLEEPING, ("click", "stop"), ("answer", ("Cancel", ASKED)), ("pause", 0.5),
         ("wait", "foreground sleep")],
        Outcome("running", RUNNING, ["running", "prompt"]),
        buttons=TERMINAL,
    ),
    Scenario(
        "stop a shell running a program, confirmed",
        [*SLEEPING, ("click", "stop"), ("answer", ("Stop", ASKED)), ("wait", "stopped")],
        Outcome("stopped", ("stopped SIGHUP",), ["running", "prompt", "stopped"]),
    ),
    Scenario(
        "stop an idle shell: nothing to ask",
        [("start", "shell"), ("type", "echo ready"), ("wait", "output ready"),
         ("click", "stop"), ("wait", "stopped")],
        Outcome("stopped", ("stopped SIGHUP",), ["running", "prompt", "stopped"]),
    ),
    Scenario(
        "interrupt a command",
        [("start", "command:echo started; sleep 30"), ("wait", "output started"),
         ("click", "interrupt"), ("wait", "stopped")],
        Outcome("stopped", ("stopped SIGINT",), ["running", "stopped"]),
    ),
    Scenario(
        "stop a command: nothing to ask",
        [("start", "command:trap '' INT; echo started; sleep 30"), ("wait", "output started"),
         ("click", "stop"), ("wait", "stopped")],
        Outcome("stopped", ANY_END, ["running", "stopped"]),
    ),
    Scenario(
        "interrupt a conversation's turn: the conversation goes on",
        [("start", "claude"), ("type", "slow job"), ("wait", "working"),
         ("click", "interrupt"), ("wait", "idle")],
        Outcome("running", RUNNING, ["running", "prompt", "turn started", "turn interrupted"]),
        buttons=frozenset({"stop"}),
    ),
    Scenario(
        "stop a working conversation: its turn and its queue end, and it can be continued",
        [("start", "claude"), ("type", "slow job"), ("wait", "working"),
         ("type", "wait for me"), ("wait", "queued 1"), ("click", "stop"), ("wait", "stopped")],
        Outcome(
            "stopped",
            ("stopped",),
            ["running", "prompt", "turn started", "prompt", "error", "turn interrupted",
             "stopped"],
        ),
        buttons=frozenset({"continue"}),
    ),
    Scenario(
        "stop an idle conversation, then Continue",
        [("start", "claude"), ("type", "hello"), ("wait", "idle"), ("click", "stop"),
         ("wait", "stopped"), ("click", "continue"), ("wait", "running")],
        Outcome("stopped", ("stopped",), ["running", *TURN, "stopped"]),
        continued=Outcome("running", RUNNING, ["running"]),
        buttons=frozenset({"stop"}),
    ),
    Scenario(
        "a prompt typed into a stopped conversation continues it",
        [("start", "claude"), ("type", "hello"), ("wait", "idle"), ("click", "stop"),
         ("wait", "stopped"), ("type", "and more"), ("wait", "idle")],
        Outcome("stopped", ("stopped",), ["running", *TURN, "stopped"]),
        continued=Outcome("running", RUNNING, ["running", *TURN]),
        buttons=frozenset({"stop"}),
    ),
    Scenario(
        "continue an imported conversation",
        [("start", "imported"), ("click", "continue"), ("wait", "running"),
         ("type", "and now?"), ("wait", "idle")],
        Outcome("imported", ("imported",), ["prompt", "prompt"]),
        continued=Outcome("running", RUNNING, ["running", *TURN]),
        buttons=frozenset({"stop"}),
    ),
]
# fmt: on
