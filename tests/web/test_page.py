"""The page itself: signing in, projects, sessions, the prompt, colors, stop and delete.

Terminal sessions (shells and commands in a PTY, the default) are xterm.js views with no prompt
line: tests/web/test_terminal_page.py. The prompt line and the line view (output.js) are for
sessions without a terminal (``"tty": false``), which the tests of them here start."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from tests.web.helpers import (
    COOKIE,
    Dock,
    dom_lines,
    pumped,
    wait_for_line,
    wait_for_stream,
    wait_until,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page, Route


def test_token_url_sets_the_cookie_and_leaves_a_clean_address(dock: Dock) -> None:
    page = dock.new_page(signed_in=False)
    page.goto(f"{dock.server.url}/?token={dock.server.token}")
    assert page.url == f"{dock.server.url}/"
    [cookie] = [c for c in page.context.cookies() if c["name"] == COOKIE]
    assert cookie["value"] == dock.server.token
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    page.wait_for_selector("#app", state="visible")
    assert page.is_hidden("#signin")
    assert page.evaluate("document.cookie") == ""  # HttpOnly: no script can read it


def test_without_a_token_the_page_says_how_to_get_one(dock: Dock) -> None:
    page = dock.new_page(signed_in=False)
    for address in ("/", "/?token=wrong"):
        page.goto(dock.server.url + address)
        page.wait_for_selector("#signin", state="visible")
        help_text = page.inner_text("#signin")
        assert "/?token=" in help_text
        assert "server.json" in help_text
        assert "~/.local/share/sessiondock" in help_text
        assert page.is_hidden("#app")
        assert page.context.cookies() == []


def test_projects_are_added_selected_and_removed(dock: Dock, page: Page, tmp_path: Path) -> None:
    for name in ("api", "site"):
        (tmp_path / name).mkdir()
    site = dock.project(str(tmp_path / "site"))
    site_shell = dock.session(site["id"], "sleep 30", name="site job")
    page.goto(dock.server.url + "/")
    page.fill("#project-path", str(tmp_path / "api"))
    page.press("#project-path", "Enter")
    selected = page.wait_for_selector("#projects [aria-current='true']")
    assert selected is not None and "api" in selected.inner_text()
    assert page.input_value("#project-path") == ""
    [api] = [p for p in dock.client.get("/api/projects").json()["projects"] if p["name"] == "api"]
    api_session = dock.session(api["id"], "echo mine", name="api job")

    # Each project shows its own sessions only.
    page.wait_for_selector(f"#sessions [data-id='{api_session['id']}']")
    assert page.locator("#sessions [data-id]").count() == 1
    page.click(f"#projects [data-id='{site['id']}']")
    page.wait_for_selector(f"#sessions [data-id='{site_shell['id']}']")
    assert page.locator("#sessions [data-id]").count() == 1
    assert page.url.endswith(f"#/p/{site['id']}")

    # Removing asks first, in the page's own dialog, with the project's sessions as they are
    # now; Cancel is the default (Enter), and keeps everything.
    question = (
        'Remove the project "site"? Its session and its history will be deleted; it is still '
        "running and will be stopped. Its folder is left as it is."
    )
    page.click("#remove-project")
    page.wait_for_selector("#confirm[open]")
    assert page.inner_text("#confirm-text") == question
    assert page.inner_text("#confirm-yes") == "Remove"
    assert page.evaluate("document.activeElement.id") == "confirm-cancel"
    page.keyboard.press("Enter")
    page.wait_for_selector("#confirm", state="hidden")
    assert dock.client.get(f"/api/projects/{site['id']}").status_code == 200
    assert dock.client.get(f"/api/session/{site_shell['id']}").json()["status"] == "running"
    page.click("#remove-project")
    page.wait_for_selector("#confirm[open]")
    page.click("#confirm-yes")
    page.wait_for_selector(f"#projects [data-id='{site['id']}']", state="detached")
    assert dock.client.get(f"/api/projects/{site['id']}").status_code == 404
    assert dock.client.get(f"/api/session/{site_shell['id']}").status_code == 404

    page.fill("#project-path", str(tmp_path / "no-such-folder"))
    page.click("#add-project button[type=submit]")
    page.wait_for_selector("#error", state="visible")


def test_shell_session_runs_what_the_prompt_sends(dock: Dock, page: Page, workdir: Path) -> None:
    project = dock.project(str(workdir))
    shell = dock.session(project["id"], kind="shell", tty=False)
    dock.open(page, project["id"])
    assert page.is_disabled("#prompt")
    page.click(f"#sessions [data-id='{shell['id']}']")
    wait_for_stream(page, "connected")
    badge = page.locator("#session-badge")
    assert badge.inner_text() == "running"
    page.wait_for_selector("#prompt:enabled")
    page.fill("#prompt", "echo hello")
    page.press("#prompt", "Enter")
    wait_for_line(page, "hello")
    assert page.input_value("#prompt") == ""

    # Up and Down walk what was sent; Down past the end gives back what was being typed.
    page.fill("#prompt", "echo second")
    page.press("#prompt", "Enter")
    wait_for_line(page, "second")
    page.fill("#prompt", "draft")
    page.press("#prompt", "ArrowUp")
    assert page.input_value("#prompt") == "echo second"
    page.press("#prompt", "ArrowUp")
    assert page.input_value("#prompt") == "echo hello"
    page.press("#prompt", "ArrowUp")
    assert page.input_value("#prompt") == "echo hello"
    page.press("#prompt", "ArrowDown")
    page.press("#prompt", "ArrowDown")
    assert page.input_value("#prompt") == "draft"

    page.fill("#prompt", "exit 0")
    page.press("#prompt", "Enter")
    page.wait_for_selector("#session-badge:text-is('exited 0')")
    page.wait_for_selector("#prompt:disabled")


COLORS = (
    r"printf '\033[31mred\033[0m \033[1;31mbold\033[0m \033[38;5;208morange\033[0m "
    r"\033[38:2::1:2:3mrgb\033[0m \033[42;7mrev\033[0m \033[2;34mdim\033[0m\n'; "
    r"printf '50%%\r1\n\tx\033]0;title\007\n'"
)


def test_ctrl_c_copies_a_selection_and_else_interrupts_whatever_the_layout(
    dock: Dock, page: Page, workdir: Path
) -> None:
    """The prompt line's Ctrl-C (a terminal session has none: Ctrl-C there is the program's)."""
    project = dock.project(str(workdir))
    command = "trap 'echo interrupted' INT; echo ready; while :; do sleep 0.1; done"
    session = dock.session(project["id"], command, tty=False)
    dock.open(page, project["id"], session["id"])
    wait_for_line(page, "ready")
    page.wait_for_selector("#interrupt-session:enabled")
    interrupts: list[str] = []
    page.on("request", lambda r: interrupts.append(r.url) if r.url.endswith("/interrupt") else None)
    page.evaluate(
        """() => {
          const field = document.querySelector('#prompt');
          globalThis.copied = [];
          document.addEventListener('copy', () => {
            copied.push(field.value.slice(field.selectionStart, field.selectionEnd));
          });
        }"""
    )
    # With text selected, Ctrl-C is the field's own: it copies, and interrupts nothing.
    page.fill("#prompt", "echo hi")
    page.evaluate("document.querySelector('#prompt').select()")
    page.press("#prompt", "Control+c")
    pumped(page, lambda: page.evaluate("copied"), message="a copy")
    assert page.evaluate("copied") == ["echo hi"]
    assert page.input_value("#prompt") == "echo hi"
    # With nothing selected it interrupts, by the physical key: its `key` is the Cyrillic es
    # (U+0441) on a Russian layout.
    page.fill("#prompt", "")
    page.evaluate(
        """() => document.querySelector('#prompt').dispatchEvent(new KeyboardEvent('keydown', {
          key: '\\u0441', code: 'KeyC', ctrlKey: true, bubbles: true, cancelable: true}))"""
    )
    # Requests go out in order: had the first Ctrl-C interrupted, its request would be first.
    pumped(page, lambda: interrupts, message="an interrupt")
    assert len(interrupts) == 1
    assert wait_for_line(page, "interrupted") == ["ready", "interrupted"]
    assert dock.client.get(f"/api/session/{session['id']}").json()["status"] == "running"


def test_colors_follow_the_desktop_palette(dock: Dock, page: Page, workdir: Path) -> None:
    project = dock.project(str(workdir))
    session = dock.session(project["id"], COLORS, name="colors", tty=False)
    dock.open(page, project["id"], session["id"])
    lines = wait_for_line(page, "10%")
    assert lines[:3] == ["red bold orange rgb rev dim", "10%", " " * 8 + "x"]

    def style(text: str) -> dict[str, str]:
        span = page.locator("#output-host .output span", has_text=text).first
        result: dict[str, str] = span.evaluate(
            "e => { const s = getComputedStyle(e);"
            " return {color: s.color, background: s.backgroundColor, weight: s.fontWeight}; }"
        )
        return result

    assert style("red")["color"] == "rgb(205, 0, 0)"  # palette index 1
    assert style("bold") == {
        "color": "rgb(255, 0, 0)",  # bold makes the base colors bright, as xterm and the app
        "background": "rgba(0, 0, 0, 0)",
        "weight": "700",
    }
    assert style("orange")["color"] == "rgb(255, 135, 0)"  # index 208 of the 256-color cube
    assert style("rgb")["color"] == "rgb(1, 2, 3)"
    reverse = style("rev")
    assert reverse["color"] == "rgb(0, 205, 0)"  # inverse: the green background becomes the text
    assert style("dim")["color"] == "rgb(0, 0, 159)"  # index 4 (0, 0, 238) darkened as Qt's


def test_statuses_stop_and_delete(dock: Dock, page: Page, workdir: Path) -> None:
    project = dock.project(str(workdir))
    dock.session(project["id"], "true", name="ok")
    dock.session(project["id"], "exit 3", name="three")
    dock.open(page, project["id"])
    page.wait_for_selector("#sessions .badge:text-is('exited 0')")
    page.wait_for_selector("#sessions .badge:text-is('failed 3')")

    # A command that ignores SIGINT: Interrupt leaves it running, Stop ends it at once (SIGTERM
    # and SIGHUP), shown as the user's doing in a neutral color, not as a red failure.
    page.fill("#command", "trap 'echo ignored' INT; echo started; while :; do sleep 0.1; done")
    page.press("#command", "Enter")
    wait_for_line(page, "started")
    assert page.inner_text("#session-badge") == "running"
    assert page.inner_text("#session-title").startswith("trap 'echo ignored' INT; echo started")
    page.click("#interrupt-session")
    wait_for_line(page, "ignored")
    assert page.inner_text("#session-badge") == "running"
    page.click("#stop-session")
    badge = page.wait_for_selector("#session-badge:text-matches('^stopped SIG(TERM|HUP)$')")
    assert badge is not None
    assert badge.evaluate("e => getComputedStyle(e).color") == "rgb(87, 96, 106)"
    for button in ("#prompt", "#interrupt-session", "#stop-session", "#continue-session"):
        assert page.is_disabled(button), button
    session_id = page.url.rsplit("/s/", 1)[1]
    [ended] = [
        e["data"]
        for e in dock.history(session_id)
        if e["type"] == "status" and e["data"]["status"] != "running"
    ]
    assert ended["status"] == "stopped" and ended["signal"] in ("SIGTERM", "SIGHUP")
    assert page.inner_text("#session-badge") == f"stopped {ended['signal']}"

    # Delete asks first (Cancel is the default), in the page's own dialog.
    page.click("#delete-session")
    page.wait_for_selector("#confirm[open]")
    name = dock.client.get(f"/api/session/{session_id}").json()["name"]
    assert page.inner_text("#confirm-text") == f'Delete the session "{name}" and its history?'
    assert name.startswith("trap 'echo ignored' INT;")
    page.keyboard.press("Enter")
    page.wait_for_selector("#confirm", state="hidden")
    assert dock.client.get(f"/api/session/{session_id}").status_code == 200
    page.click("#delete-session")
    page.click("#confirm-yes")
    page.wait_for_selector(f"#sessions [data-id='{session_id}']", state="detached")
    assert dock.client.get(f"/api/session/{session_id}").status_code == 404
    assert page.inner_text("#stream-state") == "—"
    assert page.locator("#sessions [data-id]").count() == 2


def test_an_ending_on_screen_is_labelled_with_its_signal_at_once(
    dock: Dock, page: Page, workdir: Path
) -> None:
    """The label comes from the status event itself: the list, which still says "running",
    is not fetched again meanwhile (its requests are held)."""
    project = dock.project(str(workdir))
    session = dock.session(project["id"], "echo started; sleep 300", name="sleeper")
    dock.open(page, project["id"], session["id"])
    wait_for_line(page, "started")
    assert page.inner_text("#session-badge") == "running"
    held: list[Route] = []
    page.route("**/api/sessions", lambda route: held.append(route))
    response = dock.client.post(f"/api/session/{session['id']}/signal", json={"signal": "SIGKILL"})
    assert response.is_success, response.text
    badge = f"#sessions [data-id='{session['id']}'] .badge"
    pumped(page, lambda: page.inner_text("#session-badge") != "running", message="an ending")
    assert page.inner_text("#session-badge") == "stopped SIGKILL"
    assert page.inner_text(badge) == "stopped SIGKILL"
    pumped(page, lambda: held, message="the list asked for (and not answered)")
    for route in held:
        route.continue_()
    page.unroute("**/api/sessions")


def test_dom_keeps_the_last_lines_and_follows_the_tail(
    dock: Dock, page: Page, workdir: Path
) -> None:
    project = dock.project(str(workdir))
    session = dock.session(project["id"], "seq 1 3000", tty=False)
    page.goto(f"{dock.server.url}/?maxLines=500#/p/{project['id']}/s/{session['id']}")
    wait_for_stream(page, "connected")
    lines = wait_for_line(page, "3000")
    # 500 line elements: 499 finished lines and the (empty) line the cursor is on.
    assert lines == [str(n) for n in range(2502, 3001)]
    assert page.locator("#output-host .output .l").count() == 500
    wait_until(lambda: "2,501 older not shown" in page.inner_text("#lines-info"), 3)
    at_end = "e => e.scrollHeight - e.scrollTop - e.clientHeight < 4"
    output = page.locator("#output-host .output")
    assert output.evaluate(at_end)

    # Scrolled up, the view stays put while output arrives; Follow brings it back.
    ticker = dock.session(
        project["id"],
        "for i in $(seq 1 300); do echo t$i; [ $((i % 50)) = 0 ] && sleep 0.2; done",
        tty=False,
    )
    page.click(f"#sessions [data-id='{ticker['id']}']")
    wait_for_line(page, "t50")
    output.evaluate("e => { e.scrollTop = 0; }")
    page.wait_for_selector("#follow", state="visible")
    wait_for_line(page, "t300")
    assert output.evaluate("e => e.scrollTop") == 0
    page.click("#follow")
    wait_until(lambda: output.evaluate(at_end), 5, "back at the end")
    assert page.is_hidden("#follow")
    assert dom_lines(page)[-1] == "t300"


LONG = r"seq 1 100000 | sed 's/.*/\x1b[32m&\x1b[0m line of \x1b[1;31mcolored\x1b[0m output/'"


def test_long_output_stays_fast_with_20000_lines_in_the_dom(
    dock: Dock, page: Page, workdir: Path
) -> None:
    project = dock.project(str(workdir))
    session = dock.session(project["id"], LONG, name="long", tty=False)
    wait_until(lambda: dock.client.get(f"/api/session/{session['id']}").json()["endedAt"], 30)
    started = time.monotonic()
    dock.open(page, project["id"], session["id"])
    last = "100000 line of colored output"
    wait_until(lambda: dom_lines(page)[-1:] == [last], 20, "the last line")
    elapsed = time.monotonic() - started
    lines = dom_lines(page)
    assert len(lines) == 19_999  # and the line the cursor is on: 20,000 line elements
    assert lines[0] == "80002 line of colored output"
    # Blocks of 200 lines (the first and the last may be shorter); those off screen are not
    # laid out (content-visibility).
    assert page.locator("#output-host .output > .b").count() in (100, 101)
    print(f"100,000 lines (5.3 MB) replayed and shown in {elapsed:.1f} s")
    assert elapsed < 15


def test_an_address_changed_while_the_page_loads_is_followed(
    dock: Dock, page: Page, workdir: Path
) -> None:
    """A link followed (or a hash typed) before the project list has arrived is not lost."""
    project = dock.project(str(workdir))
    session = dock.session(project["id"], "echo routed")
    held: list[Route] = []
    page.route("**/api/projects", lambda route: held.append(route))  # the list waits
    page.goto(f"{dock.server.url}/")
    pumped(page, lambda: held, message="the page asked for its projects")
    page.evaluate(f"location.hash = '#/p/{project['id']}/s/{session['id']}'")
    page.wait_for_timeout(200)  # its hashchange is handled while no project is known yet
    held[0].continue_()
    page.unroute("**/api/projects")
    page.wait_for_selector(f"#projects [data-id='{project['id']}'][aria-current='true']")
    wait_for_stream(page, "connected")
    assert page.evaluate("location.hash") == f"#/p/{project['id']}/s/{session['id']}"
