"""Echo suppression: the avatar's own voice coming back through the microphone is not the user.

The model knows exactly what it emitted (the reference, 24 kHz, on the tick clock). Open speakers
bring it back into the mic delayed (~50-300 ms) and attenuated. Per unit:
1. the echo path (delay, gain) is estimated by normalised cross-correlation between the last
   ~0.6 s of mic and the reference (FFT), and the delayed, scaled reference is subtracted;
2. a gate judges each 32 ms chunk: it counts as the user only if the residual is clearly louder
   than what the echo could leave behind (the loudest echo of the chunk and its neighbours). How
   much echo survives subtraction ("leak") is learned from the upper quartile of residual/echo
   ratios while the reference plays (x3 for safety), so a room where subtraction works poorly
   gets a stricter gate and a headset (no echo at all) a lenient one;
3. a chunk over that level still counts only by what of it lies outside the echo's spectrum: where
   a sound server moves the path, the echo is distorted for ~0.1 s and subtraction leaves a third
   to a half of it, but in every frequency bin that residual stays under the echo's own power,
   while a user talking over the avatar shows above it between the avatar's harmonics.
Before the path is known, the echo bound is the loudest recent reference (scaled by its own leak,
which starts at _FIRST_LEAK: speakers turned up and a near microphone bring the voice back louder
than it was sent, e.g. x1.4 through a stereo loopback).

Clock alignment: in a headless run the output plays on the input clock (avatar tick T can be heard
from input tick T on). A live client plays it later, behind its playback queue and the devices'
buffers, by a lag that changes whenever the queue re-buffers (an underrun) or sheds silence; it
reports the lag it measures at the speaker and how far it has played (UnitIn.mic_lag_ticks,
played_tick). Each output tick gets the input-clock position it was played at (note_played), and
the reference is laid out on the mic's timeline tick by tick, so a lag change moves only the ticks
played after it and the search above only has to cover the acoustic path. Inside one stretch of
playback the lag can move too (the sound server drops or repeats samples on the way out or in, at
a moment nobody reports), and now and then a report glitches: there a changed report is a hint,
followed once the echo shows up where it says (and given up if it never does).
"""

from __future__ import annotations

import logging
from collections import deque

import numpy as np

from engine.protocol import AVATAR_SAMPLES_PER_TICK, MIC_SAMPLES_PER_TICK

from .dsp import kaiser_sinc_table

log = logging.getLogger(__name__)

MAX_DELAY_S = 0.35  # longest echo path searched
_MAX_LAG = int(MAX_DELAY_S * 16000)  # samples at 16 kHz
_WINDOW = 9600  # mic samples (0.6 s) correlated per estimate
_HISTORY_TICKS = 75  # reference kept: 3 s
_FIRST_LEAK = {"unknown": 3.0, "known": 1.0}  # gate scale until 10 chunks have been learned
_LEAK_MARGIN = 3.0  # gate = this x the upper quartile of residual/echo while the avatar talks alone
_LEAK_MIN = 0.2  # the gate is never below this x the echo bound (once learned)
_TAIL_FLOOR = 0.1  # echo bound >= this x the loudest echo chunk of the last ~0.5 s
_TRACK = 192  # samples (12 ms): how far one chunk may find the echo off the path by itself
_LAG_STEP = 80  # samples (5 ms): a move of a reported lag within one playback stretch (jitter: +-2 ms)
_HINT_UNITS = 8  # units with the echo found where laid out, after which a moved report is given up
# 24 kHz -> 16 kHz band-limited interpolation: 2 x 24 taps, passband to 93% of 8 kHz
_HALF, _PHASES = 24, 256
_TABLE = kaiser_sinc_table(_HALF, 0.93 * 2 / 3, _PHASES)  # (_PHASES + 1, 48)
_OFFS = np.arange(-_HALF + 1, _HALF + 1)
_PAD, _PAD2 = np.zeros(_HALF, np.float32), np.zeros(_HALF + 2, np.float32)
_SPECTRAL_OFFSETS = (-64, 0, 64)  # samples: the echo's spectrum is taken this far around a chunk
_SPECTRAL_WIDEN = 1  # bins (31 Hz at 512 samples) either side


