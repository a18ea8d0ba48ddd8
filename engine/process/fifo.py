"""The input FIFO (SoundFlow-style asynchronous scheduling).

The drainer thread appends mic audio and camera frames here as they arrive; the stepper pops a
unit as soon as the mic audio for the unit's LAST tick has arrived, so the model never waits on a
fixed lockstep. Ticks missing inside a unit (dropped upstream) are filled with zeros and counted;
audio older than the next unit (late) is dropped and counted. Bounded: at most `max_ticks` ticks
are held (older ones are skipped and counted), and `max_frames` camera frames.
"""

from __future__ import annotations

import threading

import numpy as np

from engine.protocol import MIC_SAMPLES_PER_TICK, UnitIn

IDLE_MAX_TICKS = 12  # without an open session keep only ~0.5 s (covers open/push races)


class UnitFifo:
    def __init__(self, unit_ticks: int, max_ticks: int = 250, max_frames: int = 50) -> None:
        if unit_ticks <= 0:
            raise ValueError(f"unit_ticks must be positive, got {unit_ticks}")
        self.unit_ticks = unit_ticks
        self.max_ticks = max(max_ticks, 2 * unit_ticks)
        self.max_frames = max_frames
        self.session_open = False
        self._lock = threading.Lock()
        self._mic: dict[int, np.ndarray] = {}  # tick -> float32 (640,)
        self._frames: dict[int, np.ndarray] = {}  # tick -> uint8 (H, W, 3)
        self._next: int | None = None  # first tick of the next unit
        self._high = -1  # highest mic tick received
        self.missing_ticks = 0  # mic ticks filled with zeros inside stepped units
        self.late_ticks = 0  # mic ticks that arrived after their unit was stepped
        self.skipped_ticks = 0  # ticks dropped because the FIFO was full (model too slow)
        self.dropped_frames = 0  # camera frames dropped (late, or over max_frames)

    # ------------------------------------------------------------------ drainer side
    def push_mic(self, tick: int, pcm: np.ndarray) -> None:
        """float32 (640 * k,) covering ticks [tick, tick + k)."""
        spt = MIC_SAMPLES_PER_TICK
        with self._lock:
            for i in range(pcm.size // spt):
                t = tick + i
                if self._next is not None and t < self._next:
                    self.late_ticks += 1
                    continue
                self._mic[t] = pcm[i * spt : (i + 1) * spt]
                self._high = max(self._high, t)
            if self._next is None and self._mic:
                self._next = min(self._mic)
            self._bound()

    def push_frame(self, tick: int, rgb: np.ndarray) -> None:
        with self._lock:
            if self._next is not None and tick < self._next:
                self.dropped_frames += 1
                return
            self._frames[tick] = rgb
            while len(self._frames) > self.max_frames:
                del self._frames[min(self._frames)]
                self.dropped_frames += 1

    def _bound(self) -> None:
        limit = self.max_ticks if self.session_open else IDLE_MAX_TICKS
        if self._next is None or self._high - self._next + 1 <= limit:
            return
        new_next = self._high - limit + 1
        if self.session_open:
            self.skipped_ticks += new_next - self._next
        for t in [t for t in self._mic if t < new_next]:
            del self._mic[t]
        for t in [t for t in self._frames if t < new_next]:
            del self._frames[t]
        self._next = new_next

    # ------------------------------------------------------------------ stepper side
    def set_session_open(self, is_open: bool) -> None:
        with self._lock:
            self.session_open = is_open
            if not is_open:
                self._mic.clear()
                self._frames.clear()
                self._next, self._high = None, -1
            else:
                self._bound()

    def ready(self) -> bool:
        with self._lock:
            return self._next is not None and self._high >= self._next + self.unit_ticks - 1

    def depth_units(self) -> int:
        with self._lock:
            if self._next is None:
                return 0
            return max(0, (self._high - self._next + 1) // self.unit_ticks)

    def next_tick(self) -> int | None:
        with self._lock:
            return self._next

    def pop(self) -> UnitIn | None:
        """The next full unit, or None if its last tick has not arrived yet."""
        n, spt = self.unit_ticks, MIC_SAMPLES_PER_TICK
        with self._lock:
            start = self._next
            if start is None or self._high < start + n - 1:
                return None
            mic = np.zeros(n * spt, np.float32)
            for i in range(n):
                block = self._mic.pop(start + i, None)
                if block is None:
                    self.missing_ticks += 1
                else:
                    mic[i * spt : (i + 1) * spt] = block
            ticks = sorted(t for t in self._frames if t < start + n)
            frames = [self._frames.pop(t) for t in ticks]
            self._next = start + n
        keep = [(t, f) for t, f in zip(ticks, frames) if t >= start]
        if keep:  # one shape per unit: keep frames shaped like the newest (camera may switch mode)
            shape = keep[-1][1].shape
            same = [(t, f) for t, f in keep if f.shape == shape]
            self.dropped_frames += len(frames) - len(same)
            frame_arr = np.stack([f for _, f in same])
            frame_ticks = np.array([t for t, _ in same], np.int64)
        else:
            self.dropped_frames += len(frames)
            frame_arr = np.zeros((0, 1, 1, 3), np.uint8)
            frame_ticks = np.zeros(0, np.int64)
        return UnitIn(tick=start, n_ticks=n, mic=mic, frames=frame_arr, frame_ticks=frame_ticks)
