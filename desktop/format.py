"""How the desktop app shows money, time and counts: costs, durations, token and line counts.

The rules are in docs/architecture.md ("Costs, durations and token counts");
``resources/web/format.js`` implements the same rules for the web UI, and
``tests/web/test_format_js.py`` holds the two to each other over many values.

Each number is rounded once, to the whole units it is shown in, by ``floor(x * scale + 0.5)``
on doubles: Python and JavaScript compute that alike, bit for bit, whereas their own float
formatting does not round ties alike (``f"{0.125:.2f}"`` is 0.12, ``(0.125).toFixed(2)`` 0.13).
The strings are then built from integers.
"""

from __future__ import annotations

import math
from typing import Any

MINUS = "-"


def number(value: object) -> float | None:
    """A finite number from the wire, or None (for null, a string, a boolean, NaN…)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _units(value: float, scale: int) -> int:
    # float() first: an int beyond 2**53 would be rounded differently than JavaScript does.
    return math.floor(float(value) * scale + 0.5)


def _grouped(count: int) -> str:
    return f"{count:,}"


def format_cost(usd: float) -> str:
    """``$0.04``, ``$1.50``, ``$1,234.50``; under half a cent in ten-thousandths of a dollar
    (``$0.0004``, ``$0.002``), and ``<$0.0001`` below that, so that a cost never reads as free;
    ``$0.00`` for a cost of nothing."""
    if usd < 0:
        return MINUS + format_cost(-usd)
    cents = _units(usd, 100)
    if cents >= 1 or usd == 0:
        return f"${_grouped(cents // 100)}.{cents % 100:02d}"
    ten_thousandths = _units(usd, 10_000)
    if ten_thousandths < 1:
        return "<$0.0001"
    return "$0." + f"{ten_thousandths:04d}".rstrip("0")


def format_duration(ms: float) -> str:
    """``950 ms``, ``12.3 s``, ``1 min 15 s``, ``2 h``, ``2 h 5 min``: two units at most, the
    smaller one left out when it is zero."""
    if ms < 0:
        return MINUS + format_duration(-ms)
    if _units(ms, 1) < 1000:
        return f"{_units(ms, 1)} ms"
    tenths = _units(float(ms) / 100, 1)
    if tenths < 600:
        return f"{tenths // 10}.{tenths % 10} s"
    seconds = _units(float(ms) / 1000, 1)
    if seconds < 3600:
        return _two_units(seconds // 60, "min", seconds % 60, "s")
    minutes = _units(float(ms) / 60_000, 1)
    return _two_units(minutes // 60, "h", minutes % 60, "min")


def _two_units(big: int, big_unit: str, small: int, small_unit: str) -> str:
    head = f"{_grouped(big)} {big_unit}"
    return f"{head} {small} {small_unit}" if small else head


def format_count(count: float) -> str:
    """``476``, ``12,345``: a count (of tokens, of lines) as a whole number with comma
    thousands separators."""
    if count < 0:
        return MINUS + format_count(-count)
    return _grouped(_units(count, 1))


def session_cost(session: dict[str, Any]) -> str | None:
    """A session's total cost as the session lists show it, or None while it is unknown: a
    session with no turn yet has none, and Claude Code's history files mostly hold no costs,
    so an imported $0 is an unknown, not a fact."""
    agent = session.get("agent")
    totals = agent.get("totals") if isinstance(agent, dict) else None
    if not isinstance(totals, dict):
        return None
    cost = number(totals.get("costUsd"))
    if cost is None:
        return None
    turns = number(totals.get("turns"))
    if cost > 0 or (turns and session.get("status") != "imported"):
        return format_cost(cost)
    return None
