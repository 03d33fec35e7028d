"""The declared wire types: what they take and refuse, and that the document is made of them."""

from __future__ import annotations

import msgspec
import pytest

from backend.protocol.events import ALL_EVENTS, STORED_EVENTS, Output, StatusChanged, validate
from backend.protocol.sse import StoredEvent
from backend.web.routes import api_document
from tests.wire import check

REF = "#/components/schemas/{name}"


def test_a_stored_event_round_trips_through_its_type() -> None:
    event = StoredEvent.of(
        7, Output(session_id="session-1", timestamp=5, type="stdout", content="hi\n")
    )
    assert (event.type, event.seq) == ("output", 7)
    assert event.data == '{"sessionId":"session-1","timestamp":5,"type":"stdout","content":"hi\\n"}'
    assert validate("output", event.data) == Output(
        session_id="session-1", timestamp=5, type="stdout", content="hi\n"
    )


def test_unset_fields_are_left_out_and_null_is_kept() -> None:
    running = StatusChanged(session_id="s", timestamp=1, status="running")
    ended = StatusChanged(session_id="s", timestamp=1, status="interrupted", exit_code=None)
    assert msgspec.json.encode(running) == b'{"sessionId":"s","timestamp":1,"status":"running"}'
    assert b'"exitCode":null' in msgspec.json.encode(ended)


@pytest.mark.parametrize(
    ("event", "data"),
    [
        ("output", '{"sessionId":"s","type":"stdout","content":"x"}'),  # no timestamp
        ("output", '{"timestamp":1,"type":"stdout","content":"x"}'),  # no sessionId
        ("output", '{"sessionId":"","timestamp":1,"type":"stdout","content":"x"}'),
        ("output", '{"sessionId":"s","timestamp":1,"type":"stdin","content":"x"}'),
        ("status", '{"sessionId":"s","timestamp":1,"status":"sleeping"}'),
        ("error", '{"sessionId":"s","timestamp":1}'),
        ("teleport", '{"sessionId":"s","timestamp":1}'),
    ],
)
def test_a_misfit_is_caught(event: str, data: str) -> None:
    with pytest.raises(AssertionError, match="does not fit"):
        check(event, data)


def test_a_stored_event_must_name_its_session() -> None:
    data = '{"sessionId":"other","timestamp":1,"type":"stdout","content":"x"}'
    with pytest.raises(AssertionError, match="names other"):
        check("output", data, "session-1")


def test_every_stored_event_carries_its_session_and_a_timestamp() -> None:
    for name, kind in STORED_EVENTS.items():
        definition = msgspec.json.schema(kind)["$defs"][kind.__name__]
        assert {"sessionId", "timestamp"} <= set(definition["required"]), name


def test_the_document_describes_every_event_and_body_from_the_declarations() -> None:
    document = api_document()
    components = document["components"]["schemas"]
    for kind in ALL_EVENTS.values():
        _, declared = msgspec.json.schema_components([kind], ref_template=REF)
        assert components[kind.__name__] == declared[kind.__name__]
    events = document["paths"]["/api/session/{id}/events"]["get"]["x-events"]
    assert set(events) == set(ALL_EVENTS)
    body = document["paths"]["/api/sessions"]["post"]["requestBody"]["content"]
    assert body["application/json"]["schema"]["$ref"] == "#/components/schemas/NewSession"
