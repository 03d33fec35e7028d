"""One corpus of agent events, two renderers, the same lines.

Each file of tests/fixtures/agent_events is rendered by desktop/agent.py (in-process, without
Qt) and by resources/web/agent.js (in Chromium, in the real page with its style sheet), and the
two are compared line by line. What a line is, on each side (docs/architecture.md, "How the
clients show an agent session"):

- desktop: each row's text (its spans), and under an operation with a diff the rows of that
  diff, as when every "show diff" link is open;
- web: the view's rendered text (``innerText``: what the page shows, as it would be copied),
  every operation with a diff open; other folds (tool results, thinking) stay closed, as they
  are on the desktop.

Blank lines are left out on both sides: they are spacing, which the desktop makes with empty
rows and the page with margins. Indentation, colors and the links or markers that open a fold
are each client's own and are not compared; every character of text is.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

import pytest

from desktop.agent import AgentRenderer, fold_rows, plain
from tests.agent_events import WORKDIR, Stored, load, names
from tests.web.helpers import Dock

if TYPE_CHECKING:
    from playwright.sync_api import Page

# Renders the events in a view of their own, opens every operation's diff (a diff is built when
# its <details> first opens, on the toggle event), then reads the view's text.
RENDER_JS = """async ({events, workingDir}) => {
  const {AgentView} = await import('/agent.js');
  document.querySelector('#parity')?.remove();
  const host = document.createElement('div');
  host.id = 'parity';
  host.style.cssText = 'position: fixed; inset: 0; z-index: 10; background: white';
  document.body.append(host);
  const view = new AgentView({workingDir});
  host.append(view.element);
  for (const [type, data] of events) view.add(type, data);
  view.flush();
  const diffs = [...view.element.querySelectorAll('details.a-op')];
  for (const details of diffs) details.open = true;
  for (let wait = 0; diffs.some((d) => !d.querySelector('pre.diff')); wait++) {
    if (wait > 100) throw new Error('a diff did not open');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return {text: view.element.innerText, diffs: diffs.length, dropped: view.dropped};
}"""


def desktop_lines(events: Stored) -> tuple[list[str], int]:
    """The desktop's lines, every diff open; and how many diffs there were."""
    lines: list[str] = []
    diffs = 0
    for row in AgentRenderer(cwd=WORKDIR).render([(kind, data) for _, kind, data in events]):
        lines.append(plain(row))
        if row.fold is not None and row.fold.kind == "diff":
            lines += [plain(diff_row) for diff_row in fold_rows(row.fold)]
            diffs += 1
    return [line for line in lines if line], diffs


def web_lines(page: Page, events: Stored) -> tuple[list[str], int]:
    """The page's lines, every diff open; and how many diffs there were."""
    shown: dict[str, Any] = page.evaluate(
        RENDER_JS,
        {"events": [[kind, data] for _, kind, data in events], "workingDir": WORKDIR},
    )
    assert shown["dropped"] == 0  # the whole corpus file is on the page
    return [line for line in shown["text"].split("\n") if line], shown["diffs"]


@pytest.mark.parametrize("name", names())
def test_both_clients_show_the_same_lines(dock: Dock, page: Page, name: str) -> None:
    page.goto(dock.server.url + "/")
    page.wait_for_selector("#app", state="visible")
    events = load(name)
    desktop, desktop_diffs = desktop_lines(events)
    web, web_diffs = web_lines(page, events)
    assert desktop, f"{name}: the desktop shows nothing"
    assert web_diffs == desktop_diffs
    if web != desktop:
        diff = difflib.unified_diff(desktop, web, "desktop/agent.py", "web agent.js", lineterm="")
        pytest.fail(f"{name}.json renders differently:\n" + "\n".join(diff), pytrace=False)
