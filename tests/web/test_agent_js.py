"""resources/web/agent.js on its own: the events of an agent session, as docs/api.md describes
them, rendered in Chromium (the page end to end, with a fake `claude`, is in test_agent_page.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.web.helpers import Dock

if TYPE_CHECKING:
    from playwright.sync_api import Page

PROMPT = "\u276f"  # the mark before the user's prompts
MINUS = "\u2212"  # the minus sign of a diff's line counts

WORKDIR = "/home/me/app"

# Mounts a view in a host of its own, feeds it events and renders them at once.
MOUNT_JS = """async ({events, options}) => {
  const {AgentView} = await import('/agent.js');
  document.querySelector('#agent-test')?.remove();
  const host = document.createElement('div');
  host.id = 'agent-test';
  host.style.cssText = 'position: fixed; inset: 0; z-index: 10; background: white';
  document.body.append(host);
  const view = new AgentView(options);
  host.append(view.element);
  for (const [type, data] of events) view.add(type, data);
  view.flush();
  globalThis.agentView = view;
  return {items: view.items, dropped: view.dropped, described: view.describe(), chars: view.chars};
}"""

DIFF = (
    "--- a/home/me/app/src/app.py\n+++ b/home/me/app/src/app.py\n@@ -1,3 +1,3 @@\n"
    " import os\n-print('old')\n+print('new')\n context\n"
)

EVENTS: list[tuple[str, dict[str, Any]]] = [
    ("prompt", {"command": "fix the <b>bug</b>", "timestamp": 1}),
    ("prompt", {"command": "then run the tests", "queued": True, "position": 2}),
    ("raw", {"line": {"type": "system", "subtype": "init", "session_id": "7f0c"}}),
    ("status", {"status": "running", "agent": {"state": "working", "queued": 1}}),
    ("output", {"type": "thinking", "content": "Let me look at the file first.\nThen edit."}),
    ("output", {"type": "assistant", "content": "I'll fix <b>it</b>.\n\n  indented line"}),
    (
        "operations-detected",
        {
            "operations": [
                {
                    "tool": "Read",
                    "type": "read",
                    "toolUseId": "t1",
                    "path": f"{WORKDIR}/src/app.py",
                },
                {
                    "tool": "Edit",
                    "type": "edit",
                    "toolUseId": "t2",
                    "path": f"{WORKDIR}/src/app.py",
                    "diff": DIFF,
                },
                {
                    "tool": "Write",
                    "type": "write",
                    "toolUseId": "t3",
                    "path": "/etc/other.txt",
                    "diff": "--- /dev/null\n+++ b/etc/other.txt\n@@ -0,0 +1,1 @@\n+x\n",
                    "truncated": True,
                },
                {
                    "tool": "Bash",
                    "type": "bash",
                    "toolUseId": "t4",
                    "command": "npm test\n--watch=false",
                },
                {
                    "tool": "Bash",
                    "type": "delete",
                    "toolUseId": "t5",
                    "command": "rm old.txt",
                    "path": "old.txt",
                },
                {"tool": "TodoWrite", "type": "<img src=x>", "toolUseId": "t6"},
            ],
            "response": "I'll fix it.",
        },
    ),
    (
        "output",
        {
            "type": "tool-result",
            "content": "line 1\nline 2\nline 3",
            "toolUseId": "t1",
            "tool": "Read",
            "isError": False,
        },
    ),
    (
        "output",
        {
            "type": "tool-result",
            "content": "npm ERR! missing script: test",
            "toolUseId": "t4",
            "tool": "Bash",
            "isError": True,
        },
    ),
    (
        "output",
        {"type": "tool-result", "content": "", "toolUseId": "t5", "tool": "Bash", "isError": False},
    ),
    ("output", {"type": "stderr", "content": "warning: something on stderr"}),
    (
        "status",
        {
            "status": "running",
            "agent": {"state": "idle", "queued": 0},
            "turn": {
                "costUsd": 0.0421,
                "outputTokens": 476,
                "durationMs": 12345,
                "isError": False,
                "subtype": "success",
                "interrupted": False,
            },
            "totals": {"costUsd": 0.0421},
        },
    ),
    ("status", {"status": "running", "turn": {"interrupted": True, "durationMs": 3200}}),
    (
        "status",
        {
            "status": "running",
            "turn": {"costUsd": 0.01, "isError": True, "subtype": "error_max_turns"},
        },
    ),
    ("error", {"message": "malformed line from claude", "line": "{not json"}),
]


def mount(page: Page, events: list[Any], **options: int) -> dict[str, Any]:
    """The view's counts once ``events`` are shown (options: maxItems, maxChars)."""
    options = {"maxItems": 2000, **options}
    result: dict[str, Any] = page.evaluate(
        MOUNT_JS, {"events": events, "options": {**options, "workingDir": WORKDIR}}
    )
    return result


