"""Hypothesis garbage (random bytes, random JSON, mutated valid messages) only ever gives
ProtocolError (or a valid message), never another exception or a hang; the IPC channel turns it
into an ErrorEvent."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.ipc import decode_or_error
from engine.protocol import CONTROL_TYPES, PROTOCOL_VERSION, ErrorEvent, ProtocolError, decode, encode

from .strategies import ALL_TYPES, messages

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def _decodes_or_protocol_error(data: bytes | str) -> None:
    try:
        msg = decode(data)
    except ProtocolError:
        return
    assert type(msg) in ALL_TYPES.values()


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    _decodes_or_protocol_error(data)


@SETTINGS
@given(json_values)
def test_random_json(value: object) -> None:
    _decodes_or_protocol_error(json.dumps(value, allow_nan=True))


@SETTINGS
@given(
    st.sampled_from(sorted(ALL_TYPES)),
    st.dictionaries(st.text(max_size=10), json_values, max_size=6),
    st.sampled_from([PROTOCOL_VERSION, 0, 2, "1", True, None]),
)
def test_random_fields_for_real_types(
    name: str, fields: dict[str, object], version: int | str | None
) -> None:
    _decodes_or_protocol_error(json.dumps({**fields, "v": version, "type": name}))


@SETTINGS
@given(messages, st.data())
def test_mutated_valid_messages(msg: object, data: st.DataObject) -> None:
    wire = bytearray(encode(msg))
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        pos = data.draw(st.integers(0, max(0, len(wire) - 1)))
        if op == "flip" and wire:
            wire[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "insert":
            wire.insert(pos, data.draw(st.integers(0, 255)))
        elif op == "delete" and wire:
            del wire[pos]
        else:
            del wire[pos:]
    _decodes_or_protocol_error(bytes(wire))


@SETTINGS
@given(messages)
def test_mutated_field_values(msg: object) -> None:
    obj = json.loads(encode(msg))
    bad: object
    for key in [k for k in obj if k not in ("v", "type")]:
        for bad in (None, "x", 1.5, [], {}, -(2**70), True):
            _decodes_or_protocol_error(json.dumps({**obj, key: bad}))


def test_huge_and_deep_inputs() -> None:
    _decodes_or_protocol_error(b"[" * 100_000 + b"]" * 100_000)
    _decodes_or_protocol_error(b'{"v":1,"type":"user_text","text":"' + b"a" * (2 << 20) + b'"}')


@SETTINGS
@given(st.binary(max_size=200))
def test_channel_turns_garbage_into_error_events(data: bytes) -> None:
    out = decode_or_error(data, CONTROL_TYPES)
    assert isinstance(out, ErrorEvent) or type(out) in CONTROL_TYPES.values()
    if isinstance(out, ErrorEvent):
        assert out.code == "protocol" and "malformed" in out.message
