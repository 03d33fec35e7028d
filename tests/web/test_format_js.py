"""resources/web/format.js against desktop/format.py: the same string for every value, computed
by Chromium's JavaScript and by Python. The rules themselves are pinned by examples in
tests/desktop/test_format.py; here only agreement counts, over values chosen to find rounding
and carrying differences (ties, unit boundaries, large and tiny magnitudes, random values)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from desktop.format import format_cost, format_count, format_duration, session_cost
from tests.web.helpers import Dock

if TYPE_CHECKING:
    from playwright.sync_api import Page

FORMAT_JS = """async ({costs, durations, tokens, sessions}) => {
  const f = await import('/format.js');
  return {
    echo: {costs, durations, tokens},
    costs: costs.map((v) => f.formatCost(v)),
    durations: durations.map((v) => f.formatDuration(v)),
    tokens: tokens.map((v) => f.formatCount(v)),
    sessions: sessions.map((s) => f.sessionCost(s)),
  };
}"""


def log_uniform(rng: random.Random, low: float, high: float, count: int) -> list[float]:
    return [10 ** rng.uniform(low, high) for _ in range(count)]


def costs(rng: random.Random) -> list[float]:
    edges = [0, 0.0004, 0.0421, 1.5, 123.456, 0.00004, 0.00005, 0.000049999, 0.0049, 0.00495,
             0.004999, 0.005, 0.0095, 0.0096, 0.01, 0.995, 0.999, 9.995, 999.995, 1000,
             1_234_567.891, 1e12 + 0.005, 2**53 / 100, -0.0421, -0.00001]  # fmt: skip
    ties = [k / 8 for k in range(200)] + [k / 1000 + 0.005 for k in range(1000)]
    steps = [k * 0.00005 for k in range(300)] + [k * 0.005 for k in range(400)]
    return edges + ties + steps + log_uniform(rng, -7, 7, 3000)


def durations(rng: random.Random) -> list[float]:
    edges = [0, 0.4, 0.5, 0.49999, 950, 999.4, 999.5, 999.6, 1000, 12_345, 59_949, 59_950,
             59_999, 60_000, 75_000, 3_599_499, 3_599_500, 3_600_000, 7_200_000, 7_229_999,
             7_230_000, 86_400_000 * 45, -950]  # fmt: skip
    ties = [k * 50 for k in range(2000)] + [k * 500 + 0.5 for k in range(1000)]
    return edges + ties + [k * 30_000 for k in range(600)] + log_uniform(rng, -2, 10, 3000)


def tokens(rng: random.Random) -> list[float]:
    edges = [0, 1, 999, 1000, 12_345, 999_999, 1_000_000, 1_234_567, 2**53, 0.5, 1.5, 2.5, -7]
    return edges + [rng.randrange(10 ** rng.randrange(1, 13)) for _ in range(2000)]


def sessions() -> list[dict[str, Any]]:
    made = []
    for status in ("running", "exited", "imported"):
        for totals in ({"costUsd": 0, "turns": 0}, {"costUsd": 0, "turns": 2},
                       {"costUsd": 0.0421, "turns": 1}, {"costUsd": 0.0004, "turns": 0},
                       {"costUsd": None, "turns": 1}, {"costUsd": "1.5", "turns": 1},
                       {"costUsd": True, "turns": 1}, {"turns": 3}):  # fmt: skip
            made.append({"status": status, "agent": {"totals": totals}})
    return [*made, {"status": "exited", "agent": None}, {"status": "exited"}]


def mismatches(
    values: list[Any], python: Callable[[Any], str | None], javascript: list[str | None]
) -> list[str]:
    return [
        f"{value!r}: desktop {python(value)!r}, web {shown!r}"
        for value, shown in zip(values, javascript, strict=True)
        if python(value) != shown
    ]


def test_both_clients_format_every_value_alike(dock: Dock, page: Page) -> None:
    page.goto(dock.server.url + "/")
    rng = random.Random(11)
    values = {"costs": costs(rng), "durations": durations(rng), "tokens": tokens(rng)}
    shown = page.evaluate(FORMAT_JS, {**values, "sessions": sessions()})
    assert shown["echo"] == values  # the numbers reached the page unchanged
    wrong = (
        mismatches(values["costs"], format_cost, shown["costs"])
        + mismatches(values["durations"], format_duration, shown["durations"])
        + mismatches(values["tokens"], format_count, shown["tokens"])
        + mismatches(sessions(), session_cost, shown["sessions"])
    )
    assert not wrong, f"{len(wrong)} values differ:\n" + "\n".join(wrong[:30])
    # The values reach every branch of the rules, so agreement means something.
    assert {"$0.00", "<$0.0001", "$0.0004", "$0.04", "$1,234,567.89"} <= set(shown["costs"])
    assert {"0 ms", "950 ms", "12.3 s", "1 min", "1 min 15 s", "2 h", "2 h 1 min"} <= set(
        shown["durations"]
    )
    assert {"0", "1,000", "1,234,567"} <= set(shown["tokens"])
    assert None in shown["sessions"] and "$0.00" in shown["sessions"]
