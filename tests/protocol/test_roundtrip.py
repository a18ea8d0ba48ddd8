"""Every protocol message type survives encode -> decode unchanged, and decode validates types."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.protocol import (
    CONTROL_TYPES,
    EVENT_TYPES,
    PROTOCOL_VERSION,
    Decision,
    DecisionChanged,
    Flush,
    OpenSession,
    Ping,
    ProtocolError,
    SessionSpec,
    Timings,
    decode,
    encode,
)

from .strategies import ALL_TYPES, for_dataclass, messages


@pytest.mark.parametrize("name", sorted(ALL_TYPES))
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_every_type_round_trips(name: str, data: st.DataObject) -> None:
    cls = ALL_TYPES[name]
    msg = data.draw(for_dataclass(cls))
    wire = encode(msg)
    obj = json.loads(wire)
    assert obj["v"] == PROTOCOL_VERSION and obj["type"] == name
    assert decode(wire) == msg
    assert decode(wire.decode()) == msg  # str input too


@settings(max_examples=200, deadline=None)
@given(msg=messages)
def test_round_trip_any_message(msg: object) -> None:
    assert decode(encode(msg)) == msg


def test_nested_session_spec_and_enums_round_trip() -> None:
    spec = SessionSpec(persona="p", avatar="a", options={"k": "v"}, frame_size=256, greet=False)
    assert decode(encode(OpenSession(spec))) == OpenSession(spec)
    ev = DecisionChanged(tick=3, decision=Decision.YIELD)
    assert decode(encode(ev)).decision is Decision.YIELD


def test_allowed_restricts_direction() -> None:
    wire = encode(Flush(from_tick=5))
    assert decode(wire, CONTROL_TYPES) == Flush(5)
    with pytest.raises(ProtocolError, match="unknown message type"):
        decode(wire, EVENT_TYPES)


@pytest.mark.parametrize(
    ("wire", "match"),
    [
        (b'{"v":2,"type":"ping","seq":1,"sent_ns":2}', "version"),
        (b'{"v":1,"type":"nope"}', "unknown message type"),
        (b'{"v":1,"type":"ping","seq":1}', "missing field"),
        (b'{"v":1,"type":"ping","seq":1,"sent_ns":2,"x":0}', "unknown field"),
        (b'{"v":1,"type":"ping","seq":"1","sent_ns":2}', "integer"),
        (b'{"v":1,"type":"ping","seq":true,"sent_ns":2}', "integer"),
        (b'{"v":1,"type":"timings","tick":0,"stages":{"a":NaN},"step_ms":1}', "JSON"),
        (b'{"v":1,"type":"decision","tick":0,"decision":"shout"}', "not one of"),
        (b"[1,2]", "object"),
        (b"\xff\xfe", "UTF-8"),
    ],
)
def test_malformed_messages_are_rejected_with_clear_errors(wire: bytes, match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        decode(wire)


def test_encode_rejects_non_messages() -> None:
    with pytest.raises(ProtocolError, match="not a protocol message"):
        encode({"type": "ping"})
    with pytest.raises(ValueError):
        encode(Timings(tick=0, stages={"a": float("nan")}, step_ms=0.0))
    assert decode(encode(Ping(seq=1, sent_ns=2))) == Ping(1, 2)
