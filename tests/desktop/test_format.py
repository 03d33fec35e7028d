"""The rules of docs/architecture.md, "Costs, durations and token counts", by example (the web's
format.js is held to the same strings by tests/web/test_format_js.py)."""

from __future__ import annotations

import pytest

from desktop.format import format_cost, format_count, format_duration, number, session_cost


@pytest.mark.parametrize(
    ("usd", "shown"),
    [
        (0, "$0.00"),
        (0.00004, "<$0.0001"),
        (0.00005, "$0.0001"),
        (0.0004, "$0.0004"),
        (0.002, "$0.002"),  # no trailing zeros
        (0.0049, "$0.0049"),
        (0.00499, "$0.005"),
        (0.005, "$0.01"),  # half a cent rounds up to a cent
        (0.0421, "$0.04"),
        (0.125, "$0.13"),  # ties round up, in both clients
        (0.995, "$1.00"),
        (1.5, "$1.50"),
        (123.456, "$123.46"),
        (1234.5, "$1,234.50"),
        (1_234_567.891, "$1,234,567.89"),
    ],
)
def test_costs(usd: float, shown: str) -> None:
    assert format_cost(usd) == shown


@pytest.mark.parametrize(
    ("ms", "shown"),
    [
        (0, "0 ms"),
        (950, "950 ms"),
        (999.5, "1.0 s"),
        (12_345, "12.3 s"),
        (59_949, "59.9 s"),
        (59_950, "1 min"),  # 60.0 s carries into the next unit
        (75_000, "1 min 15 s"),
        (3_599_500, "1 h"),
        (7_200_000, "2 h"),
        (7_500_000, "2 h 5 min"),
        (86_400_000 * 45, "1,080 h"),
    ],
)
def test_durations(ms: float, shown: str) -> None:
    assert format_duration(ms) == shown


def test_token_counts() -> None:
    assert [format_count(n) for n in (0, 1, 476, 12_345, 1_234_567)] == [
        "0", "1", "476", "12,345", "1,234,567",
    ]  # fmt: skip


def test_only_finite_numbers_are_numbers() -> None:
    assert [number(v) for v in (0, 1.5, True, None, "1", float("nan"), float("inf"))] == [
        0.0, 1.5, None, None, None, None, None,
    ]  # fmt: skip


def test_a_session_cost_is_shown_once_it_is_known() -> None:
    def cost(status: str, **totals: object) -> str | None:
        return session_cost({"status": status, "agent": {"totals": totals}})

    assert cost("running", costUsd=0.0421, turns=1) == "$0.04"
    assert cost("running", costUsd=0, turns=0) is None  # no turn yet
    assert cost("exited", costUsd=0, turns=1) == "$0.00"  # a turn that cost nothing
    assert cost("imported", costUsd=0, turns=3) is None  # history files hold no costs
    assert cost("imported", costUsd=1.234, turns=4) == "$1.23"
    assert cost("running", costUsd=None, turns=1) is None
    assert session_cost({"status": "exited", "agent": None}) is None
