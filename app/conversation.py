"""Observable conversation state (captions, avatar state, engine status); widgets only render it."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from engine.protocol import continues_sentence


@dataclass
class Caption:
    side: str  # "user" | "avatar"
    text: str
    final: bool
    typed: bool = False  # the user typed it (shown at once, not from the engine)


class Conversation(QObject):
    changed = Signal()  # captions changed
    state_changed = Signal(
        str
    )  # "idle" | "listening" | "thinking" | "speaking" | "starting" | "offline" | "no session"

    def __init__(self, max_lines: int = 200, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.captions: deque[Caption] = deque(maxlen=max_lines)
        self.state = "starting"
        # (output tick, state) the engine said, shown once that tick is at the speaker (show_due):
        # it says them at the output tick, up to the output lag + the speaker's buffer before the
        # sound, so shown at once "listening" came under the last words and "speaking" before them
        self._due: deque[tuple[int, str]] = deque(maxlen=64)
        self._typed: deque[str] = deque(maxlen=8)  # typed lines the engine has not echoed yet

    def transcript(self, side: str, text: str, final: bool) -> None:
        """A partial replaces the side's previous partial; a final closes the line.

        An empty final withdraws the open partial (the engine heard a cough, not a turn). The
        engine's final for a line the user typed (already shown by typed()) is not shown twice."""
        side = side if side in ("user", "avatar") else "avatar"
        text = text.strip()
        if side == "user" and final and text in self._typed:
            self._typed.remove(text)
            return
        if side == "avatar" and final and text and self._continues(text):
            self.captions[-1].text += " " + text  # the rest of a sentence the voice said in parts
            self.changed.emit()
            return
        last = next((c for c in reversed(self.captions) if c.side == side and not c.typed), None)
        partial = last if last is not None and not last.final else None  # typed lines aside
        if partial is not None and (text or not final):
            partial.text, partial.final = text, final
        elif partial is not None:
            self.captions.remove(partial)
        elif text:
            self.captions.append(Caption(side, text, final))
        else:
            return
        self.changed.emit()

    def _continues(self, text: str) -> bool:
        """The avatar's voice says long sentences in parts ("Duet is an app for talking with an
        avatar," / "face to face."): a part continues the newest line when that line is the
        avatar's, nothing came in between, and it stopped mid-sentence."""
        if not self.captions:
            return False
        prev = self.captions[-1]
        return prev.side == "avatar" and prev.final and continues_sentence(prev.text)

    def typed(self, text: str) -> None:
        """A line the user typed: shown at once; the engine's echo of it is then skipped."""
        self._typed.append(text.strip())
        self.captions.append(Caption("user", text.strip(), True, typed=True))
        self.changed.emit()

    def set_state(self, state: str) -> None:
        """Show `state` now ("starting", "offline", ...: the app's own); states still due from the
        engine are dropped (they belonged to what ran before)."""
        self._due.clear()
        self._show(state)

    def state_at(self, tick: int, state: str) -> None:
        """The engine's state for output tick `tick`: shown when that tick is at the speaker."""
        if self._due and tick < self._due[-1][0]:  # ticks went back: a new session's clock
            self._due.clear()
        self._due.append((tick, state))

    def forget_due(self) -> None:
        """A new session opens: the states still due were the old one's (its ticks never come)."""
        self._due.clear()

    def show_due(self, played_tick: Callable[[], int]) -> None:
        """Show the states whose tick the speaker has reached (`played_tick()`, asked only when a
        state is due: -1 when nothing is playing, no speaker: then all of them, as there is no
        sound to wait for)."""
        if not self._due:
            return
        played = played_tick()
        while self._due and (played < 0 or self._due[0][0] <= played):
            self._show(self._due.popleft()[1])

    def _show(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)

    def clear(self) -> None:
        self.captions.clear()
        self.changed.emit()

    def last(self, side: str) -> Caption | None:
        return next((c for c in reversed(self.captions) if c.side == side), None)
