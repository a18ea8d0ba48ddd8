"""The avatar's output clock: synthesised sentences laid out tick by tick (960 samples at 24 kHz).

Holds the sentence being played and its position; per tick it hands out the audio block and the
mouth pose of the viseme track at that moment. A tick of silence has a closed mouth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.protocol import AVATAR_RATE, AVATAR_SAMPLES_PER_TICK

from .speaker import Utterance

SILENCE_RMS = 1e-3  # below this a tick of avatar audio counts as silent


@dataclass
class TickOut:
    pcm: np.ndarray  # float32 (960,)
    mouth: Any  # engine.models.lite.visemes.MouthPose | None (None = closed)
    started: str = ""  # text of a sentence that started in this tick
    voiced: bool = False  # rms >= SILENCE_RMS


class OutputQueue:
    def __init__(self) -> None:
        self._queue: list[Utterance] = []
        self._pos = 0  # samples of _queue[0] already played
        self.turn = -1  # turn the queued sentences belong to

    @property
    def playing(self) -> bool:
        return bool(self._queue)

    def push(self, utterance: Utterance) -> None:
        if utterance.turn != self.turn:
            self.clear()
            self.turn = utterance.turn
        if len(utterance.speech.pcm):
            self._queue.append(utterance)

    def finish_current(self) -> None:
        """Drop the queued sentences after the one being played."""
        del self._queue[1:]

    def clear(self) -> None:
        self._queue.clear()
        self._pos = 0

    def next_tick(self) -> TickOut:
        out = np.zeros(AVATAR_SAMPLES_PER_TICK, np.float32)
        mouth = None
        started = ""
        filled = 0
        while filled < AVATAR_SAMPLES_PER_TICK and self._queue:
            utt = self._queue[0]
            pcm = utt.speech.pcm
            if self._pos == 0:
                started = f"{started} {utt.text}".strip()
            if mouth is None:
                mouth = utt.speech.track.pose_at(self._pos / AVATAR_RATE)
            take = min(AVATAR_SAMPLES_PER_TICK - filled, len(pcm) - self._pos)
            out[filled : filled + take] = pcm[self._pos : self._pos + take]
            filled += take
            self._pos += take
            if self._pos >= len(pcm):
                self._queue.pop(0)
                self._pos = 0
        voiced = float(np.sqrt(np.mean(out**2))) >= SILENCE_RMS
        return TickOut(out, mouth, started, voiced)
