"""The desktop's terminal widget beside xterm.js in Chromium, in one run (issue 14).

    .venv/bin/python -m bench.terminal_widget [--mb 100] [--rounds 5]

The same coloured output (``LINE``: lines of about 100 bytes, eight colours, a number) goes
through both, in 64 KiB pieces, as a session's ``output`` events bring it:

- **throughput**: MB/s from the first piece to the last frame painted. The widget: a 200x60
  ``TerminalView`` offscreen, fed one piece per turn of the Qt event loop, its frame timer
  painting as in the app. xterm.js: a 200x60 ``Terminal`` in headless Chromium, with each of its
  renderers (WebGL, DOM, and none: not opened, the parser alone), fed with ``write`` and its
  callback, one piece per callback; ``--xterm-mb`` (20) of the same lines, as it is far slower.
  Beside them, the widget's ceiling: the same pieces fed to the emulator alone, no painting.
- **stall**: the longest gaps of the event loop while it runs (p99 and max): the widget's are
  the gaps between its turns (a piece, and any frame, per turn); xterm.js's the gaps between
  animation frames (what the page cannot answer during).
- **paint**: one whole frame of a full 200x60 screen of coloured text (every row dirty): the
  widget's ``_draw_frame`` and the copy to the screen (median of ``--rounds`` x 20); xterm.js's
  ``refresh`` of all rows, timed to the next animation frame (at least a frame's 16.7 ms, and
  meaningless without a renderer).
- **memory**: what a screen with a full 10,000-line scrollback at 120 columns adds to the RSS
  of the app's process (the widget's emulator), and to the JS heap of the page
  (``performance.memory``; Chromium only, coarse).

With the backend in the loop (``--live``, a real backend child, the app's own stream client on
the app's qasync loop):

- **switch**: from showing a fresh screen and starting its stream (``attach=screen`` with the
  first frame's 1,000 lines, as the app does) for a session with 100 MB of history, to the frame
  that shows the snapshot: ``--rounds`` times, a new stream and screen each; and to the frame
  that shows the whole history behind it (the app's 10,000 lines, ``load_history``);
- **echo**: from ``POST /input`` of one character to a shell to the frame that shows it, the
  request sent as the app sends it (``KeystrokeSender``): ``--echoes`` keystrokes, 20 ms apart.

And the same two for xterm.js in the web page, against the same backend in the same run
(headless Chromium, sync Playwright on a worker thread while the app's loop idles): the switch
from the 1 MB session to the 100 MB one (``page_attach.SHOWN``: the frame whose buffer holds the
mark), and the echo from ``term.input`` (what a key press does) through ``/input`` to the
``onRender`` whose cursor moved.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.append(str(Path(__file__).resolve().parent))

from harness import BENCH, save_results

MB = 1_000_000
PIECE = 64 * 1024
COLS, ROWS = 200, 60
LINE = "\x1b[3{c}m{n:08d}\x1b[0m {text} \x1b[1;3{c2}mend\x1b[0m\r\n"


def output(total: int) -> list[str]:
    """``total`` bytes of coloured lines, cut into the pieces a stream brings."""
    lines, size, n = [], 0, 0
    while size < total:
        line = LINE.format(c=n % 8, c2=(n + 3) % 8, n=n, text="x" * (60 + n % 17))
        lines.append(line)
        size += len(line)
        n += 1
    data = "".join(lines)
    return [data[i : i + PIECE] for i in range(0, len(data), PIECE)]


def rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# -- the widget ---------------------------------------------------------------------------------


def widget_run(pieces: list[str], rounds: int) -> dict[str, Any]:
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from desktop.sse_client import Event
    from desktop.terminal_screen import TerminalScreen
    from desktop.ui.terminal_view import TerminalView

    app = QApplication.instance() or QApplication([])
    view = TerminalView()
    view.resize(COLS * view.cell_width, ROWS * view.cell_height)
    view.show()
    screen = TerminalScreen(COLS, ROWS, scrollback_lines=10_000)
    view.show_screen(screen)
    events = [Event(i + 1, "output", {"content": piece}) for i, piece in enumerate(pieces)]
    parser_alone = parse_run(pieces)

    gaps: list[float] = []
    loop = QEventLoop()
    state = {"next": 0, "last": 0.0}

    def step() -> None:
        now = time.perf_counter()
        if state["last"]:
            gaps.append(now - state["last"])
        index = int(state["next"])
        if index >= len(events):
            view.screen_changed()
            QTimer.singleShot(50, loop.quit)  # the last frame
            return
        screen.apply([events[index]])
        view.screen_changed()
        state["next"] = index + 1
        state["last"] = time.perf_counter()
        QTimer.singleShot(0, step)

    frames_before = view.frames_painted
    started = time.perf_counter()
    QTimer.singleShot(0, step)
    loop.exec()
    elapsed = time.perf_counter() - started - 0.05
    frames = view.frames_painted - frames_before
    total = sum(len(piece.encode()) for piece in pieces)

    paints = []
    for _ in range(rounds * 20):
        view._drawn = None  # every row again
        begin = time.perf_counter()
        view._draw_frame()
        while view._rows_to_draw:  # drawn over a few turns of the loop
            view._draw_rows()
        view.repaint()
        paints.append(time.perf_counter() - begin)
    app.processEvents()

    before = rss_kb()
    full = TerminalScreen(120, 32, scrollback_lines=10_000)
    line = "\x1b[32m" + "y" * 110 + "\x1b[0m\r\n"
    full.emulator.feed((line * 12_000).encode())
    after = rss_kb()
    scrollback_rows = full.emulator.scrollback_rows
    view.close()
    return {
        "mb_per_s": total / MB / elapsed,
        "parser_mb_per_s": parser_alone,
        "frames": frames,
        "seconds": elapsed,
        "stall_p99_ms": 1000 * _p(gaps, 0.99),
        "stall_max_ms": 1000 * max(gaps),
        "paint_ms": 1000 * statistics.median(paints),
        "memory_mb": (after - before) / 1024,
        "scrollback_rows": scrollback_rows,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def parse_run(pieces: list[str]) -> float:
    """MB/s of the emulator alone (no painting, no event loop) over the same pieces: the
    ceiling of the widget's throughput, as every byte must go through it."""
    from desktop.terminal_screen import TerminalScreen

    screen = TerminalScreen(COLS, ROWS, scrollback_lines=10_000)
    data = [piece.encode() for piece in pieces]
    started = time.perf_counter()
    for piece in data:
        screen.emulator.feed(piece)
    return sum(map(len, data)) / MB / (time.perf_counter() - started)


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- with the backend ---------------------------------------------------------------------------


