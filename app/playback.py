"""Avatar audio playback: the audio device clock is the master clock of the whole view.

`PlaybackBuffer` is the pure, device-free part (a jitter buffer fed through a SimpleQueue; unit-tested);
`Player` wraps a sounddevice OutputStream at 24 kHz mono. The stream callback never blocks, never
allocates Qt objects and never logs: it drains the command queue with get_nowait(), renders
samples, and appends (dac_time, tick) marks to a bounded deque that the GUI thread reads to know
which avatar tick is at the DAC now.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.protocol import AVATAR_RATE, AVATAR_SAMPLES_PER_TICK, FPS

from .audio_devices import device_problem, stream_options

log = logging.getLogger(__name__)

# a stream whose callback has not run for this long while it is open has lost its device (a sound
# server that died keeps PortAudio's stream "active" while its audio thread spins on errors)
STALL_S = 1.0
CLOSE_TIMEOUT_S = 2.0  # how long closing a stream may take before it is given up (see close_stream)

VOICE_RMS = 0.01  # a tick whose RMS is above this is "voiced" (avatar speech onset detection)


@dataclass(frozen=True)
class Mark:
    """Output samples [tick_pos, tick_pos + n/960) reach the DAC from `dac` (time.monotonic seconds)."""

    dac: float
    tick_pos: float  # avatar tick (fractional) of the first sample
    n: int  # samples at 24 kHz
    gen: int = 0  # PlaybackBuffer.generation the samples were queued in (a session's tick clock)


@dataclass(frozen=True)
class Onset:
    """The first voiced avatar sample after silence reached the DAC at `dac` (monotonic s)."""

    dac: float
    tick: int


MAX_INBOX_TICKS = 250  # commands waiting for the audio callback (10 s of ticks): more = it stopped


class PlaybackBuffer:
    """Jitter buffer of avatar audio blocks, rendered by the audio callback.

    Producer (GUI thread): `push(tick, pcm)`, `flush(from_tick)`, `clear()`: enqueue commands only.
    Consumer (audio thread): `render(out)` fills out (n,) float32 and returns the segments played as
    (offset_in_out, tick_pos, n) so the caller can timestamp them.
    """

    def __init__(self, prebuffer_ticks: int = 6, max_ticks: int = 12) -> None:
        self._inbox: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        # consumer-private state
        self._blocks: deque[list[Any]] = deque()  # [tick, pcm (float32), offset, voiced]
        self._queued = 0  # samples not yet rendered
        self._playing = False
        self._was_voiced = False
        self.prebuffer = prebuffer_ticks * AVATAR_SAMPLES_PER_TICK
        self.max_samples = max_ticks * AVATAR_SAMPLES_PER_TICK
        # counters (written by the consumer, read anywhere)
        self.underruns = 0  # callbacks that ran dry while playing
        self.trimmed_ticks = 0  # silent ticks dropped to keep latency bounded (a stall, clock drift)
        self.flushed_ticks = 0
        self.unplayed_ticks = 0  # audio pushed while nothing rendered it for MAX_INBOX_TICKS: dropped
        self.last_tick = -1  # last avatar tick rendered (fully or partly)
        self.onset_pending: int | None = None  # offset in the last render() of a voiced onset
        # first ticks of the previous and the current continuous stretch of playback (-1: none): a
        # stretch starts after an underrun (re-buffered) and after shed silence, the two moments
        # the speaker's lag behind the engine jumps (reported to the engine for its echo canceller).
        # One tuple, swapped whole by the audio thread.
        self.segments: tuple[int, int] = (-1, -1)
        # +1 per clear() (a new session: a new tick clock). `generation` is the producer's (GUI
        # thread); `render_gen` the consumer's, taken from the clear command when it drains it:
        # what render() plays is from that generation (Player tags its DAC marks with it).
        self.generation = 0
        self.render_gen = 0

    def segment_of(self, tick: float) -> int:
        """First tick of the stretch that `tick` (e.g. the one at the DAC now) was played in."""
        prev, cur = self.segments
        return cur if tick >= cur else prev

    # ------------------------------------------------------------------ producer side
    def push(self, tick: int, pcm: np.ndarray) -> None:
        pcm = np.ascontiguousarray(pcm, dtype=np.float32).reshape(-1)
        n_ticks = max(1, pcm.shape[0] // AVATAR_SAMPLES_PER_TICK)
        if self._inbox.qsize() > MAX_INBOX_TICKS:  # nobody renders (a stalled or stopped stream):
            self.unplayed_ticks += n_ticks  # what would be heard seconds late is not kept (memory)
            return
        for i in range(n_ticks):  # one command per tick: flush/trim work at tick granularity
            block = pcm[i * AVATAR_SAMPLES_PER_TICK : (i + 1) * AVATAR_SAMPLES_PER_TICK]
            voiced = bool(block.size) and float(np.sqrt(np.mean(block * block))) > VOICE_RMS
            self._inbox.put(("audio", tick + i, block, voiced))

    def flush(self, from_tick: int) -> None:
        self._inbox.put(("flush", from_tick))

    def clear(self) -> None:
        """Drop everything queued (a new session); the ticks pushed next start a new generation."""
        self.generation += 1
        self._inbox.put(("clear", self.generation))

    # ------------------------------------------------------------------ consumer side
    def queued_samples(self) -> int:
        return self._queued

    def _drain_inbox(self) -> None:
        while True:
            try:
                cmd = self._inbox.get_nowait()
            except queue.Empty:
                return
            kind = cmd[0]
            if kind == "audio":
                _, tick, block, voiced = cmd
                self._blocks.append([tick, block, 0, voiced])
                self._queued += block.shape[0]
            elif kind == "flush":
                self._drop_from(cmd[1])
            else:
                self.render_gen = cmd[1]
                self.flushed_ticks += len(self._blocks)
                self._blocks.clear()
                self._queued = 0
                self._playing = False
                self.segments = (-1, -1)

    def _drop_from(self, from_tick: int) -> None:
        kept: deque[list[Any]] = deque()
        for b in self._blocks:
            if b[0] >= from_tick:
                self._queued -= b[1].shape[0] - b[2]
                self.flushed_ticks += 1
            else:
                kept.append(b)
        self._blocks = kept

    def _trim(self) -> None:
        """Drop silent blocks while the queue is far above its target (after a stall, or device
        clocks drifting apart), but not inside a reply unless it is three times too long: its
        pauses keep their length and the speaker's lag (see segments) holds while the avatar talks."""
        if self._queued <= self.max_samples:
            return
        if self._queued <= 3 * self.max_samples and any(b[3] for b in self._blocks):
            return  # a reply is queued: its pauses stay, unless the queue is very far behind (a stall)
        trimmed = False
        while self._queued > self.max_samples and self._blocks and not self._blocks[0][3]:
            b = self._blocks.popleft()
            self._queued -= b[1].shape[0] - b[2]
            self.trimmed_ticks += 1
            trimmed = True
        if trimmed and self._blocks and self._playing:
            self.segments = (self.segments[1], self._blocks[0][0])

    def render(self, out: np.ndarray) -> list[tuple[int, float, int]]:
        """Fill `out` (n,) float32; returns played segments (offset, tick_pos, n)."""
        self._drain_inbox()
        self._trim()
        n = out.shape[0]
        segments: list[tuple[int, float, int]] = []
        self.onset_pending = None
        if not self._playing:
            if self._queued >= self.prebuffer and self._blocks:
                self._playing = True
                self.segments = (self.segments[1], self._blocks[0][0])
            else:
                out[:] = 0.0
                return segments
        pos = 0
        while pos < n and self._blocks:
            b = self._blocks[0]
            tick, block, off, voiced = b
            take = min(n - pos, block.shape[0] - off)
            out[pos : pos + take] = block[off : off + take]
            segments.append((pos, tick + off / AVATAR_SAMPLES_PER_TICK, take))
            if voiced and not self._was_voiced and self.onset_pending is None:
                self.onset_pending = pos
            self._was_voiced = voiced
            self.last_tick = tick
            pos += take
            b[2] = off + take
            self._queued -= take
            if b[2] >= block.shape[0]:
                self._blocks.popleft()
        if pos < n:
            out[pos:] = 0.0
            self._playing = False  # ran dry: re-prebuffer before playing again
            self._was_voiced = False
            self.underruns += 1
        return segments


