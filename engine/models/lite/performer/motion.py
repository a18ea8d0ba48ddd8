"""Deterministic liveliness: blinks, saccades, glances, breathing and sway as functions of (seed, t).

Every schedule is drawn from a seeded generator, so the same seed and time give the same motion.
"""

from __future__ import annotations

import bisect
import math

import numpy as np

BLINK_S = 0.15  # a blink: ~50 ms closing, ~20 ms shut, ~80 ms opening


class EventSchedule:
    """Event start times drawn as gaps uniform in [lo, hi] seconds, extended lazily; each event
    carries a few uniform random values for its shape."""

    def __init__(self, seed: int, lo: float, hi: float, first: tuple[float, float], n_vals: int = 2) -> None:
        self._rng = np.random.default_rng(seed)
        self._lo, self._hi = lo, hi
        self._n_vals = n_vals
        self.times: list[float] = [float(self._rng.uniform(*first))]
        self.vals: list[np.ndarray] = [self._rng.uniform(-1, 1, n_vals)]

    def _extend(self, t: float) -> None:
        while self.times[-1] <= t + self._hi:
            self.times.append(self.times[-1] + float(self._rng.uniform(self._lo, self._hi)))
            self.vals.append(self._rng.uniform(-1, 1, self._n_vals))

    def last(self, t: float) -> tuple[float, np.ndarray] | None:
        """(start, values) of the latest event at or before t; None before the first."""
        self._extend(t)
        i = bisect.bisect_right(self.times, t) - 1
        return (self.times[i], self.vals[i]) if i >= 0 else None


def blink_closure(t: float, start: float) -> float:
    """0 open .. 1 shut for a blink starting at `start`."""
    d = t - start
    if d < 0 or d > BLINK_S:
        return 0.0
    if d < 0.05:
        x = d / 0.05
        return x * x * (3 - 2 * x)
    if d < 0.07:
        return 1.0
    x = (d - 0.07) / 0.08
    return 1.0 - x * x * (3 - 2 * x)


class Liveliness:
    """The idle motion of one avatar instance."""

    def __init__(self, seed: int) -> None:
        ss = np.random.SeedSequence(seed)
        s_blink, s_sacc, s_glance, s_phase = (int(x.generate_state(1)[0]) for x in ss.spawn(4))
        self.blinks = EventSchedule(s_blink, 2.0, 6.0, (0.6, 3.0), 1)
        self.saccades = EventSchedule(s_sacc, 0.35, 1.6, (0.2, 1.0), 2)
        self.glances = EventSchedule(s_glance, 6.0, 14.0, (4.0, 9.0), 3)
        self.phase = np.random.default_rng(s_phase).uniform(0, 2 * np.pi, 8)

    def blink(self, t: float) -> float:
        ev = self.blinks.last(t)
        if ev is None:
            return 0.0
        c = blink_closure(t, ev[0])
        # now and then a double blink
        if ev[1][0] > 0.7:
            c = max(c, blink_closure(t, ev[0] + 0.28))
        return c

    def saccade(self, t: float) -> np.ndarray:
        """Small fixational jumps of the gaze: (x, y) offsets, eased over ~30 ms."""
        ev = self.saccades.last(t)
        if ev is None:
            return np.zeros(2)
        i = bisect.bisect_right(self.saccades.times, t) - 1
        prev = self.saccades.vals[i - 1] if i > 0 else np.zeros(2)
        a = min(1.0, (t - ev[0]) / 0.03)
        return (prev + (ev[1] - prev) * a) * np.array([0.1, 0.06])

    def glance(self, t: float, away: float) -> np.ndarray:
        """Now and then a look away for ~0.8-1.6 s; away scales how far (0 = never)."""
        ev = self.glances.last(t)
        if ev is None or away <= 0:
            return np.zeros(2)
        start, v = ev
        dur = 0.8 + 0.4 * (v[2] + 1.0)
        d = t - start
        if d < 0 or d > dur:
            return np.zeros(2)
        env = min(1.0, d / 0.12, (dur - d) / 0.15)
        direction = np.array([0.55 * math.copysign(1.0, v[0]) + 0.2 * v[0], 0.25 * v[1] - 0.1])
        return direction * env * away

    def breath(self, t: float) -> float:
        """-1..1, period ~4.2 s."""
        return math.sin(2 * math.pi * t / 4.2 + self.phase[0])

    def sway(self, t: float) -> tuple[float, float, float]:
        """(roll degrees, dx, dy) design px: slow, irregular head motion."""
        p = self.phase
        roll = 1.3 * math.sin(2 * math.pi * 0.09 * t + p[1]) + 0.6 * math.sin(2 * math.pi * 0.23 * t + p[2])
        dx = 3.0 * math.sin(2 * math.pi * 0.061 * t + p[3]) + 1.2 * math.sin(2 * math.pi * 0.17 * t + p[4])
        dy = 1.2 * math.sin(2 * math.pi * 0.11 * t + p[5])
        return roll, dx, dy

    def speech_bob(self, t: float) -> float:
        return math.sin(2 * math.pi * 0.7 * t + self.phase[6]) + 0.5 * math.sin(
            2 * math.pi * 1.3 * t + self.phase[7]
        )


def nod_offset(d: float) -> float:
    """Downward head offset 0..1 for a nod that started d seconds ago (one dip and back, 0.7 s)."""
    if d < 0 or d > 0.7:
        return 0.0
    x = d / 0.7
    return math.sin(math.pi * x) ** 2 * (1.0 - 0.35 * x)
