from __future__ import annotations

import os

# Before any QApplication exists: Qt tests draw offscreen, with no display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import tests.server
from tests.server import Server, running_server
from tests.wire import misfits

pytest_plugins = ("tests.disk",)  # the ``disk`` fixture: a small tmpfs to fill


@pytest.fixture(scope="session", autouse=True)
def stored_events_fit_their_types(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """At the end of the run, every event any backend of the suite stored must fit its declared
    wire type (backend/protocol/events.py), with its session's id and a timestamp."""
    yield
    root = tmp_path_factory.getbasetemp()
    count, problems = misfits(root)
    assert not problems, f"{len(problems)} of {count} stored events misfit:\n" + "\n".join(
        problems[:20]
    )


@pytest.fixture(scope="session", autouse=True)
def no_session_host_outlives_the_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Session hosts outlive their backends by design: one that a test's killed backend left
    with sessions in it must not outlive the test run. Each fixture ends its own; this ends
    any left in the run's folders, and says which."""
    yield
    root = os.fsencode(tmp_path_factory.getbasetemp())
    left = []
    for entry in os.listdir("/proc"):
        try:
            args = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--data-dir" in args[:-1] and b"host" in args:
            data_dir = args[args.index(b"--data-dir") + 1]
            if data_dir.startswith(root):
                left.append(Server(Path(os.fsdecode(data_dir))))
    for server in left:
        server.end_host()
    assert not left, f"session hosts left running in {[str(s.data_dir) for s in left]}"


EVENT_LOOPS = ("asyncio", "uvloop")  # the backend's --event-loop choices


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("every_event_loop"):
        metafunc.parametrize("serve_on", EVENT_LOOPS, indirect=True)


@pytest.fixture(autouse=True)
def serve_on(request: pytest.FixtureRequest) -> Iterator[str]:
    """The event loop this test's backends serve on: asyncio's unless the test is marked
    ``every_event_loop``, which runs it once on each."""
    name: str = getattr(request, "param", "asyncio")
    tests.server.serve_on = name
    try:
        yield name
    finally:
        tests.server.serve_on = "asyncio"


@pytest.fixture
def server(tmp_path: Path, serve_on: str) -> Iterator[Server]:
    """A real backend on a free loopback port, with a short heartbeat so tests stay quick."""
    with running_server(tmp_path / "data", "--heartbeat-interval", "1") as srv:
        yield srv


@pytest.fixture
async def api(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with server.async_client() as client:
        yield client


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One backend for a module's tests that only read, or send what is refused: a backend
    takes about a second to start and stop, and they need no fresh one each."""
    with running_server(
        tmp_path_factory.mktemp("shared") / "data", "--heartbeat-interval", "1"
    ) as srv:
        yield srv


@pytest.fixture
async def shared_api(shared_server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with shared_server.async_client() as client:
        yield client


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    return path


async def new_session(api: httpx.AsyncClient, workdir: Path, **body: Any) -> dict[str, Any]:
    response = await api.post("/api/sessions", json={"workingDir": str(workdir), **body})
    assert response.status_code == 201, response.text
    session: dict[str, Any] = response.json()
    return session
