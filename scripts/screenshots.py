"""Screenshots of the real desktop app with a live colored session, for the docs.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshots.py [--out docs/screenshots]
    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshots.py --agent
    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshots.py --approval
    .venv/bin/python scripts/screenshots.py --terminals

With ``--terminals`` it starts an Xvfb display of its own and runs the app there as on a desktop
(Qt's xcb platform), with terminal sessions: vim editing a Python file with its syntax colours
(desktop-vim.png), htop (desktop-htop.png), and a build's coloured output with vim beside it
(desktop-two-panes.png).

It runs the app exactly as a user would (its own backend child, a temporary data dir), adds a
project, runs a session that prints in color, and saves the window as PNG. With ``--agent`` it
runs a Claude Code session instead (the fake agent of scripts/agent_demo.py, next to an
imported conversation) and opens the diff of its edit: desktop-agent.png. With ``--approval``
the Claude session asks before running a command: its permission card, desktop-approval.png.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: its Xvfb display

from agent_demo import PROMPT, AgentDemo, prepare
from PySide6.QtWidgets import QApplication

from desktop.app import DesktopApp
from desktop.qtloop import make_loop
from desktop.ui.main_window import MainWindow
from tests.packaging.frozen import virtual_screen

DEMO = (Path(__file__).parent / "demo-session.sh").read_text()


async def _backend_running(window: MainWindow) -> None:
    async with asyncio.timeout(30):
        while "running" not in window.backend_label.text():
            await asyncio.sleep(0.05)


async def shoot(app: DesktopApp, out: Path) -> None:
    window = app.window
    await _backend_running(window)
    base = Path(tempfile.mkdtemp(prefix="sessiondock-shot-"))
    for name in ("api-server", "website"):
        (base / name).mkdir()
        await window.add_project(str(base / name))
    await window.new_session(command="echo deploying; sleep 0.2; exit 2", name="deploy")
    await window.new_session(command=DEMO, name="build and test")
    await window.settle()
    async with asyncio.timeout(30):
        while "inverse" not in window.output.text.toPlainText():
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.6)  # the session list refreshes with the exit status
    await window.refresh_sessions()
    out.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(out / "desktop-main.png"))
    print(out / "desktop-main.png")
    app.quit()  # no quit question, whatever still runs


async def shoot_agent(app: DesktopApp, out: Path, demo: AgentDemo) -> None:
    window = app.window
    await _backend_running(window)
    await window.add_project(str(demo.project))
    session_id = await window.new_agent_session()
    await window.settle()
    await window.send_prompt(PROMPT)
    async with asyncio.timeout(30):
        while "turn: $" not in window.output.text.toPlainText():
            await asyncio.sleep(0.05)
    document = window.document(session_id)
    assert document is not None
    # The Edit's diff, as a click on its "show diff" (tool results have links of their own).
    [edit] = [link for link in document.diff_links() if link.text().startswith("● Edit")]
    document.toggle_diff(edit)
    await asyncio.sleep(0.6)
    await window.refresh_sessions()
    window.output.scroll_to_end()
    out.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(out / "desktop-agent.png"))
    print(out / "desktop-agent.png")
    app.quit()  # no quit question, whatever still runs


async def shoot_approval(app: DesktopApp, out: Path, demo: AgentDemo) -> None:
    window = app.window
    await _backend_running(window)
    await window.add_project(str(demo.project))
    await window.new_agent_session()
    await window.settle()
    await window.send_prompt("ask: clean the build folder before the release")
    async with asyncio.timeout(30):
        while not window.approvals.cards:
            await asyncio.sleep(0.05)
    card = window.approvals.first()
    assert card is not None
    assert card.message is not None
    card.message.setText("Keep build/cache, it takes an hour to fill")
    await asyncio.sleep(0.6)
    await window.refresh_sessions()
    out.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(out / "desktop-approval.png"))
    print(out / "desktop-approval.png")
    app.quit()  # no quit question, whatever still runs


SAMPLE = '''"""A small HTTP health checker: the file vim shows in the screenshots."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

TIMEOUT = 2.5  # seconds per request


@dataclass
class Check:
    url: str
    healthy: bool = False
    latency_ms: float | None = None


