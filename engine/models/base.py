"""The engine contract every interactive model implements.

The engine calls open() once per session, then step() once per unit of `unit_ticks` ticks, in tick
order, from one thread. step() must have bounded cost; it returns the avatar's output for the unit
`output_lag_units` units behind the input (UnitOut.tick = unit.tick + lag * unit_ticks).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from engine.protocol import SessionSpec, UnitIn, UnitOut


@runtime_checkable
class InteractiveModel(Protocol):
    unit_ticks: int  # ticks per unit (4 = 160 ms)
    output_lag_units: int  # output is this many units behind input
    frame_size: int  # avatar frames are frame_size x frame_size RGB
    trained: bool  # False: the app labels the model as untrained

    def open(self, session: SessionSpec) -> None: ...

    def step(self, unit: UnitIn) -> UnitOut: ...

    def flush(self, from_tick: int) -> None:
        """Drop any queued output from `from_tick` on (client barge-in / operator stop)."""
        ...

    def user_text(self, text: str, operator: bool) -> None:
        """Typed user text (or an operator line to say verbatim)."""
        ...

    def close(self) -> None: ...
