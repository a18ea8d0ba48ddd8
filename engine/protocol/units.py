"""Per-unit media crossing the model contract: UnitIn (what the model saw and heard) and UnitOut.

A unit is `n_ticks` consecutive ticks (a model declares its unit: 4 ticks = 160 ms for
Wan-Streamer-style models, 2 for Moshi-style). Arrays are plain numpy, never tensors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from .clock import AVATAR_SAMPLES_PER_TICK, MIC_SAMPLES_PER_TICK


class Decision(StrEnum):
    """The per-unit decision token: keep listening, speak, or yield the turn to the user."""

    LISTEN = "listen"
    SPEAK = "speak"
    YIELD = "yield"


@dataclass(frozen=True)
class SessionSpec:
    """What a session is opened with: who the avatar is and how it thinks."""

    persona: str = "guide"  # persona id (assets/personas/<id>.yaml) or a path to a YAML file
    avatar: str = "ada"  # avatar id (assets/avatars/<id>.*)
    voice: str = ""  # voice id; "" = the persona's default
    brain: str = "script"  # "script" | "llm"
    llm_url: str = ""  # OpenAI-compatible base URL, e.g. http://127.0.0.1:11434/v1
    llm_model: str = ""
    frame_size: int = 512  # avatar frames are frame_size x frame_size RGB
    greet: bool = True  # proactive greeting when a face appears
    options: dict[str, str] = field(default_factory=dict)  # model-specific extras


@dataclass(frozen=True)
class UnitIn:
    """One unit of input, ticks [tick, tick + n_ticks)."""

    tick: int
    n_ticks: int
    mic: np.ndarray  # float32 (640 * n_ticks,) at 16 kHz
    frames: np.ndarray  # uint8 (k, H, W, 3) RGB camera frames, 0 <= k <= n_ticks; k == 0: no camera
    frame_ticks: np.ndarray  # int64 (k,) tick of each camera frame
    texts: tuple[str, ...] = ()  # typed user text / operator text that arrived during this unit
    played_tick: int = -1  # last avatar tick the client reported as played (-1: unknown)
    mic_lag_ticks: float | None = None  # PlaybackReport.mic_lag_ticks: avatar tick T is heard at input
    # tick T + lag (None: unknown; a headless run plays output on the input clock, lag 0)
    lag_from_tick: int = -1  # PlaybackReport.lag_from_tick: the first avatar tick played at that lag

    def __post_init__(self) -> None:
        if self.mic.shape != (MIC_SAMPLES_PER_TICK * self.n_ticks,):
            raise ValueError(
                f"UnitIn.mic must be ({MIC_SAMPLES_PER_TICK * self.n_ticks},), got {self.mic.shape}"
            )
        if self.frames.ndim != 4 or self.frames.shape[-1] != 3 or self.frames.shape[0] > self.n_ticks:
            raise ValueError(f"UnitIn.frames must be (k<=n_ticks, H, W, 3), got {self.frames.shape}")
        if self.frame_ticks.shape != (self.frames.shape[0],):
            raise ValueError("UnitIn.frame_ticks must have one tick per frame")

    @staticmethod
    def silent(tick: int, n_ticks: int) -> UnitIn:
        return UnitIn(
            tick=tick,
            n_ticks=n_ticks,
            mic=np.zeros(MIC_SAMPLES_PER_TICK * n_ticks, np.float32),
            frames=np.zeros((0, 1, 1, 3), np.uint8),
            frame_ticks=np.zeros(0, np.int64),
        )


@dataclass(frozen=True)
class UnitOut:
    """One unit of avatar output, ticks [tick, tick + n_ticks).

    `tick` is the output timeline: the avatar media for these ticks, to be played back in order.
    """

    tick: int
    n_ticks: int
    pcm: np.ndarray | None  # float32 (960 * n_ticks,) at 24 kHz, or None for silence
    frames: np.ndarray  # uint8 (n_ticks, S, S, 3) RGB avatar frames
    decision: Decision = Decision.LISTEN
    text: str = ""  # avatar text delta spoken in this unit
    events: tuple = ()  # protocol events (engine.protocol.messages) raised during this step
    timings: dict[str, float] = field(default_factory=dict)  # stage -> milliseconds

    def __post_init__(self) -> None:
        if self.pcm is not None and self.pcm.shape != (AVATAR_SAMPLES_PER_TICK * self.n_ticks,):
            raise ValueError(
                f"UnitOut.pcm must be ({AVATAR_SAMPLES_PER_TICK * self.n_ticks},), got {self.pcm.shape}"
            )
        if self.frames.ndim != 4 or self.frames.shape[0] != self.n_ticks or self.frames.shape[-1] != 3:
            raise ValueError(f"UnitOut.frames must be ({self.n_ticks}, S, S, 3), got {self.frames.shape}")

    def pcm_or_silence(self) -> np.ndarray:
        if self.pcm is None:
            return np.zeros(AVATAR_SAMPLES_PER_TICK * self.n_ticks, np.float32)
        return self.pcm
