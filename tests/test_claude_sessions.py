"""``claude`` sessions against a real backend running the fake ``claude`` (tests/fixtures)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.claude import FAKE_CLAUDE, fake_calls, history_file
from tests.server import Server, running_server
from tests.sse import Received, Stream


@pytest.fixture
def fake_log(tmp_path: Path) -> Path:
    return tmp_path / "fake-claude.log"


@pytest.fixture
def agent_server(tmp_path: Path, fake_log: Path) -> Iterator[Server]:
    server = Server(tmp_path / "data", ["--claude-path", str(FAKE_CLAUDE)])
    server.env["FAKE_CLAUDE_LOG"] = str(fake_log)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def agent_api(agent_server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with agent_server.async_client() as client:
        yield client


async def new_claude(api: httpx.AsyncClient, workdir: Path, **body: Any) -> dict[str, Any]:
    response = await api.post(
        "/api/sessions", json={"workingDir": str(workdir), "kind": "claude", **body}
    )
    assert response.status_code == 201, response.text
    session: dict[str, Any] = response.json()
    return session


async def prompt(api: httpx.AsyncClient, session_id: str, text: str) -> dict[str, Any]:
    response = await api.post(f"/api/session/{session_id}/prompt", json={"command": text})
    assert response.status_code == 202, response.text
    ack: dict[str, Any] = response.json()
    return ack


def turn_end(event: Received) -> bool:
    return event.event == "status" and "turn" in event.data


def turn_ends(stream: Stream) -> list[Received]:
    return [e for e in stream.events if turn_end(e)]


async def wait_turns(stream: Stream, count: int, timeout: float = 15.0) -> list[Received]:
    await stream._wait_until(
        lambda: len(turn_ends(stream)) >= count,
        lambda: f"{count} turns ended ({len(turn_ends(stream))})",
        timeout,
    )
    return turn_ends(stream)


async def wait_closed(api: httpx.AsyncClient, session_id: str, timeout: float = 10.0) -> None:
    """Wait until no claude process holds the conversation (``agent.live`` is false)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (await api.get(f"/api/session/{session_id}")).json()["agent"]["live"]:
        assert loop.time() < deadline, "the conversation's process did not close"
        await asyncio.sleep(0.02)


def assistant_texts(stream: Stream) -> list[str]:
    return [
        e.data["content"]
        for e in stream.events
        if e.event == "output" and e.data["type"] == "assistant"
    ]


async def test_two_prompts_make_one_conversation_resumed_by_its_id(
    agent_api: httpx.AsyncClient, workdir: Path, fake_log: Path
) -> None:
    session = await new_claude(agent_api, workdir)
    assert session["kind"] == "claude"
    assert session["status"] == "running"
    assert session["agent"]["state"] == "idle"
    assert session["agent"]["agentSessionId"] is None
    async with Stream(agent_api, session["id"]) as stream:
        await prompt(agent_api, session["id"], "hello there")
        await wait_turns(stream, 1)
        await prompt(agent_api, session["id"], "and again")
        ends = await wait_turns(stream, 2)

    calls = fake_calls(fake_log)
    assert [call["prompt"] for call in calls] == ["hello there", "and again"]
    # One process holds the conversation: both turns went to it, as lines on its input.
    assert calls[0]["pid"] == calls[1]["pid"]
    argv = calls[0]["argv"]
    for flag, value in (("--input-format", "stream-json"), ("--output-format", "stream-json"),
                        ("--permission-prompt-tool", "stdio")):  # fmt: skip
        assert argv[argv.index(flag) + 1] == value
    assert "--verbose" in argv and "--include-partial-messages" in argv
    assert "-p" not in argv and "hello there" not in argv
    assert "--resume" not in argv and "--continue" not in argv
    agent_id = ends[0].data["agent"]["agentSessionId"]
    assert agent_id
    assert all(call["cwd"] == str(workdir) for call in calls)

    # The fake answers with the turn's place in its stored conversation: the resume worked.
    texts = assistant_texts(stream)
    assert texts == [
        "You said: hello there. This is turn 1 of our conversation.",
        "You said: and again. This is turn 2 of our conversation.",
    ]
    assert ends[0].data["turn"]["costUsd"] == pytest.approx(0.0123)
    assert ends[0].data["turn"]["outputTokens"] == 21
    assert ends[0].data["turn"]["durationMs"] == 2310
    assert ends[1].data["totals"]["costUsd"] == pytest.approx(0.0246)
    assert ends[1].data["totals"]["turns"] == 2

    listed = (await agent_api.get(f"/api/session/{session['id']}")).json()
    assert listed["status"] == "running"
    assert listed["agent"]["agentSessionId"] == agent_id
    assert listed["agent"]["totals"]["costUsd"] == pytest.approx(0.0246)
    assert listed["agent"]["totals"]["outputTokens"] == 42
    # The fake wrote Claude Code's own record of this conversation; it is not listed twice.
    sessions = (await agent_api.get("/api/sessions")).json()["sessions"]
    assert [s["id"] for s in sessions] == [session["id"]]


