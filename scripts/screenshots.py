"""Screenshots of the real desktop app with a live colored session, for the docs.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshots.py [--out docs/screenshots]

It runs the app exactly as a user would (its own backend child, a temporary data dir), adds a
project, runs a session that prints in color, and saves the window as PNG.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

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
    window.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = parser.parse_args()
    qt = QApplication(sys.argv[:1])
    loop = make_loop(qt)
    asyncio.set_event_loop(loop)
    with tempfile.TemporaryDirectory() as data:
        app = DesktopApp(Path(data))
        app.window.resize(1280, 760)
        runner = loop.create_task(app.run())
        loop.run_until_complete(shoot(app, args.out))
        code = loop.run_until_complete(runner)
    loop.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
