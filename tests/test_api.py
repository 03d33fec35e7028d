"""REST: projects, sessions, prompts, signals, history, and every documented error."""

from __future__ import annotations

import asyncio
import json
import os
import pwd
from pathlib import Path

import httpx
import pytest

from tests.conftest import new_session
from tests.server import Server
from tests.sse import Stream


async def test_projects_crud(api: httpx.AsyncClient, tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    created = await api.post("/api/projects", json={"path": str(one), "name": "First"})
    assert created.status_code == 201
    project = created.json()
    assert project["name"] == "First" and project["path"] == str(one)
    again = await api.post("/api/projects", json={"path": str(one) + "/"})
    assert again.status_code == 200 and again.json()["id"] == project["id"]
    second = (await api.post("/api/projects", json={"path": str(two)})).json()
    assert second["name"] == "two"

    listed = (await api.get("/api/projects")).json()["projects"]
    assert [p["id"] for p in listed] == [project["id"], second["id"]]

    assert (await api.delete(f"/api/projects/{project['id']}")).json() == {"deleted": True}
    assert (await api.get(f"/api/projects/{project['id']}")).status_code == 404
    assert (await api.delete(f"/api/projects/{project['id']}")).status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "invalid_input"),
        ({"path": ""}, 400, "invalid_input"),
        ({"path": 5}, 400, "invalid_input"),
        ({"path": "relative/dir"}, 400, "invalid_input"),
        ({"path": "a\u0000b"}, 400, "invalid_input"),
        ({"path": "~nobody-here/dir"}, 400, "folder_not_found"),  # no such user
        ({"path": "/does/not/exist"}, 400, "folder_not_found"),
        ({"path": "/etc/hostname"}, 400, "not_a_folder"),
        ({"path": "/" + "a" * 300}, 400, "path_too_long"),  # too long a name for the system
        ([1, 2], 400, "invalid_input"),
    ],
)
async def test_bad_project_input(
    shared_api: httpx.AsyncClient, body: object, status: int, code: str
) -> None:
    # What the schema refuses is 400, and so is a well-formed path that names no usable folder.
    response = await shared_api.post("/api/projects", json=body)
    assert response.status_code == status
    assert response.json()["code"] == code
    assert set(response.json()) == {"error", "code"}


