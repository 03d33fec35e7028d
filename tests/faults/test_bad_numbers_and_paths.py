"""Issue 12, finding 4: hostile numbers and paths get a 400 with a sentence, never a 500.

Numbers of thousands of digits are over what Python's ``int()`` converts (4,300 digits); paths
fail in every way the system has: too long, not permitted, not a folder, gone.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import new_session
from tests.faults.limits import file_modes_bind
from tests.server import Server, running_server

HUGE = "9" * 5000
NOBODY = 65534


def refused(response: httpx.Response, code: str) -> str:
    """The sentence of a 400 with ``code``."""
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"error", "code"} and body["code"] == code, body
    assert len(body["error"]) > 20, body  # a sentence, not a bare code
    return str(body["error"])


@pytest.fixture
async def session(shared_api: httpx.AsyncClient, workdir: Path) -> dict[str, Any]:
    """A terminal session on the module's backend: the numbers below are refused, and change
    nothing, so one backend serves them all."""
    return await new_session(shared_api, workdir, kind="command", argv=["cat"], tty=True)


# -- numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["Last-Event-ID", "lastEventId"])
@pytest.mark.parametrize("value", [HUGE, "-" + HUGE, "0" * 5000 + "1" + "0" * 30])
async def test_an_event_id_of_thousands_of_digits(
    shared_api: httpx.AsyncClient, session: dict[str, Any], where: str, value: str
) -> None:
    url = f"/api/session/{session['id']}/events"
    if where == "Last-Event-ID":
        response = await shared_api.get(url, headers={where: value})
    else:
        response = await shared_api.get(url, params={where: value})
    assert "lastEventId" in refused(response, "invalid_input")
    assert (await shared_api.head(url, headers={"Last-Event-ID": value})).status_code == 400


@pytest.mark.parametrize("field", ["after", "limit"])
@pytest.mark.parametrize("value", [HUGE, "-" + HUGE])
async def test_a_history_bound_of_thousands_of_digits(
    shared_api: httpx.AsyncClient, session: dict[str, Any], field: str, value: str
) -> None:
    response = await shared_api.get(f"/api/session/{session['id']}/history", params={field: value})
    assert refused(response, "invalid_input").startswith(f"{field}: ")


@pytest.mark.parametrize("field", ["cols", "rows"])
@pytest.mark.parametrize("value", [HUGE, "-" + HUGE, "1e400"])
async def test_a_terminal_size_of_thousands_of_digits(
    shared_api: httpx.AsyncClient, session: dict[str, Any], workdir: Path, field: str, value: str
) -> None:
    # Written by hand: json.dumps refuses such an int too.
    sizes = {"cols": "80", "rows": "24", field: value}
    resize = f'{{"cols": {sizes["cols"]}, "rows": {sizes["rows"]}}}'
    response = await shared_api.post(
        f"/api/session/{session['id']}/resize",
        content=resize.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert refused(response, "invalid_input").startswith(f"{field}: "), "the field is named"
    create = f'{{"workingDir": "{workdir}", "{field}": {value}}}'
    response = await shared_api.post(
        "/api/sessions", content=create.encode(), headers={"Content-Type": "application/json"}
    )
    assert refused(response, "invalid_input").startswith(f"{field}: ")


# -- paths ------------------------------------------------------------------------------------


def path_bodies(path: str, project_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Every request that names a folder, naming ``path``."""
    return [
        ("/api/projects", {"path": path}),
        ("/api/sessions", {"workingDir": path}),
        ("/api/sessions", {"projectId": project_id, "workingDir": path}),
        ("/api/sessions", {"workingDir": path, "kind": "claude"}),
    ]


async def check_paths(
    api: httpx.AsyncClient, workdir: Path, cases: dict[str, tuple[str, str]]
) -> None:
    """Each path of ``cases`` is refused with its code and a sentence that says why, in every
    request that takes a path."""
    project = (await api.post("/api/projects", json={"path": str(workdir)})).json()
    for path, (code, why) in cases.items():
        for url, body in path_bodies(path, project["id"]):
            assert why in refused(await api.post(url, json=body), code)
    # Nothing was made of them.
    assert len((await api.get("/api/projects")).json()["projects"]) == 1
    assert (await api.get("/api/sessions")).json()["sessions"] == []


async def test_paths_too_long_not_a_folder_or_gone(api: httpx.AsyncClient, workdir: Path) -> None:
    a_file = workdir / "notes.txt"
    a_file.write_text("not a folder")
    gone = workdir / "gone"
    gone.mkdir()
    gone.rmdir()
    await check_paths(
        api,
        workdir,
        {
            "/" + "a" * 300: ("path_too_long", "a folder name in it has 300 bytes"),
            # Under the schema's 4,096 characters, over the system's 4,096 bytes in all.
            "/" + "/".join(["é" * 100] * 21): ("path_too_long", "it has 4221 bytes"),
            str(a_file): ("not_a_folder", "is a file"),
            str(gone): ("folder_not_found", "no such folder"),
            str(a_file / "sub"): ("folder_not_found", "no such folder"),
        },
    )


@pytest.fixture
def bound_server(tmp_path: Path) -> Iterator[Server]:
    """A backend for which file modes bind, as for any user who is not root."""
    with running_server(tmp_path / "data", preexec=file_modes_bind) as srv:
        yield srv


@pytest.fixture
async def bound_api(bound_server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with bound_server.async_client() as client:
        yield client


async def test_folders_the_server_may_not_enter(
    bound_api: httpx.AsyncClient, workdir: Path, tmp_path: Path
) -> None:
    locked = tmp_path / "someone-elses"
    locked.mkdir(mode=0o700)
    (locked / "inner").mkdir()
    os.chown(locked, NOBODY, NOBODY)
    await check_paths(
        bound_api,
        workdir,
        {
            str(locked): ("folder_not_permitted", "may not enter"),
            str(locked / "inner"): ("folder_not_permitted", "on the way to"),
        },
    )
    # The same backend takes a folder it may enter.
    assert (
        await bound_api.post("/api/sessions", json={"workingDir": str(workdir)})
    ).status_code == 201
