"""Screenshots of the real desktop app with a live colored session, for the docs.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshots.py [--out docs/screenshots]
    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshots.py --agent

It runs the app exactly as a user would (its own backend child, a temporary data dir), adds a
project, runs a session that prints in color, and saves the window as PNG. With ``--agent`` it
runs a Claude Code session instead (the fake agent of scripts/agent_demo.py, next to an
imported conversation) and opens the diff of its edit: desktop-agent.png.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from agent_demo import PROMPT, AgentDemo, prepare
from PySide6.QtWidgets import QApplication

from desktop.app import DesktopApp
from desktop.qtloop import make_loop

DEMO = (Path(__file__).parent / "demo-session.sh").read_text()


async def shoot(app: DesktopApp, out: Path) -> None:
    window = app.window
    async with asyncio.timeout(30):
        while "running" not in window.backend_label.text():
            await asyncio.sleep(0.05)
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
    async with asyncio.timeout(30):
        while "running" not in window.backend_label.text():
            await asyncio.sleep(0.05)
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--agent", action="store_true", help="a Claude Code session")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="sessiondock-shot-"))
    demo = prepare(base)
    if args.agent:
        os.environ.update(demo.env)  # the backend child inherits it
    qt = QApplication(sys.argv[:1])
    loop = make_loop(qt)
    asyncio.set_event_loop(loop)
    with tempfile.TemporaryDirectory() as data:
        app = DesktopApp(Path(data))
        app.window.resize(1280, 760)
        runner = loop.create_task(app.run())
        shot = shoot_agent(app, args.out, demo) if args.agent else shoot(app, args.out)
        loop.run_until_complete(shot)
        code = loop.run_until_complete(runner)
    loop.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
