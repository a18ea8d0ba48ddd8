"""Versioned JSON codec for protocol messages, validated on receipt.

Wire form: UTF-8 JSON object {"v": PROTOCOL_VERSION, "type": <name>, <field>: <value>, ...}.
`decode` never raises anything but ProtocolError on any input bytes (checked with hypothesis).
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from enum import Enum
from functools import cache
from typing import Any

from .messages import CONTROL_TYPES, EVENT_TYPES, PROTOCOL_VERSION
from .units import SessionSpec

MAX_MESSAGE_BYTES = 1 << 20  # 1 MiB: control and events are small; media goes through rings
_ALL_TYPES: dict[str, type] = {**CONTROL_TYPES, **EVENT_TYPES}
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


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _from_plain(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ProtocolError(f"{where}: expected an object")
    hints = _hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    extra = set(data) - set(known)
    if extra:
        raise ProtocolError(f"{where}: unknown field(s) {sorted(extra)}")
    kwargs = {}
    for name, f in known.items():
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ProtocolError(f"{where}: missing field {name!r}")
            continue
        kwargs[name] = _check(hints[name], data[name], f"{where}.{name}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ProtocolError(f"{where}: {e}") from None


def _check(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for alt in typing.get_args(tp):
            try:
                return _check(alt, value, where)
            except ProtocolError:
                continue
        raise ProtocolError(f"{where}: {value!r:.40} matches none of {tp}")
    if tp is type(None):
        if value is None:
            return None
        raise ProtocolError(f"{where}: expected null")
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ProtocolError(f"{where}: expected a boolean")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
            return value
        raise ProtocolError(f"{where}: expected a 64-bit integer")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        raise ProtocolError(f"{where}: expected a finite number")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ProtocolError(f"{where}: expected a string")
    if isinstance(tp, type) and issubclass(tp, Enum):
        try:
            return tp(value)
        except (ValueError, TypeError):
            raise ProtocolError(f"{where}: {value!r:.40} is not one of {[m.value for m in tp]}") from None
    if origin is dict:
        key_t, val_t = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ProtocolError(f"{where}: expected an object")
        return {_check(key_t, k, where): _check(val_t, v, f"{where}[{k!r:.20}]") for k, v in value.items()}
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, list):
            raise ProtocolError(f"{where}: expected an array")
        return tuple(_check(args[0], v, f"{where}[]") for v in value)
    if tp is SessionSpec or (isinstance(tp, type) and dataclasses.is_dataclass(tp)):
        return _from_plain(tp, value, where)
    raise ProtocolError(f"{where}: unsupported field type {tp}")  # pragma: no cover - programming error
