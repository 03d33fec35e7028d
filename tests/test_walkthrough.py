"""The reference guide's walkthrough: create a session, ``curl -N`` its events, send ``ls -la``."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.server import Server

# The backend on each event loop it serves on: asyncio's, and uvloop's (--event-loop).
pytestmark = pytest.mark.every_event_loop

CURL = shutil.which("curl")


@pytest.mark.skipif(CURL is None, reason="curl is not installed")
async def test_curl_walkthrough(server: Server, workdir: Path) -> None:
    (workdir / "walkthrough-marker.txt").write_text("x")
    # Step 3, test 1: a session from nothing but a working directory.
    create = subprocess.run(
        [CURL, "-s", "-X", "POST", f"{server.url}/api/sessions",
         "-H", f"Authorization: Bearer {server.token}", "-H", "Content-Type: application/json",
         "-d", f'{{"workingDir": "{workdir}"}}'],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    session_id = httpx.Response(200, content=create.stdout).json()["id"]

    # Tests 1 and 2: curl -N watches the events (the token in the query, as EventSource does).
    watch = await asyncio.create_subprocess_exec(
        CURL, "-sN", "-H", "Accept: text/event-stream",
        f"{server.url}/api/session/{session_id}/events?token={server.token}",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert watch.stdout is not None
    try:
        first = await asyncio.wait_for(watch.stdout.readuntil(b"event: connected"), 10)
        assert first.startswith(b"retry: ")

        # Test 3: send a command through the REST API ...
        prompt = subprocess.run(
            [CURL, "-s", "-X", "POST", f"{server.url}/api/session/{session_id}/prompt",
             "-H", f"Authorization: Bearer {server.token}", "-H", "Content-Type: application/json",
             "-d", '{"command":"ls -la"}'],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert '"accepted": true' in prompt.stdout

        # ... and watch its output arrive on the stream.
        seen = await asyncio.wait_for(watch.stdout.readuntil(b"walkthrough-marker.txt"), 10)
        assert b"event: prompt" in seen
        assert b"event: output" in seen
    finally:
        watch.kill()
        await watch.wait()