async def test_malformed_json_is_400(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/api/projects", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("malformed JSON")


async def test_bodies_in_other_encodings_and_home_folders(
    api: httpx.AsyncClient, workdir: Path
) -> None:
    """What json.loads took, the server takes: a byte order mark, UTF-16, ``~user`` paths."""
    body = json.dumps({"path": str(workdir)})
    headers = {"Content-Type": "application/json"}
    for raw in (b"\xef\xbb\xbf" + body.encode(), body.encode("utf-16")):
        response = await api.post("/api/projects", content=raw, headers=headers)
        assert response.status_code in (200, 201), response.text
        assert response.json()["path"] == str(workdir)
    user = pwd.getpwuid(os.getuid())
    response = await api.post("/api/projects", json={"path": f"~{user.pw_name}"})
    assert response.status_code in (200, 201), response.text
    assert response.json()["path"] == str(Path(user.pw_dir).resolve())


async def test_long_arguments_and_errors_that_name_the_field(
    api: httpx.AsyncClient, workdir: Path
) -> None:
    script = "true #" + "x" * 100_000  # a long ``sh -c`` script is an argument like any other
    session = await new_session(api, workdir, kind="command", argv=["sh", "-c", script])
    assert session["argv"][2] == script
    refused = await api.post("/api/sessions", json={"workingDir": str(workdir), "name": "a\u0000b"})
    assert refused.status_code == 400
    assert refused.json()["error"] == "name: must not contain NUL characters"
    # A Claude Code id alone says nothing of where its conversation ran.
    alone = await api.post(
        "/api/sessions",
        json={"kind": "claude", "resume": "0b8f3c1e-7d2a-4c55-9e1b-3f6a2d9c8e71"},
    )
    assert alone.status_code == 400 and "projectId" in alone.json()["error"]


async def test_project_lists_only_its_own_sessions(api: httpx.AsyncClient, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    in_a = await new_session(api, a, kind="command", argv=["true"])
    in_b = await new_session(api, b, kind="command", argv=["true"])
    project_a = (await api.get(f"/api/projects/{in_a['projectId']}")).json()
    assert [s["id"] for s in project_a["sessions"]] == [in_a["id"]]
    filtered = (await api.get("/api/sessions", params={"projectId": in_b["projectId"]})).json()
    assert [s["id"] for s in filtered["sessions"]] == [in_b["id"]]
    everything = (await api.get("/api/sessions")).json()["sessions"]
    assert {s["id"] for s in everything} == {in_a["id"], in_b["id"]}
    unknown = await api.get("/api/sessions", params={"projectId": "project-nope"})
    assert unknown.status_code == 404


async def test_session_by_project_id(api: httpx.AsyncClient, workdir: Path) -> None:
    project = (await api.post("/api/projects", json={"path": str(workdir)})).json()
    response = await api.post(
        "/api/sessions",
        json={"projectId": project["id"], "kind": "command", "argv": ["pwd"], "name": "where"},
    )
    assert response.status_code == 201
    session = response.json()
    assert session["name"] == "where" and session["workingDir"] == str(workdir)
    assert (await api.post("/api/sessions", json={"projectId": "project-x"})).status_code == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 400),
        ({"workingDir": "/nope/nope"}, 400),
        ({"kind": "teleport"}, 400),
        ({"kind": "command", "argv": []}, 400),
        ({"kind": "command"}, 400),
        ({"kind": "shell", "resume": "session-000000000000"}, 400),
        ({"kind": "claude", "resume": "--mcp-config=evil"}, 400),
        ({"kind": "claude", "resume": "session-000000000000"}, 404),
    ],
)
async def test_bad_session_input(
    shared_api: httpx.AsyncClient, workdir: Path, body: dict, status: int
) -> None:
    if "workingDir" not in body and body:
        body = {"workingDir": str(workdir), **body}
    response = await shared_api.post("/api/sessions", json=body)
    assert response.status_code == status, response.text


@pytest.mark.parametrize(
    "field",
    [{"argv": "ls"}, {"argv": [""]}, {"tty": "yes"}, {"cols": 1}, {"rows": True}, {"name": 3}],
)
async def test_bad_session_fields(
    shared_api: httpx.AsyncClient, workdir: Path, field: dict
) -> None:
    response = await shared_api.post("/api/sessions", json={"workingDir": str(workdir), **field})
    assert response.status_code == 400


async def test_prompt_errors(api: httpx.AsyncClient, workdir: Path) -> None:
    assert (
        await api.post("/api/session/session-nope/prompt", json={"command": "x"})
    ).status_code == 404
    session = await new_session(api, workdir, kind="command", argv=["cat"], tty=False)
    url = f"/api/session/{session['id']}/prompt"
    assert (await api.post(url, json={})).status_code == 400
    assert (await api.post(url, json={"command": 42})).status_code == 400
    assert (
        await api.post(url, content=b"[", headers={"Content-Type": "application/json"})
    ).status_code == 400
    too_big = await api.post(url, json={"command": "x" * (1024 * 1024 + 1)})
    assert too_big.status_code == 413
    assert too_big.json()["code"] == "payload_too_large"
    ok = await api.post(url, json={"command": "hello"})
    assert ok.status_code == 202
    assert ok.json()["accepted"] is True and ok.json()["eventId"] >= 2

    await api.post(f"/api/session/{session['id']}/signal", json={"signal": "SIGTERM"})
    async with asyncio.timeout(10):
        while (await api.get(f"/api/session/{session['id']}")).json()["status"] == "running":
            await asyncio.sleep(0.05)
    late = await api.post(url, json={"command": "anyone?"})
    assert late.status_code == 409
    assert late.json()["code"] == "session_not_running"