async def probe(url: str) -> Check:
    """GET ``url`` once; how it went."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(url, 80), TIMEOUT)
    except (OSError, TimeoutError):
        return Check(url)
    writer.close()
    return Check(url, True, 1000 * (loop.time() - started))


async def main(urls: list[str]) -> int:
    checks = await asyncio.gather(*(probe(url) for url in urls))
    for check in checks:
        print(f"{check.url:<30} {'up' if check.healthy else 'DOWN'}")
    return 0 if all(c.healthy for c in checks) else 1
'''


async def _shows(app: DesktopApp, session_id: str, text: str) -> None:
    async with asyncio.timeout(30):
        while True:
            screen = app.window.terminal_screen(session_id)
            if screen is not None and text in screen.text():
                return
            await asyncio.sleep(0.05)


async def shoot_terminals(app: DesktopApp, out: Path) -> None:
    window = app.window
    await _backend_running(window)
    base = Path(tempfile.mkdtemp(prefix="sessiondock-shot-"))
    project = base / "healthcheck"
    project.mkdir()
    (project / "check.py").write_text(SAMPLE)
    await window.add_project(str(project))
    out.mkdir(parents=True, exist_ok=True)

    async def save(name: str) -> None:
        await asyncio.sleep(1.0)  # the list's next refresh, the last frame
        await window.refresh_sessions()
        window.grab().save(str(out / name))
        print(out / name)

    build = await window.new_session(command=DEMO + "exec bash", name="build and test")
    await window.settle()
    await _shows(app, build, "truecolor sky")
    vim = await window.new_session(command="vim -c 'set number' check.py", name="vim check.py")
    await window.settle()
    await _shows(app, vim, "async def probe")
    # htop with the app's own processes only (the machine's others are nobody's business).
    await window.refresh_sessions()
    found = (window.sessions.session(sid) or {} for sid in (build, vim))
    pids = [str(session["pid"]) for session in found if session.get("pid")]
    backend = window.backend_label.text().rpartition("pid ")[2].rstrip(")")
    top = await window.new_session(command=f"htop -p {','.join([backend, *pids])}", name="htop")
    await window.settle()
    await _shows(app, top, "Load average")
    await asyncio.sleep(2.0)  # htop's meters fill in after its first second
    await save("desktop-htop.png")
    window.sessions.select(vim)
    await window.settle()
    await _shows(app, vim, "async def probe")
    await save("desktop-vim.png")
    window.sessions.select(build)
    await window.settle()
    await window.open_beside(vim)
    await window.settle()
    await _shows(app, vim, "async def probe")
    await save("desktop-two-panes.png")
    app.quit()  # no quit question, whatever still runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--agent", action="store_true", help="a Claude Code session")
    parser.add_argument("--approval", action="store_true", help="a Claude permission card")
    parser.add_argument("--terminals", action="store_true", help="vim, htop, two panes (Xvfb)")
    args = parser.parse_args()
    if args.terminals and "SESSIONDOCK_SHOT_DISPLAY" not in os.environ:
        with virtual_screen("1600x1000") as display:  # the script again, on that display
            env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
            env["SESSIONDOCK_SHOT_DISPLAY"] = display
            return subprocess.run([sys.executable, *sys.argv], env=env).returncode
    base = Path(tempfile.mkdtemp(prefix="sessiondock-shot-"))
    demo = prepare(base)
    if args.agent or args.approval:
        os.environ.update(demo.env)  # the backend child inherits it
    qt = QApplication(sys.argv[:1])
    loop = make_loop(qt)
    asyncio.set_event_loop(loop)
    with tempfile.TemporaryDirectory() as data:
        app = DesktopApp(Path(data))
        app.window.resize(1280, 760)
        runner = loop.create_task(app.run())
        if args.terminals:
            app.window.resize(1500, 900)
            shot = shoot_terminals(app, args.out)
        elif args.agent:
            shot = shoot_agent(app, args.out, demo)
        elif args.approval:
            shot = shoot_approval(app, args.out, demo)
        else:
            shot = shoot(app, args.out)
        loop.run_until_complete(shot)
        code = loop.run_until_complete(runner)
    loop.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
