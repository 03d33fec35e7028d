"""The OpenAPI document: valid, complete, and true of the running server (schemathesis fuzzing).

Every operation is fuzzed with the ids the fuzzer draws (they name nothing, so this covers the
404s and the guards in front of them), and every one that takes an id, a project or a folder
is fuzzed again aimed at real ones (so the bodies reach the handlers). Each response must have
a documented status, content type, headers and schema, and none may be a 500.

Fuzzing starts sessions, so they are kept harmless: every folder is the sandbox, every program
is cat, and the backend is stopped at the end with nothing of it left running.
"""

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
from schemathesis import Case

from backend.config import Settings
from backend.web.app import make_app
from backend.web.routes import api_document
from tests.server import Server, running_server

CAT = shutil.which("cat") or "/bin/cat"
TRUE = shutil.which("true") or "/bin/true"
EVENTS = "/api/session/{id}/events"

# The same cases on every run, a few dozen per operation, and no example database in the tree.
# Every check runs as schemathesis ships it: what the document calls valid must be taken (or
# name something missing: 404, 409), and what it calls invalid must be refused.
CONFIG = schemathesis.Config.from_dict(
    {"seed": 1, "generation": {"max-examples": 20, "deterministic": True, "database": "none"}}
)
schema = schemathesis.openapi.from_dict(api_document(), config=CONFIG)
# A real session's event stream never ends, so it is fuzzed with drawn ids only (always 404).
aimed_schema = schema.exclude(path=EVENTS).exclude(
    name=["GET /api/health", "GET /api/openapi.json", "GET /api/debug/metrics", "GET /api/projects"]
)


# -- the document itself -------------------------------------------------------------------------


