"""Glass-to-glass response latency: end of user speech at the mic ADC -> first avatar voice sample
at the speaker DAC (both monotonic seconds from the audio callbacks' device timestamps)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Turn:
    user_end: float  # monotonic s
    avatar_start: float  # monotonic s
    ms: float


class LatencyTracker:
    def __init__(self, max_turns: int = 20, max_wait_s: float = 15.0) -> None:
        self.turns: deque[Turn] = deque(maxlen=max_turns)
        self.max_wait_s = max_wait_s
        self._pending_end: float | None = None

    def user_speech_end(self, t: float) -> None:
        self._pending_end = t

    def user_speech_start(self, t: float) -> None:
        """A new user utterance cancels an unanswered one (the latency counts from the last end)."""
        self._pending_end = None

    def avatar_onset(self, t: float) -> Turn | None:
        end = self._pending_end
        if end is None or t <= end or t - end > self.max_wait_s:
            return None
        self._pending_end = None
        turn = Turn(end, t, (t - end) * 1000.0)
        self.turns.append(turn)
        return turn
