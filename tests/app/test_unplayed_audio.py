"""Avatar audio with no speaker to play it is not kept: memory stays flat while the speaker is
missing or lost (it grew ~100 KB a second, ~350 MB an hour, before), and the recording still
gets every tick."""

from __future__ import annotations

import numpy as np

from app.avsync import FrameScheduler
from app.intake import AvatarIntake
from app.playback import MAX_INBOX_TICKS, PlaybackBuffer, Player
from engine.protocol import AVATAR_SAMPLES_PER_TICK


class _Recording:
    def __init__(self) -> None:
        self.audio: list[int] = []

    def avatar_audio(self, tick: int, pcm: np.ndarray) -> None:
        self.audio.append(tick)

    def avatar_frame(self, tick: int, frame: np.ndarray) -> None:
        pass


def test_no_speaker_means_nothing_queued_but_everything_recorded() -> None:
    player = Player()  # never started: no device
    assert not player.running
    rec = _Recording()
    intake = AvatarIntake(player, FrameScheduler(), rec)  # type: ignore[arg-type]
    pcm = np.full(AVATAR_SAMPLES_PER_TICK, 0.1, np.float32)
    intake.take([(t, pcm) for t in range(500)], [])
    assert player.buffer._inbox.qsize() == 0
    assert rec.audio == list(range(500))


def test_a_buffer_nobody_renders_stops_growing() -> None:
    buf = PlaybackBuffer()
    pcm = np.full(AVATAR_SAMPLES_PER_TICK, 0.1, np.float32)
    for t in range(MAX_INBOX_TICKS + 100):
        buf.push(t, pcm)
    assert buf._inbox.qsize() == MAX_INBOX_TICKS + 1
    assert buf.unplayed_ticks == 99
    buf.flush(10)  # commands still get through
    assert buf._inbox.qsize() == MAX_INBOX_TICKS + 2
    buf._drain_inbox()  # the callback is back: it plays what was kept, and new audio is queued again
    buf.push(1000, pcm)
    assert buf._inbox.qsize() == 1
