"""Search (Ctrl+K) and export in the page, against a real backend and a real Chromium: results
follow the words as they are typed, grouped by project and session; opening a hit shows its
session at its event with the words highlighted; the session's files download."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.claude import FAKE_CLAUDE
from tests.server import Server, running_server
from tests.web.helpers import Dock, wait_for_stream, wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Page


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with running_server(tmp_path / "data", "--claude-path", str(FAKE_CLAUDE)) as srv:
        yield srv


def indexed(dock: Dock, q: str, count: int = 1) -> list[dict[str, Any]]:
    """The backend's hits for ``q``, once it has ``count`` of them."""

    def hits() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = dock.client.get("/api/search", params={"q": q}).json()["hits"]
        return found

    return wait_until(lambda: (h := hits()) and len(h) >= count and h, 10, f"hits for {q}")


def search(page: Page, text: str) -> None:
    page.keyboard.press("Control+k")
    page.wait_for_selector("#search[open]")
    page.fill("#search .search-input", text)


def highlighted(page: Page) -> list[str]:
    return list(page.evaluate("[...CSS.highlights.get('search-hit') ?? []].map(r => r.toString())"))


def test_a_word_in_a_terminal_is_found_and_shown_highlighted(
    dock: Dock, page: Page, workdir: Path
) -> None:
    project = dock.project(str(workdir))
    elsewhere = workdir.parent / "elsewhere"
    elsewhere.mkdir()
    other = dock.project(str(elsewhere))
    script = "echo 'unrelated output'; echo 'the build said ENOENT: no such file'; sleep 30"
    target = dock.session(project["id"], script, tty=True)
    dock.session(other["id"], "echo 'another ENOENT elsewhere'")
    indexed(dock, "ENOENT", 2)
    dock.open(page, other["id"])  # looking at another project
    # Ctrl+K from anywhere, even while a terminal has the keys.
    search(page, "noent")
    page.wait_for_selector("#search .search-hit >> nth=1")
    groups = page.locator("#search .search-project h3").all_inner_texts()
    assert sorted(groups) == sorted([project["name"], other["name"]])
    snippets = page.locator("#search .search-snippet").all_inner_texts()
    assert "the build said ENOENT: no such file" in snippets
    marks = page.locator("#search .search-snippet mark").all_inner_texts()
    assert set(marks) == {"NOENT"}
    # Arrow keys choose, Enter opens: the hit's session, in its project, with the word marked.
    index = snippets.index("the build said ENOENT: no such file")
    for _ in range(index):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_selector("#search:not([open])", state="attached")
    wait_for_stream(page, "connected")
    assert f"/s/{target['id']}" in page.url
    page.wait_for_selector(".term-find:not([hidden])")
    assert page.input_value(".term-find input") == "noent"
    wait_until(lambda: page.inner_text(".term-find-count") == "1 of 1", 5, "the match counted")


def test_a_conversation_opens_at_the_hit_with_the_words_highlighted(
    dock: Dock, page: Page, workdir: Path
) -> None:
    project = dock.project(str(workdir))
    session = dock.session(project["id"], kind="claude")
    for text in ["first question about pelicans", "tools please", "last one about zebras"]:
        response = dock.client.post(f"/api/session/{session['id']}/prompt", json={"command": text})
        assert response.status_code == 202
    hits = indexed(dock, "pelicans", 2)
    indexed(dock, "zebras", 2)
    dock.open(page, project["id"])
    search(page, '"about pelicans"')
    page.wait_for_selector("#search .search-hit")
    assert page.locator("#search .search-project h4").first.inner_text() == session["name"]
    answer = page.locator("#search .search-hit").first
    assert "You said: first question about pelicans" in answer.inner_text()
    answer.click()
    wait_for_stream(page, "connected")
    target = page.locator(".agent .search-target")
    target.wait_for()
    assert target.get_attribute("data-event") == str(hits[0]["eventId"])
    assert "first question about pelicans" in target.inner_text()
    assert highlighted(page) == ["about pelicans"]
    # Not following the end: the hit stays in sight.
    page.wait_for_selector("#follow:not([hidden])")
    # A search with nothing to look up says so, quietly.
    search(page, "ab")
    page.wait_for_selector("#search .search-status:has-text('three characters in a row')")
    assert page.locator("#search .search-hit").count() == 0
    page.keyboard.press("Escape")
    page.wait_for_selector("#search:not([open])", state="attached")


def test_a_session_downloads_as_each_format(dock: Dock, page: Page, workdir: Path) -> None:
    project = dock.project(str(workdir))
    session = dock.session(project["id"], "echo 'exported words'", tty=True)
    wait_until(
        lambda: dock.client.get(f"/api/session/{session['id']}").json()["status"] == "exited",
        10,
        "the session ends",
    )
    dock.open(page, project["id"], session["id"])
    for fmt in ("cast", "md", "txt", "jsonl"):
        with page.expect_download() as download:
            page.select_option("#export-session", fmt)
        saved = download.value
        assert saved.suggested_filename.endswith(f".{fmt}")
        content = Path(saved.path()).read_text()
        assert "exported words" in content, fmt
        assert page.input_value("#export-session") == ""  # back to "Export…"


PLAYER = Path(__file__).resolve().parents[1] / "fixtures" / "asciinema-player"


def test_the_cast_export_plays_in_asciinema_player(dock: Dock, page: Page, workdir: Path) -> None:
    """The real asciinema-player (tests/fixtures/asciinema-player) plays the export."""
    project = dock.project(str(workdir))
    script = "printf '\\033[1;32mgreen words\\033[0m plain\\n'; sleep 0.2; echo 'second line'"
    session = dock.session(project["id"], script, tty=True)
    wait_until(
        lambda: dock.client.get(f"/api/session/{session['id']}").json()["status"] == "exited",
        10,
        "the session ends",
    )
    # A page of the backend's own origin, so that the export's request carries the cookie.
    html = (
        f"<!DOCTYPE html><style>{(PLAYER / 'asciinema-player.css').read_text()}</style>"
        f"<script>{(PLAYER / 'asciinema-player.min.js').read_text()}</script>"
        '<body><div id="player"></div></body>'
    )
    url = f"{dock.server.url}/player-test.html"
    page.route(url, lambda route: route.fulfill(content_type="text/html", body=html))
    page.goto(url)
    page.evaluate(
        "src => { window.played = AsciinemaPlayer.create(src, document.getElementById('player'),"
        " {autoPlay: true, speed: 4}); }",
        f"/api/session/{session['id']}/export?format=cast",
    )
    page.wait_for_function(
        "document.getElementById('player').innerText.includes('second line')", timeout=10_000
    )
    text = page.inner_text("#player")
    assert "green words" in text and "plain" in text
    # In colour: the escape sequences went through as the program wrote them.
    red, green, blue = page.evaluate(
        "() => { const span = [...document.querySelectorAll('#player span')]"
        ".find(s => s.textContent.trim() === 'green words');"
        " return getComputedStyle(span).color.match(/\\d+/g).map(Number); }"
    )
    assert green > red and green > blue
    assert page.evaluate("played.getDuration()") >= 0.2  # times since the start, kept
