"""Versioned JSON codec for protocol messages, validated on receipt.

Wire form: UTF-8 JSON object {"v": PROTOCOL_VERSION, "type": <name>, <field>: <value>, ...}.
`decode` never raises anything but ProtocolError on any input bytes (checked with hypothesis).
"""

from __future__ import annotations

import dataclasses
import json
from enum import Enum
from typing import Any

from .messages import CONTROL_TYPES, EVENT_TYPES, PROTOCOL_VERSION, RECORD_TYPES
from .typed import from_json

MAX_MESSAGE_BYTES = 1 << 20  # 1 MiB: control and events are small; media goes through rings
_ALL_TYPES: dict[str, type] = {**CONTROL_TYPES, **EVENT_TYPES, **RECORD_TYPES}
_NAME_OF: dict[type, str] = {cls: name for name, cls in _ALL_TYPES.items()}


class ProtocolError(ValueError):
    """A message that is not valid for this protocol version."""


def encode(msg: object) -> bytes:
    name = _NAME_OF.get(type(msg))
    if name is None:
        raise ProtocolError(f"not a protocol message: {type(msg).__name__}")
    body = {"v": PROTOCOL_VERSION, "type": name, **_to_plain(msg)}
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()


def decode(data: bytes | str, allowed: dict[str, type] | None = None) -> Any:
    """Parse and validate one message. `allowed` restricts the accepted types (e.g. CONTROL_TYPES)."""
    if isinstance(data, bytes | bytearray):
        if len(data) > MAX_MESSAGE_BYTES:
            raise ProtocolError(f"message too large: {len(data)} bytes")
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as e:
            raise ProtocolError(f"message is not UTF-8: {e}") from None
    elif isinstance(data, str):
        text = data
    else:
        raise ProtocolError(f"message must be bytes or str, got {type(data).__name__}")
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as e:
        raise ProtocolError(f"message is not JSON: {e}") from None
    if not isinstance(obj, dict):
        raise ProtocolError("message must be a JSON object")
    version = obj.get("v")
    if version != PROTOCOL_VERSION or isinstance(version, bool):
        raise ProtocolError(f"unsupported protocol version {version!r} (expected {PROTOCOL_VERSION})")
    name = obj.get("type")
    table = _ALL_TYPES if allowed is None else allowed
    if not isinstance(name, str) or name not in table:
        raise ProtocolError(f"unknown message type {name!r}")
    fields = {k: v for k, v in obj.items() if k not in ("v", "type")}
    return _from_plain(table[name], fields, name)


def _reject_constant(token: str) -> None:
    raise ValueError(f"non-finite number {token}")


def _to_plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, dict):
        return {str(k): _to_plain(v) for k, v in obj.items()}
    if isinstance(obj, tuple | list):
        return [_to_plain(v) for v in obj]
    return obj


def _from_plain(cls: type, data: Any, where: str) -> Any:
    return from_json(cls, data, where, ProtocolError)