def test_document_is_valid_openapi_3_1() -> None:
    document = api_document()
    assert document["openapi"].startswith("3.1.")
    schemathesis.openapi.from_dict(document).validate()  # against the OpenAPI 3.1 meta-schema
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
        for path, item in api_document()["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert routed == documented


def test_served_document_is_the_fuzzed_one(fuzz_server: Server) -> None:
    with fuzz_server.client() as client:
        response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.json() == api_document()


# -- the running server --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One backend for the module; every process it started must be gone once it stops."""
    root = tmp_path_factory.mktemp("openapi")
    with contextlib.ExitStack() as stack:
        with pytest.MonkeyPatch.context() as env:
            # A session without argv runs $SHELL: cat echoes fuzzed prompts instead of running them.
            env.setenv("SHELL", CAT)
            server = stack.enter_context(running_server(root / "data"))
        assert server.proc is not None
        backend = psutil.Process(server.proc.pid)
        yield server
        children = backend.children(recursive=True)
    _, alive = psutil.wait_procs(children, timeout=5)
    assert not alive, f"left running after the backend stopped: {alive}"
    # An error in a handler whose client had gone, or after a stream began, is only logged.
    assert "Traceback" not in server.stderr()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one folder fuzzed projects and sessions may use."""
    return tmp_path_factory.mktemp("sandbox").resolve()


class Targets:
    """Real projects and sessions for fuzzed requests to aim at, made on demand in the sandbox.

    Fuzzing deletes, signals and ends them, so each is looked up before use and made again if
    it is gone or no longer in the state asked for.
    """

    def __init__(self, client: httpx.Client, sandbox: Path) -> None:
        self.client = client
        self.sandbox = sandbox
        self.sessions: dict[str, str] = {}
        self.folders = 0

    def project_id(self) -> str:
        response = self.client.post("/api/projects", json={"path": str(self.sandbox)})
        response.raise_for_status()
        return str(response.json()["id"])

    def folder(self, target: str) -> str:
        """The sandbox, a known project's folder, for "ended"; a new folder otherwise."""
        if target == "ended":
            return str(self.sandbox)
        self.folders += 1
        path = self.sandbox / f"folder-{self.folders}"
        path.mkdir()
        return str(path)

    def session_id(self, target: str) -> str:
        """A session running cat in a terminal ("tty") or on pipes ("pipe"), or one that ended."""
        session_id = self.sessions.get(target)
        if session_id is not None:
            response = self.client.get(f"/api/session/{session_id}")
            wanted = "exited" if target == "ended" else "running"
            if response.status_code == 200 and response.json()["status"] == wanted:
                return session_id
        body = {
            "workingDir": str(self.sandbox),
            "kind": "command",
            "argv": [TRUE if target == "ended" else CAT],
            "tty": target == "tty",
        }
        response = self.client.post("/api/sessions", json=body)
        response.raise_for_status()
        session_id = str(response.json()["id"])
        if target == "ended":
            self._wait_until_ended(session_id)
        self.sessions[target] = session_id
        return session_id

    def _wait_until_ended(self, session_id: str) -> None:
        deadline = time.monotonic() + 5
        while self.client.get(f"/api/session/{session_id}").json()["status"] == "running":
            assert time.monotonic() < deadline, f"{session_id} did not end"
            time.sleep(0.01)


@pytest.fixture(scope="module")
def targets(fuzz_server: Server, sandbox: Path) -> Iterator[Targets]:
    with fuzz_server.client() as client:
        yield Targets(client, sandbox)


def make_harmless(body: dict[str, Any], sandbox: Path) -> dict[str, Any]:
    """Keep fuzzed sessions in the sandbox and running cat, whatever folder or program was drawn.

    Only values the schema takes are replaced, so every refusal is still exercised. A path the
    schema takes may name no folder ("~nobody/x"): that is a 400 too, which the fuzzer would
    count as valid input refused, so every such path becomes the sandbox.
    """
    body = dict(body)
    for key in ("path", "workingDir"):
        value = body.get(key)
        if (
            isinstance(value, str)
            and "\0" not in value
            and value.startswith(("/", "~"))
            and not Path(value).is_relative_to(sandbox)
        ):
            body[key] = str(sandbox)
    argv = body.get("argv")
    if isinstance(argv, list) and argv and all(isinstance(a, str) and a for a in argv):
        body["argv"] = [CAT]
    return body


def aim(case: Case[Any], target: str, targets: Targets) -> None:
    """Point a fuzzed case at a real project or session, keeping the rest as drawn.

    Containers are replaced rather than edited in place so that schemathesis notices and judges
    the request as sent (a drawn id that broke the schema may now be a valid one).
    """
    path = case.operation.path
    if path.startswith("/api/session/"):
        case.path_parameters = {**case.path_parameters, "id": targets.session_id(target)}
    elif path.startswith("/api/projects/"):
        case.path_parameters = {**case.path_parameters, "id": targets.project_id()}
    elif isinstance(case.query, dict) and isinstance(case.query.get("projectId"), str):
        case.query = {**case.query, "projectId": targets.project_id()}
    if isinstance(case.body, dict):
        body = dict(case.body)
        if isinstance(body.get("projectId"), str):
            body["projectId"] = targets.project_id()
        for key in ("path", "workingDir"):
            if isinstance(body.get(key), str):
                body[key] = targets.folder(target)
        case.body = body


def call_and_validate(case: Case[Any], server: Server, sandbox: Path) -> None:
    if isinstance(case.body, dict):
        case.body = make_harmless(case.body, sandbox)
    # Every built-in check: no 5xx; documented statuses, content types, headers and schemas;
    # schema-violating input refused, valid input taken; 401 without the token; 405 with Allow.
    case.call_and_validate(base_url=server.url, headers=server.headers, timeout=10)


@pytest.mark.slow
@schema.parametrize()
def test_drawn_ids(case: Case[Any], fuzz_server: Server, sandbox: Path) -> None:
    call_and_validate(case, fuzz_server, sandbox)


@pytest.mark.slow
@pytest.mark.parametrize("target", ["tty", "pipe", "ended"])
@aimed_schema.parametrize()
def test_real_targets(
    case: Case[Any], target: str, fuzz_server: Server, targets: Targets, sandbox: Path
) -> None:
    aim(case, target, targets)
    call_and_validate(case, fuzz_server, sandbox)


# -- the event stream's errors (a real stream is never fuzzed) ----------------------------------


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "code"}
    return str(body["code"])


def test_events_of_unknown_session_is_404(fuzz_server: Server) -> None:
    with fuzz_server.client() as client:
        response = client.get("/api/session/session-000000000000/events")
    assert _error(response, 404) == "session_not_found"


@pytest.mark.parametrize("last_event_id", ["abc", "-1", "1.5", "0x10", "\uff11"])
def test_events_with_bad_last_event_id_is_400(
    fuzz_server: Server, targets: Targets, last_event_id: str
) -> None:
    session_id = targets.session_id("ended")
    with fuzz_server.client() as client:
        response = client.get(
            f"/api/session/{session_id}/events", params={"lastEventId": last_event_id}
        )
    assert _error(response, 400) == "invalid_input"


@pytest.mark.parametrize("header", [True, False], ids=["header", "query"])
def test_events_after_a_huge_last_event_id(server: Server, workdir: Path, header: bool) -> None:
    """An id past anything SQLite can hold is refused before the stream starts."""
    with server.client() as client:
        body = {"workingDir": str(workdir), "kind": "command", "argv": [TRUE]}
        session_id = client.post("/api/sessions", json=body).json()["id"]
        url = f"/api/session/{session_id}/events"
        huge = str(2**64)
        where = (
            {"headers": {"Last-Event-ID": huge}} if header else {"params": {"lastEventId": huge}}
        )
        response = client.get(url, **where)  # type: ignore[arg-type]
    assert _error(response, 400) == "invalid_input"