async def test_every_kind_of_tool_call_is_an_operation(
    agent_api: httpx.AsyncClient, workdir: Path
) -> None:
    session = await new_claude(agent_api, workdir)
    async with Stream(agent_api, session["id"]) as stream:
        await prompt(agent_api, session["id"], "tools please")
        await wait_turns(stream, 1)

    detected = [e.data for e in stream.events if e.event == "operations-detected"]
    operations = [op for data in detected for op in data["operations"]]
    summary = [(op["tool"], op["type"], op.get("path"), op.get("command")) for op in operations]
    app = f"{workdir}/app.py"
    assert summary == [
        ("Read", "read", app, None),
        ("Edit", "edit", app, None),
        ("Write", "write", f"{workdir}/NOTES.md", None),
        ("Bash", "bash", None, "python -m pytest -q"),
        ("Grep", "read", str(workdir), None),
        ("Bash", "delete", "build/old.log", "rm -f build/old.log"),
        ("TodoWrite", "other", None, None),
        ("Bash", "bash", None, "cat missing.txt"),
    ]
    edit, write = operations[1], operations[2]
    assert "-    return sum(items[1:])\n+    return sum(items)\n" in edit["diff"]
    assert edit["diff"].startswith(f"--- a{app}\n+++ b{app}\n@@")
    assert "+# Notes\n" in write["diff"] and "--- /dev/null" in write["diff"]
    # The text around a call: its own message's text, else the latest text before it.
    assert detected[0]["response"] == "I'll read the module first, then fix the off-by-one."
    assert detected[1]["response"] == "The slice skips the first item. Fixing it:"

    results = [e.data for e in stream.events if e.data.get("type") == "tool-result"]
    assert [r["tool"] for r in results] == [op["tool"] for op in operations]
    assert results[3]["content"] == "...\n3 passed in 0.02s"
    assert [r["isError"] for r in results] == [False] * 7 + [True]
    assert (
        assistant_texts(stream)[-1] == "Fixed: `total()` now sums every item, and the tests pass."
    )
    end = turn_ends(stream)[0].data["turn"]
    assert end["costUsd"] == pytest.approx(0.0421)
    assert (end["numTurns"], end["isError"], end["interrupted"]) == (9, False, False)
    # The system line is kept as a raw event, untouched.
    raw = [e.data["line"] for e in stream.events if e.event == "raw"]
    assert raw[0]["type"] == "system" and raw[0]["subtype"] == "init"


