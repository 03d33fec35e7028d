"""SessionDock behind a real nginx, configured with the shipped packaging/nginx files.

nginx runs in the foreground on a free loopback port with everything under a temp dir. The test
may rewrite only the shipped file's upstream address and read timeout; the nginx.conf around it
is deliberately hostile (gzip on for event streams, the backend's X-Accel-Buffering ignored), so
what keeps events flowing is the shipped file's own directives. With this nginx (1.22) a chunked
HTTP/1.1 stream is not held back even with buffering on, so `proxy_buffering off` is enforced by
``check_shipped`` as well: every test fails if a directive it depends on is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.conftest import new_session
from tests.server import Server, running_server
from tests.sse import Received, Stream

NGINX = "/usr/sbin/nginx"
pytestmark = pytest.mark.skipif(
    not os.access(NGINX, os.X_OK),
    reason=f"{NGINX} not found: these tests drive a real nginx (apt-get install nginx-light)",
)

PACKAGING = Path(__file__).resolve().parents[2] / "packaging" / "nginx"
SHIPPED = PACKAGING / "sessiondock.conf"
EXAMPLE = PACKAGING / "example-site.conf"
SHIPPED_UPSTREAM = "127.0.0.1:3010"
SSE_LOCATION = "/api/session/"
PUBLIC_NAME = "dock.test"
START_TIMEOUT = 5.0
LATENCY_BOUND = 0.100  # the requirement: every event within 100 ms of being sent


# --- the shipped file -------------------------------------------------------------------------


def _locations(conf: str) -> dict[str, list[str]]:
    """Each ``location``'s directives, comments dropped and whitespace collapsed."""
    text = "\n".join(line.split("#", 1)[0] for line in conf.splitlines())
    blocks: dict[str, list[str]] = {}
    for match in re.finditer(r"location\s+(\S+)\s*\{([^{}]*)\}", text):
        assert match.group(1) not in blocks, f"location {match.group(1)} defined twice"
        body = match.group(2).split(";")
        blocks[match.group(1)] = [" ".join(d.split()) for d in body if d.strip()]
    return blocks


FORWARDING = (
    f"proxy_pass http://{SHIPPED_UPSTREAM}",
    "proxy_set_header Host $http_host",
    "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for",
    "proxy_set_header X-Forwarded-Proto $scheme",
)
REQUIRED = {
    SSE_LOCATION: (
        *FORWARDING,
        "proxy_buffering off",
        "proxy_cache off",
        "gzip off",
        "proxy_http_version 1.1",
        "proxy_set_header Connection ''",
    ),
    "/": FORWARDING,
}


def check_shipped(conf: str) -> None:
    """Fail unless the shipped file has every directive these tests (and users) rely on."""
    blocks = _locations(conf)
    for location, directives in REQUIRED.items():
        assert location in blocks, f"the shipped file has no `location {location}`"
        for directive in directives:
            count = blocks[location].count(directive)
            assert count == 1, f"`{directive};` appears {count} times in location {location}"
    timeouts = [d for d in blocks[SSE_LOCATION] if d.startswith("proxy_read_timeout ")]
    assert len(timeouts) == 1, "the stream location must set proxy_read_timeout once"


def site_for(upstream_port: int, read_timeout: str | None = None) -> str:
    """The shipped file, pointed at a test backend (and with a shorter read timeout)."""
    conf = SHIPPED.read_text()
    check_shipped(conf)
    conf = conf.replace(f"http://{SHIPPED_UPSTREAM};", f"http://127.0.0.1:{upstream_port};")
    if read_timeout is not None:
        conf, count = re.subn(
            r"proxy_read_timeout\s+\S+;", f"proxy_read_timeout {read_timeout};", conf
        )
        assert count == 1
    return conf


# --- nginx in a temp prefix -------------------------------------------------------------------


