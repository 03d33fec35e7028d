"""The store's writer: a quiet session's events go ahead of a loud session's backlog, and
nothing else changes order (``backend.store.writer.take_batch``, with the writer's own items);
the WAL stays bounded while a session prints at full speed."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from backend.protocol.sse import StoredEvent
from backend.store.writer import (
    MAX_BATCH_BYTES,
    QUIET_BYTES,
    QUIET_FILL,
    STOP,
    Barrier,
    Call,
    Forget,
    take_batch,
)
from tests.conftest import new_session
from tests.server import running_server

KIB = 1024
# SQLite's automatic checkpoint comes every 1000 pages; a batch (256 KiB) and its pages may pass
# it before the checkpoint runs.
WAL_BOUND = 8 * 1024 * KIB


def event(session_id: str, seq: int, size: int) -> StoredEvent:
    return StoredEvent(session_id, seq, "output", "x" * size, 0)


def call(name: str) -> Call:
    return Call(lambda conn: None, name)


def drain(pending: deque[object]) -> list[list[object]]:
    batches = []
    while pending:
        batch, _ = take_batch(pending)
        assert batch, "a batch always takes something"
        batches.append(batch)
    return batches


def test_a_quiet_sessions_event_goes_ahead_of_a_loud_backlog() -> None:
    loud = [event("loud", seq, 64 * KIB) for seq in range(1, 65)]  # 4 MiB queued
    echo = event("quiet", 7, 40)
    pending: deque[object] = deque([*loud, echo])
    batch, quiet = take_batch(pending)
    assert quiet
    # The echo first, then a little of the loud backlog, from its start.
    assert batch[0] is echo
    assert batch[1:] == loud[: len(batch) - 1]
    assert 0 < sum(len(e.data) for e in batch[1:]) <= QUIET_FILL  # type: ignore[attr-defined]
    assert list(pending) == loud[len(batch) - 1 :]
    # Then the loud session's events in full batches, in order.
    batch, quiet = take_batch(pending)
    assert not quiet
    assert sum(len(e.data) for e in batch) == MAX_BATCH_BYTES  # type: ignore[attr-defined]


def test_without_a_loud_session_everything_goes_in_arrival_order() -> None:
    items: list[object] = [
        event("a", 1, 100),
        call("create b"),
        event("b", 1, 200),
        event("a", 2, 100),
        Forget("c"),
        event("b", 2, 200),
    ]
    pending: deque[object] = deque(items)
    assert take_batch(pending) == (items, True)
    assert not pending


def test_what_is_not_an_event_never_goes_ahead_of_anything() -> None:
    loud = [event("loud", seq, 64 * KIB) for seq in range(1, 40)]
    future: asyncio.Future[None] = asyncio.new_event_loop().create_future()
    flush = Barrier(future)
    created = call("create the quiet session")
    after = event("quiet", 1, 10)  # after the call that creates its session
    pending: deque[object] = deque([*loud, flush, created, after, STOP])
    batches = drain(pending)
    flat = [item for batch in batches for item in batch]
    assert flat == [*loud, flush, created, after, STOP]
    future.get_loop().close()


def test_a_session_that_turns_loud_keeps_its_order() -> None:
    # Its first event alone would be quiet; with what follows it is not: none goes ahead.
    others = [event("other", seq, 64 * KIB) for seq in range(1, 20)]
    burst = [event("burst", seq, 48 * KIB) for seq in range(1, 4)]
    arrived: list[object] = [others[0], *burst, *others[1:]]
    pending: deque[object] = deque(arrived)
    batch, quiet = take_batch(pending)
    assert not quiet
    # Arrival order, up to the batch's limit.
    size, count = 0, 0
    while size < MAX_BATCH_BYTES:
        size += len(arrived[count].data)  # type: ignore[attr-defined]
        count += 1
    assert batch == arrived[:count] and len(batch) > 4


def test_a_sessions_flush_goes_ahead_of_another_sessions_backlog() -> None:
    """POST /prompt waits for its own session's events only (``flush(session_id=…)``)."""
    loop = asyncio.new_event_loop()
    try:
        loud = [event("loud", seq, 64 * KIB) for seq in range(1, 65)]
        prompt = event("quiet", 3, 80)
        own = Barrier(loop.create_future(), "quiet")
        everything = Barrier(loop.create_future())
        pending: deque[object] = deque([*loud, prompt, own, everything])
        batch, _ = take_batch(pending)
        assert batch[:2] == [prompt, own]
        assert everything in pending  # a flush of everything waits for the whole backlog
        # A loud session's own flush waits for its own events, all of them.
        pending = deque([*loud, Barrier(loop.create_future(), "loud")])
        flat = [item for batch in drain(pending) for item in batch]
        assert flat[:-1] == loud and isinstance(flat[-1], Barrier)
    finally:
        loop.close()