def texts(page: Page, selector: str) -> list[str]:
    return page.locator(f"#agent-test {selector}").all_inner_texts()


def test_every_kind_of_event_reads_as_it_should(dock: Dock, page: Page) -> None:
    page.goto(dock.server.url + "/")
    page.wait_for_selector("#app", state="visible")
    info = mount(page, EVENTS)
    # raw and a turn's start show nothing; each operation is an entry of its own
    assert info["items"] == 18, info

    assert texts(page, ".a-prompt") == [
        f"{PROMPT} fix the <b>bug</b>",
        f"{PROMPT} then run the tests  queued #2",
    ]
    assert page.locator("#agent-test b").count() == 0  # text stays text
    [text] = page.locator("#agent-test .a-text").all()
    assert text.text_content() == "I'll fix <b>it</b>.\n\n  indented line"
    assert text.evaluate("e => getComputedStyle(e).whiteSpace") == "pre-wrap"

    thinking = page.locator("#agent-test .a-thinking")
    assert thinking.evaluate("e => e.open") is False
    assert "Let me look at the file first." in thinking.inner_text()
    assert "Then edit." not in thinking.inner_text()  # the rest is folded away

    assert texts(page, ".a-op") == [
        "● Read  src/app.py",  # inside the session's folder: relative
        f"● Edit  src/app.py  +1 {MINUS}1",
        f"● Write  /etc/other.txt  +1 {MINUS}0  (truncated)",
        "● Bash  npm test …",
        "● Bash  rm old.txt",
        "● TodoWrite",
    ]
    # The mark is colored by the operation's type, which it names on hover; an unknown type is
    # "other", never a class name from the data.
    assert page.locator("#agent-test .a-op.t-other").count() == 1
    marks = page.locator("#agent-test .a-op .op-mark")
    assert marks.evaluate_all("ms => ms.map(m => m.title)") == [
        "read", "edit", "write", "bash", "delete", "other",
    ]  # fmt: skip
    delete = page.locator("#agent-test .a-op.t-delete .op-mark")
    assert delete.evaluate("e => getComputedStyle(e).color") == "rgb(207, 34, 46)"
    bash = page.locator("#agent-test .a-op.t-bash")
    assert bash.get_attribute("title") == "npm test\n--watch=false"  # the whole command

    # The diff is built on first opening, colored by line kind.
    edit = page.locator("#agent-test details.a-op.t-edit")
    assert edit.locator("pre.diff").count() == 0
    edit.locator("summary").click()
    diff = edit.locator("pre.diff")
    diff.wait_for()
    assert diff.inner_text().splitlines() == DIFF.splitlines()
    assert diff.locator(".d-del").all_text_contents() == ["-print('old')"]
    assert diff.locator(".d-add").all_text_contents() == ["+print('new')"]
    assert diff.locator(".d-hunk").all_text_contents() == ["@@ -1,3 +1,3 @@"]
    assert diff.locator(".d-file").count() == 2
    red = diff.locator(".d-del").evaluate("e => getComputedStyle(e).color")
    green = diff.locator(".d-add").evaluate("e => getComputedStyle(e).color")
    assert red == "rgb(207, 34, 46)" and green == "rgb(26, 127, 55)", (red, green)
    write = page.locator("#agent-test details.a-op.t-write")
    write.locator("summary").click()
    assert write.locator("pre.diff").inner_text().endswith("(truncated)")

    results = page.locator("#agent-test .a-result")
    assert [" ".join(r.split()) for r in results.all_inner_texts()] == [
        "↳ Read: line 1 (3 lines)",
        "↳ Bash: npm ERR! missing script: test",
        "↳ Bash: (no output)",
    ]
    error_result = page.locator("#agent-test .a-result.error")
    assert error_result.evaluate("e => getComputedStyle(e).color") == "rgb(207, 34, 46)"
    first = results.first
    first.locator("summary").click()
    assert first.locator("pre.body").inner_text() == "line 1\nline 2\nline 3"

    assert texts(page, ".a-stderr") == ["warning: something on stderr"]
    assert texts(page, ".a-turn") == [
        "turn: $0.04 · 476 tokens out · 12.3 s",
        "turn interrupted: 3.2 s",
        "turn failed (error_max_turns): $0.01",
    ]
    assert page.locator("#agent-test .a-turn.error").count() == 1
    assert texts(page, ".a-error") == ["error: malformed line from claude  (line: {not json)"]