class Player:
    """sounddevice OutputStream (24 kHz mono float32) playing a PlaybackBuffer."""

    def __init__(
        self, device: str | int | None = None, blocksize: int = 480, prebuffer_ticks: int = 6
    ) -> None:
        self.buffer = PlaybackBuffer(prebuffer_ticks=prebuffer_ticks)
        self.marks: deque[Mark] = deque(maxlen=64)
        self.onsets: deque[Onset] = deque(maxlen=32)
        self.device = device
        self.blocksize = blocksize
        self.callbacks = 0
        self.status_flags = 0  # PortAudio output underflows reported by the device
        self.voiced_until = 0.0  # monotonic time until which voiced avatar audio is at the DAC
        self._stream: Any = None
        self._lock = threading.Lock()  # guards start/stop only (never taken in the callback)

    # ------------------------------------------------------------------ device
    def start(self) -> None:
        import sounddevice as sd

        with self._lock:
            if self._stream is not None:
                return
            try:
                stream = sd.OutputStream(
                    samplerate=AVATAR_RATE,
                    channels=1,
                    dtype="float32",
                    blocksize=self.blocksize,
                    latency="low",
                    **stream_options(self.device, "output"),
                    callback=self._callback,
                )
                stream.start()
            except Exception as e:  # PortAudioError, ValueError (unknown device), OSError
                raise AudioDeviceError(device_problem("speaker", self.device, e)) from e
            self._stream = stream

    def stop(self) -> None:
        with self._lock:
            stream, self._stream = self._stream, None
        close_stream(stream)

    @property
    def running(self) -> bool:
        return stream_active(self._stream)

    @property
    def latency_s(self) -> float:
        stream = self._stream  # read once: stop() may clear it while the audio callback runs
        return float(stream.latency) if stream is not None else 0.0

    def _callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        now = time.monotonic()
        if status:
            self.status_flags += 1
        out = outdata[:, 0]
        segments = self.buffer.render(out)
        ahead = float(time_info.outputBufferDacTime - time_info.currentTime)
        if not (0.0 <= ahead < 1.0):  # some host APIs report 0: fall back to the stream latency
            ahead = self.latency_s
        dac0 = now + ahead
        gen = self.buffer.render_gen
        for off, tick_pos, n in segments:
            self.marks.append(Mark(dac0 + off / AVATAR_RATE, tick_pos, n, gen))
        onset = self.buffer.onset_pending
        if onset is not None and segments:
            # tick of the onset sample: the segment that contains it
            tick = next(
                int(tp + (onset - o) / AVATAR_SAMPLES_PER_TICK) for o, tp, n in segments if o <= onset < o + n
            )
            self.onsets.append(Onset(dac0 + onset / AVATAR_RATE, tick))
        if segments and self.buffer._was_voiced:
            self.voiced_until = dac0 + frames / AVATAR_RATE
        self.callbacks += 1

    # ------------------------------------------------------------------ GUI-side queries
    def tick_at(self, t: float | None = None) -> float | None:
        """The avatar tick (fractional) at the DAC at monotonic time t (default now); None if silent.
        Only the current session's ticks count (buffer.generation): after a clear(), the previous
        session's last samples still leaving the speaker are on another tick clock."""
        t = time.monotonic() if t is None else t
        gen = self.buffer.generation
        marks = [m for m in list(self.marks) if m.gen == gen]  # list(): a snapshot (one C call)
        for m in reversed(marks):
            if m.dac <= t:
                end = m.dac + m.n / AVATAR_RATE
                if t <= end + 0.005:
                    return m.tick_pos + (t - m.dac) * FPS
                return None  # after the last played sample: silence/underrun
        return None

    def played_tick(self, t: float | None = None) -> int:
        """Last tick whose start has reached the DAC (for PlaybackReport)."""
        pos = self.tick_at(t)
        return -1 if pos is None else math.floor(pos)