def live_run(rounds: int, echoes: int, scrollback: int) -> dict[str, Any]:
    from PySide6.QtWidgets import QApplication

    from desktop.qtloop import QtEventLoop

    app = QApplication.instance() or QApplication([])
    loop = QtEventLoop(app)
    try:
        return loop.run_until_complete(_live(rounds, echoes, scrollback))
    finally:
        loop.close()


# In the page: ``n`` keys typed into the terminal (``term.input``, as a key press does), each
# timed to the render whose cursor moved past it; a Ctrl-U every 40 keeps the line short.
XTERM_ECHO = """async (n) => {
  const term = sessionDock.currentView().output.term;
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const times = [];
  for (let i = 0; i < n; i++) {
    if (i % 40 === 0 && i) { term.input("\\x15", true); await sleep(200); }
    const x = term.buffer.active.cursorX;
    const started = performance.now();
    await new Promise((resolve) => {
      const done = term.onRender(() => {
        if (term.buffer.active.cursorX === x + 1) { done.dispose(); resolve(); }
      });
      term.input("x", true);
    });
    times.push(performance.now() - started);
    await sleep(20);
  }
  return times;
}"""


def xterm_live(
    url: str, token: str, routes: dict[int, str], rounds: int, echoes: int
) -> dict[str, list[float]]:
    """xterm.js in the web page, against the backend of ``_live``: the switch from the 1 MB
    session to the 100 MB one, ``rounds`` times; then ``echoes`` keys in the shell (route 0)."""
    from attach import MARK
    from page_attach import SHOWN
    from playwright.sync_api import sync_playwright

    from tests.web.helpers import CHROMIUM_ARGS, COOKIE, VIEWPORT

    switch: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS
        )
        for _ in range(rounds):
            context = browser.new_context(viewport=VIEWPORT)
            context.add_cookies([{"name": COOKIE, "value": token, "url": url + "/"}])
            page = context.new_page()
            page.goto(f"{url}/{routes[MB]}")
            page.evaluate(SHOWN, MARK)
            go = "(route) => { location.hash = route; return performance.now(); }"
            started = page.evaluate(go, routes[100 * MB])
            switch.append(float(page.evaluate(SHOWN, MARK)) - float(started))
            context.close()
        context = browser.new_context(viewport=VIEWPORT)
        context.add_cookies([{"name": COOKIE, "value": token, "url": url + "/"}])
        page = context.new_page()
        page.goto(f"{url}/{routes[0]}")
        page.wait_for_function("() => sessionDock.currentView()?.output?.term")
        page.wait_for_timeout(1000)  # the prompt, and the page settled
        echo = [float(t) for t in page.evaluate(XTERM_ECHO, echoes)]
        context.close()
        browser.close()
    return {"switch": switch, "echo": echo}


