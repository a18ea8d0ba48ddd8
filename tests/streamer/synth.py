"""Synthetic two-sided sessions built in memory (the shape engine.session.read_session returns).

The user talks in bursts (noise at 16 kHz); the avatar answers after the user stops, yields when
the user barges in. Decisions follow a small state machine over the user's activity, one decision
per output unit, logged as DecisionChanged events at the unit's first tick (lag 1 unit).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from engine.protocol import (
    AVATAR_SAMPLES_PER_TICK,
    MIC_SAMPLES_PER_TICK,
    Decision,
    DecisionChanged,
    Transcript,
)
from engine.session import SessionData

if TYPE_CHECKING:
    from engine.models.base import InteractiveModel
    from engine.protocol import UnitIn

UNIT = 4


def user_activity(n_units: int, rng: np.random.Generator) -> list[bool]:
    act, u = [False] * n_units, 1
    while u < n_units:
        talk = int(rng.integers(2, 5))
        for k in range(u, min(n_units, u + talk)):
            act[k] = True
        u += talk + int(rng.integers(4, 8))
    return act


def decisions_for(active: list[bool]) -> list[Decision]:
    """Decision of output unit v (covering input unit v's successor) from the user's activity."""
    out = [Decision.LISTEN]
    for v in range(1, len(active)):
        prev, heard = out[-1], active[v - 1]
        if heard:
            out.append(Decision.YIELD if prev == Decision.SPEAK else Decision.LISTEN)
        elif v >= 2 and active[v - 2]:
            out.append(Decision.SPEAK)  # the user just stopped: take the turn
        elif prev == Decision.SPEAK:
            out.append(Decision.SPEAK)
        else:
            out.append(Decision.LISTEN)
    return out


def make_session(seed: int, n_units: int = 24, frame_size: int = 32, camera: bool = True) -> SessionData:
    rng = np.random.default_rng(seed)
    active = user_activity(n_units, rng)
    decisions = decisions_for(active)
    n_ticks = n_units * UNIT
    user = np.zeros(n_ticks * MIC_SAMPLES_PER_TICK, np.float32)
    avatar = np.zeros(n_ticks * AVATAR_SAMPLES_PER_TICK, np.float32)
    frames = np.full((n_ticks, frame_size, frame_size, 3), 40, np.uint8)
    per_u, per_a = UNIT * MIC_SAMPLES_PER_TICK, UNIT * AVATAR_SAMPLES_PER_TICK
    t = np.arange(per_a) / 24_000.0
    events: list[tuple[int, str, object]] = []
    for u, on in enumerate(active):
        if on:
            user[u * per_u : (u + 1) * per_u] = rng.normal(0, 0.25, per_u).astype(np.float32)
    prev = Decision.LISTEN
    for v, d in enumerate(decisions):
        if d != prev:
            events.append((v * UNIT, "engine", DecisionChanged(tick=v * UNIT, decision=d)))
            if d == Decision.SPEAK:
                events.append(
                    (v * UNIT, "engine", Transcript(tick=v * UNIT, side="avatar", text="hi", final=True))
                )
            prev = d
        if d == Decision.SPEAK:
            avatar[v * per_a : (v + 1) * per_a] = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
            lo, hi = frame_size // 2, frame_size // 2 + frame_size // 4
            frames[v * UNIT : (v + 1) * UNIT, lo:hi, frame_size // 4 : 3 * frame_size // 4] = 220
    user_frames = None
    if camera:
        user_frames = np.zeros((n_ticks, 24, 32, 3), np.uint8)
        for u, on in enumerate(active):
            user_frames[u * UNIT : (u + 1) * UNIT] = 200 if on else 60
    return SessionData(
        user_pcm=user,
        avatar_pcm=avatar,
        avatar_frames=frames,
        user_frames=user_frames,
        events=events,
        meta={"persona": "guide", "avatar": "ada"},
        n_ticks=n_ticks,
    )


def unit_inputs(data: SessionData, unit_ticks: int = UNIT) -> list[UnitIn]:
    """The session's user side as the UnitIn sequence an engine would feed a model."""
    from engine.protocol import UnitIn

    units = []
    per = unit_ticks * MIC_SAMPLES_PER_TICK
    for u in range(data.n_ticks // unit_ticks):
        tick = u * unit_ticks
        if data.user_frames is not None:
            frames = data.user_frames[tick : tick + unit_ticks]
            frame_ticks = np.arange(tick, tick + frames.shape[0], dtype=np.int64)
        else:
            frames, frame_ticks = np.zeros((0, 1, 1, 3), np.uint8), np.zeros(0, np.int64)
        units.append(UnitIn(tick, unit_ticks, data.user_pcm[u * per : (u + 1) * per], frames, frame_ticks))
    return units


def replay_decisions(model: InteractiveModel, data: SessionData) -> list[Decision]:
    """Decision of each output unit 1..n-1 when the model is stepped over the session's user side."""
    from engine.protocol import SessionSpec

    model.open(SessionSpec(persona=data.meta["persona"], avatar=data.meta["avatar"]))
    outs = [model.step(u) for u in unit_inputs(data)]
    return [o.decision for o in outs[:-1]]