async def test_prompt_reaches_stdin_and_is_recorded(api: httpx.AsyncClient, workdir: Path) -> None:
    session = await new_session(api, workdir, kind="command", argv=["cat"], tty=False)
    async with Stream(api, session["id"]) as stream:
        accepted = (
            await api.post(f"/api/session/{session['id']}/prompt", json={"command": "ping"})
        ).json()
        prompt = await stream.wait_for(lambda e: e.event == "prompt")
        assert prompt.id == accepted["eventId"]
        assert prompt.data["command"] == "ping" and prompt.data["sessionId"] == session["id"]
        await stream.wait_for_output("ping\n")


async def test_signal_and_resize(api: httpx.AsyncClient, workdir: Path) -> None:
    session = await new_session(api, workdir, kind="command", argv=["sleep", "30"])
    sid = session["id"]
    assert (
        await api.post(f"/api/session/{sid}/signal", json={"signal": "SIGHUP"})
    ).status_code == 400
    resized = await api.post(f"/api/session/{sid}/resize", json={"cols": 100, "rows": 40})
    assert resized.status_code == 200
    assert (
        await api.post(f"/api/session/{sid}/resize", json={"cols": 0, "rows": 40})
    ).status_code == 400
    async with Stream(api, sid) as stream:
        assert (
            await api.post(f"/api/session/{sid}/signal", json={"signal": "SIGINT"})
        ).status_code == 202
        status = await stream.wait_for(
            lambda e: e.event == "status" and e.data["status"] != "running"
        )
    assert status.data["status"] == "stopped"
    assert status.data["signal"] == "SIGINT" and status.data["exitCode"] == -2
    assert (
        await api.post(f"/api/session/{sid}/signal", json={"signal": "SIGINT"})
    ).status_code == 409
    assert (
        await api.post(f"/api/session/{sid}/resize", json={"cols": 80, "rows": 24})
    ).status_code == 409


async def test_resize_a_pipe_session_is_409(api: httpx.AsyncClient, workdir: Path) -> None:
    session = await new_session(api, workdir, kind="command", argv=["sleep", "30"], tty=False)
    response = await api.post(f"/api/session/{session['id']}/resize", json={"cols": 80, "rows": 24})
    assert response.status_code == 409
    assert response.json()["code"] == "not_a_terminal"


async def test_resize_reaches_the_terminal(api: httpx.AsyncClient, workdir: Path) -> None:
    session = await new_session(api, workdir, kind="shell", argv=["/bin/sh"], cols=90, rows=30)
    sid = session["id"]
    async with Stream(api, sid) as stream:
        await api.post(f"/api/session/{sid}/prompt", json={"command": "stty size"})
        await stream.wait_for_output("30 90")
        await api.post(f"/api/session/{sid}/resize", json={"cols": 132, "rows": 50})
        await api.post(f"/api/session/{sid}/prompt", json={"command": "stty size"})
        await stream.wait_for_output("50 132")


async def test_history_pages(api: httpx.AsyncClient, workdir: Path) -> None:
    script = "for i in $(seq 1 30); do echo line-$i; sleep 0.01; done"
    session = await new_session(api, workdir, kind="command", argv=["sh", "-c", script], tty=False)
    sid = session["id"]
    async with Stream(api, sid) as stream:
        await stream.wait_for(lambda e: e.event == "status" and e.data["status"] == "exited")
    collected = []
    after = 0
    for _ in range(100):
        page = (
            await api.get(f"/api/session/{sid}/history", params={"after": after, "limit": 3})
        ).json()
        collected.extend(page["events"])
        after = page["nextAfter"]
        if not page["hasMore"]:
            break
    assert [e["id"] for e in collected] == stream.ids
    assert page["lastEventId"] == stream.ids[-1]
    text = "".join(e["data"]["content"] for e in collected if e["type"] == "output")
    assert text == "".join(f"line-{i}\n" for i in range(1, 31))
    for bad in ({"after": "-1"}, {"limit": "0"}, {"limit": "x"}, {"limit": "10001"}):
        assert (await api.get(f"/api/session/{sid}/history", params=bad)).status_code == 400
    assert (await api.get("/api/session/session-nope/history")).status_code == 404