def test_the_dom_keeps_the_last_entries(dock: Dock, page: Page) -> None:
    page.goto(dock.server.url + "/")
    page.wait_for_selector("#app", state="visible")
    events = [("output", {"type": "assistant", "content": f"text {n}"}) for n in range(1, 501)]
    info = mount(page, events, maxItems=100)
    assert info == {
        "items": 100,
        "dropped": 400,
        "described": "100 entries · 400 older not shown",
        "chars": 100 * len("text 401"),
    }
    shown = texts(page, ".a-text")
    assert shown[0] == "text 401" and shown[-1] == "text 500" and len(shown) == 100

    # Later batches push the oldest out, one batch at a time.
    page.evaluate(
        "() => { for (let n = 501; n <= 530; n++)"
        " agentView.add('output', {type: 'assistant', content: `text ${n}`});"
        " agentView.flush(); }"
    )
    shown = texts(page, ".a-text")
    assert shown[0] == "text 431" and shown[-1] == "text 530" and len(shown) == 100
    assert page.evaluate("agentView.dropped") == 430
    # In blocks of 50 (the full ones off screen are not laid out), none empty, in order.
    blocks = page.evaluate(
        "[...agentView.element.children].map(b => [b.className, b.childElementCount])"
    )
    assert {name for name, _ in blocks} == {"a-block"}
    assert all(0 < size <= 50 for _, size in blocks) and sum(s for _, s in blocks) == 100
    assert [size for _, size in blocks][1:-1] == [50] * (len(blocks) - 2)

    # A long text is cut, with a note of how much.
    long = "x" * 150_000
    mount(page, [("output", {"type": "assistant", "content": long})])
    [shown_long] = texts(page, ".a-text")
    assert shown_long.startswith("x" * 100_000)
    assert shown_long.endswith("(50,000 more characters not shown)")


# 100 tool results and 20 thinking blocks of 256 KB, 20 diffs of 64 KiB: as big as the backend
# sends them (MAX_RESULT_CHARS, MAX_DIFF_CHARS in backend/claude/transcript.py). Each text is a
# string of its own, as the stream's JSON.parse makes them; none stays reachable but through the
# view.
BIG_EVENTS_JS = """async ({results, thinking, diffs}) => {
  const {AgentView} = await import('/agent.js');
  const host = document.createElement('div');
  host.id = 'agent-test';
  host.style.cssText = 'position: fixed; inset: 0; z-index: 10; background: white';
  document.body.append(host);
  const view = new AgentView({maxItems: 2000});
  host.append(view.element);
  globalThis.agentView = view;
  const own = (text) => JSON.parse(JSON.stringify(text));
  const long = 'a line of a long tool result, 64 characters long, or very near\\n'.repeat(4096);
  let diff = '--- a/big.txt\\n+++ b/big.txt\\n@@ -1,2000 +1,2000 @@\\n';
  for (let n = 0; diff.length < 64 * 1024; n++) diff += `-old line ${n}\\n+new line ${n}\\n`;
  diff = diff.slice(0, 64 * 1024);
  for (let n = 0; n < results; n++) {
    view.add('output', {type: 'tool-result', tool: 'Read', content: own(`result ${n}\\n${long}`)});
  }
  for (let n = 0; n < thinking; n++) view.add('output', {type: 'thinking', content: own(long)});
  const edit = (n) => ({tool: 'Edit', type: 'edit', path: `/big${n}.txt`, diff: own(diff)});
  const operations = Array.from({length: diffs}, (_, n) => ({...edit(n), truncated: true}));
  view.add('operations-detected', {operations});
  view.flush();
  return {items: view.items, chars: view.chars, longChars: long.length, diffChars: diff.length};
}"""


