"""A screenshot of the web UI with a live colored session, for the docs.

    .venv/bin/python scripts/web_screenshot.py [--out docs/screenshots/web-main.png] [--dark]

It starts a real backend on a free port with a temporary data dir, adds two projects, runs the
same colorful session as the desktop screenshot (scripts/demo-session.sh) and a failing one,
opens the page in headless Chromium (signed in through the /?token= address) and saves it at
1280x760.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
DEMO = (ROOT / "scripts" / "demo-session.sh").read_text()
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def start_backend(data_dir: Path, token: str) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    command = [
        sys.executable, "-m", "backend", "serve", "--port", "0", "--data-dir", str(data_dir),
        "--token", token, "--exit-on-stdin-eof",
    ]  # fmt: skip
    proc = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the ready line; the backend logs to stderr
    if not line:
        proc.wait()
        raise SystemExit("the backend did not start")
    return proc, json.loads(line)


def wait_for(check: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the demo session")
        time.sleep(0.1)


def shoot(url: str, token: str, out: Path, base: Path, dark: bool) -> None:
    api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    projects = {}
    for name in ("api-server", "website"):
        (base / name).mkdir()
        projects[name] = api.post("/api/projects", json={"path": str(base / name)}).json()
    website = projects["website"]["id"]

    def run(command: str, name: str) -> dict[str, Any]:
        body = {"projectId": website, "kind": "command", "argv": ["/bin/sh", "-c", command]}
        session: dict[str, Any] = api.post("/api/sessions", json={**body, "name": name}).json()
        return session

    run("echo deploying; sleep 0.2; exit 2", "deploy")
    time.sleep(0.05)  # newest first: the demo goes on top
    demo = run(DEMO, "build and test")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS
        )
        page = browser.new_page(
            viewport={"width": 1280, "height": 760}, color_scheme="dark" if dark else "light"
        )
        page.goto(f"{url}/?token={token}")  # sets the cookie and comes back to /
        page.goto(f"{url}/#/p/{website}/s/{demo['id']}")
        page.wait_for_selector("#stream-state[data-state='connected']")
        page.wait_for_selector("#output-host .l:has-text('inverse')")
        wait_for(lambda: api.get(f"/api/session/{demo['id']}").json()["status"] != "running")
        page.wait_for_selector("#session-badge:text-is('exited 0')")
        page.wait_for_selector("#sessions .badge:text-is('failed 2')")
        page.wait_for_timeout(300)
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out))
        browser.close()
    api.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots" / "web-main.png")
    parser.add_argument("--dark", action="store_true", help="the dark color scheme")
    args = parser.parse_args()
    if shutil.which("chromium") is None:
        raise SystemExit("Chromium is not installed (apt-get install chromium)")
    token = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="sessiondock-web-shot-") as tmp:
        proc, ready = start_backend(Path(tmp) / "data", token)
        try:
            shoot(ready["url"], token, args.out, Path(tmp), args.dark)
        finally:
            assert proc.stdin is not None
            proc.stdin.close()  # --exit-on-stdin-eof: the backend stops
            proc.wait(timeout=15)
            if proc.stdout is not None:
                proc.stdout.close()
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