# Items: ("e", session, size) for an event, ("s", session) for a flush of one session, ("c",) for
# a metadata write, ("f",) for a delete (Forget), ("b",) for a flush of everything.
ITEMS = st.one_of(
    st.tuples(
        st.just("e"),
        st.sampled_from("abcd"),
        st.integers(min_value=1, max_value=QUIET_BYTES + QUIET_BYTES // 2),
    ),
    st.tuples(st.just("s"), st.sampled_from("abcd")),
    st.tuples(st.just("c")),
    st.tuples(st.just("f")),
    st.tuples(st.just("b")),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(ITEMS, max_size=120), st.integers(min_value=0, max_value=120))
def test_batches_keep_every_order_that_matters(spec: list[tuple], arrive_later: int) -> None:
    """However items arrive and are taken: each session's events in order; a flush of one
    session after that session's events and every item of no session that arrived before it;
    every other item after everything that arrived before it; nothing lost or repeated."""
    loop = asyncio.new_event_loop()
    try:
        seqs = dict.fromkeys("abcd", 0)
        items: list[object] = []
        for kind, *args in spec:
            if kind == "e":
                seqs[args[0]] += 1
                items.append(event(args[0], seqs[args[0]], args[1]))
            elif kind == "s":
                items.append(Barrier(loop.create_future(), args[0]))
            elif kind == "b":
                items.append(Barrier(loop.create_future()))
            else:
                made = call(f"write {len(items)}") if kind == "c" else Forget(f"x{len(items)}")
                items.append(made)
        arrival = {id(item): n for n, item in enumerate(items)}
        # Some arrive while the first batches are taken.
        split = min(arrive_later, len(items))
        pending: deque[object] = deque(items[:split])
        taken: list[object] = []
        later = deque(items[split:])
        while pending or later:
            if later:
                pending.append(later.popleft())
            if pending:
                batch, _ = take_batch(pending)
                assert len(batch) <= 4096
                taken += batch
    finally:
        loop.close()
    assert sorted(map(id, taken)) == sorted(map(id, items))
    last: dict[str, int] = {}
    for position, item in enumerate(taken):
        before = items[: arrival[id(item)]]
        done = {id(other) for other in taken[:position]}
        if isinstance(item, StoredEvent):
            assert item.seq > last.get(item.session_id, 0)
            last[item.session_id] = item.seq
        elif isinstance(item, Barrier) and item.session_id is not None:
            mine = [o for o in before if getattr(o, "session_id", None) == item.session_id]
            global_ = [o for o in before if not isinstance(o, StoredEvent | Barrier)]
            global_ += [o for o in before if isinstance(o, Barrier) and o.session_id is None]
            assert {id(o) for o in mine + global_} <= done
        else:
            assert {id(other) for other in before} <= done


async def test_the_wal_stays_bounded_while_a_session_prints_at_full_speed(
    tmp_path: Path, workdir: Path
) -> None:
    """SQLite checkpoints the WAL every 1000 pages (4 MiB) on the writer's connection: it must
    stay about that size while a session prints far more, whatever else the writer does (a
    checkpoint beside a busy writer, on a thread of its own, was tried and let it grow to 120 MB:
    docs/benchmarks.md)."""
    data = tmp_path / "data"
    wal = data / "sessiondock.sqlite3-wal"
    printed = 40 * 1024 * 1024
    script = f"head -c {printed} /dev/zero | tr '\\0' x | fold -w 99"
    largest = 0
    with running_server(data, "--max-session-mb", "1000") as server:
        async with server.async_client() as api:
            body = {"kind": "command", "tty": False, "argv": ["sh", "-c", script]}
            session = await new_session(api, workdir, **body)
            url = f"/api/session/{session['id']}"
            while (await api.get(url)).json()["status"] == "running":
                with contextlib.suppress(FileNotFoundError):
                    largest = max(largest, wal.stat().st_size)
                await asyncio.sleep(0.02)
            stored = (await api.get(url)).json()
    assert stored["status"] == "exited"
    assert 0 < largest <= WAL_BOUND, largest
    assert not wal.exists()  # the last connection's checkpoint, at stop
