"""Echo suppression: the avatar's own voice coming back through the microphone is not the user.

The model knows exactly what it emitted (the reference, 24 kHz, on the tick clock). Open speakers
bring it back into the mic delayed (~50-300 ms) and attenuated. Per unit:
1. the echo path (delay, gain) is estimated by normalised cross-correlation between the last
   ~0.6 s of mic and the reference (FFT), and the delayed, scaled reference is subtracted;
2. a gate judges each 32 ms chunk: it counts as the user only if the residual is clearly louder
   than what the echo could leave behind. How much echo survives subtraction ("leak", x2 for
   safety) is learned from a low percentile of residual/echo ratios while the reference plays
   (the user's speech only ever raises the ratio), so a room where subtraction works poorly gets
   a stricter gate and a headset (no echo at all) a lenient one.
Before the path is known, the echo bound is the loudest recent reference (scaled by its own leak).
"""

from __future__ import annotations

import numpy as np

from engine.protocol import AVATAR_SAMPLES_PER_TICK, MIC_SAMPLES_PER_TICK

MAX_DELAY_S = 0.35  # longest echo path searched
_MAX_LAG = int(MAX_DELAY_S * 16000)  # samples at 16 kHz
_WINDOW = 9600  # mic samples (0.6 s) correlated per estimate
_HISTORY_TICKS = 75  # reference kept: 3 s