class AudioDeviceError(RuntimeError):
    """A sound device is missing, busy or failed; the message is shown to the user as is."""


_abandoned: list[Any] = []  # streams whose close never returned: kept referenced, never touched again


def close_stream(stream: Any, timeout_s: float = CLOSE_TIMEOUT_S) -> bool:
    """Abort and close a sounddevice stream (None: nothing) without hanging on a dead device.

    Abort, not stop: nothing queued needs to play out, and when the sound server died under the
    stream PortAudio's ALSA thread spins on errors, so stop() would wait for it forever while abort
    cancels it. Both run in a helper thread given timeout_s; a stream that does not close by then is
    abandoned (logged; False). Errors are logged, never raised: closing is always a way out."""
    if stream is None:
        return True

    def close() -> None:
        try:
            stream.abort()
        except Exception as e:  # PortAudioError: already stopped, device gone
            log.debug("abort audio stream: %s", e)
        try:
            stream.close()
        except Exception as e:
            log.warning("closing an audio stream failed: %s", e)

    worker = threading.Thread(target=close, name="duet-audio-close", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        _abandoned.append(stream)
        log.warning("an audio stream did not close within %.1f s (its device hangs): abandoned", timeout_s)
        return False
    return True


def abandoned_streams() -> int:
    """How many streams close_stream gave up on (the process should not wait on them at exit)."""
    return len(_abandoned)


class StallWatch:
    """Notices an audio stream whose callback stopped running (see STALL_S). GUI thread only; the
    callback only increments the counter it reads."""

    def __init__(self) -> None:
        self._seen = -1  # callback count at the last change
        self._since = 0.0  # monotonic time of the last change (s)

    def stalled(self, callbacks: int, now: float, limit_s: float = STALL_S) -> bool:
        if callbacks != self._seen:
            self._seen, self._since = callbacks, now
            return False
        return now - self._since > limit_s

    def reset(self) -> None:
        self._seen = -1


def stream_active(stream: Any) -> bool:
    return stream is not None and bool(stream.active)