async def test_prompts_sent_during_a_turn_queue_and_run_in_order(
    agent_api: httpx.AsyncClient, workdir: Path, fake_log: Path
) -> None:
    session = await new_claude(agent_api, workdir)
    async with Stream(agent_api, session["id"]) as stream:
        acks = [await prompt(agent_api, session["id"], f"wait {n}") for n in range(1, 4)]
        assert [(a["queued"], a["position"]) for a in acks] == [(False, 0), (True, 1), (True, 2)]
        listed = (await agent_api.get(f"/api/session/{session['id']}")).json()
        assert listed["agent"]["state"] == "working"
        assert listed["agent"]["queued"] == 2
        await wait_turns(stream, 3)

    assert [c["prompt"] for c in fake_calls(fake_log)] == ["wait 1", "wait 2", "wait 3"]
    assert assistant_texts(stream) == [
        "Waited for: wait 1",
        "Waited for: wait 2",
        "Waited for: wait 3",
    ]
    prompts = [e for e in stream.events if e.event == "prompt"]
    assert [p.id for p in prompts] == [a["eventId"] for a in acks]
    assert [p.data.get("position") for p in prompts] == [None, 1, 2]
    # Each turn ran to its end before the next began: no turn was cut short by a prompt.
    assert [e.data["turn"]["interrupted"] for e in turn_ends(stream)] == [False] * 3
    states = [e.data["agent"]["state"] for e in stream.events if e.event == "status"]
    assert states == ["idle", "working", "idle", "working", "idle", "working", "idle"]


# Both ways to say it: the signal, and the action both clients' Interrupt buttons send.
INTERRUPT = {"signal": ("signal", {"signal": "SIGINT"}), "interrupt": ("interrupt", None)}
STOP = {
    # SIGTERM closes at once: the turn is killed with it, and the signal is reported.
    "signal": ("signal", {"signal": "SIGTERM"}, "closed", "SIGTERM"),
    # Stop interrupts the turn first; the fake ends on SIGINT (as claude does), so no kill was
    # needed and no signal is reported.
    "stop": ("stop", None, "stopped", None),
}


@pytest.mark.parametrize("how", INTERRUPT)
async def test_interrupt_ends_the_turn_and_the_queue_goes_on(
    agent_api: httpx.AsyncClient, workdir: Path, fake_log: Path, how: str
) -> None:
    session = await new_claude(agent_api, workdir)
    async with Stream(agent_api, session["id"]) as stream:
        await prompt(agent_api, session["id"], "slow job")
        await stream.wait_for_output("Starting a long job")
        await prompt(agent_api, session["id"], "after the interrupt")
        action, body = INTERRUPT[how]
        response = await agent_api.post(f"/api/session/{session['id']}/{action}", json=body)
        assert response.status_code == 202
        ends = await wait_turns(stream, 2, timeout=10)

    first = ends[0].data["turn"]
    assert first["interrupted"] is True
    assert first["costUsd"] == 0
    assert "Finished the long job" not in stream.output()
    assert (
        assistant_texts(stream)[-1]
        == "You said: after the interrupt. This is turn 2 of our conversation."
    )
    assert ends[1].data["turn"]["interrupted"] is False
    listed = (await agent_api.get(f"/api/session/{session['id']}")).json()
    assert (listed["status"], listed["agent"]["state"]) == ("running", "idle")


@pytest.mark.parametrize("how", STOP)
async def test_stopping_drops_the_queue_and_ends_the_conversation(
    agent_api: httpx.AsyncClient, workdir: Path, fake_log: Path, how: str
) -> None:
    action, body, why, signal_name = STOP[how]
    session = await new_claude(agent_api, workdir)
    async with Stream(agent_api, session["id"]) as stream:
        await prompt(agent_api, session["id"], "slow job")
        await stream.wait_for_output("Starting a long job")
        await prompt(agent_api, session["id"], "never runs")
        response = await agent_api.post(f"/api/session/{session['id']}/{action}", json=body)
        assert response.status_code == 202
        final = await stream.wait_for(
            lambda e: e.event == "status" and e.data["status"] != "running"
        )
    assert final.data["status"] == "stopped"
    assert final.data.get("signal") == signal_name
    assert turn_ends(stream)[-1].data["turn"]["interrupted"] is True
    errors = [e.data["message"] for e in stream.events if e.event == "error"]
    assert errors == [f"1 queued prompt(s) were not run: the session was {why}"]
    assert [c["prompt"] for c in fake_calls(fake_log)] == ["slow job"]
    response = await agent_api.post(
        f"/api/session/{session['id']}/prompt", json={"command": "too late"}
    )
    assert response.status_code == 409


