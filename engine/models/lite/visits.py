"""Greeting visitors: whom to greet, and when (the seeing itself is in seeing.py).

Rules (times in seconds):
- A visit is greeted once. An arrival counts as a new visit to greet when it is the first, or when
  no face was seen for `regreet_s` before it, or `new_gap_s` when the previous visit ended with its
  spot seen empty (a real leave, not a timeout): someone who only looked away is not greeted twice.
- A greeting owed while the avatar talks waits until it is free, for at most `window_s` after the
  arrival; it is dropped when the visitor leaves or starts talking first (or just did).
- A greeting still playing when its visitor leaves is cut after the sentence being said.
The greeting's audio is synthesised ahead (when a face is first seen), so it starts at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .seeing import PresenceChange
from .speaker import speech_parts


class Greeter:
    def __init__(self, window_s: float = 8.0, regreet_s: float = 3.0, new_gap_s: float = 1.0) -> None:
        self.window_s, self.regreet_s, self.new_gap_s = window_s, regreet_s, new_gap_s
        self.turn = -1  # speaker turn of the latest greeting (-1: none)
        self._due_until = -1.0  # s: a greeting is owed until then (-1: none owed)
        self._arrived_s = -1e9  # s, the current visit's start
        self._user_s = -1e9  # s, the user was last heard in a turn
        self._visits = 0
        self._greeted_at_start = False

    def greeted_at_start(self) -> None:
        """The session opened with the greeting: the first visitor has had it."""
        self._greeted_at_start = True

    def arrive(self, change: PresenceChange, t_s: float) -> None:
        first = self._visits == 0
        self._visits += 1
        self._arrived_s = t_s
        fresh = change.gap_s >= self.regreet_s or (change.cleared and change.gap_s >= self.new_gap_s)
        if (first and not self._greeted_at_start) or (not first and fresh):
            self._due_until = t_s + self.window_s

    def leave(self) -> None:
        self._due_until = -1.0

    def due(self, t_s: float, busy: bool, user_turn: bool) -> bool:
        """Say the greeting now? (call every step; then `said(turn)` when it was said)"""
        if user_turn:
            self._user_s = t_s
        if self._due_until < 0:
            return False
        if t_s > self._due_until or self._user_s >= self._arrived_s - 2.0:  # too late, or they spoke
            self._due_until = -1.0
            return False
        return not busy

    def said(self, turn: int) -> None:
        self.turn, self._due_until = turn, -1.0


class SpeechCache:
    """Synthesis with remembered results for lines said again and again (the greeting)."""

    def __init__(self, synthesize: Callable[[str], Any]) -> None:
        self._synthesize = synthesize
        self._done: dict[str, Any] = {}
        self._keep: set[str] = set()
        self._busy: threading.Thread | None = None

    def synthesize(self, text: str) -> Any:
        speech = self._done.get(text)
        return speech if speech is not None else self._synthesize(text)

    def prefetch(self, line: str) -> None:
        """Synthesise `line`'s parts (as the speaker cuts them) in the background, once."""
        parts = [p for p in speech_parts(line) if p not in self._keep]
        if not parts or (self._busy is not None and self._busy.is_alive()):
            return
        self._keep.update(parts)

        def run() -> None:
            for part in parts:
                self._done[part] = self._synthesize(part)

        self._busy = threading.Thread(target=run, name="duet-lite-prefetch", daemon=True)
        self._busy.start()
