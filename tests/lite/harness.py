"""Test harness for LiteModel: steps it in-process over a 16 kHz mic track, like the headless runner.

Collected output obeys FlushOut the way a real-time client does: audio and frames from
max(from_tick, the step's output tick) on are dropped (older output has been played already).
With `echo=(delay_ms, gain)` the avatar's own output (as collected so far) is mixed back into the
mic input, delayed and attenuated, to simulate open speakers; `mic_lag_ticks` is what a live client
would report of the playback part of that delay (UnitIn.mic_lag_ticks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from engine.protocol import (
    AVATAR_SAMPLES_PER_TICK,
    MIC_SAMPLES_PER_TICK,
    FlushOut,
    SessionSpec,
    Transcript,
    UnitIn,
    UnitOut,
)

if TYPE_CHECKING:
    from engine.models.base import InteractiveModel


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Plain linear-interpolation resampling, float32 (n,) -> float32 (round(n*out/in),)."""
    n = round(len(x) * rate_out / rate_in)
    pos = np.arange(n) * (rate_in / rate_out)
    return np.interp(pos, np.arange(len(x)), x).astype(np.float32)


def place(total_s: float, clips: list[tuple[float, np.ndarray]]) -> np.ndarray:
    """A 16 kHz track of `total_s` with each (start_s, clip) added in."""
    out = np.zeros(int(total_s * 16000), np.float32)
    for start, clip in clips:
        i = int(start * 16000)
        out[i : i + len(clip)] += clip[: len(out) - i]
    return out


T = TypeVar("T")


@dataclass
class RunResult:
    avatar_pcm: np.ndarray  # float32 (n_out_ticks * 960,) after flushes
    frames: list[np.ndarray]  # one uint8 (S,S,3) per output tick (from tick 0 on; before lag: blank)
    events: list[object] = field(default_factory=list)
    outs: list[UnitOut] = field(default_factory=list)
    flushes: list[FlushOut] = field(default_factory=list)

    def transcripts(self, side: str, final: bool | None = None) -> list[Transcript]:
        return [
            e
            for e in self.events
            if isinstance(e, Transcript) and e.side == side and (final is None or e.final == final)
        ]

    def tick_rms(self) -> np.ndarray:
        n = len(self.avatar_pcm) // AVATAR_SAMPLES_PER_TICK
        x = self.avatar_pcm[: n * AVATAR_SAMPLES_PER_TICK].reshape(n, AVATAR_SAMPLES_PER_TICK)
        return np.sqrt(np.mean(x**2, axis=1))

    def of_type(self, cls: type[T]) -> list[T]:
        return [e for e in self.events if isinstance(e, cls)]


def run_model(
    model: InteractiveModel,
    mic: np.ndarray,
    spec: SessionSpec | None = None,
    echo: tuple[float, float] | None = None,
    camera: Sequence[np.ndarray] | None = None,
    keep_frames: bool = True,
    open_session: bool = True,
    mic_lag_ticks: float | None = None,
) -> RunResult:
    """Step `model` over the mic track (16 kHz float32), 4 ticks a unit; returns what was 'heard'."""
    if open_session:
        model.open(spec or SessionSpec())
    n_units = len(mic) // (MIC_SAMPLES_PER_TICK * 4)
    lag_ticks = model.output_lag_units * model.unit_ticks
    total_ticks = n_units * 4 + lag_ticks
    avatar = np.zeros(total_ticks * AVATAR_SAMPLES_PER_TICK, np.float32)
    frames: list[np.ndarray] = [None] * total_ticks  # type: ignore[list-item]
    result = RunResult(avatar, frames)
    delay = int(echo[0] / 1000 * 16000) if echo else 0
    for u in range(n_units):
        tick = u * 4
        a, b = tick * MIC_SAMPLES_PER_TICK, (tick + 4) * MIC_SAMPLES_PER_TICK
        unit_mic = mic[a:b].copy()
        if echo:
            # avatar audio heard so far (24 kHz, tick clock) -> 16 kHz, delayed, attenuated
            upto = tick * AVATAR_SAMPLES_PER_TICK + 4 * AVATAR_SAMPLES_PER_TICK
            av16 = resample(avatar[:upto], 24000, 16000)
            lo, hi = a - delay, b - delay
            seg = np.zeros(b - a, np.float32)
            src = av16[max(lo, 0) : max(hi, 0)]
            seg[len(seg) - len(src) :] = src if hi > 0 else seg[:0]
            unit_mic += echo[1] * seg
        cam = np.zeros((0, 1, 1, 3), np.uint8)
        cam_ticks = np.zeros(0, np.int64)
        if camera is not None:
            cam = np.stack([camera[min(t, len(camera) - 1)] for t in range(tick, tick + 4)])
            cam_ticks = np.arange(tick, tick + 4, dtype=np.int64)
        out = model.step(UnitIn(tick, 4, unit_mic, cam, cam_ticks, mic_lag_ticks=mic_lag_ticks))
        result.outs.append(out)
        result.events.extend(out.events)
        for ev in out.events:
            if isinstance(ev, FlushOut):
                # like a speaker queue in real time: output before the input's position (out.tick)
                # has already been played; only what is still queued can be dropped
                result.flushes.append(ev)
                drop = max(ev.from_tick, out.tick)
                avatar[drop * AVATAR_SAMPLES_PER_TICK :] = 0.0
                for t in range(drop, total_ticks):
                    frames[t] = None  # type: ignore[call-overload]
        s = out.tick * AVATAR_SAMPLES_PER_TICK
        avatar[s : s + len(out.pcm_or_silence())] = out.pcm_or_silence()
        if keep_frames:
            for i in range(out.n_ticks):
                frames[out.tick + i] = out.frames[i]
    return result