def test_folded_entries_keep_their_cut_text_only(dock: Dock, page: Page) -> None:
    """Closed, a folded entry keeps what it would show when opened, not the event's text: the
    view's own count says so, and so does the page's heap once garbage is collected."""
    page.goto(dock.server.url + "/")
    page.wait_for_selector("#app", state="visible")
    page.evaluate("import('/agent.js')")
    cdp = page.context.new_cdp_session(page)

    def heap() -> int:
        cdp.send("HeapProfiler.collectGarbage")
        return int(cdp.send("Runtime.getHeapUsage")["usedSize"])

    before = heap()
    info = page.evaluate(BIG_EVENTS_JS, {"results": 100, "thinking": 20, "diffs": 20})
    retained = heap() - before
    assert info["items"] == 140
    long = info["longChars"]
    sent = 100 * long + 20 * long + 20 * info["diffChars"]  # 33 MB
    result_note = len(f"\n({len('result 99') + 1 + long - 20_000:,} more characters not shown)")
    thinking_note = len(f"\n({long - 100_000:,} more characters not shown)")
    most = 100 * (20_000 + result_note) + 20 * (100_000 + thinking_note) + 20 * 20_000
    # The cut texts (4.4 MB, a byte a character) and the DOM; not the 33 MB sent.
    assert retained < 12_000_000, f"{retained:,} bytes kept of {sent:,} characters sent"
    assert 100 * 20_000 + 20 * 100_000 <= info["chars"] <= most, info

    # Opened, each shows the same cut text as before.
    result = page.locator("#agent-test .a-result").first
    assert " ".join(result.inner_text().split()) == "↳ Read: result 0 (1,000+ lines)"
    result.locator("summary").click()
    body = result.locator("pre.body").inner_text()
    assert body.startswith("result 0\na line of a long tool result")
    assert body.endswith(f"\n({long + len('result 0') + 1 - 20_000:,} more characters not shown)")
    edit = page.locator("#agent-test details.a-op.t-edit").first
    assert " ".join(edit.locator("summary").inner_text().split()).endswith("(truncated)")
    edit.locator("summary").click()
    edit.locator("pre.diff").wait_for()
    lines = edit.locator("pre.diff span").all_inner_texts()
    assert lines[:3] == ["--- a/big.txt", "+++ b/big.txt", "@@ -1,2000 +1,2000 @@"]
    assert lines[-1] == "(truncated)"
    assert sum(len(line) + 1 for line in lines[:-1]) <= 20_000


def test_a_view_keeps_at_most_max_chars(dock: Dock, page: Page) -> None:
    page.goto(dock.server.url + "/")
    page.wait_for_selector("#app", state="visible")
    text = "x" * 19_995
    events = [("output", {"type": "assistant", "content": f"{n:05d}{text}"}) for n in range(30)]
    info = mount(page, events, maxChars=250_000)
    assert info == {
        "items": 12,
        "dropped": 18,
        "described": "12 entries · 18 older not shown",
        "chars": 240_000,
    }
    assert texts(page, ".a-text")[0].startswith("00018x")
    page.evaluate(
        "t => { agentView.add('output', {type: 'assistant', content: `00030${t}`});"
        " agentView.flush(); }",
        text,
    )
    assert page.evaluate("[agentView.items, agentView.dropped, agentView.chars]") == [
        12,
        19,
        240_000,
    ]
    assert texts(page, ".a-text")[0].startswith("00019x")
    # An entry longer than the bound on its own is still shown.
    info = mount(page, [("output", {"type": "assistant", "content": "y" * 30_000})], maxChars=10)
    assert (info["items"], info["dropped"], info["chars"]) == (1, 0, 30_000)


def test_diff_headers_are_only_those_before_the_first_hunk(dock: Dock, page: Page) -> None:
    """A removed line "-- x" reads "--- x" in the diff, an added "++ y" reads "+++ y": lines,
    not file headers, once the hunks have begun."""
    page.goto(dock.server.url + "/")
    page.wait_for_selector("#app", state="visible")
    diff = (
        "--- a/q.sql\n+++ b/q.sql\n@@ -1,3 +1,3 @@\n select 1;\n"
        "--- an old comment\n+++ a new one\n-x\n+y\n"
    )
    operation = {"tool": "Edit", "type": "edit", "path": f"{WORKDIR}/q.sql", "diff": diff}
    mount(page, [("operations-detected", {"operations": [operation]})])
    assert texts(page, ".a-op") == [f"● Edit  q.sql  +2 {MINUS}2"]
    page.locator("#agent-test details.a-op summary").click()
    pre = page.locator("#agent-test pre.diff")
    pre.wait_for()
    assert pre.locator(".d-file").all_inner_texts() == ["--- a/q.sql", "+++ b/q.sql"]
    assert pre.locator(".d-del").all_inner_texts() == ["--- an old comment", "-x"]
    assert pre.locator(".d-add").all_inner_texts() == ["+++ a new one", "+y"]