async def test_a_turn_that_ignores_the_interrupt_is_killed_after_the_grace_period(
    tmp_path: Path, workdir: Path, fake_log: Path
) -> None:
    server = Server(tmp_path / "stubborn", ["--claude-path", str(FAKE_CLAUDE), "--stop-grace", "1"])
    server.env["FAKE_CLAUDE_LOG"] = str(fake_log)
    server.start()
    try:
        async with server.async_client() as api:
            session = await new_claude(api, workdir)
            sid = session["id"]
            async with Stream(api, sid) as stream:
                await prompt(api, sid, "stubborn job")
                await stream.wait_for_output("Starting a stubborn job")
                assert (await api.post(f"/api/session/{sid}/stop")).status_code == 202
                # Stopping: it takes nothing more, and says why.
                refused = await api.post(f"/api/session/{sid}/prompt", json={"command": "x"})
                assert refused.status_code == 409
                assert "is stopping" in refused.json()["error"]
                final = await stream.wait_for(
                    lambda e: e.event == "status" and e.data["status"] != "running"
                )
    finally:
        server.stop()
    assert final.data["status"] == "stopped"
    assert (final.data["exitCode"], final.data["signal"]) == (-9, "SIGKILL")


async def test_half_an_emoji_in_claudes_output_is_replaced_not_fatal(
    agent_api: httpx.AsyncClient, workdir: Path
) -> None:
    session = await new_claude(agent_api, workdir)
    async with Stream(agent_api, session["id"]) as stream:
        await prompt(agent_api, session["id"], "emoji please")
        (end,) = await wait_turns(stream, 1)
    assert assistant_texts(stream) == ["An emoji cut in half: \ufffd, and a whole one: \U0001f600."]
    assert end.data["turn"]["subtype"] == "success"
    assert not [e for e in stream.events if e.event == "error"]
    assert stream.ids == list(range(1, len(stream.ids) + 1))  # no id was lost on the way


async def test_stop_closes_an_idle_conversation(
    agent_api: httpx.AsyncClient, workdir: Path
) -> None:
    session = await new_claude(agent_api, workdir)
    async with Stream(agent_api, session["id"]) as stream:
        await prompt(agent_api, session["id"], "hello")
        await wait_turns(stream, 1)
        assert (await agent_api.post(f"/api/session/{session['id']}/stop")).status_code == 202
        final = await stream.wait_for(
            lambda e: e.event == "status" and e.data["status"] != "running"
        )
    assert final.data["status"] == "stopped" and final.data["exitCode"] is None
    assert (await agent_api.post(f"/api/session/{session['id']}/stop")).status_code == 409


async def test_a_missing_binary_fails_the_session_with_a_clear_error(
    tmp_path: Path, workdir: Path
) -> None:
    missing = tmp_path / "no-such-claude"
    with running_server(tmp_path / "data", "--claude-path", str(missing)) as server:
        async with server.async_client() as api:
            session = await new_claude(api, workdir)
            assert session["status"] == "failed"
            history = (await api.get(f"/api/session/{session['id']}/history")).json()
            errors = [e["data"]["message"] for e in history["events"] if e["type"] == "error"]
            assert len(errors) == 1
            assert "not found" in errors[0] and str(missing) in errors[0]
            response = await api.post(
                f"/api/session/{session['id']}/prompt", json={"command": "hi"}
            )
            assert response.status_code == 409
            assert response.json()["code"] == "session_not_running"
            assert (await api.get("/api/health")).status_code == 200