def nginx_conf(prefix: Path, site: str) -> str:
    """A whole nginx.conf whose http block includes ``site``; every path under ``prefix``."""
    user = "user root;" if os.geteuid() == 0 else ""  # workers could not enter a 0700 tmp dir
    return f"""
{user}
worker_processes 1;
pid {prefix}/nginx.pid;
lock_file {prefix}/nginx.lock;
error_log {prefix}/error.log info;
events {{ worker_connections 128; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/client_body_temp;
    proxy_temp_path {prefix}/proxy_temp;
    fastcgi_temp_path {prefix}/fastcgi_temp;
    uwsgi_temp_path {prefix}/uwsgi_temp;
    scgi_temp_path {prefix}/scgi_temp;
    # Hostile surroundings: compress event streams, and ignore the backend's
    # `X-Accel-Buffering: no`, so only the shipped file's own directives can keep the stream
    # uncompressed and unbuffered.
    gzip on;
    gzip_types text/event-stream application/json;
    gzip_min_length 1;
    proxy_buffering on;
    proxy_ignore_headers X-Accel-Buffering;
    include {site};
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Nginx:
    prefix: Path
    port: int
    proc: subprocess.Popen[bytes]

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""


def nginx_command(prefix: Path, *extra: str) -> list[str]:
    conf, log = prefix / "nginx.conf", prefix / "error.log"
    return [NGINX, "-p", f"{prefix}/", "-c", str(conf), "-e", str(log), *extra]


def stop_nginx(proc: subprocess.Popen[bytes]) -> None:
    """SIGQUIT (graceful), then SIGTERM, then SIGKILL; the workers must be gone too."""
    try:
        workers = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        workers = []
    for sig, timeout in ((signal.SIGQUIT, 5.0), (signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            break
        proc.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
    for worker in workers:
        with contextlib.suppress(psutil.NoSuchProcess):
            worker.kill()
    _, alive = psutil.wait_procs(workers, timeout=3)
    assert proc.poll() is not None and not alive, "nginx processes left running"


@contextlib.contextmanager
def running_nginx(prefix: Path, site: str) -> Iterator[Nginx]:
    prefix.mkdir(parents=True)
    port = free_port()
    site_file = prefix / "site.conf"
    site_file.write_text(
        f"server {{\n    listen 127.0.0.1:{port};\n    server_name {PUBLIC_NAME};\n"
        f"    include {prefix}/sessiondock.conf;\n}}\n"
    )
    (prefix / "sessiondock.conf").write_text(site)
    (prefix / "nginx.conf").write_text(nginx_conf(prefix, str(site_file)))
    with open(prefix / "stderr.log", "wb") as stderr:
        proc = subprocess.Popen(
            nginx_command(prefix, "-g", "daemon off;"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    nginx = Nginx(prefix, port, proc)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"nginx exited with {proc.returncode}:\n{nginx.error_log()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not listen on {port}:\n{nginx.error_log()}")
            time.sleep(0.02)
        yield nginx
    finally:
        stop_nginx(proc)


@dataclass
class Dock:
    """A backend and the nginx in front of it, seen as a browser at http://dock.test:PORT sees
    them (the test connects to 127.0.0.1:PORT and sends that Host)."""

    backend: Server
    nginx: Nginx

    @property
    def host(self) -> str:
        return f"{PUBLIC_NAME}:{self.nginx.port}"

    @property
    def origin(self) -> str:
        return f"http://{self.host}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.nginx.port}"

    def client(self, *, auth: bool = True, **kwargs: Any) -> httpx.AsyncClient:
        headers = {"Host": self.host, **(self.backend.headers if auth else {})}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=10, **kwargs)


@contextlib.contextmanager
def proxied(tmp: Path, *backend_args: str, read_timeout: str | None = None) -> Iterator[Dock]:
    args = ("--allowed-host", PUBLIC_NAME, *backend_args)
    with running_server(tmp / "data", *args) as backend:
        site = site_for(backend.port, read_timeout)
        with running_nginx(tmp / "nginx", site) as nginx:
            yield Dock(backend, nginx)


@pytest.fixture(scope="module")
def dock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dock]:
    """The shipped file as is (only the upstream port changed), a short heartbeat."""
    with proxied(tmp_path_factory.mktemp("dock"), "--heartbeat-interval", "0.5") as dock:
        yield dock


@pytest.fixture
async def api(dock: Dock) -> AsyncIterator[httpx.AsyncClient]:
    async with dock.client() as client:
        yield client


async def cat_session(api: httpx.AsyncClient, workdir: Path) -> str:
    session = await new_session(api, workdir, kind="command", argv=["cat"], tty=False)
    return str(session["id"])


async def prompt(api: httpx.AsyncClient, session_id: str, command: str) -> int:
    response = await api.post(f"/api/session/{session_id}/prompt", json={"command": command})
    assert response.status_code == 202, response.text
    return int(response.json()["eventId"])


class _Stamped(list[Received]):
    """A list that notes when each item came."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def append(self, item: Received) -> None:
        self.times.append(time.monotonic())
        super().append(item)

    def arrival(self, item: Received) -> float:
        return next(t for e, t in zip(self, self.times, strict=True) if e is item)


