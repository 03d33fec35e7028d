"""The SSE encoding, without I/O."""

from __future__ import annotations

import pytest

from backend.protocol.events import Output
from backend.protocol.sse import (
    MAX_EVENT_ID,
    StoredEvent,
    encode_data,
    encode_event,
    encode_retry,
    parse_last_event_id,
)


def test_event_with_id() -> None:
    assert encode_event("output", '{"a":1}', 7) == b'id: 7\nevent: output\ndata: {"a":1}\n\n'


def test_control_event_has_no_id() -> None:
    assert encode_event("heartbeat", "{}") == b"event: heartbeat\ndata: {}\n\n"


def test_multiline_data_is_refused() -> None:
    with pytest.raises(ValueError, match="single line"):
        encode_event("output", "a\nb")


def test_json_data_stays_on_one_line() -> None:
    data = encode_data(
        Output(session_id="s", timestamp=1, type="stdout", content="line 1\nline 2\r\n\u2028")
    )
    assert "\n" not in data and "\r" not in data
    frame = encode_event("output", data, 1)
    assert frame.count(b"\n\n") == 1 and frame.endswith(b"\n\n")


def test_retry() -> None:
    assert encode_retry(2000) == b"retry: 2000\n\n"


def test_frame_is_built_once() -> None:
    event = StoredEvent("s", 3, "status", '{"status":"running"}', 0)
    assert event.frame is event.frame
    assert event.frame == b'id: 3\nevent: status\ndata: {"status":"running"}\n\n'


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("12", 12), (" 0 ", 0), ("", None), ("-1", None), ("abc", None), ("1.5", None), ("١٢", None),
     (None, None), (str(MAX_EVENT_ID), MAX_EVENT_ID), (str(MAX_EVENT_ID + 1), None),
     ("9" * 5000, None), ("0" * 5000 + "7", 7)],
)  # fmt: skip
def test_parse_last_event_id(raw: str | None, expected: int | None) -> None:
    assert parse_last_event_id(raw) == expected