async def test_claude_not_on_path_names_the_fix(tmp_path: Path, workdir: Path) -> None:
    server = Server(tmp_path / "data")
    server.env["PATH"] = "/usr/bin:/bin"  # no claude there
    server.start()
    try:
        async with server.async_client() as api:
            session = await new_claude(api, workdir)
            events = (await api.get(f"/api/session/{session['id']}/history")).json()["events"]
        assert session["status"] == "failed"
        message = next(e["data"]["message"] for e in events if e["type"] == "error")
        assert "not found on PATH" in message and "--claude-path" in message
    finally:
        server.stop()


async def test_malformed_and_unknown_lines_do_not_stop_the_turn(
    agent_api: httpx.AsyncClient, workdir: Path
) -> None:
    session = await new_claude(agent_api, workdir)
    async with Stream(agent_api, session["id"]) as stream:
        await prompt(agent_api, session["id"], "malformed output")
        ends = await wait_turns(stream, 1)

    errors = [e.data for e in stream.events if e.event == "error"]
    assert len(errors) == 4
    assert errors[0]["message"].startswith("malformed line from claude")
    assert errors[0]["line"].startswith('{"type":"assistant","message":{"content"')
    assert errors[1]["line"] == "[1, 2, 3]"
    assert "NaN is not a number JSON allows" in errors[2]["message"]
    assert "nested too deeply" in errors[3]["message"]
    assert errors[3]["line"] == "[" * 200
    raw_types = [e.data["line"]["type"] for e in stream.events if e.event == "raw"]
    assert raw_types == ["system", "session_note"]  # kept as they came; a stream_event is not
    first, *rest = [e.data["text"] for e in stream.events if e.event == "delta"]
    assert (first, "".join(rest)) == ("Hel", "Still here after the bad lines.")
    assert assistant_texts(stream) == ["Still here after the bad lines."]
    assert ends[0].data["turn"]["isError"] is False


async def test_an_error_result_and_a_crash_are_reported_and_the_session_goes_on(
    agent_api: httpx.AsyncClient, workdir: Path
) -> None:
    session = await new_claude(agent_api, workdir)
    async with Stream(agent_api, session["id"]) as stream:
        await prompt(agent_api, session["id"], "error please")
        await prompt(agent_api, session["id"], "crash now")
        await prompt(agent_api, session["id"], "hello after")
        ends = await wait_turns(stream, 3)

    error_turn, crash_turn, fine_turn = (e.data["turn"] for e in ends)
    assert (error_turn["isError"], error_turn["subtype"]) == (True, "error_during_execution")
    assert (crash_turn["isError"], crash_turn["subtype"]) == (True, "no-result")
    assert fine_turn["isError"] is False
    stderr = [e.data["content"] for e in stream.events if e.data.get("type") == "stderr"]
    assert any("overloaded_error" in text for text in stderr)
    assert any("something went badly wrong" in text for text in stderr)
    errors = [e.data["message"] for e in stream.events if e.event == "error"]
    assert errors == ["claude ended (exit code 3) without a result"]


@pytest.mark.parametrize(
    "long_prompt",
    [
        "hello " + "x" * 300_000,  # over the kernel's 128 KiB limit for one argument
        "--help me with this",  # would read as an option
    ],
)
async def test_a_long_or_dashed_prompt_goes_through_standard_input(
    agent_api: httpx.AsyncClient, workdir: Path, fake_log: Path, long_prompt: str
) -> None:
    session = await new_claude(agent_api, workdir)
    async with Stream(agent_api, session["id"]) as stream:
        await prompt(agent_api, session["id"], long_prompt)
        await wait_turns(stream, 1)
    (call,) = fake_calls(fake_log)
    assert call["prompt"] == long_prompt
    assert long_prompt not in call["argv"]


async def test_extra_arguments_are_passed_to_every_turn(
    agent_api: httpx.AsyncClient, workdir: Path, fake_log: Path
) -> None:
    extra = ["--model", "sonnet", "--permission-mode", "acceptEdits"]
    session = await new_claude(agent_api, workdir, argv=extra)
    async with Stream(agent_api, session["id"]) as stream:
        await prompt(agent_api, session["id"], "hello")
        await prompt(agent_api, session["id"], "again")
        await wait_turns(stream, 2)
    first, second = fake_calls(fake_log)
    assert first["pid"] == second["pid"]  # one process took both turns
    argv = first["argv"]
    assert argv[argv.index("--include-partial-messages") + 1 :][:4] == extra


