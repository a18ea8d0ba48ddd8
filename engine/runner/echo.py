"""Simulated open-speaker echo: the avatar's own voice leaks back into the mic.

An avatar output block stamped tick t is "played" at input tick t + delay (delay in samples at
16 kHz, any value >= 0) and mixed into the mic with `gain`. Avatar audio (24 kHz) is brought to
16 kHz by linear interpolation (an echo path, not a hi-fi one).
"""

from __future__ import annotations

import math

import numpy as np

from engine.protocol import AVATAR_SAMPLES_PER_TICK, MIC_RATE, MIC_SAMPLES_PER_TICK

MAX_DELAY_MS = 2000.0  # a room's echo arrives within tens of ms; more is a typo
MAX_GAIN = 10.0  # 1.0: the mic hears the avatar as loud as it was played
_POS = np.arange(MIC_SAMPLES_PER_TICK) * (AVATAR_SAMPLES_PER_TICK / MIC_SAMPLES_PER_TICK)  # 24k positions


def to_mic_rate(block24: np.ndarray) -> np.ndarray:
    """float32 (960,) at 24 kHz -> float32 (640,) at 16 kHz (one tick)."""
    return np.interp(_POS, np.arange(AVATAR_SAMPLES_PER_TICK), block24).astype(np.float32)


class EchoPath:
    def __init__(self, delay_ms: float, gain: float) -> None:
        if not (math.isfinite(delay_ms) and 0 <= delay_ms <= MAX_DELAY_MS):
            raise ValueError(f"echo delay must be 0..{MAX_DELAY_MS:g} ms, got {delay_ms:g}")
        if not (math.isfinite(gain) and 0 <= gain <= MAX_GAIN):
            raise ValueError(f"echo gain must be 0..{MAX_GAIN:g} (1: as loud as played), got {gain:g}")
        self.delay = round(delay_ms * MIC_RATE / 1000)  # samples at 16 kHz
        self.gain = float(gain)
        self.played: dict[int, np.ndarray] = {}  # output tick -> float32 (640,) at 16 kHz

    @property
    def enabled(self) -> bool:
        return self.gain != 0.0

    def needed_output_tick(self, input_tick: int) -> int:
        """The newest avatar output tick whose sound reaches the mic during `input_tick`."""
        return ((input_tick + 1) * MIC_SAMPLES_PER_TICK - 1 - self.delay) // MIC_SAMPLES_PER_TICK

    def check_causal(self, unit_ticks: int, output_lag_units: int) -> None:
        """Output for input unit u appears at u + lag units; echo must not need output from the future."""
        need = (1 - output_lag_units) * unit_ticks * MIC_SAMPLES_PER_TICK
        if self.enabled and self.delay < need:
            raise ValueError(
                f"echo delay {self.delay * 1000 // MIC_RATE} ms is shorter than this model's output lag "
                f"allows (needs >= {need * 1000 // MIC_RATE} ms)"
            )

    def play(self, tick: int, block24: np.ndarray) -> None:
        """Avatar output for `tick` has been played (float32 (960,) at 24 kHz)."""
        if self.enabled:
            self.played[tick] = to_mic_rate(block24)

    def mix(self, input_tick: int, mic: np.ndarray) -> np.ndarray:
        """mic float32 (640,) of `input_tick` + gain * the echo heard during it."""
        if not self.enabled:
            return mic
        lo = input_tick * MIC_SAMPLES_PER_TICK - self.delay  # output-timeline samples heard now
        echo = np.zeros(MIC_SAMPLES_PER_TICK, np.float32)
        for t in range(
            lo // MIC_SAMPLES_PER_TICK, (lo + MIC_SAMPLES_PER_TICK - 1) // MIC_SAMPLES_PER_TICK + 1
        ):
            block = self.played.get(t)
            if block is None:
                continue
            a = max(lo, t * MIC_SAMPLES_PER_TICK)
            b = min(lo + MIC_SAMPLES_PER_TICK, (t + 1) * MIC_SAMPLES_PER_TICK)
            echo[a - lo : b - lo] = block[a - t * MIC_SAMPLES_PER_TICK : b - t * MIC_SAMPLES_PER_TICK]
        for t in [t for t in self.played if t < lo // MIC_SAMPLES_PER_TICK]:
            del self.played[t]
        return (mic + self.gain * echo).astype(np.float32)
