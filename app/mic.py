"""Microphone capture: sounddevice InputStream, 16 kHz mono float32, cut into 640-sample ticks.

The PortAudio callback pushes each complete tick straight to the engine client (push_mic never
blocks) and runs a small energy VAD whose speech-end times (monotonic seconds at the ADC) feed the
glass-to-glass latency HUD. No Qt object is touched off the GUI thread: the GUI polls `events`.
When no microphone can be opened, `SilenceSource` keeps the session clock running with silence.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.protocol import MIC_RATE, MIC_SAMPLES_PER_TICK, TICK_S

from .audio_devices import device_problem, list_names, stream_options
from .playback import AudioDeviceError, close_stream, stream_active

log = logging.getLogger(__name__)

TickSink = Callable[[int, np.ndarray], None]  # (tick, float32 (640,))


@dataclass(frozen=True)
class VadEvent:
    kind: str  # "start" | "end"
    t: float  # monotonic seconds at the ADC of the first (start) / last (end) voiced sample
    tick: int


class EnergyVad:
    """Per-tick RMS gate with hysteresis: start after 2 loud ticks, end after `hang_ticks` quiet ones."""

    def __init__(self, on_rms: float = 0.02, off_rms: float = 0.01, hang_ticks: int = 8) -> None:
        self.on_rms = on_rms
        self.off_rms = off_rms
        self.hang_ticks = hang_ticks
        self.speaking = False
        self._loud = 0
        self._quiet = 0
        self._last_voiced_t = 0.0
        self._last_voiced_tick = 0
        self.events: deque[VadEvent] = deque(maxlen=64)

    def feed(self, rms: float, t_end: float, tick: int, gated: bool = False) -> None:
        """`t_end`: monotonic ADC time of the end of this tick; `gated`: ignore (avatar echo)."""
        if gated:
            rms = 0.0
        if not self.speaking:
            self._loud = self._loud + 1 if rms > self.on_rms else 0
            if self._loud >= 2:
                self.speaking = True
                self._quiet = 0
                self.events.append(VadEvent("start", t_end - 2 * TICK_S, tick - 1))
                self._last_voiced_t, self._last_voiced_tick = t_end, tick
        else:
            if rms > self.off_rms:
                self._quiet = 0
                self._last_voiced_t, self._last_voiced_tick = t_end, tick
            else:
                self._quiet += 1
                if self._quiet >= self.hang_ticks:
                    self.speaking = False
                    self._loud = 0
                    self.events.append(VadEvent("end", self._last_voiced_t, self._last_voiced_tick))


class TickAssembler:
    """Accumulates arbitrary-size float32 blocks into 640-sample ticks and hands them to a sink."""

    def __init__(self, sink: TickSink) -> None:
        self.sink = sink
        self._buf = np.zeros(MIC_SAMPLES_PER_TICK, np.float32)
        self._fill = 0
        self.tick = 0
        self.muted = False  # sends silence (plain attributes: read by the audio thread)
        # monotonic time before which captured ticks are sent as silence: the previous session's
        # voice still leaving the speaker, which the new session's echo canceller never saw
        self.silence_until = 0.0
        self.ptt_mode = False  # push-to-talk: silence unless ptt_down
        self.ptt_down = False
        self.sink_errors = 0
        self.level = 0.0  # RMS of the last tick (for the level meter)
        self.vad = EnergyVad()
        self.gate: Callable[[], bool] = lambda: False  # True while avatar voice is at the speaker
        self._reset_to: int | None = None
        # mic stream generation: +1 each time a reset is applied (a new session's tick count);
        # `next_epoch` (GUI thread) is the generation the pending or last reset starts
        self.epoch = 0
        self.next_epoch = 0
        # (monotonic ADC time, tick): the capture clock's latest position, written by the audio
        # thread as one tuple (an atomic swap), read by the GUI thread through tick_at()
        self.anchor: tuple[float, int] | None = None

    def reset(self, tick: int = 0) -> None:
        """Restart the tick count (new session); applied by the audio thread at its next block."""
        self.next_epoch += 1
        self._reset_to = tick

    def position(self) -> tuple[int, int]:
        """(epoch, next tick) of the mic stream, counting a reset not yet applied as applied."""
        reset_to = self._reset_to  # read first: feed() sets the epoch before clearing it
        if reset_to is not None:
            return self.next_epoch, reset_to
        return self.epoch, self.tick

    def feed(self, block: np.ndarray, t_first: float) -> None:
        """`block`: float32 (n,); `t_first`: monotonic ADC time of its first sample."""
        if self._reset_to is not None:
            self.epoch = self.next_epoch  # before the tick: position() may read in between
            self.tick, self._fill, self._reset_to = self._reset_to, 0, None
            self.anchor = None
        pos = 0
        n = block.shape[0]
        while pos < n:
            take = min(n - pos, MIC_SAMPLES_PER_TICK - self._fill)
            self._buf[self._fill : self._fill + take] = block[pos : pos + take]
            self._fill += take
            pos += take
            if self._fill == MIC_SAMPLES_PER_TICK:
                pcm = self._buf.copy()
                self._fill = 0
                rms = float(np.sqrt(np.mean(pcm * pcm)))
                self.level = rms
                t_end = t_first + pos / MIC_RATE  # capture time of the tick's last sample
                silent = self.muted or (self.ptt_mode and not self.ptt_down) or t_end < self.silence_until
                if silent:
                    pcm[:] = 0.0
                self.vad.feed(0.0 if silent else rms, t_first + pos / MIC_RATE, self.tick, self.gate())
                try:
                    self.sink(self.tick, pcm)
                except Exception:
                    self.sink_errors += 1
                self.tick += 1
                self.anchor = (t_first + pos / MIC_RATE, self.tick)  # input tick `tick` starts now

    def tick_at(self, t: float) -> float | None:
        """The input tick (fractional) the microphone captures at monotonic time t; None before the
        first tick or after a long stall (> 0.5 s without audio)."""
        anchor = self.anchor
        if anchor is None or not (-0.5 < t - anchor[0] < 0.5):
            return None
        return anchor[1] + (t - anchor[0]) / TICK_S


class MicCapture:
    """sounddevice InputStream on `device` ("" = default) feeding a TickAssembler."""

    def __init__(self, assembler: TickAssembler, device: str | int | None = None) -> None:
        self.assembler = assembler
        self.device = device
        self.overflows = 0
        self.callbacks = 0  # audio callbacks run (a stalled count: the device is gone)
        self._stream: Any = None

    def start(self) -> None:
        import sounddevice as sd

        if self._stream is not None:
            return
        try:
            stream = sd.InputStream(
                samplerate=MIC_RATE,
                channels=1,
                dtype="float32",
                blocksize=MIC_SAMPLES_PER_TICK // 2,
                latency="low",
                **stream_options(self.device, "input"),
                callback=self._callback,
            )
            stream.start()
        except Exception as e:
            raise AudioDeviceError(device_problem("microphone", self.device, e)) from e
        self._stream = stream

    def stop(self) -> None:
        stream, self._stream = self._stream, None
        close_stream(stream)

    @property
    def running(self) -> bool:
        return stream_active(self._stream)

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        now = time.monotonic()
        if status:
            self.overflows += 1
        behind = float(time_info.currentTime - time_info.inputBufferAdcTime)
        if not (0.0 <= behind < 1.0):
            behind = frames / MIC_RATE
        self.assembler.feed(indata[:, 0], now - behind)
        self.callbacks += 1


class SilenceSource:
    """No microphone: pushes silent ticks in real time from a thread so the session keeps going."""

    def __init__(self, assembler: TickAssembler) -> None:
        self.assembler = assembler
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="duet-silence", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        block = np.zeros(MIC_SAMPLES_PER_TICK, np.float32)
        t0 = time.monotonic()
        k = 0
        while not self._stop.is_set():
            self.assembler.feed(block, time.monotonic())
            k += 1
            delay = t0 + k * TICK_S - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None


def list_devices(kind: str) -> list[str]:
    """The picker's names of the devices with input ("input") or output ("output") channels: each
    one names one device (audio_devices.labels)."""
    return list_names(kind)


def rescan_devices() -> bool:
    """Re-initialise PortAudio so newly plugged devices show up (only call with all streams closed).
    False when it cannot: a stream whose device hung could not be closed (playback.close_stream),
    and PortAudio's re-init would wait on it forever; only restarting Duet lists new devices then."""
    import sounddevice as sd

    from .playback import abandoned_streams

    if abandoned_streams():
        log.warning("device rescan skipped: an audio stream that never closed is still open")
        return False
    try:
        sd._terminate()
        sd._initialize()
    except Exception:
        pass
    return True
