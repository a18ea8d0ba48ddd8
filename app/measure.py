"""Measuring the app at the glass: a monitor-source recorder and an A/V marker probe.

Used by the benchmark (app.bench) and the A/V sync test. `MonitorRecorder` records the default
input (on PipeWire CI setups: the speaker sink's monitor, i.e. what the speaker plays) and keeps
each block's ADC time on the monotonic clock. `MarkerProbe` records when white frames were
presented by the view. Pairing click onsets with white-frame onsets gives the A/V offset.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .views import AvatarView


class MonitorRecorder:
    def __init__(self, rate: int = 48_000, device: str | int | None = None) -> None:
        self.rate = rate
        self.device = device
        self.blocks: list[tuple[float, np.ndarray]] = []  # (monotonic ADC time of first sample, (n,))
        self._stream: Any = None

    def __enter__(self) -> MonitorRecorder:
        import sounddevice as sd

        def cb(indata: np.ndarray, frames: int, t: Any, status: Any) -> None:
            behind = float(t.currentTime - t.inputBufferAdcTime)
            if not (0.0 <= behind < 1.0):
                behind = frames / self.rate
            self.blocks.append((time.monotonic() - behind, indata[:, 0].copy()))

        self._stream = sd.InputStream(
            samplerate=self.rate, channels=1, dtype="float32", callback=cb, device=self.device, latency="low"
        )
        self._stream.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None

    def audio(self) -> np.ndarray:
        return np.concatenate([b for _, b in self.blocks]) if self.blocks else np.zeros(0, np.float32)

    def click_times(self, threshold: float = 0.4, refractory_s: float = 0.3) -> list[float]:
        """Monotonic times of sharp onsets (|x| > threshold after >= refractory_s of quiet)."""
        out: list[float] = []
        last = -1e9
        for t0, block in list(self.blocks):
            for i in np.flatnonzero(np.abs(block) > threshold):
                t = t0 + i / self.rate
                if t - last >= refractory_s:
                    out.append(t)
                last = t
        return out

    def tone_seconds(self, hz: float = 440.0, min_rms: float = 0.02) -> float:
        """Seconds of recording whose spectrum peaks at `hz` (e.g. a test model's tone)."""
        x = self.audio()
        win = self.rate // 20  # 50 ms
        n = 0
        window = np.hanning(win)
        for i in range(0, x.size - win, win):
            seg = x[i : i + win]
            if np.sqrt(np.mean(seg * seg)) < min_rms:
                continue
            peak_hz = np.argmax(np.abs(np.fft.rfft(seg * window))) * self.rate / win
            n += int(abs(peak_hz - hz) < 30)
        return n * win / self.rate


class MarkerProbe:
    """Presentation times of white frames (mean > 200) shown by an AvatarView."""

    def __init__(self, view: AvatarView) -> None:
        self.white_onsets: list[float] = []
        self.presented = 0
        self._was_white = False
        view.presented.append(self._on_presented)

    def _on_presented(self, t: float, frame: np.ndarray) -> None:
        self.presented += 1
        white = float(frame[::8, ::8].mean()) > 200.0
        if white and not self._was_white:
            self.white_onsets.append(t)
        self._was_white = white


def pair_offsets_ms(frames: list[float], clicks: list[float], max_gap_s: float = 0.3) -> list[float]:
    """For each white-frame onset, (frame time - nearest click time) in ms if within max_gap_s."""
    if not clicks:
        return []
    c = np.asarray(clicks)
    out = []
    for t in frames:
        j = int(np.argmin(np.abs(c - t)))
        if abs(c[j] - t) <= max_gap_s:
            out.append((t - c[j]) * 1000.0)
    return out
