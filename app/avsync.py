"""Which avatar frame to show now: the one whose tick matches what the speaker is playing.

Pure logic, no Qt, no devices (unit-tested). The GUI calls `pick(playing_tick, now)` from a fast
timer; the audio clock (Player.tick_at) is the master. Without an audio clock (nothing playing
yet), frames free-run on the monotonic clock at 25 fps, anchored at the first frame.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from engine.protocol import FPS


@dataclass
class FrameStats:
    shown: int = 0
    dropped: int = 0  # frames discarded without ever being shown (arrived too late / skipped)
    late: int = 0  # frames shown more than one tick after their slot began
    flushed: int = 0
    offsets_ms: deque[float] = field(default_factory=lambda: deque(maxlen=500))  # shown - audio, ms
    show_times: deque[float] = field(default_factory=lambda: deque(maxlen=100))  # monotonic s


class FrameScheduler:
    def __init__(self, max_frames: int = 200, lead_ticks: float = 0.1) -> None:
        self._frames: deque[tuple[int, np.ndarray]] = deque()
        self.max_frames = max_frames
        self.lead = lead_ticks  # show a frame this much ahead of its audio (render/display delay)
        self.stats = FrameStats()
        self.current_tick = -1
        self._anchor: tuple[float, float] | None = None  # (monotonic s, tick) for free-run

    def __len__(self) -> int:
        return len(self._frames)

    def add(self, tick: int, frame: np.ndarray) -> None:
        if tick <= self.current_tick:
            self.stats.dropped += 1  # already past this tick
            return
        if self._frames and tick <= self._frames[-1][0]:
            # out of order or a re-sent tick after a flush: keep ticks strictly increasing
            while self._frames and self._frames[-1][0] >= tick:
                self._frames.pop()
        self._frames.append((tick, frame))
        while len(self._frames) > self.max_frames:
            self._frames.popleft()
            self.stats.dropped += 1

    def flush(self, from_tick: int) -> None:
        while self._frames and self._frames[-1][0] >= from_tick:
            self._frames.pop()
            self.stats.flushed += 1

    def clear(self) -> None:
        self._frames.clear()
        self.current_tick = -1
        self._anchor = None

    def clock(self, playing_tick: float | None, now: float) -> float | None:
        """The display clock in ticks: the audio clock when audio plays, else a free-running one."""
        if playing_tick is not None:
            self._anchor = (now, playing_tick)
            return playing_tick
        if not self._frames:
            return None
        if self._anchor is None or self._frames[0][0] > self._anchor[1] + (now - self._anchor[0]) * FPS + 2:
            self._anchor = (now, float(self._frames[0][0]))
        return self._anchor[1] + (now - self._anchor[0]) * FPS

    def pick(self, playing_tick: float | None, now: float) -> tuple[int, np.ndarray] | None:
        """The frame to show now if it differs from the one shown, else None."""
        clock = self.clock(playing_tick, now)
        if clock is None:
            return None
        target = math.floor(clock + self.lead)
        chosen: tuple[int, np.ndarray] | None = None
        while self._frames and self._frames[0][0] <= target:
            if chosen is not None:
                self.stats.dropped += 1  # skipped: a newer frame is already due
            chosen = self._frames.popleft()
        if chosen is None:
            return None
        tick = chosen[0]
        if clock - tick >= 1.0:
            self.stats.late += 1
        self.stats.shown += 1
        self.stats.show_times.append(now)
        if playing_tick is not None:
            self.stats.offsets_ms.append((tick - playing_tick) * 1000.0 / FPS)
        self.current_tick = tick
        return chosen

    def fps(self) -> float:
        t = self.stats.show_times
        if len(t) < 2 or t[-1] <= t[0]:
            return 0.0
        return (len(t) - 1) / (t[-1] - t[0])
