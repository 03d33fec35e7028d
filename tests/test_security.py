"""Token, Host, Origin and content-type guards of a server that runs commands."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from backend.web.login import MAX_LINKS, LoginLinks
from tests.server import Server, running_server


@pytest.fixture(scope="module")
def server(shared_server: Server) -> Server:
    """Every guard here is checked against one backend: they refuse, and change nothing."""
    return shared_server


def test_health_needs_no_token(server: Server) -> None:
    response = httpx.get(f"{server.url}/api/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.parametrize(
    "path", ["/api/projects", "/api/sessions", "/api/debug/metrics", "/api/openapi.json"]
)
@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic xyz"}]
)
def test_api_refuses_missing_or_wrong_token(
    server: Server, path: str, headers: dict[str, str]
) -> None:
    response = httpx.get(f"{server.url}{path}", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


def test_token_in_header_query_or_cookie(server: Server) -> None:
    url = f"{server.url}/api/projects"
    assert httpx.get(url, headers=server.headers).status_code == 200
    assert httpx.get(url, params={"token": server.token}).status_code == 200
    assert httpx.get(url, params={"token": "nope"}).status_code == 401

    with httpx.Client(base_url=server.url, follow_redirects=True) as browser:
        landing = browser.get("/", params={"token": server.token})
        assert landing.status_code == 200  # followed the redirect to the clean URL
        assert landing.url.query == b""
        cookie = landing.history[0].headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert browser.get("/api/projects").status_code == 200


def test_a_login_link_signs_a_browser_in_once_and_keeps_the_token_out_of_urls(
    server: Server,
) -> None:
    assert httpx.post(f"{server.url}/api/login-link").status_code == 401  # it takes the token
    made = httpx.post(f"{server.url}/api/login-link", headers=server.headers)
    assert made.status_code == 201
    link = made.json()
    assert link["url"].startswith(f"{server.url}/login/") and link["expiresIn"] == 60
    assert server.token not in link["url"]
    with httpx.Client(base_url=server.url, follow_redirects=True) as browser:
        landing = browser.get(link["url"])
        assert landing.status_code == 200 and str(landing.url) == f"{server.url}/"
        cookie = landing.history[0].headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert browser.get("/api/projects").status_code == 200
        assert all(server.token not in str(r.url) for r in [*landing.history, landing])
    again = httpx.get(link["url"], follow_redirects=False)  # a link works once
    assert again.status_code == 403 and "set-cookie" not in again.headers
    assert again.json()["code"] == "login_link_invalid"
    made_up = httpx.get(f"{server.url}/login/made-up", follow_redirects=False)
    assert made_up.status_code == 403


def test_a_login_link_expires_and_the_oldest_give_way() -> None:
    links = LoginLinks(seconds=0.05)
    late = links.make()
    time.sleep(0.1)
    assert not links.use(late)
    links = LoginLinks()
    first, *rest = [links.make() for _ in range(MAX_LINKS + 1)]
    assert not links.use(first)  # the oldest gave way to the newest
    assert all(links.use(code) for code in rest)
    assert not any(links.use(code) for code in rest)  # each once


def test_wrong_token_on_landing_sets_no_cookie(server: Server) -> None:
    response = httpx.get(f"{server.url}/?token=wrong", follow_redirects=False)
    assert response.status_code == 200
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.2:3010", "localhost.evil.example"])
def test_foreign_host_is_refused(server: Server, host: str) -> None:
    response = httpx.get(f"{server.url}/api/health", headers={"Host": host})
    assert response.status_code == 403
    assert response.json()["code"] == "bad_host"


@pytest.mark.parametrize("host", ["localhost", "localhost:1234", "127.0.0.1", "[::1]:80"])
def test_local_hosts_are_accepted(server: Server, host: str) -> None:
    assert httpx.get(f"{server.url}/api/health", headers={"Host": host}).status_code == 200


def test_allowed_host_for_a_proxy(tmp_path: Path) -> None:
    with running_server(tmp_path / "d", "--allowed-host", "Dock.Example.org") as srv:
        ok = httpx.get(f"{srv.url}/api/health", headers={"Host": "dock.example.org"})
        assert ok.status_code == 200
        other = httpx.get(f"{srv.url}/api/health", headers={"Host": "other.example.org"})
        assert other.status_code == 403


def test_cross_origin_write_is_refused(server: Server, workdir: Path) -> None:
    body = {"path": str(workdir)}
    with server.client() as client:
        evil = client.post("/api/projects", json=body, headers={"Origin": "http://evil.example"})
        assert evil.status_code == 403
        assert evil.json()["code"] == "bad_origin"
        null = client.post("/api/projects", json=body, headers={"Origin": "null"})
        assert null.status_code == 403
        same = client.post(
            "/api/projects", json=body, headers={"Origin": f"http://127.0.0.1:{server.port}"}
        )
        assert same.status_code == 201
        # Reads are not writes: a GET with a foreign Origin is still answered (no CORS header,
        # so the foreign page cannot read it).
        read = client.get("/api/projects", headers={"Origin": "http://evil.example"})
        assert read.status_code == 200
        assert "access-control-allow-origin" not in read.headers


def test_body_must_be_json(server: Server, workdir: Path) -> None:
    with server.client() as client:
        response = client.post(
            "/api/projects", content=f"path={workdir}", headers={"Content-Type": "text/plain"}
        )
        assert response.status_code == 415
        assert response.json()["code"] == "unsupported_media_type"


def test_no_auth_is_explicit_and_loud(tmp_path: Path) -> None:
    with running_server(tmp_path / "d", "--no-auth") as srv:
        assert srv.ready["token"] is None
        assert httpx.get(f"{srv.url}/api/projects").status_code == 200
        assert "--no-auth" in srv.stderr()


def test_cookie_is_secure_behind_a_tls_proxy(server: Server) -> None:
    plain = httpx.get(f"{server.url}/?token={server.token}", follow_redirects=False)
    assert "secure" not in plain.headers["set-cookie"].lower()
    proxied = httpx.get(
        f"{server.url}/?token={server.token}",
        headers={"X-Forwarded-Proto": "https"},
        follow_redirects=False,
    )
    assert "; secure" in proxied.headers["set-cookie"].lower()