async def test_a_conversation_survives_a_backend_restart(
    agent_server: Server, workdir: Path, fake_log: Path
) -> None:
    async with agent_server.async_client() as api:
        session = await new_claude(api, workdir)
        async with Stream(api, session["id"]) as stream:
            await prompt(api, session["id"], "hello")
            ends = await wait_turns(stream, 1)
        agent_id = ends[0].data["agent"]["agentSessionId"]
    agent_server.restart()
    async with agent_server.async_client() as api:
        listed = (await api.get(f"/api/session/{session['id']}")).json()
        assert listed["status"] == "running"
        assert listed["agent"]["agentSessionId"] == agent_id
        assert listed["agent"]["totals"]["costUsd"] == pytest.approx(0.0123)
        async with Stream(api, session["id"]) as stream:
            await prompt(api, session["id"], "after restart")
            await wait_turns(stream, 2)
    assert (
        assistant_texts(stream)[-1]
        == "You said: after restart. This is turn 2 of our conversation."
    )
    last = fake_calls(fake_log)[-1]["argv"]
    assert last[last.index("--resume") + 1] == agent_id


async def test_a_turn_running_when_the_backend_stops_is_recorded_as_interrupted(
    agent_server: Server, workdir: Path
) -> None:
    async with agent_server.async_client() as api:
        session = await new_claude(api, workdir)
        async with Stream(api, session["id"]) as stream:
            await prompt(api, session["id"], "slow job")
            await prompt(api, session["id"], "queued behind it")
            await stream.wait_for_output("Starting a long job")
    agent_server.restart()
    async with agent_server.async_client() as api:
        history = (await api.get(f"/api/session/{session['id']}/history")).json()["events"]
        listed = (await api.get(f"/api/session/{session['id']}")).json()
    ends = [e["data"]["turn"] for e in history if e["type"] == "status" and "turn" in e["data"]]
    assert [t["interrupted"] for t in ends] == [True]
    errors = [e["data"]["message"] for e in history if e["type"] == "error"]
    assert errors == ["1 queued prompt(s) were not run: the backend stopped"]
    assert (listed["status"], listed["agent"]["state"]) == ("running", "idle")


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"kind": "claude", "resume": "not a uuid!"}, 400),
        ({"kind": "claude", "resume": "-0b8f3c1e-7d2a"}, 400),
        ({"kind": "claude", "resume": "session-000000000000"}, 404),  # no such session
        ({"kind": "shell", "resume": "0b8f3c1e-7d2a-4c55-9e1b-3f6a2d9c8e71"}, 400),
        ({"kind": "claude", "resume": 12}, 400),
    ],
)
async def test_bad_resume_requests_are_refused(
    agent_api: httpx.AsyncClient, workdir: Path, body: dict[str, Any], status: int
) -> None:
    response = await agent_api.post("/api/sessions", json={"workingDir": str(workdir), **body})
    assert response.status_code == status, response.text
    assert "error" in response.json()


