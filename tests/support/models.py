"""Deterministic test models (test-only; registered by tests/conftest.py through DUET_TEST_MODELS).

testecho   EchoTestModel: unit 4 ticks, lag 1 unit, 128x128 frames whose pixels encode the tick
           (R = tick % 256, G = tick // 256 % 256, B = tick // 65536 % 256); audio is a 440 Hz tone
           (amplitude 0.3, phase from the absolute 24 kHz sample index) in the output ticks whose
           input tick had mic RMS > 0.01, else silence. Emits user Transcripts (partial per unit
           with speech, final when speech ends) and answers user_text with an avatar Transcript +
           DecisionChanged + StateChanged.
testmarker MarkerTestModel: every 25th tick (tick % 25 == 0) the frame is white and the tick's
           audio starts with a 1 ms click; otherwise black and silent (A/V sync tests).
testcrash  CrashTestModel: an echo model; user_text "crash" SIGKILLs the engine process, "hang"
           blocks the next step forever, "raise" raises RuntimeError in the next step, "slow" makes
           the next step take 0.5 s ("veryslow": 1.7 s), "yield" makes the next step yield
           retroactively: FlushOut(from_tick = its output tick - 2); "badtick", "floatframes", "intpcm",
           "smallframes" make the next step break the model contract that way. Model option
           "slowload=SECONDS" makes the factory (model load) sleep that long before the engine
           can be Ready.
All of them take model option "slowopen=SECONDS": opening a session sleeps that long (a model
that loads its persona slowly). All of them refuse to open a session whose persona ends in
"broken.yaml" (ValueError, as lite does for a persona file it cannot parse).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time

import numpy as np

from engine.protocol import (
    AVATAR_RATE,
    AVATAR_SAMPLES_PER_TICK,
    MIC_SAMPLES_PER_TICK,
    Decision,
    DecisionChanged,
    ErrorEvent,
    FlushOut,
    SessionSpec,
    StateChanged,
    Transcript,
    UnitIn,
    UnitOut,
)
from engine.registry import ModelOptions

SPEECH_RMS = 0.01
TONE_HZ = 440.0
TONE_AMP = 0.3


def tick_frame(tick: int, size: int) -> np.ndarray:
    """uint8 (size, size, 3) frame whose pixels encode `tick` (see decode_tick)."""
    frame = np.empty((size, size, 3), np.uint8)
    frame[..., 0] = tick % 256
    frame[..., 1] = tick // 256 % 256
    frame[..., 2] = tick // 65536 % 256
    return frame


def decode_tick(frame: np.ndarray) -> int:
    r, g, b = (int(v) for v in frame[0, 0])
    return r + 256 * g + 65536 * b


def tone(tick: int, n_ticks: int = 1) -> np.ndarray:
    """float32 (960 * n_ticks,) 440 Hz tone with the phase of absolute avatar sample tick * 960."""
    idx = np.arange(tick * AVATAR_SAMPLES_PER_TICK, (tick + n_ticks) * AVATAR_SAMPLES_PER_TICK)
    return (TONE_AMP * np.sin(2 * np.pi * TONE_HZ * idx / AVATAR_RATE)).astype(np.float32)


class _BaseTestModel:
    unit_ticks = 4
    output_lag_units = 1
    trained = False

    def __init__(self, options: ModelOptions | None = None) -> None:
        self.options = options or ModelOptions()
        self.frame_size = int(self.options.extra.get("frame_size", 128))
        self.session: SessionSpec | None = None
        self.flushes: list[int] = []
        self._pending: list[object] = []  # events raised between steps, sent with the next step

    def open(self, session: SessionSpec) -> None:
        if session.persona.endswith("broken.yaml"):  # like lite with a persona file it cannot parse
            raise ValueError(f"{session.persona}:3: invalid YAML: mapping values are not allowed here")
        time.sleep(float(self.options.extra.get("slowopen", 0)))
        self.session = session

    def close(self) -> None:
        self.session = None

    def flush(self, from_tick: int) -> None:
        self.flushes.append(from_tick)

    def user_text(self, text: str, operator: bool) -> None:
        self._pending.append(Transcript(tick=-1, side="avatar", text=f"echo: {text}", final=True))
        self._pending.append(DecisionChanged(tick=-1, decision=Decision.SPEAK))
        self._pending.append(StateChanged(tick=-1, state="speaking"))

    def _take_pending(self, tick: int) -> list[object]:
        out = []
        for ev in self._pending:  # stamp with the tick of the step that delivers them
            if isinstance(ev, Transcript):
                ev = Transcript(tick=tick, side=ev.side, text=ev.text, final=ev.final)
            elif isinstance(ev, DecisionChanged):
                ev = DecisionChanged(tick=tick, decision=ev.decision)
            elif isinstance(ev, StateChanged):
                ev = StateChanged(tick=tick, state=ev.state)
            out.append(ev)
        self._pending.clear()
        return out


class EchoTestModel(_BaseTestModel):
    def __init__(self, options: ModelOptions | None = None) -> None:
        super().__init__(options)
        self._speech_ticks = 0  # ticks of speech in the current utterance

    def step(self, unit: UnitIn) -> UnitOut:
        n, spt = unit.n_ticks, MIC_SAMPLES_PER_TICK
        out_tick = unit.tick + self.output_lag_units * self.unit_ticks
        mic = unit.mic.reshape(n, spt)
        speech = np.sqrt(np.mean(mic.astype(np.float64) ** 2, axis=1)) > SPEECH_RMS  # (n,) per input tick
        pcm = np.zeros(n * AVATAR_SAMPLES_PER_TICK, np.float32)
        for i in np.flatnonzero(speech):
            pcm[i * AVATAR_SAMPLES_PER_TICK : (i + 1) * AVATAR_SAMPLES_PER_TICK] = tone(out_tick + int(i))
        frames = np.stack([tick_frame(out_tick + i, self.frame_size) for i in range(n)])
        events = self._take_pending(unit.tick)
        if speech.any():
            self._speech_ticks += int(speech.sum())
            events.append(Transcript(unit.tick, "user", f"speech {self._speech_ticks} ticks", final=False))
        elif self._speech_ticks:
            events.append(Transcript(unit.tick, "user", f"speech {self._speech_ticks} ticks", final=True))
            self._speech_ticks = 0
        decision = Decision.SPEAK if speech.any() else Decision.LISTEN
        return UnitOut(
            tick=out_tick,
            n_ticks=n,
            pcm=pcm if speech.any() else None,
            frames=frames,
            decision=decision,
            events=tuple(events),
            timings={"echo": 0.0},
        )


class MarkerTestModel(_BaseTestModel):
    MARK_EVERY = 25  # ticks (1 s)
    CLICK_SAMPLES = AVATAR_RATE // 1000  # 1 ms

    def step(self, unit: UnitIn) -> UnitOut:
        n = unit.n_ticks
        out_tick = unit.tick + self.output_lag_units * self.unit_ticks
        pcm = np.zeros(n * AVATAR_SAMPLES_PER_TICK, np.float32)
        frames = np.zeros((n, self.frame_size, self.frame_size, 3), np.uint8)
        for i in range(n):
            if (out_tick + i) % self.MARK_EVERY == 0:
                frames[i] = 255
                start = i * AVATAR_SAMPLES_PER_TICK
                pcm[start : start + self.CLICK_SAMPLES] = 0.9
        return UnitOut(
            tick=out_tick, n_ticks=n, pcm=pcm, frames=frames, events=tuple(self._take_pending(unit.tick))
        )


# user_text commands that set the next step's behaviour (see the module docstring)
MODES = ("hang", "raise", "slow", "veryslow", "yield", "badtick", "floatframes", "intpcm", "smallframes")


class CrashTestModel(EchoTestModel):
    def __init__(self, options: ModelOptions | None = None) -> None:
        super().__init__(options)
        self._mode = ""
        slowload = float(self.options.extra.get("slowload", 0))  # seconds: a model that loads slowly
        if slowload > 0:
            time.sleep(slowload)

    def user_text(self, text: str, operator: bool) -> None:
        if text == "crash":
            os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
        elif text in MODES:
            self._mode = text
        elif text == "warn":  # a non-fatal model error (as lite's "the chat server did not answer")
            self._pending.append(ErrorEvent(code="test", message="the test model warns"))
        else:
            super().user_text(text, operator)

    def step(self, unit: UnitIn) -> UnitOut:
        mode, self._mode = self._mode, ""
        if mode == "hang":
            threading.Event().wait()  # forever
        if mode == "slow":
            time.sleep(0.5)
        if mode == "veryslow":  # over the app's hang timeout (1.5 s), under the runner's (10 s)
            time.sleep(1.7)
        if mode == "raise":
            raise RuntimeError(f"test model raised at tick {unit.tick}")
        out = super().step(unit)
        if mode == "yield":  # the last 2 ticks already sent are stale; this step's output is not
            flush = FlushOut(from_tick=out.tick - 2, reason="yield")
            return dataclasses.replace(out, events=(flush, *out.events))
        # a model that breaks its contract (docs/CONTRACTS.md) in one step
        if mode == "badtick":
            return dataclasses.replace(out, tick=unit.tick)  # forgot output_lag_units
        if mode == "floatframes":
            return dataclasses.replace(out, frames=out.frames.astype(np.float32) / 255.0)
        if mode == "intpcm":
            return dataclasses.replace(out, pcm=np.zeros(out.n_ticks * 960, np.int16))
        if mode == "smallframes":
            return dataclasses.replace(out, frames=out.frames[:, ::2, ::2])
        return out
