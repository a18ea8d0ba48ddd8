"""The one clock: a 40 ms tick (one video frame at 25 fps).

Every frame, audio block and event carries its tick; sample offsets are derived from it.
Mic audio is 16 kHz mono (640 samples a tick); avatar audio is 24 kHz mono (960 samples a tick).
"""

from __future__ import annotations

TICK_MS = 40
TICK_S = TICK_MS / 1000.0
FPS = 25
MIC_RATE = 16_000  # Hz, user microphone, mono float32 in [-1, 1]
AVATAR_RATE = 24_000  # Hz, avatar voice, mono float32 in [-1, 1]
MIC_SAMPLES_PER_TICK = MIC_RATE * TICK_MS // 1000  # 640
AVATAR_SAMPLES_PER_TICK = AVATAR_RATE * TICK_MS // 1000  # 960


def tick_to_seconds(tick: int) -> float:
    return tick * TICK_S


def seconds_to_tick(seconds: float) -> int:
    """The tick that contains time `seconds` (floor)."""
    return int(seconds * FPS + 1e-9) if seconds >= 0 else -int(-seconds * FPS + 1 - 1e-9)


def mic_sample_to_tick(sample: int) -> int:
    return sample // MIC_SAMPLES_PER_TICK


def avatar_sample_to_tick(sample: int) -> int:
    return sample // AVATAR_SAMPLES_PER_TICK


def tick_to_mic_sample(tick: int) -> int:
    return tick * MIC_SAMPLES_PER_TICK


def tick_to_avatar_sample(tick: int) -> int:
    return tick * AVATAR_SAMPLES_PER_TICK
