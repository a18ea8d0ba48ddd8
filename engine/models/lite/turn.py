"""Turn-taking: when does the user's turn start and end? Pure logic on 32 ms VAD chunks.

Hysteresis: a chunk is speech when the echo-gated VAD probability is >= `on_threshold`; once in
speech, chunks stay speech until the probability drops below `off_threshold`. The user's turn
starts after `onset_chunks` consecutive speech chunks, or one very confident chunk (the onset
time is the first of them), and
ends after `eot_ms` of silence, if it lasted at least `min_turn_ms` (shorter bursts — a cough, a
click — are dropped). A short pause inside a turn (>= `pause_ms`) raises a `pause` event, for
listening nods.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

CHUNK_S = 512 / 16000  # 32 ms


class TurnEvent(Enum):
    ONSET = "onset"  # the user started speaking (barge-in if the avatar is talking)
    PAUSE = "pause"  # a short pause inside the user's turn
    END = "end"  # the user's turn ended: time to answer
    DISCARD = "discard"  # a too-short burst ended: not a turn


@dataclass
class TurnConfig:
    on_threshold: float = 0.5
    off_threshold: float = 0.35
    onset_chunks: int = 2  # 64 ms of speech confirms an onset...
    strong_threshold: float = 0.85  # ...or a single chunk this sure (fast barge-in)
    eot_ms: float = 300.0  # silence that ends a turn
    min_turn_ms: float = 160.0
    pause_ms: float = 160.0


@dataclass(frozen=True)
class TurnUpdate:
    event: TurnEvent
    t_s: float  # session time of the event: onset -> first speech chunk start; end -> last speech end


class TurnDetector:
    def __init__(self, config: TurnConfig | None = None) -> None:
        self.config = config or TurnConfig()
        self.in_turn = False  # between ONSET and END/DISCARD
        self._speech = False  # hysteresis state of the current chunk
        self._run = 0  # consecutive speech chunks (before onset)
        self._run_start = 0.0
        self._silence = 0  # consecutive silent chunks inside a turn
        self._turn_start = 0.0
        self._last_speech_end = 0.0
        self._paused = False

    @property
    def user_speaking(self) -> bool:
        """Inside a turn and not (yet) in a pause."""
        return self.in_turn and self._silence * CHUNK_S * 1000 < self.config.pause_ms

    def update(self, chunk_start_s: float, prob: float) -> TurnUpdate | None:
        """One 32 ms chunk starting at `chunk_start_s` with gated speech probability `prob`."""
        c = self.config
        threshold = c.off_threshold if self._speech else c.on_threshold
        self._speech = prob >= threshold
        chunk_end = chunk_start_s + CHUNK_S
        if not self.in_turn:
            if not self._speech:
                self._run = 0
                return None
            if self._run == 0:
                self._run_start = chunk_start_s
            self._run += 1
            if self._run >= c.onset_chunks or prob >= c.strong_threshold:
                self.in_turn, self._silence, self._paused = True, 0, False
                self._turn_start, self._last_speech_end = self._run_start, chunk_end
                self._run = 0
                return TurnUpdate(TurnEvent.ONSET, self._run_start)
            return None
        if self._speech:
            self._silence, self._paused = 0, False
            self._last_speech_end = chunk_end
            return None
        self._silence += 1
        silent_ms = self._silence * CHUNK_S * 1000
        if silent_ms >= c.eot_ms:
            self.in_turn = False
            self._speech = False
            long_enough = (self._last_speech_end - self._turn_start) * 1000 >= c.min_turn_ms
            return TurnUpdate(TurnEvent.END if long_enough else TurnEvent.DISCARD, self._last_speech_end)
        if silent_ms >= c.pause_ms and not self._paused:
            self._paused = True
            return TurnUpdate(TurnEvent.PAUSE, self._last_speech_end)
        return None

    def reset(self) -> None:
        self.__init__(self.config)  # type: ignore[misc]
