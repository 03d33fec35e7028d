"""A screenshot of the web UI with a live colored session, for the docs.

    .venv/bin/python scripts/web_screenshot.py [--out docs/screenshots/web-main.png] [--dark]
    .venv/bin/python scripts/web_screenshot.py --agent [--out docs/screenshots/web-agent.png]
    .venv/bin/python scripts/web_screenshot.py --approval  # docs/screenshots/web-approval.png
    .venv/bin/python scripts/web_screenshot.py --program vim   # docs/screenshots/web-vim.png
    .venv/bin/python scripts/web_screenshot.py --program htop  # docs/screenshots/web-htop.png

It starts a real backend on a free port with a temporary data dir, adds two projects, runs the
same colorful session as the desktop screenshot (scripts/demo-session.sh) and a failing one,
opens the page in headless Chromium (signed in through the /?token= address) and saves it at
1280x760. With ``--agent`` it runs a Claude Code session instead (the fake agent of
scripts/agent_demo.py, next to an imported conversation) and opens the diff of its edit. With
``--program`` it types a full-screen program's command line into a shell in the page's terminal.
With ``--approval`` the Claude session asks before running a command: its permission card.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from agent_demo import PROMPT, AgentDemo, prepare
from playwright.sync_api import Page, sync_playwright

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


def start_backend(
    data_dir: Path, token: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    command = [
        sys.executable, "-m", "backend", "serve", "--port", "0", "--data-dir", str(data_dir),
        "--exit-on-stdin-eof",
    ]  # fmt: skip
    proc = subprocess.Popen(
        command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        env={**os.environ, "SESSIONDOCK_TOKEN": token, **(env or {})},
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the ready line; the backend logs to stderr
    if not line:
        proc.wait()
        raise SystemExit("the backend did not start")
    return proc, json.loads(line)


# Whether the terminal on screen shows the text (its scrollback and screen, xterm.js's buffer).
SHOWS = """(text) => {
  const buffer = sessionDock.currentView()?.output.term?.buffer.active;
  if (!buffer) return false;
  for (let y = 0; y < buffer.length; y++) {
    if (buffer.getLine(y).translateToString(true).includes(text)) return true;
  }
  return false;
}"""


def wait_for(check: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the demo session")
        time.sleep(0.1)


def browse(url: str, token: str, path: str, out: Path, dark: bool, ready: Any) -> None:
    """Open ``path`` in headless Chromium, signed in, wait for ``ready(page)``, save it."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS
        )
        page = browser.new_page(
            viewport={"width": 1280, "height": 760}, color_scheme="dark" if dark else "light"
        )
        page.goto(f"{url}/?token={token}")  # sets the cookie and comes back to /
        page.goto(f"{url}{path}")
        page.wait_for_selector("#stream-state[data-state='connected']")
        ready(page)
        page.wait_for_timeout(300)
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out))
        browser.close()


def shoot_agent(url: str, token: str, out: Path, demo: AgentDemo, dark: bool) -> None:
    api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    project = api.post("/api/projects", json={"path": str(demo.project)}).json()
    session = api.post("/api/sessions", json={"projectId": project["id"], "kind": "claude"}).json()
    api.post(f"/api/session/{session['id']}/prompt", json={"command": PROMPT})

    def ready(page: Page) -> None:
        page.wait_for_selector(".a-turn")
        page.locator("details.a-op.t-edit summary").first.click()  # open the Edit's diff
        page.wait_for_selector("#sessions .cost")

    browse(url, token, f"/#/p/{project['id']}/s/{session['id']}", out, dark, ready)
    api.close()


APPROVAL_PROMPT = "ask: clean the build folder before the release"


