"""From Claude asking to the card on screen, and from a streamed delta to the screen, in both
clients (issue 15).

    .venv/bin/python -m bench.approvals [--rounds 1]

A real backend runs the fake ``claude`` (tests/fixtures) with two transcripts, one turn each:

- ``latency``: 200 ``can_use_tool`` requests at Claude's pace, each written 0.1 s after the one
  before was answered (for the tool to run and the model to go on: a real turn takes far
  longer), its command stamped with the time the fake wrote it; then an answer of 150 words
  streamed as 150 deltas 10 ms apart (the fake logs when it wrote each).
- ``burst``: 60 stamped requests back to back, each written the moment the one before is
  answered, so that it lands while the client still draws that answer (a stress figure).

- **card**: from the fake writing the request to the card being on screen: in the desktop app
  (a ``MainWindow`` against the backend, offscreen Qt), to the card's first paint; in the page
  (headless Chromium), to the card entering the DOM, laid out, in the animation frame that
  paints it. Each card is answered (Allow) as soon as it is seen.
- **delta**: from the fake writing a delta to its text being in the view: the desktop's
  conversation document (the paint follows in the same turn of the loop), the page's streaming
  entry (laid out, in the frame that paints it).

Both clients run in one run against one backend, one after the other (each its own session).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.append(str(Path(__file__).resolve().parent))

from harness import BENCH, save_results

SENT = re.compile(r"# sent (\d+\.\d+)")
PACED = 200  # requests of the latency transcript
BURST = 60  # of the burst transcript


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": statistics.median(values),
        "p99_ms": _p(values, 0.99),
        "max_ms": max(values),
    }


def deltas_written(log: Path, since: float) -> list[float]:
    """When the fake wrote each delta of the latest answer (ms since the epoch), in order."""
    times = []
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        if "delta" in entry and entry["at"] >= since:
            times.append(float(entry["at"]))
    return times


# -- the desktop app ----------------------------------------------------------------------------


async def desktop_run(
    url: str, token: str, project_id: str, session_id: str, log: Path
) -> dict[str, Any]:
    from PySide6.QtCore import QEvent, QObject

    from desktop.api import ApiClient
    from desktop.ui.main_window import MainWindow

    api = ApiClient(url, token)
    window = MainWindow(api, token=token)
    window.show()
    cards: list[float] = []
    seen: set[str] = set()
    wanted = PACED
    done = asyncio.Event()

    class FirstPaint(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint and watched.property("request") not in seen:
                now = time.time() * 1000
                request = str(watched.property("request"))
                seen.add(request)
                card = window.approvals.card(request)
                if card is not None:
                    sent = SENT.search(card.about.text)
                    if sent:
                        cards.append(now - float(sent.group(1)))
                    card.allow()
                    if len(cards) >= wanted:
                        done.set()
            return False

    painter = FirstPaint()
    original = window.approvals.show_requests

    def show_requests(*args: Any) -> None:
        original(*args)
        for request_id, card in window.approvals.cards.items():
            if card.property("request") is None:
                card.setProperty("request", request_id)
                card.installEventFilter(painter)

    window.approvals.show_requests = show_requests  # type: ignore[method-assign]
    streamed: list[float] = []
    await window.reload()
    window.projects.select(project_id)
    await window.open_project(project_id)
    await window.open_session(session_id)
    document = window.output.current
    assert document is not None
    shown_delta = document.stream_delta

    def delta(message_id: str, text: str) -> None:
        shown_delta(message_id, text)
        streamed.append(time.time() * 1000)

    document.stream_delta = delta  # type: ignore[method-assign]
    started = time.time() * 1000
    await api.send_prompt(session_id, "latency please")
    await asyncio.wait_for(done.wait(), 180)
    async with asyncio.timeout(60):  # the turn ends after its answer streamed in
        while "turn: $" not in document.plain_text():  # noqa: ASYNC110 - no signal for it
            await asyncio.sleep(0.05)
    written = deltas_written(log, started)
    paced = list(cards)
    wanted, done = PACED + BURST, asyncio.Event()
    await api.send_prompt(session_id, "burst please")
    await asyncio.wait_for(done.wait(), 120)
    await window.shutdown()
    window.close()
    await api.aclose()
    return {
        "card": paced,
        "burst": cards[len(paced) :],
        "delta": [s - w for s, w in zip(streamed, written, strict=False)],
    }


def desktop(url: str, token: str, project_id: str, session_id: str, log: Path) -> dict[str, Any]:
    from PySide6.QtWidgets import QApplication

    from desktop.qtloop import QtEventLoop

    app = QApplication.instance() or QApplication([])
    app.setQuitOnLastWindowClosed(False)  # closing the window must not stop the loop
    loop = QtEventLoop(app)
    try:
        return loop.run_until_complete(desktop_run(url, token, project_id, session_id, log))
    finally:
        loop.close()


# -- the page -----------------------------------------------------------------------------------

WATCH = """() => {
  window.benchCards = [];
  window.benchDeltas = [];
  const now = () => performance.timeOrigin + performance.now();
  const host = document.querySelector("#output-host");
  // A card enters the page in the frame the view renders it in (a requestAnimationFrame
  // callback): laid out now, it is painted at the end of this frame.
  const card = (node) => {
    node.getBoundingClientRect();
    const sent = /# sent (\\d+\\.\\d+)/.exec(node.textContent);
    if (sent) window.benchCards.push(now() - Number(sent[1]));
    setTimeout(() => node.querySelector("button.primary").click());
  };
  // Each delta is one text node of the streaming entry (the first makes the entry, and those
  // of the same frame join it before it enters the page).
  new MutationObserver((records) => {
    let deltas = 0;
    for (const record of records) {
      for (const node of record.addedNodes) {
        const open = node.classList?.contains("a-request") && !node.classList.contains("resolved");
        if (open) card(node);
        if (node.classList?.contains("a-streaming")) deltas += node.childNodes.length;
        else if (node.nodeType === 3 && record.target.classList?.contains("a-streaming")) {
          deltas += 1;
        }
      }
    }
    if (deltas) {
      host.getBoundingClientRect();
      const at = now();
      for (let i = 0; i < deltas; i++) window.benchDeltas.push(at);
    }
  }).observe(host, {childList: true, subtree: true});
}"""


def page(url: str, token: str, route: str, session_id: str, log: Path) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from tests.web.helpers import CHROMIUM_ARGS, COOKIE, VIEWPORT

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS
        )
        context = browser.new_context(viewport=VIEWPORT)
        context.add_cookies([{"name": COOKIE, "value": token, "url": url + "/"}])
        tab = context.new_page()
        tab.goto(f"{url}/{route}")
        tab.wait_for_selector("#stream-state[data-state='connected']")
        tab.evaluate(WATCH)
        started = time.time() * 1000
        import httpx

        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
            client.post(f"/api/session/{session_id}/prompt", json={"command": "latency please"})
            tab.wait_for_function(f"window.benchCards.length >= {PACED}", timeout=180_000)
            tab.wait_for_selector("#output-host .a-turn", timeout=60_000)
            shown = [float(t) for t in tab.evaluate("window.benchDeltas")]
            client.post(f"/api/session/{session_id}/prompt", json={"command": "burst please"})
            tab.wait_for_function(f"window.benchCards.length >= {PACED + BURST}", timeout=120_000)
        cards = [float(t) for t in tab.evaluate("window.benchCards")]
        context.close()
        browser.close()
    written = deltas_written(log, started)
    return {
        "card": cards[:PACED],
        "burst": cards[PACED:],
        "delta": [s - w for s, w in zip(shown, written, strict=False)],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args()

    from tests.claude import FAKE_CLAUDE
    from tests.server import running_server

    with tempfile.TemporaryDirectory(prefix="sessiondock-approvals-") as tmp:
        log = Path(tmp) / "fake.log"
        env = {"FAKE_CLAUDE_LOG": str(log), "FAKE_CLAUDE_DELTA_SECONDS": "0.01",
               "FAKE_CLAUDE_LOG_DELTAS": "1"}  # fmt: skip
        work = Path(tmp) / "project"
        work.mkdir()
        with running_server(Path(tmp) / "data", "--claude-path", str(FAKE_CLAUDE), env=env) as srv:
            assert srv.token is not None
            with srv.client() as client:
                project = client.post("/api/projects", json={"path": str(work)}).json()
                sessions = [
                    client.post(
                        "/api/sessions", json={"projectId": project["id"], "kind": "claude"}
                    ).json()
                    for _ in range(2)
                ]
            results: dict[str, Any] = {}
            results["desktop"] = desktop(srv.url, srv.token, project["id"], sessions[0]["id"], log)
            # Sync Playwright wants no running asyncio loop in its thread.
            holder: dict[str, Any] = {}
            route = f"#/p/{project['id']}/s/{sessions[1]['id']}"
            worker = threading.Thread(
                target=lambda: holder.update(
                    page(srv.url, srv.token, route, sessions[1]["id"], log)
                )
            )
            worker.start()
            worker.join()
            results["page"] = holder
    print(f"{PACED} permission requests at Claude's pace, 150 streamed deltas, then {BURST}"
          " requests back to back, in each client (ms)")  # fmt: skip
    print(f"  {'':<50} {'p50':>8} {'p99':>8} {'max':>8} {'n':>5}")
    record: dict[str, Any] = {}
    for client in ("desktop", "page"):
        for what, label in (("card", "request written -> card on screen (p99 <= 50)"),
                            ("delta", "delta written -> text on screen"),
                            ("burst", "back to back: request -> card on screen")):  # fmt: skip
            stats = summary(results[client][what])
            record[f"{client}_{what}"] = stats
            print(f"  {client + ': ' + label:<50} {stats['p50_ms']:8.1f} {stats['p99_ms']:8.1f}"
                  f" {stats['max_ms']:8.1f} {stats['n']:5d}")  # fmt: skip
    out = save_results("approvals", {**record, "raw": results})
    print("raw:", out.relative_to(BENCH.parent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