class EchoSuppressor:
    def __init__(self, chunk: int = 512) -> None:
        self.chunk = chunk
        self._hann = np.hanning(chunk).astype(np.float32)
        # sum over rfft bins of |X|^2 of a Hann-windowed chunk ~= this x its mean square
        self._win_power = float(np.sum(self._hann**2)) * chunk / 2
        self._ref24: dict[int, np.ndarray] = {}  # output tick -> float32 (960,) at 24 kHz
        self._mic16: dict[int, np.ndarray] = {}  # input tick -> float32 (640,) at 16 kHz
        self.delay = -1  # samples at 16 kHz; -1 = unknown
        self.frac = 0.0  # and a fraction of a sample more (-0.5..0.5)
        self.gain = 0.0
        self.confidence = 0.0  # normalised correlation of the last accepted estimate
        self._leaks: list[float] = []  # residual/echo energy ratios while the avatar talked alone
        self.leak = _FIRST_LEAK["unknown"]
        self._leak_mode = "unknown"  # the leak is learned separately with and without a known path
        self.shift = 0  # samples at 16 kHz: output tick T not yet played will be heard from T*640 + shift
        self._pos: dict[int, int] = {}  # output tick -> mic sample (16 kHz, absolute) it plays from
        self._played = -1  # last output tick the client reported played (its position is final)
        self._segment = -1  # first output tick of the client's current playback segment (-1: unknown)
        self._reported = 0  # the shift the client reports now, which may differ from the one in use
        self._hint_units = 0  # units since the report differs that found the echo where laid out
        self._ignored = -_LAG_STEP  # a reported shift given up on in this stretch
        self._peaks: deque[float] = deque(maxlen=16)  # echo rms of the last 16 chunks (~0.5 s)

    # ------------------------------------------------------------------ reference
    def note_played(self, played_tick: int, lag_ticks: float | None, from_tick: int = -1) -> None:
        """The client has played output up to `played_tick`, and from output tick `from_tick` on
        (-1: the client does not say) avatar tick T is heard at input tick T + lag_ticks (None: no
        report, keep what is known). Ticks played before `from_tick` keep the place they were
        played at."""
        new_stretch = False
        if lag_ticks is not None:
            # one tick less: the path search covers delays >= 0 only, and the report jitters by ms
            shift = max(0, round((lag_ticks - 1.0) * MIC_SAMPLES_PER_TICK))
            if from_tick > self._segment:  # a new stretch of playback, from where the client says
                if shift != self.shift:
                    log.info("echo: playback lag %.0f ms from tick %d", lag_ticks * 40, from_tick)
                self.shift, self._segment, self._ignored = shift, from_tick, -_LAG_STEP
                new_stretch = True
            elif from_tick < 0 and abs(shift - self.shift) >= MIC_SAMPLES_PER_TICK // 2:
                self.shift = shift  # a jump, not jitter: what is not yet played moves (below)
            # Within a stretch a changed report is a hint: a sound server dropped or repeated
            # samples on the way out or in, at some moment since the last report, or the report
            # glitched (both seen on PipeWire). The echo is looked for there too, and what is not yet
            # heard moves once the echo is found there (process).
            if (from_tick == self._segment or from_tick < 0) and abs(shift - self._ignored) >= _LAG_STEP:
                if abs(shift - self._reported) >= _LAG_STEP:
                    self._hint_units = 0  # another hint: its own evidence
                self._reported = shift
        # a new stretch from its first tick, else what is not yet played: at the lag known now
        first = self._segment if new_stretch else max(self._played + 1, self._segment)
        for t in [t for t in self._pos if t >= first]:
            self._pos[t] = t * MIC_SAMPLES_PER_TICK + self.shift
        self._played = max(self._played, played_tick)

    def add_reference(self, tick: int, pcm24: np.ndarray) -> None:
        """The avatar audio for output ticks [tick, tick + len/960)."""
        n = len(pcm24) // AVATAR_SAMPLES_PER_TICK
        for i in range(n):
            self._ref24[tick + i] = pcm24[i * AVATAR_SAMPLES_PER_TICK : (i + 1) * AVATAR_SAMPLES_PER_TICK]
            self._pos[tick + i] = (tick + i) * MIC_SAMPLES_PER_TICK + self.shift

    def drop_reference(self, from_tick: int) -> None:
        """Output from `from_tick` on was flushed (never played): it cannot echo."""
        for t in [t for t in self._ref24 if t >= from_tick]:
            del self._ref24[t], self._pos[t]

    def reference16(self, start: int, n: int, frac: float = 0.0) -> np.ndarray:
        """What the speaker played, on the mic's timeline at 16 kHz, for absolute mic samples
        [start, start + n) delayed by `frac` more samples (|frac| <= 1; zeros where nothing played).

        Band-limited (Kaiser-windowed sinc, 48 taps at 24 kHz): a real path resamples properly and
        sits between 16 kHz samples, and only an exact copy subtracts well. Measured through
        PipeWire's loopback, the echo left is -38..-44 dB (median) this way, against -21 dB for
        linear interpolation on the integer sample grid."""
        out = np.zeros(n, np.float32)
        for t, pos in self._pos.items():
            k0, k1 = max(start, pos), min(start + n, pos + MIC_SAMPLES_PER_TICK)
            if k1 <= k0:
                continue
            prev, nxt = self._ref24.get(t - 1), self._ref24.get(t + 1)
            head = (
                prev[-_HALF:]
                if prev is not None and self._pos.get(t - 1) == pos - MIC_SAMPLES_PER_TICK
                else _PAD
            )
            tail = (
                nxt[: _HALF + 2]
                if nxt is not None and self._pos.get(t + 1) == pos + MIC_SAMPLES_PER_TICK
                else _PAD2
            )
            ext = np.concatenate([head, self._ref24[t], tail])
            # 16 kHz sample k <-> 24 kHz position 1.5 (k - pos - frac) within this tick
            p24 = (np.arange(k0, k1) - pos - frac) * 1.5
            i0 = np.floor(p24).astype(np.int64)
            phase = np.rint((p24 - i0) * _PHASES).astype(np.int64)
            idx = np.clip(i0[:, None] + _OFFS[None, :] + _HALF, 0, len(ext) - 1)
            out[k0 - start : k1 - start] += np.einsum("ij,ij->i", ext[idx], _TABLE[phase])
        return out

    def active(self, start: int, n: int) -> bool:
        """Could the reference be echoing into mic samples [start, start + n)?"""
        return any(
            start - _MAX_LAG - MIC_SAMPLES_PER_TICK < pos < start + n and np.any(self._ref24[t])
            for t, pos in self._pos.items()
        )

    # ------------------------------------------------------------------ per unit
    def process(self, tick: int, mic: np.ndarray, learn: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Mic float32 (640*k,) for input ticks from `tick` -> (residual (640*k,), echo_rms per chunk).

        echo_rms[i] is how loud the echo left in chunk i of the residual could be (0 = no echo).
        `learn`: False while the user is known to be talking (their voice is not echo to learn from).
        """
        n = len(mic)
        start = tick * MIC_SAMPLES_PER_TICK
        for i in range(n // MIC_SAMPLES_PER_TICK):
            self._mic16[tick + i] = mic[i * MIC_SAMPLES_PER_TICK : (i + 1) * MIC_SAMPLES_PER_TICK]
        self._forget(tick)
        n_chunks = n // self.chunk
        off = self._reported - self.shift  # where the client says the echo is now, if elsewhere
        off = off if abs(off) >= _LAG_STEP else 0
        if not (self.active(start, n) or (off and self.delay >= 0 and self.active(start - off, n))):
            return mic, np.zeros(n_chunks, np.float32)
        self._estimate(start + n)
        lag = self.delay if self.delay >= 0 else 0
        if self.delay >= 0:
            c, r = self.chunk, _TRACK  # the echo of the neighbouring chunks too: transients smear
            wide = self.gain * self.reference16(start - lag - c - r, n + 2 * (c + r), self.frac)
            alt = None
            if off:
                alt = self.gain * self.reference16(start - off - lag - c - r, n + 2 * (c + r), self.frac)
            echo, moved, found, kept = self._align(mic, wide, alt)
            if found >= 2:  # the echo is where the client says: what is not yet heard moves there
                log.info("echo: playback moved %+.1f ms (reported)", off / 16)
                for t, pos in list(self._pos.items()):
                    if pos + MIC_SAMPLES_PER_TICK > start:
                        self._pos[t] = pos + off
                self.shift, self._hint_units = self._reported, 0
            elif kept >= 2:  # the echo is where it was laid out, not where the client says
                self._hint_units += 1
                if self._hint_units >= _HINT_UNITS:  # a glitch, or the path search followed by itself
                    log.info("echo: the reported playback lag (%+.1f ms) is not where the echo is", off / 16)
                    self._ignored, self._reported, self._hint_units = self._reported, self.shift, 0
            if len(moved) >= 3 and max(moved) - min(moved) <= 2:  # the unit agrees: the path moved
                step = int(np.median(moved))
                log.info(
                    "echo path moved %+d samples (now %.2f ms)", step, (self.delay + step + self.frac) / 16
                )
                self.delay += step
            residual = (mic - echo).astype(np.float32)
            # subtracting never makes a chunk louder: where it would, the echo was not there (the
            # client re-buffered and has not said so yet) and the mic as it is is the better guess
            worse = self._chunk_rms(residual) > self._chunk_rms(mic)
            for k in np.nonzero(worse)[0].tolist():
                residual[k * self.chunk : (k + 1) * self.chunk] = mic[k * self.chunk : (k + 1) * self.chunk]
            around = self._chunk_rms(wide[r : r + n + 2 * c])  # (n_chunks + 2,): this unit +- a chunk
            if alt is not None:  # the echo may be where the client says, as loud
                around = np.maximum(around, self._chunk_rms(alt[r : r + n + 2 * c]))
            around[1:-1] = np.maximum(around[1:-1], self._chunk_rms(echo))
            heard = (echo, wide) if alt is None else (echo, wide, alt)
            bound = np.maximum(np.maximum(around[:-2], around[1:-1]), around[2:])
            # between words the echo estimate falls to nothing while its tail (and the VAD, which
            # ignores level) lingers: never below a tenth of the echo's recent peak
            self._peaks.extend(around[1:-1].tolist())
            bound = np.maximum(bound, _TAIL_FLOOR * max(self._peaks))
        else:  # path unknown: at worst an echo as loud as the loudest recent reference
            residual = mic
            shifts = (0, _MAX_LAG // 2, _MAX_LAG)
            worst = max(float(np.sqrt(np.mean(self.reference16(start - d, n) ** 2))) for d in shifts)
            bound = np.full(n_chunks, worst, np.float32)
        mode = "known" if self.delay >= 0 else "unknown"
        if mode != self._leak_mode:
            self._leak_mode, self._leaks, self.leak = mode, [], _FIRST_LEAK[mode]
        res_rms = self._chunk_rms(residual)
        if self.delay < 0:
            if learn:
                self._learn_leak(res_rms, bound)
            return residual, (bound * self.leak).astype(np.float32)
        # the spectra only where they can matter: the gate never lets through less than
        # _LEAK_MIN x the bound, and quieter chunks are learned whole
        inside, outside = res_rms.copy(), np.zeros(len(res_rms))
        for i in np.nonzero(res_rms > bound * _LEAK_MIN)[0].tolist():
            inside[i], outside[i] = self._spectral_split(residual, heard, i)
        if learn:
            # what the room leaves (a reverberant tail lies partly outside the echo's spectrum now)
            # is learned whole; of a chunk that looks like the user talking over the avatar, only
            # the part like the echo (else the gate would learn to ignore a quiet user)
            userish = outside > bound * self.leak
            self._learn_leak(np.where(userish, inside, res_rms), bound)
        bound = (bound * self.leak).astype(np.float32)
        # a chunk louder than its bound is the user only if enough of it lies outside the echo's
        # spectrum; else all of it could be the echo
        loud = (res_rms > bound) & (outside <= bound)
        bound[loud] = res_rms[loud]
        return residual, bound

    def _spectral_split(
        self, residual: np.ndarray, heard: tuple[np.ndarray, ...], i: int
    ) -> tuple[float, float]:
        """The rms of chunk i of the residual inside and outside the echo's spectrum.

        Where the path moves (a sound server re-syncing), the echo is distorted for ~0.1 s and
        subtraction leaves a third to a half of it: measured on PipeWire's loopback, that residual
        stays under the echo's own power in nearly every frequency bin, while a user talking over
        the avatar shows above it between the avatar's harmonics and formants. `heard`: the echo as
        subtracted (n,), then the echo at the path (and where the client says it is) for mic
        samples [-c - _TRACK, n + c + _TRACK); their spectra around the chunk (+-4 ms), widened by
        +-31 Hz, make the echo's spectrum."""
        c = self.chunk
        base = _TRACK + c + i * c  # heard[1][base:base + c] is the echo at the path for chunk i
        specs = [self._power(heard[0][i * c : (i + 1) * c])]
        specs += [self._power(w[base + o : base + o + c]) for w in heard[1:] for o in _SPECTRAL_OFFSETS]
        env = np.max(specs, axis=0)
        env = np.max([np.roll(env, k) for k in range(-_SPECTRAL_WIDEN, _SPECTRAL_WIDEN + 1)], axis=0)
        res = self._power(residual[i * c : (i + 1) * c])
        inside = float(np.sqrt(np.sum(np.minimum(res, env)) / self._win_power))
        outside = float(np.sqrt(np.sum(np.maximum(res - env, 0.0)) / self._win_power))
        return inside, outside

    def _power(self, x: np.ndarray) -> np.ndarray:
        """Power spectrum (chunk // 2 + 1,) of one chunk, Hann-windowed."""
        return np.abs(np.fft.rfft(x * self._hann)) ** 2

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
        if self.delay >= 0 and abs(best - self.delay) > 2:
            # a known path moves only when clearly beaten: right after a jump the window still
            # holds mostly the old path (the per-chunk search in process() follows small jumps)
            here = float(norm[min(self.delay, _MAX_LAG)])
            if score < 0.9 or score - here < 0.1:
                return
        shifted = ref[_MAX_LAG - best : _MAX_LAG - best + _WINDOW]
        gain = float(np.dot(mic, shifted) / max(float(np.dot(shifted, shifted)), 1e-9))
        if self.delay >= 0 and abs(best - self.delay) <= 2:
            if score >= 0.9:  # a window that straddles a path change underestimates the gain
                self.gain = 0.7 * self.gain + 0.3 * gain
        else:
            self.gain = gain
        # the peak between samples: a parabola through the correlation at best - 1, best, best + 1
        frac = 0.0
        if 0 < best < _MAX_LAG:
            y0, y1, y2 = float(norm[best - 1]), score, float(norm[best + 1])
            curve = y0 - 2.0 * y1 + y2
            if curve < 0:
                frac = float(np.clip(0.5 * (y0 - y2) / curve, -0.5, 0.5))
        if abs(best - self.delay) > 80:  # 5 ms: a new path (first found, or the device changed)
            log.info("echo path: %.2f ms, gain %.2f (correlation %.2f)", (best + frac) / 16, self.gain, score)
        self.delay, self.frac, self.confidence = best, frac, score

    def _align(
        self, mic: np.ndarray, wide: np.ndarray, alt: np.ndarray | None = None
    ) -> tuple[np.ndarray, list[int], int, int]:
        """Per 32 ms chunk, the echo lined up within +-_TRACK samples of the path.

        A sound server re-syncing its streams drops or repeats a few samples, and the path jumps by
        a few ms, even inside a unit; the 0.6 s estimate would take ~0.3 s to follow, and meanwhile
        the echo would pass as the user. `wide` is the echo at the current path for mic samples
        [-c - _TRACK, n + c + _TRACK) of this unit; `alt` the same where the client's latest report
        puts it (see note_played), or None. A chunk takes another offset only if the echo lines up
        clearly better there. Returns the echo (n,), the offsets chunks moved by on the path, how
        many chunks took `alt`, and how many lined up well (>= 0.9) on the path with `alt` looked at."""
        c, n = self.chunk, len(mic)
        echo = wide[c + _TRACK : c + _TRACK + n].copy()
        moved: list[int] = []
        found = kept = 0
        for i in range(n // c):
            m = mic[i * c : (i + 1) * c]
            m_energy = float(np.dot(m, m))
            if m_energy < 1e-5 * c:
                continue
            region = wide[c + i * c : c + i * c + c + 2 * _TRACK]  # region[j:j+c]: extra delay _TRACK - j
            norm = self._match(region, m, m_energy)
            j = int(np.argmax(norm))
            here = float(norm[_TRACK])
            better = float(norm[j]) - here
            # clearly better, or nearly exact (the echo dominates: even 2 samples off leave -14 dB)
            take = j != _TRACK and norm[j] >= 0.6 and (better >= 0.05 or (norm[j] >= 0.9 and better >= 0.005))
            best = float(norm[j]) if take else here
            if take:
                echo[i * c : (i + 1) * c] = region[j : j + c]
                moved.append(_TRACK - j)
            if alt is not None:
                region = alt[c + i * c : c + i * c + c + 2 * _TRACK]
                norm = self._match(region, m, m_energy)
                j = int(np.argmax(norm))
                if norm[j] >= 0.6 and norm[j] - best >= 0.05:
                    echo[i * c : (i + 1) * c] = region[j : j + c]
                    found += 1
                elif best >= 0.9:
                    kept += 1
        return echo, moved, found, kept

    @staticmethod
    def _match(region: np.ndarray, m: np.ndarray, m_energy: float) -> np.ndarray:
        """Normalised correlation of chunk m (c,) with region[j:j+c] for j in 0..len(region)-c."""
        c = len(m)
        corr = np.correlate(region, m, mode="valid")
        csum = np.concatenate([[0.0], np.cumsum(region.astype(np.float64) ** 2)])
        win = csum[c:] - csum[: len(region) - c + 1]
        return corr / np.sqrt(np.maximum(win, 1e-12) * m_energy)

    def _learn_leak(self, res: np.ndarray, bound: np.ndarray) -> None:
        """Learn how much of the echo bound really shows up in the residual (rms per chunk)."""
        for r, b in zip(res, bound):
            if b > 1e-3:
                self._leaks.append(float(r / b))
        self._leaks = self._leaks[-90:]
        if len(self._leaks) >= 10:
            # the upper quartile, with room: what echo leaves behind spreads widely (chunk edges,
            # resampling, a room's tail), and the user talking over the avatar is rare and brief
            # (the avatar yields), so it moves the quartile little
            self.leak = float(np.clip(np.percentile(self._leaks, 75) * _LEAK_MARGIN, _LEAK_MIN, 4.0))

    def _mic_range(self, start: int, n: int) -> np.ndarray:
        t0, t1 = start // MIC_SAMPLES_PER_TICK, (start + n - 1) // MIC_SAMPLES_PER_TICK
        zero = np.zeros(MIC_SAMPLES_PER_TICK, np.float32)
        buf = np.concatenate([self._mic16.get(t, zero) for t in range(t0, t1 + 1)])
        off = start - t0 * MIC_SAMPLES_PER_TICK
        return buf[off : off + n]

    def _forget(self, tick: int) -> None:
        old = tick - _HISTORY_TICKS
        for t in [t for t, pos in self._pos.items() if pos < old * MIC_SAMPLES_PER_TICK]:
            del self._ref24[t], self._pos[t]
        for t in [t for t in self._mic16 if t < old]:
            del self._mic16[t]
