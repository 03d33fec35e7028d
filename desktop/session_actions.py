"""When a session offers Interrupt, Stop and Continue, what Stop, Delete and removing a project
ask first, how a status reads, what the prompt line and the session list say, and what a
session's view says while the backend cannot store anything: the rules both clients follow
(docs/architecture.md, "Session actions in the clients").

Qt-free and I/O-free, over the Session objects of docs/api.md. ``resources/web/actions.js`` is the
same in JavaScript; tests/web/test_actions_js.py holds the two to the same answers.
"""

from __future__ import annotations

from typing import Any

Session = dict[str, Any]


def status_label(session: Session) -> str:
    """``running``, ``exited 0``, ``failed 3``, ``failed SIGKILL``, ``failed`` (could not start),
    ``stopped``, ``stopped SIGTERM``, ``interrupted``, ``imported``."""
    status = str(session.get("status", "?"))
    code = session.get("exitCode")
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    died_of = None
    if code is not None and code < 0:
        # The backend names the signal (its platform's numbering); an older one did not.
        named = session.get("signal")
        died_of = named if isinstance(named, str) and named else f"signal {-code}"
    if status == "exited":
        return "exited 0"
    if status == "failed" and code is not None:
        return f"failed {died_of or code}"
    if status == "stopped" and died_of is not None:
        return f"stopped {died_of}"
    return status


def is_agent(session: Session | None) -> bool:
    """A Claude Code conversation (ours or imported) rather than a terminal."""
    return session is not None and session.get("kind") == "claude"


def is_running(session: Session | None) -> bool:
    return session is not None and session.get("status") == "running"


def is_working(session: Session | None) -> bool:
    """A conversation whose turn is running (waiting for an answer counts: it runs still)."""
    state = ((session or {}).get("agent") or {}).get("state")
    return is_running(session) and state in ("working", "waiting")


def needs_you(session: Session | None) -> bool:
    """A conversation whose turn waits for a person: a tool to allow, a question, a plan."""
    return is_running(session) and ((session or {}).get("agent") or {}).get("state") == "waiting"


def can_interrupt(session: Session | None) -> bool:
    """A terminal or command that runs, or a conversation whose turn runs."""
    return is_working(session) if is_agent(session) else is_running(session)


def can_stop(session: Session | None) -> bool:
    return is_running(session)


def can_continue(session: Session | None) -> bool:
    """A conversation that takes no more prompts itself but can go on in a new session: an
    imported one, or one of ours that ended after its first turn."""
    if not is_agent(session) or session is None or is_running(session):
        return False
    agent = session.get("agent") or {}
    return session.get("status") == "imported" or bool(agent.get("agentSessionId"))


def conversation_state(session: Session | None) -> str | None:
    """What the session list shows of a running conversation, beside its cost: ``working…``,
    ``needs you``, ``working… · queued 2`` or ``idle``; None for any other session."""
    if not is_agent(session) or not is_running(session) or session is None:
        return None
    agent = session.get("agent") or {}
    state = {"working": "working…", "waiting": "needs you"}.get(str(agent.get("state")), "idle")
    queued = agent.get("queued")
    if isinstance(queued, int) and not isinstance(queued, bool) and queued > 0:
        state += f" · queued {queued}"
    return state


def prompt_placeholder(session: Session | None) -> str:
    """What the prompt line says while it is empty, for the session on screen (None: none is)."""
    if session is None:
        return "Pick a session"
    if can_continue(session):
        return "Continue this conversation… (Enter starts a new Claude session from here)"
    if not is_running(session):
        return "The session is not running"
    if is_agent(session):
        return "Message Claude and press Enter (while it works, prompts queue)"
    return "Type a command for the session and press Enter"


def stop_question(session: Session) -> str | None:
    """What Stop asks before it ends a shell that is running a program, else None."""
    job = session.get("foreground")
    if session.get("kind") != "shell" or not is_running(session) or not isinstance(job, dict):
        return None
    name = str(job.get("name") or "") or "a program"
    return f"Stop the shell? It is running {name}."


def delete_question(session: Session) -> str:
    """What Delete asks, always: it takes the session's whole history."""
    running = " It is still running; it will be stopped." if is_running(session) else ""
    return f'Delete the session "{session.get("name", "")}" and its history?{running}'


def remove_project_question(project: dict[str, Any], sessions: list[Session]) -> str:
    """What removing a project asks, always: it deletes every session of the project, with
    its history (``sessions``: the project's, as they are now), and leaves its folder alone."""
    count = len(sessions)
    running = sum(1 for s in sessions if is_running(s))
    question = f'Remove the project "{project.get("name", "")}"?'
    if count == 0:
        question += " It has no sessions."
    elif count == 1:
        ending = "; it is still running and will be stopped" if running else ""
        question += f" Its session and its history will be deleted{ending}."
    else:
        verb = "is" if running == 1 else "are"
        ending = f"; {running} of them {verb} still running and will be stopped" if running else ""
        question += f" Its {count} sessions and their history will be deleted{ending}."
    return f"{question} Its folder is left as it is."


def trimmed_notice(first_available_id: object) -> str:
    """What a session's view says when retention removed events before it could show them (a
    ``history-trimmed`` event), whatever the kind of session."""
    return f"… older output was trimmed; history resumes at event {first_available_id}"


# The backend's reason when the disk is full (``storage-error``, ``/api/health``): then freeing
# space is what ends the pause; any other reason (a read-only or damaged database) needs fixing.
DISK_FULL = "the disk is full"


def storage_warning(reason: object) -> str:
    """What the banner over a session's output says while the backend cannot store anything (a
    ``storage-error`` event, with its ``reason``), until a ``storage-restored`` event."""
    said = reason if isinstance(reason, str) and reason else "the database refuses writes"
    until = "space is freed" if said == DISK_FULL else "that is fixed"
    return f"Cannot store output: {said}. The session is paused until {until}; nothing is lost."


def hints(session: Session | None) -> dict[str, str]:
    """The tooltip of each action button for ``session``."""
    agent = is_agent(session)
    if agent:
        interrupt = "Interrupt the running turn; queued prompts still run"
        stop = "End this conversation; Continue can take it up again"
    else:
        interrupt = "Ctrl-C: interrupt the program running in the session"
        stop = (
            "End the shell and what runs in it"
            if (session or {}).get("kind") == "shell"
            else "End the command (SIGTERM, then SIGKILL if it does not end)"
        )
    return {
        "interrupt": interrupt,
        "stop": stop,
        "continue": "Continue this conversation in a new session",
    }


def ended_by_quitting(sessions: list[Session]) -> int:
    """How many of ``sessions`` quitting an app that owns its backend would end: every running
    terminal and command, and every conversation whose turn runs (an idle conversation lives
    in Claude Code's files and goes on after a restart)."""
    return sum(1 for s in sessions if is_working(s) or (is_running(s) and not is_agent(s)))


# The answers to the quit question.
QUIT_STOP = "Stop and quit"
QUIT_KEEP = "Keep running"


def quit_question(count: int) -> str:
    running = "1 session is running" if count == 1 else f"{count} sessions are running"
    them = "it" if count == 1 else "them"
    return (
        f"Quit SessionDock? {running}. Stop {them}, or keep {them} running in the background: "
        f"SessionDock shows {them} again when you start it next (sessiondock stop ends {them})."
    )
