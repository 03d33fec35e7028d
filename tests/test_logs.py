"""The log throttle (backend/logs.py), with a clock the test moves."""

from __future__ import annotations

import itertools
import logging

from backend.logs import MAX_INTERVAL, Throttle


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def record(msg: str, level: int = logging.ERROR, name: str = "aiohttp.server") -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, ("127.0.0.1",), None)


def test_one_warning_per_second_per_template_and_the_next_says_how_many() -> None:
    clock = Clock()
    throttle = Throttle(clock=clock)
    passed = [throttle.filter(record("Error handling request from %s")) for _ in range(1000)]
    assert passed.count(True) == 1
    assert throttle.filter(record("another template %s"))  # its own allowance
    assert throttle.filter(record("Error handling request from %s", name="backend"))
    assert all(throttle.filter(record("x %s", logging.INFO)) for _ in range(10))  # info passes

    clock.now += 1.0
    next_one = record("Error handling request from %s")
    assert throttle.filter(next_one)
    assert next_one.getMessage() == (
        "Error handling request from 127.0.0.1 [and 999 more like this in 1 s]"
    )


def test_the_wait_doubles_while_the_flood_goes_on_and_resets_after() -> None:
    clock = Clock()
    throttle = Throttle(clock=clock)
    passed_at = []
    for _ in range(300 * 10):  # ten a second for five minutes
        if throttle.filter(record("flood %s")):
            passed_at.append(clock.now)
        clock.now += 0.1
    gaps = [round(b - a) for a, b in itertools.pairwise(passed_at)]
    assert gaps[:6] == [1, 2, 4, 8, 16, 32] and set(gaps[6:]) == {MAX_INTERVAL}

    clock.now += 10 * MAX_INTERVAL  # quiet
    assert throttle.filter(record("flood %s"))
    clock.now += 1.0
    assert throttle.filter(record("flood %s"))  # back to one a second
