"""The session host's wire and bookkeeping, without processes: frames split anywhere by the
socket come out whole, output offsets say exactly what is stored, a character cut in two is not
counted until it is whole."""

from __future__ import annotations

import asyncio

import pytest

from backend.host import wire
from backend.host.server import Stream
from backend.runtimes.process import _Coalescer


def output_frame(session_id: str, stream: str, offset: int, data: bytes) -> bytes:
    head = wire.output_head(session_id.encode(), wire.STREAMS.index(stream), offset, len(data))
    return head + data


def test_frames_come_out_whole_however_the_socket_splits_them() -> None:
    frames = [
        bytes(wire.encode(wire.Hello(pid=7, sessions=[wire.Held(id="s-1", pid=9, tty=True)]))),
        output_frame("s-1", "stdout", 0, b"hello \xe2\x82"),
        output_frame("s-1", "stderr", 5, b""),
        bytes(wire.encode(wire.Exited(id="s-1", code=-15))),
        output_frame("s-2", "stdout", 1 << 40, bytes(range(256)) * 300),
    ]
    stream = b"".join(frames)
    expected = wire.FrameReader(wire.decode_to_backend).feed(stream)
    assert expected == [
        wire.Hello(pid=7, sessions=[wire.Held(id="s-1", pid=9, tty=True)]),
        wire.Output("s-1", "stdout", 0, b"hello \xe2\x82"),
        wire.Output("s-1", "stderr", 5, b""),
        wire.Exited(id="s-1", code=-15),
        wire.Output("s-2", "stdout", 1 << 40, bytes(range(256)) * 300),
    ]
    for cut in range(1, 80):  # in two anywhere in the first frames, then in pieces of 997
        reader = wire.FrameReader(wire.decode_to_backend)
        got = reader.feed(stream[:cut])
        for start in range(cut, len(stream), 997):
            got += reader.feed(stream[start : start + 997])
        assert got == expected


@pytest.mark.parametrize(
    "damaged",
    [
        (wire.MAX_FRAME + 1).to_bytes(4, "big") + b"M",  # too large to be ours
        (0).to_bytes(4, "big"),  # empty
        (3).to_bytes(4, "big") + b"Xab",  # no such kind
        (3).to_bytes(4, "big") + b"M\xc1\xc1",  # not msgpack
        (5).to_bytes(4, "big") + b"O" + b"\x00" * 4,  # an output header cut short
    ],
)
def test_what_is_not_a_frame_is_refused(damaged: bytes) -> None:
    with pytest.raises(wire.ProtocolError):
        wire.FrameReader(wire.decode_to_backend).feed(damaged)


def test_a_stream_keeps_what_is_not_acknowledged_and_sends_only_what_is_new() -> None:
    stream = Stream("stdout", -1)
    stream.take(b"abc")
    stream.take(b"defg")
    assert [(o, bytes(d)) for o, d in stream.unsent()] == [(0, b"abc"), (3, b"defg")]
    stream.sent = stream.end
    assert stream.unsent() == []
    stream.ack(5)  # inside the second chunk
    assert (stream.base, stream.held) == (5, 2)
    stream.take(b"hi")
    assert [(o, bytes(d)) for o, d in stream.unsent()] == [(7, b"hi")]
    # A backend that comes back from offset 5 gets what follows it, and nothing before.
    stream.sent = stream.base
    assert [(o, bytes(d)) for o, d in stream.unsent()] == [(5, b"fg"), (7, b"hi")]
    stream.ack(100)  # never past what was read
    assert (stream.base, stream.held, list(stream.chunks)) == (9, 0, [])


async def test_an_events_mark_stops_before_a_character_cut_in_two() -> None:
    loop = asyncio.get_running_loop()
    events: list[tuple[str, int | None]] = []
    coalescer = _Coalescer(
        "stdout",
        lambda _, text, mark: events.append((text, mark)),
        0.003,
        loop,
        lambda send: loop.call_soon(send),
        position=100,  # it resumes at offset 100 of the program's output
    )
    coalescer.feed("ab€".encode()[:3])  # "ab" and the first byte of the euro sign
    coalescer.flush()
    coalescer.feed("ab€".encode()[3:] + b"c")
    coalescer.flush(final=True)
    assert events == [("ab", 102), ("€c", 106)]
