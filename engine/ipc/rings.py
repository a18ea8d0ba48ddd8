"""The four media rings between client and engine, created by the client, attached by the engine.

  mic            in   AudioRing  float32 16 kHz, 640 samples/tick, blocks <= 4 ticks, 128 slots
  camera         in   FrameRing  uint8 RGB up to 640x480, 8 slots (the engine drains it at once)
  avatar_audio   out  AudioRing  float32 24 kHz, 960 samples/tick, blocks <= 4 ticks, 256 slots
  avatar_frames  out  FrameRing  uint8 RGB up to S x S (S = max_frame_size, default 512), 32 slots

All drop the newest item when full and count an overrun in shared memory (see ring.py).
Shared memory per client: about 37 MiB with 512 px frames (25 MiB of it the avatar frame ring).
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.protocol import AVATAR_SAMPLES_PER_TICK, MIC_SAMPLES_PER_TICK

from .media import AudioRing, AudioSpec, FrameRing, FrameSpec

CAMERA_MAX_H, CAMERA_MAX_W = 480, 640
DEFAULT_MAX_FRAME_SIZE = 512


@dataclass(frozen=True)
class RingNames:
    """What the engine needs to attach (picklable, crosses the spawn boundary)."""

    mic: str
    camera: str
    avatar_audio: str
    avatar_frames: str
    max_frame_size: int


class MediaRings:
    def __init__(
        self, mic: AudioRing, camera: FrameRing, avatar_audio: AudioRing, avatar_frames: FrameRing, size: int
    ) -> None:
        self.mic = mic
        self.camera = camera
        self.avatar_audio = avatar_audio
        self.avatar_frames = avatar_frames
        self.max_frame_size = size

    @classmethod
    def create(cls, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE, frame_slots: int = 32) -> MediaRings:
        if not 16 <= max_frame_size <= 2048:
            raise ValueError(f"max_frame_size must be in [16, 2048], got {max_frame_size}")
        made: list[AudioRing | FrameRing] = []
        try:
            made.append(AudioRing.create("mic", AudioSpec(MIC_SAMPLES_PER_TICK, 4, 128)))
            made.append(FrameRing.create("cam", FrameSpec(CAMERA_MAX_H, CAMERA_MAX_W, 8)))
            made.append(AudioRing.create("aaud", AudioSpec(AVATAR_SAMPLES_PER_TICK, 4, 256)))
            made.append(FrameRing.create("afrm", FrameSpec(max_frame_size, max_frame_size, frame_slots)))
        except BaseException:
            for r in made:
                r.close()
            raise
        mic, cam, aud, frm = made
        assert isinstance(mic, AudioRing) and isinstance(aud, AudioRing)
        assert isinstance(cam, FrameRing) and isinstance(frm, FrameRing)
        return cls(mic, cam, aud, frm, max_frame_size)

    @classmethod
    def attach(cls, names: RingNames) -> MediaRings:
        made: list[AudioRing | FrameRing] = []
        try:
            made.append(AudioRing.attach(names.mic, MIC_SAMPLES_PER_TICK))
            made.append(FrameRing.attach(names.camera))
            made.append(AudioRing.attach(names.avatar_audio, AVATAR_SAMPLES_PER_TICK))
            made.append(FrameRing.attach(names.avatar_frames))
        except BaseException:
            for r in made:
                r.close()
            raise
        mic, cam, aud, frm = made
        assert isinstance(mic, AudioRing) and isinstance(aud, AudioRing)
        assert isinstance(cam, FrameRing) and isinstance(frm, FrameRing)
        return cls(mic, cam, aud, frm, names.max_frame_size)

    def names(self) -> RingNames:
        return RingNames(
            self.mic.name,
            self.camera.name,
            self.avatar_audio.name,
            self.avatar_frames.name,
            self.max_frame_size,
        )

    def overruns(self) -> dict[str, int]:
        return {
            "mic": self.mic.overruns(),
            "camera": self.camera.overruns(),
            "avatar_audio": self.avatar_audio.overruns(),
            "avatar_frames": self.avatar_frames.overruns(),
        }

    def close(self) -> None:
        for r in (self.mic, self.camera, self.avatar_audio, self.avatar_frames):
            r.close()