async def test_a_session_continues_a_conversation_by_its_claude_id(
    agent_server: Server, agent_api: httpx.AsyncClient, workdir: Path, fake_log: Path
) -> None:
    agent_id = "5d1e9a1c-3b7f-4e2a-8c6d-9f0a1b2c3d4e"
    record = history_file(agent_server.claude_home, workdir, agent_id)
    record.write_text(
        json.dumps(
            {"type": "user", "message": {"role": "user", "content": "earlier"}, "cwd": str(workdir),
             "sessionId": agent_id, "uuid": "u1", "timestamp": "2026-11-20T10:00:00.000Z"}
        ) + "\n"
    )  # fmt: skip
    session = await new_claude(agent_api, workdir, resume=agent_id)
    assert session["agent"]["agentSessionId"] == agent_id
    async with Stream(agent_api, session["id"]) as stream:
        await prompt(agent_api, session["id"], "hello")
        await wait_turns(stream, 1)
    argv = fake_calls(fake_log)[0]["argv"]
    assert argv[argv.index("--resume") + 1] == agent_id
    assert assistant_texts(stream) == ["You said: hello. This is turn 2 of our conversation."]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_an_interrupt_while_the_turn_starts_is_not_lost(
    agent_api: httpx.AsyncClient, workdir: Path
) -> None:
    session = await new_claude(agent_api, workdir)
    async with Stream(agent_api, session["id"]) as stream:
        await prompt(agent_api, session["id"], "slow job")  # sleeps 30 s once it runs
        response = await agent_api.post(
            f"/api/session/{session['id']}/signal", json={"signal": "SIGINT"}
        )
        assert response.status_code == 202
        (end,) = await wait_turns(stream, 1, timeout=10)
    assert end.data["turn"]["interrupted"] is True
    assert "Finished the long job" not in stream.output()


async def test_deleting_a_working_session_ends_its_turn_and_leaves_nothing_behind(
    agent_server: Server, agent_api: httpx.AsyncClient, workdir: Path, fake_log: Path
) -> None:
    session = await new_claude(agent_api, workdir)
    async with Stream(agent_api, session["id"]) as stream:
        await prompt(agent_api, session["id"], "slow job")
        await prompt(agent_api, session["id"], "queued")
        await stream.wait_for_output("Starting a long job")
        response = await agent_api.delete(f"/api/session/{session['id']}")
        assert response.status_code == 200
    (call,) = fake_calls(fake_log)
    assert not alive(call["pid"])
    # Claude Code's record of the deleted conversation is not listed as an imported session.
    await asyncio.sleep(2.2)  # past the rescan interval
    assert (await agent_api.get("/api/sessions")).json()["sessions"] == []
    agent_server.stop()
    with sqlite3.connect(agent_server.data_dir / "sessiondock.sqlite3") as db:
        orphans = db.execute(
            "SELECT count(*) FROM events WHERE session_id NOT IN (SELECT id FROM sessions)"
        ).fetchone()[0]
    assert orphans == 0


async def test_a_delete_right_after_the_prompt_stops_the_turn_that_was_starting(
    agent_api: httpx.AsyncClient, workdir: Path, fake_log: Path
) -> None:
    session = await new_claude(agent_api, workdir)
    await prompt(agent_api, session["id"], "slow job")
    response = await agent_api.delete(f"/api/session/{session['id']}")
    assert response.status_code == 200
    for call in fake_calls(fake_log):  # if it started at all, it is gone
        assert not alive(call["pid"])


async def test_a_crash_mid_turn_reports_the_turn_and_the_prompts_that_waited(
    agent_server: Server, workdir: Path
) -> None:
    async with agent_server.async_client() as api:
        session = await new_claude(api, workdir)
        async with Stream(api, session["id"]) as stream:
            await prompt(api, session["id"], "slow job")
            await prompt(api, session["id"], "one")
            await prompt(api, session["id"], "two")
            await stream.wait_for_output("Starting a long job")
    agent_server.restart(signal.SIGKILL)
    async with agent_server.async_client() as api:
        events = (await api.get(f"/api/session/{session['id']}/history")).json()["events"]
        listed = (await api.get(f"/api/session/{session['id']}")).json()
    ends = [e["data"]["turn"] for e in events if e["type"] == "status" and "turn" in e["data"]]
    assert [(t["interrupted"], t["isError"]) for t in ends] == [(True, False)]
    errors = [e["data"]["message"] for e in events if e["type"] == "error"]
    assert errors == ["2 queued prompt(s) were not run: the backend stopped"]
    assert (listed["status"], listed["agent"]["state"], listed["agent"]["queued"]) == (
        "running", "idle", 0,
    )  # fmt: skip