def test_a_results_line_count_stops_at_a_thousand(dock: Dock, page: Page) -> None:
    page.goto(dock.server.url + "/")
    page.wait_for_selector("#app", state="visible")
    contents = [
        "one\ntwo\n\n \n",
        "\n".join(["line"] * 999),
        "\n".join(["line"] * 1000) + "\n",
        "\n".join(["line"] * 1001),
        "x\n" * 50_000,
    ]
    events = [("output", {"type": "tool-result", "content": c, "tool": "Bash"}) for c in contents]
    mount(page, events)
    assert texts(page, ".a-result .more") == [
        "  (2 lines)",
        "  (999 lines)",
        "  (1,000 lines)",
        "  (1,000+ lines)",
        "  (1,000+ lines)",
    ]


def test_prose_gets_light_markup_and_stays_text(dock: Dock, page: Page) -> None:
    page.goto(dock.server.url + "/")
    page.wait_for_selector("#app", state="visible")
    content = (
        "\n# Plan\nRead `src/app.py`, fix **the <b>bug</b>**.\n\n"
        "```python\nx = `1`  # **no**\n```\n"
    )
    mount(page, [("output", {"type": "assistant", "content": content})])
    [text] = page.locator("#agent-test .a-text").all()
    # Fences and markers go, the line breaks stay: the same lines as the desktop's.
    assert text.inner_text() == "Plan\nRead src/app.py, fix the <b>bug</b>.\n\nx = `1`  # **no**"
    assert text.locator(".md-heading").all_inner_texts() == ["Plan"]
    assert text.locator("code").all_inner_texts() == ["src/app.py"]
    assert text.locator("strong").all_inner_texts() == ["the <b>bug</b>"]
    assert text.locator("b").count() == 0  # text stays text
    assert text.locator(".md-code").all_inner_texts() == ["x = `1`  # **no**"]
    mono = text.locator(".md-code").evaluate("e => getComputedStyle(e).fontFamily")
    assert "mono" in mono.lower(), mono


def test_thinking_of_one_line_has_nothing_to_fold(dock: Dock, page: Page) -> None:
    page.goto(dock.server.url + "/")
    page.wait_for_selector("#app", state="visible")
    events = [
        ("output", {"type": "thinking", "content": "Only this."}),
        ("output", {"type": "thinking", "content": "\n  First\tline.\nSecond line.\n"}),
    ]
    mount(page, events)
    assert texts(page, ".a-thinking") == ["thinking  Only this.", "thinking  First line."]
    assert page.locator("#agent-test div.a-thinking").count() == 1
    folded = page.locator("#agent-test details.a-thinking")
    folded.locator("summary").click()
    assert folded.locator(".body").inner_text() == "\n  First\tline.\nSecond line.\n"


def test_every_way_a_session_ends_says_how(dock: Dock, page: Page) -> None:
    page.goto(dock.server.url + "/")
    page.wait_for_selector("#app", state="visible")
    ends = [
        {"status": "exited", "exitCode": 0},
        {"status": "failed", "exitCode": 3},
        {"status": "failed", "exitCode": -9, "signal": "SIGKILL"},
        {"status": "stopped", "exitCode": -15, "signal": "SIGTERM"},
        {"status": "interrupted"},
        {"status": "running"},  # a turn starts: nothing
    ]
    mount(page, [("status", data) for data in ends])
    assert texts(page, ".a-end") == [
        "session exited",
        "session failed (exit code 3)",
        "session failed (SIGKILL)",
        "session stopped (SIGTERM)",
        "session interrupted",
    ]
    assert page.locator("#agent-test .a-end.error").count() == 2
    assert page.locator("#agent-test .a-end.interrupted").count() == 2
