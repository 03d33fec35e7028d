"""Where a line's time goes: stage times of benchmark output, for ``bench/breakdown.py``.

Off (``TRACE is None``) unless the backend starts with ``SESSIONDOCK_TRACE`` naming a file.
Then, for each output event that holds a line of the benchmark's generator marked as sampled
(``@!`` and its CLOCK_MONOTONIC write time in ns, see ``bench/generator.py``), the backend
notes when the event reached each stage of its path, on the same clock:

    written  the generator wrote the line (from the line itself)
    read     the backend read the chunk holding it
    emitted  the coalescer handed the event on (its window closed)
    batched  the store's writer began the transaction holding it
    committed  that transaction committed
    loop     the commit was back on the event loop
    published  the bus had offered it to every subscriber
    writes   per client stream: when its writer took it, and when the write returned

and the garbage collector's pauses (``gc`` lines: generation, start, end), and writes them as
JSON lines to that file when the backend exits. When off, each stage costs
one test of a module global.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import time
from typing import Any

MARK = b"@!"  # a sampled line: "@!" and 20 digits of ns


class Tracer:
    def __init__(self, path: str) -> None:
        self.path = path
        self.records: dict[tuple[str, int], dict[str, Any]] = {}
        self._emitting: list[dict[str, Any]] | None = None
        self.collections: list[tuple[int, int, int]] = []  # the collector's pauses
        self._collecting = 0
        gc.callbacks.append(self._collector)

    def _collector(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._collecting = time.monotonic_ns()
        else:
            self.collections.append((self._collecting, time.monotonic_ns(), info["generation"]))

    @staticmethod
    def sampled(data: bytes) -> list[dict[str, Any]]:
        """The sampled lines in a chunk just read."""
        found: list[dict[str, Any]] = []
        at = data.find(MARK)
        if at < 0:
            return found
        now = time.monotonic_ns()
        while at >= 0:
            digits = data[at + 2 : at + 22]
            if len(digits) == 20 and digits.isdigit():
                found.append({"written": int(digits), "read": now})
            at = data.find(MARK, at + 22)
        return found

    def emitting(self, lines: list[dict[str, Any]]) -> None:
        """A coalescer hands on an event holding ``lines``: the next output event appended."""
        now = time.monotonic_ns()
        for line in lines:
            line["emitted"] = now
        self._emitting = lines

    def appended(self, session_id: str, seq: int, kind: str) -> None:
        if self._emitting is not None and kind == "output":
            for n, line in enumerate(self._emitting):
                self.records[(session_id, seq * 1000 + n)] = line
            self._emitting = None

    def mark(self, session_id: str, seq: int, stage: str) -> None:
        """Any thread: the event reached ``stage``."""
        now = time.monotonic_ns()
        n = 0
        while (line := self.records.get((session_id, seq * 1000 + n))) is not None:
            line[stage] = now
            n += 1

    def wrote(self, session_id: str, seqs: list[int], taken: int) -> None:
        """A client's writer took events at ``taken`` and its write returned now."""
        now = time.monotonic_ns()
        for seq in seqs:
            n = 0
            while (line := self.records.get((session_id, seq * 1000 + n))) is not None:
                line.setdefault("writes", []).append((taken, now))
                n += 1

    def dump(self) -> None:
        with open(self.path, "w") as out:
            for start, end, generation in self.collections:
                out.write(json.dumps({"gc": generation, "start": start, "end": end}) + "\n")
            # (list() copies at once: the writer's thread may still be marking)
            for (session_id, key), line in list(self.records.items()):
                out.write(json.dumps({"session": session_id, "seq": key // 1000, **line}) + "\n")


def _start() -> Tracer | None:
    path = os.environ.get("SESSIONDOCK_TRACE")
    if not path:
        return None
    tracer = Tracer(path)
    atexit.register(tracer.dump)
    return tracer


TRACE = _start()
