"""One corpus of agent events, two renderers, the same lines.

Each file of tests/fixtures/agent_events is rendered by desktop/agent.py (in-process, without
Qt) and by resources/web/agent.js (in Chromium, in the real page with its style sheet), and the
two are compared line by line. What a line is, on each side (docs/architecture.md, "How the
clients show an agent session"):

- desktop: each row's text (its spans), and under a row with a fold the rows of that fold, as
  when every link ("show diff", "show all", "show output") is open;
- web: the view's rendered text (``innerText``: what the page shows, as it would be copied),
  with every ``<details>`` open (diffs, thinking, tool results).

So the folded text is compared as closely as what shows at once: a diff's lines, the whole of a
thinking block, a tool's result (cut where both cut it, with the same note).

Blank lines are left out on both sides: they are spacing, which the desktop makes with empty
rows and the page with margins. Indentation, colors and the links or markers that open a fold
are each client's own and are not compared; every character of text is.
"""

from __future__ import annotations

import difflib
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest

from desktop.agent import AgentRenderer, fold_rows, plain
from tests.agent_events import WORKDIR, Stored, load, names
from tests.web.helpers import Dock

if TYPE_CHECKING:
    from playwright.sync_api import Page

# Renders the events in a view of their own, opens every fold (a fold's body is built when its
# <details> first opens, on the toggle event), then reads the view's text; and counts the folds
# of each kind.
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
  const folds = [...view.element.querySelectorAll('details')];
  for (const details of folds) details.open = true;
  for (let wait = 0; folds.some((d) => d.childElementCount < 2); wait++) {
    if (wait > 100) throw new Error('a fold did not open');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const count = (selector) => view.element.querySelectorAll(selector).length;
  const kinds = {
    diff: count('details.a-op'), thinking: count('details.a-thinking'),
    result: count('details.a-result'),
  };
  return {text: view.element.innerText, folds: folds.length, kinds, dropped: view.dropped};
}"""


def desktop_lines(events: Stored) -> tuple[list[str], Counter[str]]:
    """The desktop's lines, every fold open; and how many folds of each kind there were."""
    lines: list[str] = []
    folds: Counter[str] = Counter({"diff": 0, "thinking": 0, "result": 0})
    for row in AgentRenderer(cwd=WORKDIR).render([(kind, data) for _, kind, data in events]):
        lines.append(plain(row))
        if row.fold is not None:
            lines += [plain(fold_row) for fold_row in fold_rows(row.fold)]
            folds[row.fold.kind] += 1
    return [line for line in lines if line], folds


def web_lines(page: Page, events: Stored) -> tuple[list[str], Counter[str]]:
    """The page's lines, every fold open; and how many folds of each kind there were."""
    shown: dict[str, Any] = page.evaluate(
        RENDER_JS,
        {"events": [[kind, data] for _, kind, data in events], "workingDir": WORKDIR},
    )
    assert shown["dropped"] == 0  # the whole corpus file is on the page
    assert shown["folds"] == sum(shown["kinds"].values())  # no fold of a kind not known here
    return [line for line in shown["text"].split("\n") if line], Counter(shown["kinds"])


@pytest.mark.parametrize("name", names())
def test_both_clients_show_the_same_lines(dock: Dock, page: Page, name: str) -> None:
    page.goto(dock.server.url + "/")
    page.wait_for_selector("#app", state="visible")
    events = load(name)
    desktop, desktop_folds = desktop_lines(events)
    web, web_folds = web_lines(page, events)
    assert desktop, f"{name}: the desktop shows nothing"
    assert web_folds == desktop_folds
    if web != desktop:
        diff = difflib.unified_diff(desktop, web, "desktop/agent.py", "web agent.js", lineterm="")
        pytest.fail(f"{name}.json renders differently:\n" + "\n".join(diff), pytrace=False)
