"""Hypothesis strategies for protocol messages, derived from the dataclass type hints."""

from __future__ import annotations

import dataclasses
import types
import typing
from enum import Enum
from typing import Any

from hypothesis import strategies as st

from engine.protocol import CONTROL_TYPES, EVENT_TYPES

ALL_TYPES: dict[str, type] = {**CONTROL_TYPES, **EVENT_TYPES}

finite = st.floats(allow_nan=False, allow_infinity=False)
int64 = st.integers(-(2**63), 2**63 - 1)


def for_hint(tp: Any) -> st.SearchStrategy[Any]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return st.one_of([for_hint(a) for a in typing.get_args(tp)])
    if tp is type(None):
        return st.none()
    if tp is bool:
        return st.booleans()
    if tp is int:
        return int64
    if tp is float:
        return finite
    if tp is str:
        return st.text(max_size=20)
    if isinstance(tp, type) and issubclass(tp, Enum):
        return st.sampled_from(list(tp))
    if origin is dict:
        key_t, val_t = typing.get_args(tp)
        return st.dictionaries(for_hint(key_t), for_hint(val_t), max_size=4)
    if origin is tuple:
        return st.lists(for_hint(typing.get_args(tp)[0]), max_size=4).map(tuple)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return for_dataclass(tp)
    raise TypeError(f"no strategy for {tp}")


def for_dataclass(cls: type) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls)
    return st.builds(cls, **{f.name: for_hint(hints[f.name]) for f in dataclasses.fields(cls)})


messages = st.one_of([for_dataclass(cls) for cls in ALL_TYPES.values()])