def shoot_approval(url: str, token: str, out: Path, demo: AgentDemo, dark: bool) -> None:
    api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    project = api.post("/api/projects", json={"path": str(demo.project)}).json()
    session = api.post("/api/sessions", json={"projectId": project["id"], "kind": "claude"}).json()
    api.post(f"/api/session/{session['id']}/prompt", json={"command": APPROVAL_PROMPT})

    def ready(page: Page) -> None:
        page.wait_for_selector(".a-request:not(.resolved)")
        page.wait_for_selector("#sessions .agent-state.waiting")
        page.fill(".a-request-message", "Keep build/cache, it takes an hour to fill")

    browse(url, token, f"/#/p/{project['id']}/s/{session['id']}", out, dark, ready)
    api.close()


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

    def ready(page: Page) -> None:
        page.wait_for_function(SHOWS, arg="inverse")  # the terminal (xterm.js) has drawn it
        wait_for(lambda: api.get(f"/api/session/{demo['id']}").json()["status"] != "running")
        page.wait_for_selector("#session-badge:text-is('exited 0')")
        page.wait_for_selector("#sessions .badge:text-is('failed 2')")

    browse(url, token, f"/#/p/{website}/s/{demo['id']}", out, dark, ready)
    api.close()


# What --program types into a shell, and text its screen shows once it is drawn.
PROGRAMS = {
    "vim": ("vim -u DEFAULTS -c 'syntax on' -c 'set number' -c 'normal 18G' app.py", "app.py"),
    # Only the shell and a few jobs of its own, not the whole machine.
    "htop": (
        "for n in 1 2 3; do sleep 600 & done; clear; htop -t -p $$,$(jobs -p | paste -sd,)",
        "Load average",
    ),
}
SOURCE = (ROOT / "backend" / "resources.py").read_text()


def shoot_program(url: str, token: str, out: Path, base: Path, dark: bool, program: str) -> None:
    api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    folder = base / "website"
    folder.mkdir()
    (folder / "app.py").write_text(SOURCE)
    project = api.post("/api/projects", json={"path": str(folder)}).json()
    shell = api.post("/api/sessions", json={"projectId": project["id"], "kind": "shell"}).json()
    command, drawn = PROGRAMS[program]

    def ready(page: Page) -> None:
        page.evaluate("line => sessionDock.currentView().output.term.input(line)", command + "\r")
        page.wait_for_function(SHOWS, arg=drawn)
        page.wait_for_timeout(1500)  # htop fills its meters in

    browse(url, token, f"/#/p/{project['id']}/s/{shell['id']}", out, dark, ready)
    api.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="default: docs/screenshots/web-main.png")
    parser.add_argument("--dark", action="store_true", help="the dark color scheme")
    parser.add_argument("--agent", action="store_true", help="a Claude Code session")
    parser.add_argument("--approval", action="store_true", help="a Claude permission card")
    parser.add_argument("--program", choices=sorted(PROGRAMS), help="a full-screen program")
    args = parser.parse_args()
    name = "web-agent.png" if args.agent else "web-main.png"
    name = "web-approval.png" if args.approval else name
    name = f"web-{args.program}.png" if args.program else name
    args.out = args.out or ROOT / "docs" / "screenshots" / name
    if shutil.which("chromium") is None:
        raise SystemExit("Chromium is not installed (apt-get install chromium)")
    token = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="sessiondock-web-shot-") as tmp:
        demo = prepare(Path(tmp) / "agent")
        env = demo.env if args.agent or args.approval else None
        if args.program:
            # A shell that reads no startup file of this machine, a short prompt, UTF-8.
            home = Path(tmp) / "home"
            home.mkdir()
            env = {"HOME": str(home), "SHELL": "/bin/bash", "PS1": "$ ", "LANG": "C.UTF-8"}
        proc, ready = start_backend(Path(tmp) / "data", token, env)
        try:
            if args.program:
                shoot_program(ready["url"], token, args.out, Path(tmp), args.dark, args.program)
            elif args.agent:
                shoot_agent(ready["url"], token, args.out, demo, args.dark)
            elif args.approval:
                shoot_approval(ready["url"], token, args.out, demo, args.dark)
            else:
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