async def _painted(view: Any, after: int, done: Any, within: float = 30.0) -> float:
    """When a frame after ``after`` frames shows what ``done()`` waits for."""
    deadline = time.perf_counter() + within
    while time.perf_counter() < deadline:
        if view.frames_painted > after and not view.frame_pending() and done():
            return time.perf_counter()
        await asyncio.sleep(0.0005)
    raise RuntimeError("not painted in time")


async def _live(rounds: int, echoes: int, scrollback: int) -> dict[str, Any]:
    from attach import MARK, histories
    from harness import Cpus

    from desktop.api import ApiClient
    from desktop.keystrokes import KeystrokeSender
    from desktop.terminal_screen import TerminalScreen, load_history
    from desktop.ui.feed import SessionFeed
    from desktop.ui.terminal_view import TerminalView

    view = TerminalView()
    view.resize(120 * view.cell_width, 32 * view.cell_height)
    view.show()
    switch: list[float] = []
    deep: list[float] = []
    echo: list[float] = []
    page: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="sessiondock-widget-") as tmp:
        async with histories([MB, 100 * MB], Path(tmp), Cpus(None, None)) as ready:
            server = ready.server
            assert server.token is not None
            history = ready.sessions[100 * MB]
            api = ApiClient(server.url, server.token)

            def stream(session_id: str, screen: TerminalScreen) -> SessionFeed:
                feed = SessionFeed(
                    server.url, server.token, session_id, None, 15.0,
                    screen=True, scrollback_lines=screen.attach_lines,
                )  # fmt: skip

                def take(_session: str, events: list[Any]) -> None:
                    if screen.apply(events):
                        view.screen_changed()

                feed.screen_events_received.connect(take)
                feed.start()
                return feed

            for _ in range(rounds):
                screen = TerminalScreen(scrollback_lines=scrollback)
                before = view.frames_painted
                started = time.perf_counter()
                view.show_screen(screen)
                feed = stream(history, screen)
                shown = await _painted(view, before, lambda s=screen: MARK in s.text())
                switch.append(shown - started)
                if screen.wants_history:
                    before = view.frames_painted
                    if await load_history(api, history, screen):
                        view.screen_changed()
                    deep.append(await _painted(view, before, lambda: True) - started)
                await feed.stop()
                view.show_screen(None)
                screen.close()

            shell, _ = await server.create_session(
                ["bash", "--norc", "--noprofile", "-i"], tty=True
            )
            screen = TerminalScreen(scrollback_lines=10_000)
            view.show_screen(screen)
            feed = stream(shell, screen)
            await _painted(view, 0, lambda: screen.text().strip() != "")
            await asyncio.sleep(0.5)

            async def send(session_id: str, data: str) -> None:
                await server.post_json(f"/api/session/{session_id}/input", {"data": data})

            keys = KeystrokeSender(send, lambda _s, error: print("input failed:", error))
            for n in range(echoes):
                if n % 40 == 0 and n:
                    keys.push(shell, "\x15")  # Ctrl-U: the line stays short
                    await asyncio.sleep(0.2)
                x = screen.emulator.cursor.x
                before = view.frames_painted
                started = time.perf_counter()
                keys.push(shell, "x")
                shown = await _painted(
                    view, before, lambda x=x: screen.emulator.cursor.x == x + 1, within=10
                )
                echo.append(shown - started)
                await asyncio.sleep(0.02)
            await keys.aclose()
            await feed.stop()
            view.show_screen(None)
            routes = {}
            for size, session_id in (*ready.sessions.items(), (0, shell)):
                session = await server.get_json(f"/api/session/{session_id}")
                routes[size] = f"#/p/{session['projectId']}/s/{session_id}"
            page = await asyncio.to_thread(
                xterm_live, server.url, server.token, routes, rounds, echoes
            )
            await api.aclose()
    view.close()
    return {
        "switch_ms": [1000 * t for t in switch],
        "echo_ms": [1000 * t for t in echo],
        "switch_median_ms": 1000 * statistics.median(switch),
        "xterm_switch_ms": page["switch"],
        "xterm_switch_median_ms": statistics.median(page["switch"]),
        "xterm_echo_ms": page["echo"],
        "xterm_echo_p50_ms": statistics.median(page["echo"]),
        "xterm_echo_p99_ms": _p(page["echo"], 0.99),
        "history_ms": [1000 * t for t in deep],
        "history_median_ms": 1000 * statistics.median(deep) if deep else None,
        "echo_p50_ms": 1000 * statistics.median(echo),
        "echo_p99_ms": 1000 * _p(echo, 0.99),
    }


