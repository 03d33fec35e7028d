"""The browser's half of attach (issue 13): how long until the page shows a terminal session's
current screen, with 1 MB and 100 MB of history behind it.

    .venv/bin/python -m bench.page_attach [--rounds 7]

A real backend gets one terminal session per history size (``attach.histories``: coloured log
lines, then a mark, then the program sleeps). Headless Chromium then, for each round and size:

- **load**: a fresh page opens the session's address; the time runs from the navigation's start
  (the page's time origin) to the animation frame in which xterm.js's buffer holds the mark, so
  it includes loading the page, its modules and xterm.js, the stream and the snapshot;
- **switch**: a fresh page shows the 1 MB session, then the address changes to the session
  measured; from that change to the frame with the mark.

Medians per size, printed with the target (300 ms) and written to
``bench/results/<UTC time>-page-attach.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

# After the project's root: bench/desktop.py must not hide the desktop package tests/ imports.
sys.path.append(str(Path(__file__).resolve().parent))

from attach import MARK, MB, histories
from harness import BENCH, Cpus, save_results
from playwright.async_api import Browser, Page, async_playwright

from tests.web.helpers import CHROMIUM_ARGS, COOKIE, VIEWPORT

TARGET_MS = 300.0
SIZES = (1 * MB, 100 * MB)

# Resolves with performance.now() at the first animation frame whose terminal holds the mark.
SHOWN = """(mark) => new Promise((resolve) => {
  const check = () => {
    const view = window.sessionDock && sessionDock.currentView();
    const term = view && view.output && view.output.term;
    if (term) {
      const buffer = term.buffer.active;
      for (let y = 0; y < buffer.length; y++) {
        const line = buffer.getLine(y);
        if (line && line.translateToString(true).includes(mark)) return resolve(performance.now());
      }
    }
    requestAnimationFrame(check);
  };
  check();
})"""


async def _page(browser: Browser, url: str, token: str) -> Page:
    context = await browser.new_context(viewport=VIEWPORT)
    await context.add_cookies([{"name": COOKIE, "value": token, "url": url + "/"}])
    return await context.new_page()


def _route(project_id: str, session_id: str) -> str:
    return f"#/p/{project_id}/s/{session_id}"


async def load_once(browser: Browser, url: str, token: str, route: str) -> float:
    page = await _page(browser, url, token)
    try:
        await page.goto(f"{url}/{route}", wait_until="commit")
        return float(await page.evaluate(SHOWN, MARK))
    finally:
        await page.context.close()


async def switch_once(browser: Browser, url: str, token: str, first: str, route: str) -> float:
    page = await _page(browser, url, token)
    try:
        await page.goto(f"{url}/{first}")
        await page.evaluate(SHOWN, MARK)
        go = "(route) => { location.hash = route; return performance.now(); }"
        started = await page.evaluate(go, route)
        return float(await page.evaluate(SHOWN, MARK)) - float(started)
    finally:
        await page.context.close()


async def run(rounds: int) -> dict[str, Any]:
    results: dict[str, Any] = {"load": {}, "switch": {}}
    with tempfile.TemporaryDirectory(prefix="sessiondock-page-") as tmp:
        async with histories(SIZES, Path(tmp), Cpus(None, None)) as ready:
            server = ready.server
            assert server.token is not None
            routes = {}
            for size, session_id in ready.sessions.items():
                session = await server.get_json(f"/api/session/{session_id}")
                routes[size] = _route(session["projectId"], session_id)
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS
                )
                for _ in range(rounds):
                    for size, route in routes.items():
                        load = await load_once(browser, server.url, server.token, route)
                        results["load"].setdefault(size, []).append(load)
                        first = routes[SIZES[0]] if size != SIZES[0] else routes[SIZES[-1]]
                        switch = await switch_once(browser, server.url, server.token, first, route)
                        results["switch"].setdefault(size, []).append(switch)
                await browser.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    results = asyncio.run(run(args.rounds))
    print("page shows the current screen (ms), medians of", args.rounds, "rounds")
    print(f"{'history':>8}  {'load':>7}  {'switch':>7}  target {TARGET_MS:.0f} ms")
    for size in SIZES:
        load = statistics.median(results["load"][size])
        switch = statistics.median(results["switch"][size])
        print(f"{size / MB:>6g}MB  {load:7.1f}  {switch:7.1f}")
    out = save_results(
        "page-attach", {k: {str(s): v for s, v in r.items()} for k, r in results.items()}
    )
    print("raw:", out.relative_to(BENCH.parent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