async def test_a_conversation_that_changes_id_on_resume_is_still_one_session(
    tmp_path: Path, workdir: Path, fake_log: Path
) -> None:
    # Each turn's process closes at once after it (0.001 minutes idle), so each turn resumes.
    options = ["--claude-path", str(FAKE_CLAUDE), "--agent-idle-minutes", "0.001"]
    server = Server(tmp_path / "data", options)
    server.env.update(FAKE_CLAUDE_LOG=str(fake_log), FAKE_CLAUDE_NEW_ID_ON_RESUME="1")
    server.start()
    try:
        async with server.async_client() as api:
            session = await new_claude(api, workdir)
            async with Stream(api, session["id"]) as stream:
                for count, text in enumerate(("one", "two", "three"), start=1):
                    await prompt(api, session["id"], text)
                    ends = await wait_turns(stream, count)
                    await wait_closed(api, session["id"])
            ids = {e.data["agent"]["agentSessionId"] for e in ends}
            assert len(ids) == 3  # a new Claude Code id for each resumed process
            assert len({call["pid"] for call in fake_calls(fake_log)}) == 3
            assert assistant_texts(stream)[-1].endswith("This is turn 3 of our conversation.")
            assert len(list(server.claude_home.glob("projects/*/*.jsonl"))) == 3
            sessions = (await api.get("/api/sessions")).json()["sessions"]
            assert [s["id"] for s in sessions] == [session["id"]]
            await api.delete(f"/api/session/{session['id']}")
            await asyncio.sleep(2.2)  # past the rescan interval
            assert (await api.get("/api/sessions")).json()["sessions"] == []
    finally:
        server.stop()


async def test_a_claude_session_has_no_terminal_to_resize(
    agent_api: httpx.AsyncClient, workdir: Path
) -> None:
    session = await new_claude(agent_api, workdir)
    response = await agent_api.post(
        f"/api/session/{session['id']}/resize", json={"cols": 80, "rows": 24}
    )
    assert response.status_code == 409
    assert response.json()["code"] == "not_a_terminal"


async def test_an_empty_prompt_is_refused(agent_api: httpx.AsyncClient, workdir: Path) -> None:
    session = await new_claude(agent_api, workdir)
    for command in ("", "  \n"):
        response = await agent_api.post(
            f"/api/session/{session['id']}/prompt", json={"command": command}
        )
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_input"
    history = (await agent_api.get(f"/api/session/{session['id']}/history")).json()["events"]
    assert [e["type"] for e in history] == ["status"]


async def test_a_project_removed_while_its_session_starts_leaves_nothing(
    tmp_path: Path, workdir: Path
) -> None:
    """The session waits for the login shell's PATH (slow here); its project goes meanwhile:
    the create is 404, and nothing of the session is stored."""
    slow_shell = tmp_path / "slow-shell"
    slow_shell.write_text('#!/bin/sh\nsleep 2\nexec /bin/sh "$@"\n')
    slow_shell.chmod(0o755)
    server = Server(tmp_path / "data", ["--claude-path", str(FAKE_CLAUDE), "--login-path"])
    server.env["SHELL"] = str(slow_shell)
    server.start()
    try:
        async with server.async_client() as api:
            project = (await api.post("/api/projects", json={"path": str(workdir)})).json()
            create = asyncio.create_task(
                api.post("/api/sessions", json={"projectId": project["id"], "kind": "claude"})
            )
            await asyncio.sleep(0.3)  # the create is waiting for the PATH
            assert not create.done()
            assert (await api.delete(f"/api/projects/{project['id']}")).status_code == 200
            created = await create
            assert created.status_code == 404, created.text
            assert (await api.get("/api/sessions")).json()["sessions"] == []
    finally:
        server.stop()
    conn = sqlite3.connect(server.data_dir / "sessiondock.sqlite3")
    try:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM sessions").fetchone() == (0,)
    finally:
        conn.close()
