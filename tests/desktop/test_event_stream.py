"""desktop.event_stream: the text/event-stream format, with strings (cases after WHATWG HTML's
parsing rules and web-platform-tests' eventsource/format-* tests)."""

from __future__ import annotations

import pytest

from desktop.event_stream import EventStreamDecoder, ServerSentEvent


def decode(*pieces: str) -> list[ServerSentEvent]:
    decoder = EventStreamDecoder()
    return [event for piece in pieces for event in decoder.feed(piece)]


def test_fields_make_an_event_at_the_blank_line() -> None:
    assert decode("event: output\nid: 7\ndata: {}\n\n") == [ServerSentEvent("output", "{}", "7")]
    assert decode("data: x\n\n") == [ServerSentEvent("message", "x", None)]


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
def test_lines_end_with_lf_crlf_or_cr(end: str) -> None:
    wire = f"event: a{end}data: 1{end}{end}data: 2{end}{end}"
    assert decode(wire) == [ServerSentEvent("a", "1"), ServerSentEvent("message", "2")]


def test_mixed_line_endings_and_nothing_else_ends_a_line() -> None:
    # Vertical tab, form feed, NEL and U+2028 are data (str.splitlines() would split on them).
    wire = "data: a\x0bb\x0cc\x85d\u2028e\rdata: f\r\ndata: g\n\n"
    assert decode(wire) == [ServerSentEvent("message", "a\x0bb\x0cc\x85d\u2028e\nf\ng")]


def test_a_piece_may_end_between_cr_and_lf() -> None:
    # The LF that starts the second piece belongs to the CR that ended the first: one line end,
    # not a blank line that would dispatch the event early.
    assert decode("data: 1\r", "\ndata: 2\r", "\n\r", "\n") == [ServerSentEvent("message", "1\n2")]


def test_a_cr_alone_ends_a_line_even_at_the_end_of_a_piece() -> None:
    assert decode("data: 1\r", "\r") == [ServerSentEvent("message", "1")]
    assert decode("data: 1\r", "data: 2\r\r") == [ServerSentEvent("message", "1\n2")]


def test_events_split_at_every_point_decode_the_same() -> None:
    wire = "\ufeffid: 12\r\nevent: output\rdata: h\u00e9\nretry: 5\n: note\r\n\r\ndata: b\r\r"
    whole = decode(wire)
    assert whole == [ServerSentEvent("output", "hé", "12"), ServerSentEvent("message", "b")]
    for cut in range(len(wire) + 1):
        assert decode(wire[:cut], wire[cut:]) == whole, cut
    assert decode(*wire) == whole  # one character at a time


def test_comments_are_ignored_and_dispatch_nothing() -> None:
    decoder = EventStreamDecoder()
    assert decoder.feed(": hello\n\n:\n\nid: 3\n: after an id\n\n") == []
    assert decoder.last_event_id == "3"
    assert decoder.feed("data: x\n: inside an event\ndata: y\n\n") == [
        ServerSentEvent("message", "x\ny")
    ]


def test_multi_line_data_is_joined_with_lf() -> None:
    assert decode("data: a\ndata:\ndata: b\n\n") == [ServerSentEvent("message", "a\n\nb")]


def test_only_one_leading_space_is_removed() -> None:
    assert decode("data:x\n\n", "data:  x\n\n", "data:\tx\n\n") == [
        ServerSentEvent("message", "x"),
        ServerSentEvent("message", " x"),
        ServerSentEvent("message", "\tx"),
    ]


def test_a_field_without_a_colon_has_an_empty_value() -> None:
    # WPT format-field-data: "data:" and "data" each add an empty line to the data.
    assert decode("data:\n\ndata\ndata\n\n") == [
        ServerSentEvent("message", ""),
        ServerSentEvent("message", "\n"),
    ]
    assert decode("event\ndata: x\n\n") == [ServerSentEvent("message", "x")]


def test_events_without_data_are_not_dispatched() -> None:
    assert decode("event: output\n\n", "id: 4\n\n", "retry: 10\n\n", "\n\n") == []


def test_field_names_are_exact() -> None:
    # WPT format-field-parsing: case, NULs and near misses make unknown fields.
    wire = (
        "data:\0\ndata:  2\rData:1\ndata\0:2\ndata:1\r\0data:4\nda-ta:3\rdata_5\ndata:3\r"
        "data:\r\n data:32\ndata:4\n\n"
    )
    assert decode(wire) == [ServerSentEvent("message", "\0\n 2\n1\n3\n\n4")]


def test_an_event_has_its_own_id_and_the_last_id_carries_over() -> None:
    decoder = EventStreamDecoder()
    assert decoder.feed("id: 1\ndata: a\n\ndata: b\n\n") == [
        ServerSentEvent("message", "a", "1"),
        ServerSentEvent("message", "b", None),
    ]
    assert decoder.last_event_id == "1"
    assert decoder.feed("id\ndata: c\n\n") == [ServerSentEvent("message", "c", "")]
    assert decoder.last_event_id == ""  # an empty id resets it


def test_an_id_with_nul_is_ignored() -> None:
    decoder = EventStreamDecoder()
    assert decoder.feed("id: 5\n\nid: 6\0\ndata: x\n\n") == [ServerSentEvent("message", "x")]
    assert decoder.last_event_id == "5"


def test_the_last_event_id_changes_when_the_event_is_dispatched() -> None:
    decoder = EventStreamDecoder()
    decoder.feed("id: 8\ndata: x\n")
    assert decoder.last_event_id == ""  # a reconnect now must not claim event 8
    decoder.feed("\n")
    assert decoder.last_event_id == "8"


def test_retry_takes_only_ascii_digits() -> None:
    decoder = EventStreamDecoder()
    assert decoder.retry is None
    decoder.feed("retry: 2500\n")
    assert decoder.retry == 2500
    for bogus in ("retry: 1.5\n", "retry: -1\n", "retry: 1e3\n", "retry:\n", "retry: \u0663\n"):
        decoder.feed(bogus)
        assert decoder.retry == 2500, bogus
    decoder.feed("retry:0\n")
    assert decoder.retry == 0


def test_one_bom_is_dropped_at_the_start_of_the_stream_only() -> None:
    # WPT format-bom and format-bom-2: a second BOM is part of the first field's name.
    assert decode("\ufeffdata:1\n\n\ufeffdata:2\n\ndata:3\n\n") == [
        ServerSentEvent("message", "1"),
        ServerSentEvent("message", "3"),
    ]
    assert decode("\ufeff\ufeffdata:1\n\ndata:2\n\n") == [ServerSentEvent("message", "2")]
    assert decode("", "\ufeff", "data:1\n\n") == [ServerSentEvent("message", "1")]


def test_an_unfinished_event_is_kept_until_its_blank_line() -> None:
    decoder = EventStreamDecoder()
    assert decoder.feed("data: a") == []
    assert decoder.feed("b\ndata: c\n") == []
    assert decoder.feed("\n") == [ServerSentEvent("message", "ab\nc")]