async def test_delete_session_stops_it_and_forgets_history(
    server: Server, api: httpx.AsyncClient, workdir: Path
) -> None:
    session = await new_session(api, workdir, kind="command", argv=["sleep", "60"])
    sid = session["id"]
    async with Stream(api, sid) as stream:
        assert (await api.delete(f"/api/session/{sid}")).json() == {"deleted": True}
        await asyncio.wait_for(stream.ended.wait(), 5)  # its stream ends
    assert (await api.get(f"/api/session/{sid}")).status_code == 404
    assert (await api.get(f"/api/session/{sid}/history")).status_code == 404
    assert (await api.get(f"/api/session/{sid}/events")).status_code == 404
    assert (await api.delete(f"/api/session/{sid}")).status_code == 404
    with pytest.raises(ProcessLookupError):
        os.kill(session["pid"], 0)


async def test_unknown_route_and_method_are_json(api: httpx.AsyncClient) -> None:
    missing = await api.get("/api/nothing-here")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    wrong = await api.put("/api/projects", json={})
    assert wrong.status_code == 405 and wrong.json()["code"] == "method_not_allowed"


async def test_head_of_a_stream_ends_at_once(api: httpx.AsyncClient, workdir: Path) -> None:
    session = await new_session(api, workdir, kind="command", argv=["sleep", "30"])
    response = await asyncio.wait_for(api.head(f"/api/session/{session['id']}/events"), 5)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"


async def test_web_files_stay_inside_their_folder(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        for path in ("/%2e%2e/%2e%2e/pyproject.toml", "/..%2fpyproject.toml", "/nope.html"):
            response = await client.get(path)
            assert response.status_code == 404, path
            assert response.json()["code"] == "not_found"
        index = await client.get("/index.html")
        assert index.status_code == 200 and "SessionDock" in index.text


async def test_lone_surrogates_are_refused_and_the_store_goes_on(
    api: httpx.AsyncClient, workdir: Path
) -> None:
    for body in (
        b'{"path": "%s", "name": "\\ud800"}' % str(workdir).encode(),
        b'{"workingDir": "%s", "kind": "command", "argv": ["echo", "\\udc80"]}'
        % str(workdir).encode(),
    ):
        url = "/api/projects" if b'"path"' in body else "/api/sessions"
        response = await api.post(url, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, response.text
    # The store still takes writes: a normal request is answered at once.
    created = await asyncio.wait_for(api.post("/api/projects", json={"path": str(workdir)}), 5)
    assert created.status_code == 201


async def test_odd_headers_and_bodies_never_give_500(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        assert (await client.get("/api/health", headers={"Host": "["})).status_code == 403
        odd_origin = await client.post(
            "/api/projects",
            json={"path": "/tmp"},
            headers={**server.headers, "Origin": "http://["},
        )
        assert odd_origin.status_code == 403
        odd_token = await client.get("/api/projects", headers=[("Authorization", b"Bearer \xff")])
        assert odd_token.status_code == 401
        deep = await client.post(
            "/api/projects",
            content=b"[" * 100_000,
            headers={**server.headers, "Content-Type": "application/json"},
        )
        assert deep.status_code == 400
        assert (await client.get("/a%00b")).status_code == 404
    assert "Traceback" not in server.stderr()


async def test_a_refused_session_creates_no_project(api: httpx.AsyncClient, workdir: Path) -> None:
    response = await api.post("/api/sessions", json={"workingDir": str(workdir), "kind": "bogus"})
    assert response.status_code == 400
    assert (await api.get("/api/projects")).json()["projects"] == []


async def test_concurrent_deletes_of_a_project(api: httpx.AsyncClient, workdir: Path) -> None:
    session = await new_session(api, workdir, kind="command", argv=["sleep", "60"])
    url = f"/api/projects/{session['projectId']}"
    first, second = await asyncio.gather(api.delete(url), api.delete(url))
    assert sorted([first.status_code, second.status_code]) == [200, 404]
    assert (await api.get(f"/api/session/{session['id']}")).status_code == 404
    with pytest.raises(ProcessLookupError):
        os.kill(session["pid"], 0)
