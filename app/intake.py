"""The avatar's media on its way from the engine's output rings to the speaker, the view and the file.

GUI thread only (DuetCore's poll). The engine marks its output rings with a flush (from tick T)
BEFORE it writes the yielding step's own output and before it sends FlushOut(T); the events pipe
and the rings are not ordered with each other, so a poll may read that step's output before the
event arrives. So the rings, not the event, say what is stale: when a read crosses a mark, what is
HELD from earlier reads is dropped from T on (per ring: audio from the speaker queue and the
recording, frames from the frame queue and the recording) before the read's media, all current,
is queued. A FlushOut drops only where its mark has not been crossed (not yet read, or a client
without rings); see docs/CONTRACTS.md, Barge-in / flush.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from .avsync import FrameScheduler
from .playback import Player
from .recording import RecordingController

KINDS = ("audio", "frames")  # the avatar's two output rings, in EngineClient.read_flushes() order


class AvatarIntake:
    def __init__(self, player: Player, scheduler: FrameScheduler, recording: RecordingController) -> None:
        self.player = player
        self.scheduler = scheduler
        self.recording = recording
        # per ring: from_tick of the marks crossed whose FlushOut has not come yet (their drop is done)
        self._crossed: dict[str, deque[int]] = {kind: deque(maxlen=64) for kind in KINDS}

    def clear(self) -> None:
        """A new session: nothing queued, nothing pending."""
        self.player.buffer.clear()
        self.scheduler.clear()
        for crossed in self._crossed.values():
            crossed.clear()

    def crossed(self, marks: tuple[list[int], list[int]]) -> None:
        """The flush marks (audio, frames) the latest reads crossed (EngineClient.read_flushes):
        drop what earlier reads queued from each mark's tick on. Before that read's media is queued."""
        for kind, ticks in zip(KINDS, marks, strict=True):
            for tick in ticks:
                self._drop(kind, tick)
                self._crossed[kind].append(tick)

    def take(self, audio: list[tuple[int, np.ndarray]], frames: list[tuple[int, np.ndarray]]) -> None:
        """Queue what the reads returned: audio (tick, float32 (960 * n,)), frames (tick, uint8 (S, S, 3))."""
        playing = self.player.running  # no speaker (none, or lost until it is back): nothing to queue
        for tick, pcm in audio:
            if playing:
                self.player.buffer.push(tick, pcm)
            self.recording.avatar_audio(tick, pcm)
        for tick, frame in frames:
            self.scheduler.add(tick, frame)
            self.recording.avatar_frame(tick, frame)

    def flush_out(self, from_tick: int) -> None:
        """The engine's FlushOut(from_tick): drop from it on, per ring, unless its mark did already."""
        for kind in KINDS:
            crossed = self._crossed[kind]
            if from_tick in crossed:
                crossed.remove(from_tick)
            else:
                self._drop(kind, from_tick)

    def drop_from(self, from_tick: int) -> None:
        """The app's own stop (Interrupt): drop everything held from `from_tick` on."""
        self.player.buffer.flush(from_tick)
        self.scheduler.flush(from_tick)
        self.recording.flush(from_tick)

    def _drop(self, kind: str, from_tick: int) -> None:
        if kind == "audio":
            self.player.buffer.flush(from_tick)
            self.recording.flush(from_tick, frames=False)
        else:
            self.scheduler.flush(from_tick)
            self.recording.flush(from_tick, audio=False)