class TimedStream(Stream):
    """A stream that records each event's arrival time."""

    def __init__(self, client: httpx.AsyncClient, session_id: str, **kwargs: Any) -> None:
        super().__init__(client, session_id, **kwargs)
        self.stamped = _Stamped()
        self.events = self.stamped

    def count(self, event: str) -> int:
        return sum(e.event == event for e in self.events)


# --- the tests --------------------------------------------------------------------------------


def test_nginx_accepts_the_shipped_files(tmp_path: Path) -> None:
    """The example site with the shipped include, inside an http block, as Debian does it."""
    check_shipped(SHIPPED.read_text())
    example = EXAMPLE.read_text()
    assert "include /etc/nginx/snippets/sessiondock.conf;" in example
    assert "/var/log/nginx/sessiondock.access.log" in example
    site = tmp_path / "example-site.conf"
    site.write_text(
        example.replace("/etc/nginx/snippets/sessiondock.conf", str(SHIPPED)).replace(
            "/var/log/nginx/", f"{tmp_path}/"
        )
    )
    (tmp_path / "nginx.conf").write_text(nginx_conf(tmp_path, str(site)))
    result = subprocess.run(
        nginx_command(tmp_path, "-t"), capture_output=True, text=True, timeout=10, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


async def test_origin_and_host_are_checked_against_the_public_name(
    dock: Dock, api: httpx.AsyncClient, workdir: Path
) -> None:
    body = {"workingDir": str(workdir), "kind": "command", "argv": ["cat"], "tty": False}
    same = await api.post("/api/sessions", json=body, headers={"Origin": dock.origin})
    assert same.status_code == 201, same.text
    session_id = same.json()["id"]
    # Both locations pass the public Host: a write under /api/session/ is same-origin too.
    path = f"/api/session/{session_id}/prompt"
    echo = await api.post(path, json={"command": "hi"}, headers={"Origin": dock.origin})
    assert echo.status_code == 202, echo.text
    for origin in ("http://evil.test", f"http://127.0.0.1:{dock.backend.port}", dock.url):
        for url, data in (("/api/sessions", body), (path, {"command": "hi"})):
            foreign = await api.post(url, json=data, headers={"Origin": origin})
            assert foreign.status_code == 403 and foreign.json()["code"] == "bad_origin", origin
    # nginx forwards any Host to this (only) server; the backend still refuses unknown names.
    other = await api.get("/api/sessions", headers={"Host": "evil.test"})
    assert other.status_code == 403 and other.json()["code"] == "bad_host"


async def test_web_ui_and_token_cookie_through_nginx(dock: Dock) -> None:
    async with dock.client(auth=False) as browser:
        assert (await browser.get("/api/sessions")).status_code == 401
        signin = await browser.get(f"/?token={dock.backend.token}")
        assert signin.status_code == 303 and signin.headers["location"] == "/"
        assert "HttpOnly" in signin.headers["set-cookie"]
        page = await browser.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert (await browser.get("/api/sessions")).status_code == 200  # the cookie


async def test_every_event_arrives_within_100ms(api: httpx.AsyncClient, workdir: Path) -> None:
    session_id = await cat_session(api, workdir)
    latencies: list[float] = []
    async with TimedStream(api, session_id) as stream:
        for i in range(20):
            marker = f"line-{i:02d}-through-nginx"
            sent = time.monotonic()
            event_id = await prompt(api, session_id, marker)
            echoed = await stream.wait_for(lambda e, event_id=event_id: e.id == event_id, 2)
            output = await stream.wait_for(
                lambda e, marker=marker: e.event == "output" and marker in e.data["content"], 2
            )
            latencies += [stream.stamped.arrival(e) - sent for e in (echoed, output)]
            await asyncio.sleep(max(0.0, sent + 0.05 - time.monotonic()))
        assert not stream.ended.is_set()
    worst = max(latencies)
    print(f"\nnginx: {len(latencies)} events, max latency {worst * 1000:.1f} ms")
    assert worst < LATENCY_BOUND, [round(t * 1000, 1) for t in latencies]


async def test_stream_headers_and_no_buffering(api: httpx.AsyncClient, workdir: Path) -> None:
    session_id = await cat_session(api, workdir)
    # Ask for compression outright: the surrounding config would gzip event streams.
    api.headers["Accept-Encoding"] = "gzip"
    async with Stream(api, session_id) as stream:
        assert stream.status_code == 200 and stream.headers is not None
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert "content-encoding" not in stream.headers
        assert stream.headers["cache-control"] == "no-cache"
        assert not stream.ended.is_set()  # `connected` came while the response is still open
        await prompt(api, session_id, "still-open")
        await stream.wait_for_output("still-open", timeout=2)
        assert not stream.ended.is_set()


async def test_resume_with_last_event_id(api: httpx.AsyncClient, workdir: Path) -> None:
    session_id = await cat_session(api, workdir)
    async with Stream(api, session_id) as first:
        for i in range(3):
            await prompt(api, session_id, f"before-{i}")
        await first.wait_for_output("before-2")
    seen = first.ids[-1]
    for i in range(3):  # while no client is connected
        await prompt(api, session_id, f"after-{i}")
    async with Stream(api, session_id, last_event_id=seen) as second:
        await second.wait_for_output("after-2")
        newest = (await api.get(f"/api/session/{session_id}")).json()["lastEventId"]
        await second.wait_for(lambda e: e.id == newest)
    connected = next(e for e in second.events if e.event == "connected")
    assert connected.data["lastEventId"] == seen  # the header went through nginx
    assert first.ids == list(range(1, seen + 1))
    assert second.ids == list(range(seen + 1, newest + 1))  # no gap, no duplicate
    assert "before-" not in second.output()
    # What a browser's first connection does (EventSource cannot set the header).
    async with Stream(api, session_id, params={"lastEventId": str(seen)}) as third:
        await third.wait_for(lambda e: e.id == newest)
    assert third.ids == second.ids


async def test_heartbeats_keep_an_idle_stream_open(tmp_path: Path, workdir: Path) -> None:
    """proxy_read_timeout 2 s, a heartbeat every 0.5 s: 5 s of silence cost nothing."""
    with proxied(tmp_path, "--heartbeat-interval", "0.5", read_timeout="2s") as dock:
        async with dock.client() as api:
            session_id = await cat_session(api, workdir)
            async with TimedStream(api, session_id) as stream:
                await stream.wait_for(lambda e: e.event == "status")
                await asyncio.sleep(5)
                assert not stream.ended.is_set(), stream.error
                assert stream.count("heartbeat") >= 4
                await prompt(api, session_id, "after-idle")
                await stream.wait_for_output("after-idle", timeout=2)
                assert stream.count("connected") == 1 and not stream.ended.is_set()
        assert "upstream timed out" not in dock.nginx.error_log()


async def test_without_heartbeats_nginx_cuts_an_idle_stream(tmp_path: Path, workdir: Path) -> None:
    """The control: heartbeats slower than proxy_read_timeout, and nginx ends the stream."""
    with proxied(tmp_path, "--heartbeat-interval", "10", read_timeout="2s") as dock:
        async with dock.client() as api:
            session_id = await cat_session(api, workdir)
            async with TimedStream(api, session_id) as stream:
                opened = time.monotonic()
                async with asyncio.timeout(6):
                    await stream.ended.wait()
                lasted = time.monotonic() - opened
                assert 1.5 < lasted < 5, lasted
                assert stream.count("heartbeat") == 0
        assert "upstream timed out" in dock.nginx.error_log()
