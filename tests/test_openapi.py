"""The OpenAPI document: valid, complete, and true of the running server (schemathesis fuzzing)."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import psutil
import pytest
import schemathesis

from backend import __version__
from backend.config import Settings
from backend.openapi import openapi_document
from backend.web.app import make_app
from tests.server import Server, running_server

CAT = shutil.which("cat") or "/bin/cat"
EVENTS = "/api/session/{id}/events"

# Reproducible and bounded: the same cases on every run, no example database in the tree.
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 1,
        "generation": {"max-examples": 25, "deterministic": True, "database": "none"},
    }
)
schema = schemathesis.openapi.from_dict(openapi_document(__version__), config=CONFIG)


# -- the document itself -------------------------------------------------------------------------


def test_document_is_valid_openapi_3_1() -> None:
    document = openapi_document(__version__)
    assert document["openapi"].startswith("3.1.")
    schemathesis.openapi.from_dict(document).validate()
    for name, definition in document["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(definition), name


def test_every_route_is_documented(tmp_path: Path) -> None:
    app = make_app(Settings(data_dir=tmp_path, token="unused"))
    routed = {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/api/")
        and route.method != "HEAD"
    }
    documented = {
        (method, path)
        for path, item in openapi_document(__version__)["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert routed == documented


# -- the running server --------------------------------------------------------------------------


class Targets:
    """Real projects and sessions for fuzzed requests to aim at, made on demand in the sandbox.

    Fuzzed ids never name anything, so without these every session route would stop at its 404
    and never read a body. Fuzzing may delete, signal or end any of them: each is checked and
    made again before use.
    """

    def __init__(self, server: Server, sandbox: Path) -> None:
        self.client = server.client()
        self.sandbox = sandbox
        self.sessions: dict[str, str] = {}

    def project_id(self) -> str:
        response = self.client.post("/api/projects", json={"path": str(self.sandbox)})
        response.raise_for_status()
        return str(response.json()["id"])

    def session_id(self, state: str) -> str:
        session_id = self.sessions.get(state)
        if session_id is not None:
            response = self.client.get(f"/api/session/{session_id}")
            wanted = "running" if state != "ended" else "exited"
            if response.status_code == 200 and response.json()["status"] == wanted:
                return session_id
        argv = ["true"] if state == "ended" else [CAT]
        body = {"workingDir": str(self.sandbox), "kind": "command", "argv": argv}
        response = self.client.post("/api/sessions", json={**body, "tty": state == "tty"})
        response.raise_for_status()
        session_id = str(response.json()["id"])
        if state == "ended":
            self._wait_until_ended(session_id)
        self.sessions[state] = session_id
        return session_id

    def _wait_until_ended(self, session_id: str) -> None:
        for _ in range(200):
            if self.client.get(f"/api/session/{session_id}").json()["status"] != "running":
                return
            time.sleep(0.01)
        raise AssertionError(f"{session_id} did not end")


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One backend for the whole module; every process it started must be gone after it stops."""
    root = tmp_path_factory.mktemp("openapi")
    with contextlib.ExitStack() as stack:
        with pytest.MonkeyPatch.context() as env:
            # A "shell" session runs cat: fuzzed prompts are echoed back, never executed.
            env.setenv("SHELL", CAT)
            server = stack.enter_context(running_server(root / "data"))
        assert server.proc is not None
        backend = psutil.Process(server.proc.pid)
        yield server
        children = backend.children(recursive=True)
    _, alive = psutil.wait_procs(children, timeout=5)
    assert not alive, f"left running: {alive}"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sandbox")


@pytest.fixture(scope="module")
def targets(fuzz_server: Server, sandbox: Path) -> Iterator[Targets]:
    targets = Targets(fuzz_server, sandbox)
    with targets.client:
        yield targets


def make_harmless(case: schemathesis.Case, sandbox: Path) -> None:
    """Keep fuzzed sessions in the sandbox running cat, whatever folder or program was drawn.

    Only values the server would accept are replaced, so every refusal is still exercised.
    """
    if not isinstance(case.body, dict):
        return
    for key in ("path", "workingDir"):
        value = case.body.get(key)
        if isinstance(value, str) and value and Path(value).expanduser().is_absolute():
            case.body[key] = str(sandbox)
    argv = case.body.get("argv")
    if isinstance(argv, list) and argv and all(isinstance(a, str) and a for a in argv):
        case.body["argv"] = [CAT]


def aim(case: schemathesis.Case, target: str | None, targets: Targets) -> None:
    """Point a fuzzed case at a real project or session (``target`` says which kind)."""
    if target is None:
        return
    path = case.operation.path
    if path.startswith("/api/session/"):
        case.path_parameters = {**(case.path_parameters or {}), "id": targets.session_id(target)}
    elif path.startswith("/api/projects/"):
        case.path_parameters = {**(case.path_parameters or {}), "id": targets.project_id()}
    elif path == "/api/sessions" and case.method == "GET" and case.query is not None:
        if "projectId" in case.query:
            case.query["projectId"] = targets.project_id()
    elif path == "/api/sessions" and isinstance(case.body, dict) and "projectId" in case.body:
        case.body["projectId"] = targets.project_id()


@pytest.mark.parametrize("target", [None, "tty", "pipe", "ended"])
@schema.parametrize()
def test_server_matches_its_document(
    case: schemathesis.Case,
    target: str | None,
    fuzz_server: Server,
    targets: Targets,
    sandbox: Path,
) -> None:
    if case.operation.path == EVENTS:
        target = None  # a real session's stream never ends; its errors are tested below
    aim(case, target, targets)
    make_harmless(case, sandbox)
    st_ = None
    try:
        r = case.call_and_validate(
            base_url=fuzz_server.url, headers=fuzz_server.headers, timeout=10
        )
        st_ = r.status_code
    except Exception as e:
        st_ = "FAIL " + type(e).__name__
        raise
    finally:
        import json as _j

        with open("/tmp/fuzzlog.jsonl", "a") as f:
            f.write(
                _j.dumps(
                    [
                        case.operation.label,
                        target,
                        str(case.meta.phase.name) if case.meta else None,
                        str(case.meta.generation.mode) if case.meta else None,
                        st_,
                        repr(case.body)[:150],
                        case.path_parameters,
                        case.query,
                    ]
                )
                + "\n"
            )


# -- the event stream's errors (fuzzing skips real streams) --------------------------------------


def _assert_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "code"}
    return body


def test_events_of_unknown_session_is_404(fuzz_server: Server) -> None:
    with fuzz_server.client() as client:
        response = client.get("/api/session/session-000000000000/events")
    assert _assert_error(response, 404)["code"] == "session_not_found"


@pytest.mark.parametrize("last_event_id", ["abc", "-1", "1.5", "0x10"])
def test_events_with_bad_last_event_id_is_400(
    fuzz_server: Server, targets: Targets, last_event_id: str
) -> None:
    session_id = targets.session_id("ended")
    with fuzz_server.client() as client:
        response = client.get(
            f"/api/session/{session_id}/events", params={"lastEventId": last_event_id}
        )
    assert _assert_error(response, 400)["code"] == "invalid_input"