class EchoSuppressor:
    def __init__(self, chunk: int = 512) -> None:
        self.chunk = chunk
        self._ref24: dict[int, np.ndarray] = {}  # output tick -> float32 (960,) at 24 kHz
        self._mic16: dict[int, np.ndarray] = {}  # input tick -> float32 (640,) at 16 kHz
        self.delay = -1  # samples at 16 kHz; -1 = unknown
        self.gain = 0.0
        self.confidence = 0.0  # normalised correlation of the last accepted estimate
        self._leaks: list[float] = []  # residual/echo energy ratios while the avatar talked alone
        self.leak = 1.0
        self._leak_mode = "unknown"  # the leak is learned separately with and without a known path

    # ------------------------------------------------------------------ reference
    def add_reference(self, tick: int, pcm24: np.ndarray) -> None:
        """The avatar audio for output ticks [tick, tick + len/960)."""
        n = len(pcm24) // AVATAR_SAMPLES_PER_TICK
        for i in range(n):
            self._ref24[tick + i] = pcm24[i * AVATAR_SAMPLES_PER_TICK : (i + 1) * AVATAR_SAMPLES_PER_TICK]

    def drop_reference(self, from_tick: int) -> None:
        """Output from `from_tick` on was flushed (never played): it cannot echo."""
        for t in [t for t in self._ref24 if t >= from_tick]:
            del self._ref24[t]

    def reference16(self, start: int, n: int) -> np.ndarray:
        """Reference resampled to 16 kHz for absolute mic samples [start, start + n) (zeros where none)."""
        t0 = max(0, start) // MIC_SAMPLES_PER_TICK
        t1 = (start + n) // MIC_SAMPLES_PER_TICK + 1
        if not any(t in self._ref24 for t in range(t0, t1 + 1)):
            return np.zeros(n, np.float32)
        zero = np.zeros(AVATAR_SAMPLES_PER_TICK, np.float32)
        ref = np.concatenate([self._ref24.get(t, zero) for t in range(t0, t1 + 1)])
        base24 = t0 * AVATAR_SAMPLES_PER_TICK
        pos24 = (np.arange(start, start + n) * 1.5) - base24  # 16 kHz sample k <-> 24 kHz 1.5k
        out = np.interp(pos24, np.arange(len(ref)), ref, left=0.0, right=0.0).astype(np.float32)
        out[np.arange(start, start + n) < 0] = 0.0
        return out

    def active(self, start: int, n: int) -> bool:
        """Could the reference be echoing into mic samples [start, start + n)?"""
        t0 = (start - _MAX_LAG) // MIC_SAMPLES_PER_TICK
        t1 = (start + n) // MIC_SAMPLES_PER_TICK
        return any(t in self._ref24 and np.any(self._ref24[t]) for t in range(t0, t1 + 1))

    # ------------------------------------------------------------------ per unit
    def process(self, tick: int, mic: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mic float32 (640*k,) for input ticks from `tick` -> (residual (640*k,), echo_rms per chunk).

        echo_rms[i] is how loud the echo left in chunk i of the residual could be (0 = no echo).
        """
        n = len(mic)
        start = tick * MIC_SAMPLES_PER_TICK
        for i in range(n // MIC_SAMPLES_PER_TICK):
            self._mic16[tick + i] = mic[i * MIC_SAMPLES_PER_TICK : (i + 1) * MIC_SAMPLES_PER_TICK]
        self._forget(tick)
        n_chunks = n // self.chunk
        if not self.active(start, n):
            return mic, np.zeros(n_chunks, np.float32)
        self._estimate(start + n)
        lag = self.delay if self.delay >= 0 else 0
        if self.delay >= 0:
            echo = self.gain * self.reference16(start - lag, n)
            residual = (mic - echo).astype(np.float32)
            bound = self._chunk_rms(echo)
        else:  # path unknown: at worst an echo as loud as the loudest recent reference
            residual = mic
            shifts = (0, _MAX_LAG // 2, _MAX_LAG)
            worst = max(float(np.sqrt(np.mean(self.reference16(start - d, n) ** 2))) for d in shifts)
            bound = np.full(n_chunks, worst, np.float32)
        mode = "known" if self.delay >= 0 else "unknown"
        if mode != self._leak_mode:
            self._leak_mode, self._leaks, self.leak = mode, [], 1.0
        self._learn_leak(residual, bound)
        return residual, (bound * self.leak).astype(np.float32)

    def _chunk_rms(self, x: np.ndarray) -> np.ndarray:
        n_chunks = len(x) // self.chunk
        return np.sqrt(np.mean(x[: n_chunks * self.chunk].reshape(n_chunks, self.chunk) ** 2, axis=1))

    def _estimate(self, end: int) -> None:
        start = end - _WINDOW
        mic = self._mic_range(start, _WINDOW)
        ref = self.reference16(start - _MAX_LAG, _WINDOW + _MAX_LAG)
        ref_energy = float(np.dot(ref, ref))
        mic_energy = float(np.dot(mic, mic))
        if ref_energy < 1e-6 * len(ref) or mic_energy < 1e-7 * len(mic):  # rms < 1e-3 / 3e-4
            return
        size = 1 << int(np.ceil(np.log2(len(ref) + len(mic))))
        # corr[lag] = sum_k mic[k] * ref[k + _MAX_LAG - lag]  (echo delayed by `lag` samples)
        spec = np.fft.rfft(ref, size) * np.conj(np.fft.rfft(mic, size))
        corr = np.fft.irfft(spec, size)[: _MAX_LAG + 1][::-1]
        # energy of the reference window seen at each lag, for normalisation
        csum = np.concatenate([[0.0], np.cumsum(ref.astype(np.float64) ** 2)])
        lags = np.arange(_MAX_LAG + 1)
        seg_start = _MAX_LAG - lags
        seg_energy = csum[seg_start + _WINDOW] - csum[seg_start]
        norm = corr / np.sqrt(np.maximum(seg_energy, 1e-9) * mic_energy)
        best = int(np.argmax(norm))
        score = float(norm[best])
        if score < 0.3:
            return
        shifted = ref[_MAX_LAG - best : _MAX_LAG - best + _WINDOW]
        gain = float(np.dot(mic, shifted) / max(float(np.dot(shifted, shifted)), 1e-9))
        if self.delay >= 0 and abs(best - self.delay) <= 2:
            self.gain = 0.7 * self.gain + 0.3 * gain
        else:
            self.gain = gain
        self.delay, self.confidence = best, score

    def _learn_leak(self, residual: np.ndarray, bound: np.ndarray) -> None:
        """Learn how much of the echo bound really shows up in the residual (robust to user speech)."""
        res = self._chunk_rms(residual)
        for r, b in zip(res, bound):
            if b > 1e-3:
                self._leaks.append(float(r / b))
        self._leaks = self._leaks[-90:]
        if len(self._leaks) >= 10:  # a low percentile: the user's speech only ever raises the ratio
            self.leak = float(np.clip(np.percentile(self._leaks, 30) * 2.0, 0.1, 4.0))

    def _mic_range(self, start: int, n: int) -> np.ndarray:
        t0, t1 = start // MIC_SAMPLES_PER_TICK, (start + n - 1) // MIC_SAMPLES_PER_TICK
        zero = np.zeros(MIC_SAMPLES_PER_TICK, np.float32)
        buf = np.concatenate([self._mic16.get(t, zero) for t in range(t0, t1 + 1)])
        off = start - t0 * MIC_SAMPLES_PER_TICK
        return buf[off : off + n]

    def _forget(self, tick: int) -> None:
        old = tick - _HISTORY_TICKS
        for d in (self._ref24, self._mic16):
            for t in [t for t in d if t < old]:
                del d[t]
