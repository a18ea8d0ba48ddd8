"""Typed validation of JSON values against dataclass type hints.

Shared by the message codec (engine.protocol.codec) and the model-config loader (engine.hub): a bad
value raises the caller's error class, with a path to the value, and never anything else.
Supported field types: None, bool, int (64-bit), float (finite; integers accepted), str, Enum (by
value), unions / Optional, tuple[X, ...] and list[X] (JSON arrays), dict[K, V], nested dataclasses.
Only the standard library: the protocol package stays plain dataclasses + numpy.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from enum import Enum
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")
INT64 = range(-(2**63), 2**63)


@cache
def _hints(cls: type) -> dict[str, Any]:
    """A dataclass's resolved field types."""
    return typing.get_type_hints(cls)


def from_json(
    cls: type[T], data: Any, where: str, error: type[Exception], field_fmt: str = "{where}.{name}"
) -> T:
    """Build the dataclass `cls` from a JSON object: unknown, missing or ill-typed fields raise
    `error("{where}: ...")`; a field's path is `field_fmt` filled in (nested objects: `{where}.{name}`)."""
    if not isinstance(data, dict):
        raise error(f"{where}: expected an object, got {data!r:.40}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise error(f"{where}: unknown field(s) {unknown} for {cls.__name__}")
    hints = _hints(cls)  # type: ignore[arg-type]  # a class is hashable; mypy does not see type[T] so
    kwargs = {}
    for name, f in fields.items():
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise error(f"{where}: missing field {name!r}")
            continue
        kwargs[name] = check_value(hints[name], data[name], field_fmt.format(where=where, name=name), error)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:  # the dataclass's own __post_init__ checks
        raise error(f"{where}: {e}") from None


def check_value(tp: Any, value: Any, where: str, error: type[Exception]) -> Any:
    """`value` as type `tp` (tuples for tuple fields, Enum members for enums, floats for floats)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for alt in typing.get_args(tp):
            try:
                return check_value(alt, value, where, error)
            except error:
                continue
        raise error(f"{where}: {value!r:.40} matches none of {tp}")
    if tp is type(None):
        if value is None:
            return None
        raise error(f"{where}: expected null, got {value!r:.40}")
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise error(f"{where}: expected true/false, got {value!r:.40}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool) and value in INT64:
            return value
        raise error(f"{where}: expected an integer (64-bit), got {value!r:.40}")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        raise error(f"{where}: expected a number (finite), got {value!r:.40}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise error(f"{where}: expected a string, got {value!r:.40}")
    if isinstance(tp, type) and issubclass(tp, Enum):
        try:
            return tp(value)
        except (ValueError, TypeError):
            raise error(f"{where}: {value!r:.40} is not one of {[m.value for m in tp]}") from None
    if origin in (tuple, list):
        if not isinstance(value, list):
            raise error(f"{where}: expected an array, got {value!r:.40}")
        item_t = typing.get_args(tp)[0]
        items = [check_value(item_t, v, f"{where}[{i}]", error) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise error(f"{where}: expected an object, got {value!r:.40}")
        key_t, val_t = typing.get_args(tp)
        return {
            check_value(key_t, k, where, error): check_value(val_t, v, f"{where}[{k!r:.20}]", error)
            for k, v in value.items()
        }
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return from_json(tp, value, where, error)
    raise error(f"{where}: unsupported field type {tp}")  # pragma: no cover - programming error