# -- xterm.js -----------------------------------------------------------------------------------

XTERM = """async ({cols, rows, pieces, rounds, renderer}) => {
  const {Terminal} = await import("/vendor/xterm/xterm.mjs");
  const host = document.createElement("div");
  host.style.cssText = "position:fixed;left:0;top:0;width:2400px;height:1400px";
  document.body.replaceChildren(host);
  const term = new Terminal({cols, rows, scrollback: 10000, allowProposedApi: true});
  if (renderer !== "none") term.open(host);  // "none": the parser and buffer alone
  if (renderer === "webgl") {
    const {WebglAddon} = await import("/vendor/addon-webgl/addon-webgl.mjs");
    term.loadAddon(new WebglAddon());
  }
  const line = (n) => `\\x1b[3${n % 8}m${String(n).padStart(8, "0")}\\x1b[0m ` +
    "x".repeat(60 + n % 17) + ` \\x1b[1;3${(n + 3) % 8}mend\\x1b[0m\\r\\n`;
  const chunks = [];
  let text = "", n = 0, size = 0;
  while (size < pieces * 65536) { const l = line(n++); text += l; size += l.length;
    if (text.length >= 65536) { chunks.push(text.slice(0, 65536)); text = text.slice(65536); } }
  const gaps = [];
  let last = performance.now(), running = true;
  const tick = (t) => { gaps.push(t - last); last = t; if (running) requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  const started = performance.now();
  for (const chunk of chunks) await new Promise((resolve) => term.write(chunk, resolve));
  await new Promise((resolve) => requestAnimationFrame(() => resolve()));
  const elapsed = performance.now() - started;
  running = false;
  const total = chunks.reduce((sum, c) => sum + new TextEncoder().encode(c).length, 0);
  const paints = [];
  for (let i = 0; i < rounds * 20; i++) {
    const begin = performance.now();
    term.refresh(0, rows - 1);
    await new Promise((resolve) => requestAnimationFrame(() => resolve()));
    paints.push(performance.now() - begin);
  }
  gaps.sort((a, b) => a - b);
  paints.sort((a, b) => a - b);
  const heap = performance.memory ? performance.memory.usedJSHeapSize / 1e6 : null;
  return {mb_per_s: total / 1e6 / (elapsed / 1000), seconds: elapsed / 1000,
          stall_p99_ms: gaps[Math.floor(gaps.length * 0.99)], stall_max_ms: gaps[gaps.length - 1],
          paint_ms: paints[Math.floor(paints.length / 2)], heap_mb: heap};
}"""


