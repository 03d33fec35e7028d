"""What a benchmark run measures (full or quick), its targets, and what it collects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fanout import FanoutRun
from memory import MemoryRun
from replay import ReplayRun
from throughput import ThroughputRun

SCENARIOS = ("fanout", "latency", "replay", "memory", "throughput")
LATENCY_LOAD = 10_000  # deliveries per second

# Targets, as docs/benchmarks.md states them.
MIN_DELIVERIES = 100_000
MAX_P99_MS = 5.0
MAX_REPLAY_MS = 200.0
MAX_IDLE_KB = 25.0
MIN_RATIO = 1.5


@dataclass(frozen=True)
class Plan:
    name: str
    repeats: int
    warmup: float
    window: float
    fanout_clients: tuple[int, ...]
    offered: float  # deliveries/s offered in each fan-out run (clients x lines/s)
    headroom_offered: float  # a heavier load for SessionDock alone, one run each (0: none)
    latency_clients: tuple[int, ...]  # each at LATENCY_LOAD deliveries/s, both servers
    replay_events: int
    replay_repeats: int
    memory_streams: int
    memory_repeats: int
    memory_baseline: bool
    blast_bytes: int
    blast_repeats: int
    stress_bytes: int  # one bigger blast, past the store's default 50 MB cap (0: none)
    quiet_wait: float  # seconds to wait for other programs to go quiet before each run


FULL = Plan(
    name="full",
    repeats=3,
    warmup=1.0,
    window=3.0,
    fanout_clients=(10, 100, 1000),
    offered=500_000,
    headroom_offered=2_000_000,
    latency_clients=(10, 100, 1000),
    replay_events=10_000,
    replay_repeats=5,
    memory_streams=1000,
    memory_repeats=2,
    memory_baseline=True,
    blast_bytes=40_000_000,
    blast_repeats=3,
    stress_bytes=200_000_000,
    quiet_wait=30.0,
)
QUICK = Plan(
    name="quick",
    repeats=1,
    warmup=0.5,
    window=1.0,
    fanout_clients=(10, 100, 1000),
    offered=500_000,
    headroom_offered=0,
    latency_clients=(100,),
    replay_events=10_000,
    replay_repeats=3,
    memory_streams=1000,
    memory_repeats=1,
    memory_baseline=False,
    blast_bytes=20_000_000,
    blast_repeats=1,
    stress_bytes=0,
    quiet_wait=2.0,
)


@dataclass
class Results:
    plan: Plan
    machine: dict[str, Any]
    fanout: list[FanoutRun] = field(default_factory=list)
    headroom: list[FanoutRun] = field(default_factory=list)
    latency: list[FanoutRun] = field(default_factory=list)
    replay: ReplayRun | None = None
    memory: list[MemoryRun] = field(default_factory=list)
    throughput: list[ThroughputRun] = field(default_factory=list)
    stress: list[ThroughputRun] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    quiet: list[float] = field(default_factory=list)  # other programs' cores before each run
