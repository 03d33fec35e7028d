"""Interactive ``claude`` sessions: approvals, questions, plans, modes, interrupts and streamed
text, against a real backend running the fake ``claude`` in its live form (tests/fixtures)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.claude import FAKE_CLAUDE, fake_answers, fake_calls
from tests.server import Server
from tests.sse import Received, Stream
from tests.test_claude_sessions import (
    assistant_texts,
    new_claude,
    prompt,
    wait_closed,
    wait_turns,
)


@pytest.fixture
def fake_log(tmp_path: Path) -> Path:
    return tmp_path / "fake-claude.log"


def claude_server(tmp_path: Path, fake_log: Path, *options: str) -> Server:
    server = Server(tmp_path / "data", ["--claude-path", str(FAKE_CLAUDE), *options])
    server.env["FAKE_CLAUDE_LOG"] = str(fake_log)
    return server


@pytest.fixture
def agent_server(tmp_path: Path, fake_log: Path) -> Iterator[Server]:
    server = claude_server(tmp_path, fake_log).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def api(agent_server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with agent_server.async_client() as client:
        yield client


def requests(stream: Stream) -> list[Received]:
    return [e for e in stream.events if e.event == "permission-request"]


def resolutions(stream: Stream) -> list[dict[str, Any]]:
    return [e.data for e in stream.events if e.event == "permission-resolved"]


async def wait_requests(stream: Stream, count: int) -> list[Received]:
    await stream._wait_until(
        lambda: len(requests(stream)) >= count,
        lambda: f"{count} permission requests ({len(requests(stream))})",
        10.0,
    )
    return requests(stream)


async def answer(
    api: httpx.AsyncClient, session_id: str, request_id: str, behavior: str, **extra: Any
) -> httpx.Response:
    body = {"requestId": request_id, "behavior": behavior, **extra}
    return await api.post(f"/api/session/{session_id}/permission", json=body)


def tool_results(stream: Stream) -> list[dict[str, Any]]:
    return [
        e.data for e in stream.events if e.event == "output" and e.data["type"] == "tool-result"
    ]


async def session_of(api: httpx.AsyncClient, session_id: str) -> dict[str, Any]:
    listed: dict[str, Any] = (await api.get(f"/api/session/{session_id}")).json()
    return listed


async def test_an_allowed_tool_runs_and_the_turn_completes(
    api: httpx.AsyncClient, workdir: Path, fake_log: Path
) -> None:
    session = await new_claude(api, workdir)
    sid = session["id"]
    async with Stream(api, sid) as stream:
        await prompt(api, sid, "ask to clean")
        (request,) = await wait_requests(stream, 1)
        data = request.data
        assert (data["tool"], data["input"]["command"]) == ("Bash", "rm -rf build")
        assert data["toolUseId"] == "toolu_01Ask"
        assert data["suggestions"][0]["type"] == "addRules"
        # The session object says the same as the stream: one open request, waiting for you.
        agent = (await session_of(api, sid))["agent"]
        assert agent["state"] == "waiting"
        (pending,) = agent["pending"]
        assert (pending["requestId"], pending["eventId"]) == (data["requestId"], request.id)
        waiting = await stream.wait_for(
            lambda e: e.event == "status" and e.data["agent"]["state"] == "waiting"
        )
        assert waiting.id is not None and request.id is not None and waiting.id > request.id

        response = await answer(api, sid, data["requestId"], "allow")
        assert response.status_code == 200, response.text
        assert response.json()["behavior"] == "allow"
        (end,) = await wait_turns(stream, 1)

    assert resolutions(stream) == [
        {**resolutions(stream)[0], "requestId": data["requestId"], "behavior": "allow"}
    ]
    assert [r["content"] for r in tool_results(stream)] == ["ran: rm -rf build"]
    assert end.data["turn"]["isError"] is False
    assert assistant_texts(stream)[-1] == "Done asking about: ask to clean"
    (sent,) = fake_answers(fake_log)
    assert sent["response"] == {"behavior": "allow", "updatedInput": data["input"]}
    agent = (await session_of(api, sid))["agent"]
    assert (agent["state"], agent["pending"]) == ("idle", [])


async def test_a_deny_with_a_message_reaches_claude(
    api: httpx.AsyncClient, workdir: Path, fake_log: Path
) -> None:
    session = await new_claude(api, workdir)
    sid = session["id"]
    async with Stream(api, sid) as stream:
        await prompt(api, sid, "ask to clean")
        (request,) = await wait_requests(stream, 1)
        rid = request.data["requestId"]
        response = await answer(api, sid, rid, "deny", message="Not the build folder, please")
        assert response.status_code == 200, response.text
        await wait_turns(stream, 1)
    (sent,) = fake_answers(fake_log)
    assert sent["request_id"] == rid
    assert sent["response"]["behavior"] == "deny"
    assert sent["response"]["message"] == "Not the build folder, please"
    (result,) = tool_results(stream)
    assert (result["content"], result["isError"]) == ("Not the build folder, please", True)
    (resolved,) = resolutions(stream)
    assert (resolved["behavior"], resolved["message"]) == ("deny", "Not the build folder, please")


async def test_two_clients_answering_at_once_one_wins(
    agent_server: Server, workdir: Path, fake_log: Path
) -> None:
    async with agent_server.async_client() as one, agent_server.async_client() as two:
        session = await new_claude(one, workdir)
        sid = session["id"]
        async with Stream(one, sid) as first, Stream(two, sid) as second:
            await prompt(one, sid, "ask to clean")
            (request,) = await wait_requests(first, 1)
            rid = request.data["requestId"]
            responses = await asyncio.gather(
                answer(one, sid, rid, "allow"), answer(two, sid, rid, "deny", message="no")
            )
            await wait_turns(first, 1)
            await wait_turns(second, 1)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 409]
    refused = next(r for r in responses if r.status_code == 409)
    assert refused.json()["code"] == "already_resolved"
    for stream in (first, second):
        assert len(resolutions(stream)) == 1
    assert len(fake_answers(fake_log)) == 1  # claude heard one answer
    # A later answer to it, or one to a request that never was, is refused too.
    async with agent_server.async_client() as late:
        assert (await answer(late, sid, rid, "allow")).status_code == 409
        assert (await answer(late, sid, "no-such-request", "allow")).status_code == 404


async def test_a_client_that_connects_while_a_request_is_open_sees_it(
    api: httpx.AsyncClient, workdir: Path
) -> None:
    session = await new_claude(api, workdir)
    sid = session["id"]
    async with Stream(api, sid) as stream:
        await prompt(api, sid, "ask to clean")
        (request,) = await wait_requests(stream, 1)
    assert request.id is not None
    # A new client, and one that resumes from just before the request: both see it open.
    async with Stream(api, sid) as fresh, Stream(api, sid, last_event_id=request.id - 1) as resumed:
        for other in (fresh, resumed):
            (seen,) = await wait_requests(other, 1)
            assert seen.data == request.data and seen.id == request.id
            assert resolutions(other) == []
    (pending,) = (await session_of(api, sid))["agent"]["pending"]
    assert pending["requestId"] == request.data["requestId"]


async def test_a_backend_killed_with_a_request_open_expires_it_and_the_conversation_resumes(
    agent_server: Server, workdir: Path, fake_log: Path
) -> None:
    async with agent_server.async_client() as api:
        session = await new_claude(api, workdir)
        sid = session["id"]
        async with Stream(api, sid) as stream:
            await prompt(api, sid, "ask to clean")
            (request,) = await wait_requests(stream, 1)
        agent_id = (await session_of(api, sid))["agent"]["agentSessionId"]
    agent_server.restart(signal.SIGKILL)
    rid = request.data["requestId"]
    async with agent_server.async_client() as api:
        listed = await session_of(api, sid)
        assert (listed["status"], listed["agent"]["state"]) == ("running", "idle")
        assert listed["agent"]["pending"] == []
        history = (await api.get(f"/api/session/{sid}/history")).json()["events"]
        resolved = [e["data"] for e in history if e["type"] == "permission-resolved"]
        assert [(r["requestId"], r["behavior"]) for r in resolved] == [(rid, "expired")]
        assert (await answer(api, sid, rid, "allow")).status_code == 409
        async with Stream(api, sid) as stream:
            await prompt(api, sid, "after the crash")
            await wait_turns(stream, 2)  # the interrupted one, and this one
    assert assistant_texts(stream)[-1].endswith("This is turn 2 of our conversation.")
    last = fake_calls(fake_log)[-1]["argv"]
    assert last[last.index("--resume") + 1] == agent_id


async def test_an_interrupt_cancels_every_open_request(
    api: httpx.AsyncClient, workdir: Path, fake_log: Path
) -> None:
    session = await new_claude(api, workdir)
    sid = session["id"]
    async with Stream(api, sid) as stream:
        await prompt(api, sid, "parallel work")
        asked = await wait_requests(stream, 2)
        assert [r.data["tool"] for r in asked] == ["Bash", "Write"]
        assert asked[1].data["blockedPath"].endswith("notes.txt")
        assert len((await session_of(api, sid))["agent"]["pending"]) == 2
        response = await api.post(f"/api/session/{sid}/interrupt")
        assert response.status_code == 202
        (end,) = await wait_turns(stream, 1)
    cancelled = resolutions(stream)
    assert sorted(r["requestId"] for r in cancelled) == sorted(r.data["requestId"] for r in asked)
    assert {r["behavior"] for r in cancelled} == {"cancelled"}
    assert end.data["turn"]["interrupted"] is True
    assert fake_answers(fake_log) == []  # nothing was answered: claude withdrew them
    agent = (await session_of(api, sid))["agent"]
    assert (agent["state"], agent["pending"], agent["live"]) == ("idle", [], True)
    # The process lives on: the next prompt is its next turn.
    async with Stream(api, sid) as stream:
        await prompt(api, sid, "and now")
        await wait_turns(stream, 2)
    assert len({call["pid"] for call in fake_calls(fake_log)}) == 1


async def test_sigint_interrupts_as_the_interrupt_endpoint_does(
    api: httpx.AsyncClient, workdir: Path
) -> None:
    session = await new_claude(api, workdir)
    sid = session["id"]
    async with Stream(api, sid) as stream:
        await prompt(api, sid, "ask to clean")
        await wait_requests(stream, 1)
        response = await api.post(f"/api/session/{sid}/signal", json={"signal": "SIGINT"})
        assert response.status_code == 202
        (end,) = await wait_turns(stream, 1)
    assert [r["behavior"] for r in resolutions(stream)] == ["cancelled"]
    assert end.data["turn"]["interrupted"] is True
    assert (await session_of(api, sid))["status"] == "running"


async def test_questions_are_answered_through_the_same_endpoint(
    api: httpx.AsyncClient, workdir: Path, fake_log: Path
) -> None:
    session = await new_claude(api, workdir)
    sid = session["id"]
    async with Stream(api, sid) as stream:
        await prompt(api, sid, "question time")
        (request,) = await wait_requests(stream, 1)
        questions = request.data["input"]["questions"]
        assert [q["multiSelect"] for q in questions] == [False, True]
        answers = {questions[0]["question"]: "SQLite", questions[1]["question"]: "Search, Export"}
        updated = {**request.data["input"], "answers": answers}
        response = await answer(api, sid, request.data["requestId"], "allow", updatedInput=updated)
        assert response.status_code == 200, response.text
        await wait_turns(stream, 1)
    (sent,) = fake_answers(fake_log)
    assert sent["response"]["updatedInput"]["answers"] == answers
    (result,) = tool_results(stream)
    assert '"Which database should I use?"="SQLite"' in result["content"]
    assert '"Which features do you want?"="Search, Export"' in result["content"]


async def test_an_approved_plan_switches_to_accept_edits(
    api: httpx.AsyncClient, workdir: Path
) -> None:
    session = await new_claude(api, workdir)
    sid = session["id"]
    response = await api.post(f"/api/session/{sid}/mode", json={"mode": "plan"})
    assert response.status_code == 200, response.text
    assert response.json()["mode"] == "plan"
    async with Stream(api, sid) as stream:
        await prompt(api, sid, "plan the flag")
        (request,) = await wait_requests(stream, 1)
        assert request.data["tool"] == "ExitPlanMode"
        assert request.data["input"]["plan"].startswith("# Plan")
        assert (await answer(api, sid, request.data["requestId"], "allow")).status_code == 200
        await wait_turns(stream, 1)
        await stream.wait_for(lambda e: e.event == "mode" and e.data["mode"] == "acceptEdits")
    modes = [e.data["mode"] for e in stream.events if e.event == "mode"]
    assert modes[-1] == "acceptEdits" and "plan" in modes
    assert (await session_of(api, sid))["agent"]["mode"] == "acceptEdits"


async def test_keep_planning_is_a_deny_with_feedback(
    api: httpx.AsyncClient, workdir: Path, fake_log: Path
) -> None:
    session = await new_claude(api, workdir, argv=["--permission-mode", "plan"])
    sid = session["id"]
    async with Stream(api, sid) as stream:
        await prompt(api, sid, "plan the flag")
        (request,) = await wait_requests(stream, 1)
        feedback = "Also document the flag"
        response = await answer(api, sid, request.data["requestId"], "deny", message=feedback)
        assert response.status_code == 200
        await wait_turns(stream, 1)
    assert fake_answers(fake_log)[0]["response"]["message"] == feedback
    assert (await session_of(api, sid))["agent"]["mode"] == "plan"


async def test_the_mode_and_model_switch_live_and_carry_over_to_the_next_process(
    tmp_path: Path, workdir: Path, fake_log: Path
) -> None:
    server = claude_server(tmp_path, fake_log, "--agent-idle-minutes", "0.005").start()
    try:
        async with server.async_client() as api:
            session = await new_claude(api, workdir)
            sid = session["id"]
            # Before any process: kept, and given to the first one.
            response = await api.post(f"/api/session/{sid}/mode", json={"mode": "acceptEdits"})
            assert response.json() == {"mode": "acceptEdits", "model": None}
            async with Stream(api, sid) as stream:
                await prompt(api, sid, "hello")
                await wait_turns(stream, 1)
                # While it runs: sent to it, and it confirms with a status line.
                response = await api.post(f"/api/session/{sid}/model", json={"model": "opus"})
                assert response.status_code == 200, response.text
                response = await api.post(f"/api/session/{sid}/mode", json={"mode": "plan"})
                assert response.json() == {"mode": "plan", "model": "opus"}
                await wait_closed(api, sid)  # idle: it closes
                await prompt(api, sid, "again")
                await wait_turns(stream, 2)
            changes = [
                (e.data["mode"], e.data["model"]) for e in stream.events if e.event == "mode"
            ]
            assert ("plan", "opus") in changes
            agent = (await session_of(api, sid))["agent"]
            assert (agent["mode"], agent["model"]) == ("plan", "opus")
            first, second = (call["argv"] for call in fake_calls(fake_log))
            assert first[first.index("--permission-mode") + 1] == "acceptEdits"
            assert second[second.index("--permission-mode") + 1] == "plan"
            assert second[second.index("--model") + 1] == "opus"
            assert "--resume" in second
            bad = await api.post(f"/api/session/{sid}/mode", json={"mode": "yolo"})
            assert bad.status_code == 400
            bad = await api.post(f"/api/session/{sid}/model", json={"model": "--help"})
            assert bad.status_code == 400
    finally:
        server.stop()


async def test_the_slash_commands_come_from_initialize(
    api: httpx.AsyncClient, workdir: Path
) -> None:
    session = await new_claude(api, workdir)
    sid = session["id"]
    async with Stream(api, sid) as stream:
        await prompt(api, sid, "hello")
        await wait_turns(stream, 1)
    commands = (await session_of(api, sid))["agent"]["commands"]
    assert [c["name"] for c in commands] == ["review", "compact", "cost"]  # the blank one left out
    assert commands[0] == {
        "name": "review",
        "description": "Review the changes on this branch (project)",
        "argumentHint": "[path]",
    }


async def test_deltas_stream_but_are_never_stored(agent_server: Server, workdir: Path) -> None:
    agent_server.stop()
    agent_server.env["FAKE_CLAUDE_DELTA_SECONDS"] = "0.02"  # a delta every 20 ms
    agent_server.start()
    async with agent_server.async_client() as api:
        session = await new_claude(api, workdir)
        sid = session["id"]
        async with Stream(api, sid) as stream:
            await prompt(api, sid, "tell me a story")
            first_delta = await stream.wait_for(lambda e: e.event == "delta")
            # A client that connects mid-message sees the deltas from then on, then the text.
            async with Stream(api, sid) as late:
                await wait_turns(stream, 1)
                await wait_turns(late, 1)
        history = (await api.get(f"/api/session/{sid}/history")).json()["events"]
    deltas = [e for e in stream.events if e.event == "delta"]
    assert first_delta.id is None and all(e.id is None for e in deltas)
    text = "".join(e.data["text"] for e in deltas)
    assert (
        text
        == assistant_texts(stream)[0]
        == "You said: tell me a story. This is turn 1 of our conversation."
    )
    assert {e.data["messageId"] for e in deltas} == {"msg_01Default"}
    late_text = "".join(e.data["text"] for e in late.events if e.event == "delta")
    assert text.endswith(late_text) and len(late_text) < len(text)
    assert assistant_texts(late) == [text]
    # Stored once, as the whole message; no delta in the history or its ids.
    assert [e["type"] for e in history].count("delta") == 0
    stored = [e["data"]["content"] for e in history if e["type"] == "output"]
    assert stored.count(text) == 1
    assert [e["id"] for e in history] == list(range(1, len(history) + 1))


async def test_an_idle_conversation_closes_and_resumes_at_the_next_prompt(
    tmp_path: Path, workdir: Path, fake_log: Path
) -> None:
    server = claude_server(tmp_path, fake_log, "--agent-idle-minutes", "0.005").start()
    try:
        async with server.async_client() as api:
            session = await new_claude(api, workdir)
            sid = session["id"]
            async with Stream(api, sid) as stream:
                await prompt(api, sid, "hello")
                ends = await wait_turns(stream, 1)
                assert (await session_of(api, sid))["agent"]["live"] is True
                await wait_closed(api, sid)  # 0.3 s without a turn
                await prompt(api, sid, "again")
                await wait_turns(stream, 2)
        agent_id = ends[0].data["agent"]["agentSessionId"]
        first, second = fake_calls(fake_log)
        assert first["pid"] != second["pid"]
        assert second["argv"][second["argv"].index("--resume") + 1] == agent_id
        assert assistant_texts(stream)[-1].endswith("This is turn 2 of our conversation.")
    finally:
        server.stop()


async def test_a_prompt_that_comes_while_an_idle_process_closes_runs_in_the_next(
    tmp_path: Path, workdir: Path, fake_log: Path
) -> None:
    # The process closes 0.3 s after its turn and takes 1.5 s to end: a prompt sent meanwhile
    # waits for that end and resumes the conversation in a new process.
    server = claude_server(tmp_path, fake_log, "--agent-idle-minutes", "0.005")
    server.env["FAKE_CLAUDE_EXIT_SECONDS"] = "1.5"
    server.start()
    try:
        async with server.async_client() as api:
            session = await new_claude(api, workdir)
            sid = session["id"]
            async with Stream(api, sid) as stream:
                await prompt(api, sid, "hello")
                await wait_turns(stream, 1)
                await asyncio.sleep(0.8)  # closing now, not ended
                await prompt(api, sid, "again")
                (_, end) = await wait_turns(stream, 2)
        assert end.data["turn"]["isError"] is False
        assert assistant_texts(stream)[-1].endswith("This is turn 2 of our conversation.")
        assert [e for e in stream.events if e.event == "error"] == []
        first, second = fake_calls(fake_log)
        assert first["pid"] != second["pid"] and "--resume" in second["argv"]
    finally:
        server.stop()


async def test_over_the_live_limit_the_least_recently_used_idle_one_closes(
    tmp_path: Path, workdir: Path, fake_log: Path
) -> None:
    server = claude_server(tmp_path, fake_log, "--max-live-agents", "1").start()
    try:
        async with server.async_client() as api:
            one, two = (await new_claude(api, workdir)), (await new_claude(api, workdir))
            async with Stream(api, one["id"]) as first, Stream(api, two["id"]) as second:
                await prompt(api, one["id"], "hello one")
                await wait_turns(first, 1)
                await prompt(api, two["id"], "hello two")
                await wait_turns(second, 1)
                await wait_closed(api, one["id"])  # the other one took its place
                assert (await session_of(api, two["id"]))["agent"]["live"] is True
                await prompt(api, one["id"], "back to one")
                await wait_turns(first, 2)
                await wait_closed(api, two["id"])
        calls = fake_calls(fake_log)
        assert [c["prompt"] for c in calls] == ["hello one", "hello two", "back to one"]
        assert "--resume" in calls[2]["argv"]
        assert assistant_texts(first)[-1].endswith("This is turn 2 of our conversation.")
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"requestId": "x", "behavior": "maybe"}, 400, "invalid_input"),
        ({"behavior": "allow"}, 400, "invalid_input"),
        ({"requestId": "", "behavior": "allow"}, 400, "invalid_input"),
        ({"requestId": "x", "behavior": "allow", "updatedInput": [1]}, 400, "invalid_input"),
        ({"requestId": "x", "behavior": "deny", "message": 12}, 400, "invalid_input"),
        ({"requestId": "x", "behavior": "allow"}, 404, "request_not_found"),
    ],
)
async def test_bad_answers_are_refused(
    api: httpx.AsyncClient, workdir: Path, body: dict[str, Any], status: int, code: str
) -> None:
    session = await new_claude(api, workdir)
    response = await api.post(f"/api/session/{session['id']}/permission", json=body)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code


async def test_only_a_requests_own_suggestions_can_be_remembered(
    api: httpx.AsyncClient, workdir: Path, fake_log: Path
) -> None:
    session = await new_claude(api, workdir)
    sid = session["id"]
    async with Stream(api, sid) as stream:
        await prompt(api, sid, "ask to clean")
        (request,) = await wait_requests(stream, 1)
        rid, (suggestion,) = request.data["requestId"], request.data["suggestions"]
        forged = {**suggestion, "rules": [{"toolName": "Bash", "ruleContent": "*"}]}
        response = await answer(api, sid, rid, "allow", remember=[forged])
        assert response.status_code == 400
        assert (await session_of(api, sid))["agent"]["pending"]  # still open
        response = await answer(api, sid, rid, "allow", remember=[suggestion])
        assert response.status_code == 200
        await wait_turns(stream, 1)
    (sent,) = fake_answers(fake_log)
    assert sent["response"]["updatedPermissions"] == [suggestion]


async def test_sessions_without_a_conversation_have_nothing_to_answer(
    api: httpx.AsyncClient, workdir: Path
) -> None:
    response = await api.post(
        "/api/sessions",
        json={"workingDir": str(workdir), "kind": "command", "argv": ["sleep", "5"]},
    )
    sid = response.json()["id"]
    for path, body in (
        ("permission", {"requestId": "x", "behavior": "allow"}),
        ("mode", {"mode": "plan"}),
        ("model", {"model": "opus"}),
    ):
        response = await api.post(f"/api/session/{sid}/{path}", json=body)
        assert response.status_code == 409, response.text
        assert response.json()["code"] == "not_a_conversation"