def xterm_run(pieces: int, rounds: int, renderers: list[str]) -> dict[str, dict[str, Any]]:
    """xterm.js with each renderer ("webgl", "dom", "none": not opened), one page each."""
    from playwright.sync_api import sync_playwright

    from tests.server import running_server
    from tests.web.helpers import CHROMIUM_ARGS, COOKIE

    results: dict[str, dict[str, Any]] = {}
    data = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-xterm-{os.getpid()}"
    with running_server(data) as srv, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium"),
            args=[*CHROMIUM_ARGS, "--enable-precise-memory-info"],
        )
        context = browser.new_context(viewport={"width": 2400, "height": 1400})
        context.add_cookies([{"name": COOKIE, "value": srv.token, "url": srv.url + "/"}])
        for renderer in renderers:
            page = context.new_page()
            page.goto(srv.url + "/")
            arguments = {"cols": COLS, "rows": ROWS, "pieces": pieces, "rounds": rounds}
            results[renderer] = page.evaluate(XTERM, {**arguments, "renderer": renderer})
            page.close()
        browser.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=100, help="MB through the widget")
    parser.add_argument("--xterm-mb", type=int, default=20, help="MB through xterm.js")
    parser.add_argument("--renderers", nargs="+", default=["webgl", "dom", "none"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--live", action="store_true", help="also the switch and the echo")
    parser.add_argument("--echoes", type=int, default=300)
    parser.add_argument(
        "--switch-scrollback", type=int, default=10_000, help="the screen's (the app's: 10,000)"
    )
    args = parser.parse_args()
    widget = widget_run(output(args.mb * MB), args.rounds)
    xterm = xterm_run(len(output(args.xterm_mb * MB)), args.rounds, args.renderers)
    print(f"coloured lines at {COLS}x{ROWS}: {args.mb} MB through the widget, {args.xterm_mb} MB")
    print("through xterm.js with each renderer (none: the terminal not opened, parsing only)")
    header = "".join(f"{name:>10}" for name in xterm)
    print(f"  {'':<42} {'widget':>9} |{header}")
    rows = (
        ("throughput MB/s (target >= 100)", "mb_per_s"),
        ("event-loop stall p99 ms (target <= 16)", "stall_p99_ms"),
        ("event-loop stall max ms", "stall_max_ms"),
        ("paint of a full 200x60 frame ms", "paint_ms"),
    )
    for label, key in rows:
        theirs = "".join(f"{r[key]:10.1f}" for r in xterm.values())
        print(f"  {label:<42} {widget[key]:9.1f} |{theirs}")
    heaps = "".join(
        f"{r['heap_mb']:10.1f}" if r["heap_mb"] is not None else f"{'-':>10}"
        for r in xterm.values()
    )
    print(f"  {'memory, 10,000-line scrollback MB':<42} {widget['memory_mb']:9.1f} |{heaps}")
    print("  (the widget: what one full screen adds to the RSS; xterm.js: the whole JS heap)")
    print(f"  widget: {widget['frames']} frames in {widget['seconds']:.1f} s")
    print(
        f"  the emulator alone (libghostty-vt, no painting) on the same pieces: "
        f"{widget['parser_mb_per_s']:.1f} MB/s; the widget runs at "
        f"{widget['mb_per_s'] / widget['parser_mb_per_s']:.0%} of it"
    )
    record = {"mb": args.mb, "xterm_mb": args.xterm_mb, "widget": widget, "xterm": xterm}
    if args.live:
        live = live_run(args.rounds, args.echoes, args.switch_scrollback)
        record["live"] = live
        print(
            f"  first paint after switching to 100 MB of history (target <= 100 ms): "
            f"{live['switch_median_ms']:.1f} ms (median of {args.rounds})"
        )
        print(
            f"  ... xterm.js in the page, same backend: switch {live['xterm_switch_median_ms']:.1f}"
            f" ms; echo p50 {live['xterm_echo_p50_ms']:.1f} ms, p99 {live['xterm_echo_p99_ms']:.1f}"
            " ms"
        )
        if live["history_median_ms"] is not None:
            print(
                f"  ... and the whole {args.switch_scrollback:,}-line history behind it: "
                f"{live['history_median_ms']:.1f} ms"
            )
        print(
            f"  keystroke to painted echo (target p99 <= 20 ms): p50 {live['echo_p50_ms']:.1f} "
            f"ms, p99 {live['echo_p99_ms']:.1f} ms ({args.echoes} keys)"
        )
    out = save_results("terminal-widget", record)
    print("raw:", out.relative_to(BENCH.parent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
