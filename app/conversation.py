"""Observable conversation state (captions, avatar state, engine status); widgets only render it."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal


@dataclass
class Caption:
    side: str  # "user" | "avatar"
    text: str
    final: bool


class Conversation(QObject):
    changed = Signal()  # captions changed
    state_changed = Signal(str)  # "idle" | "listening" | "thinking" | "speaking" | "starting" | "offline"

    def __init__(self, max_lines: int = 200, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.captions: deque[Caption] = deque(maxlen=max_lines)
        self.state = "starting"

    def transcript(self, side: str, text: str, final: bool) -> None:
        """A partial replaces the side's previous partial; a final closes the line."""
        side = side if side in ("user", "avatar") else "avatar"
        last = next((c for c in reversed(self.captions) if c.side == side), None)
        if last is not None and not last.final:
            last.text, last.final = text, final
        elif text.strip():
            self.captions.append(Caption(side, text, final))
        else:
            return
        self.changed.emit()

    def set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)

    def clear(self) -> None:
        self.captions.clear()
        self.changed.emit()

    def last(self, side: str) -> Caption | None:
        return next((c for c in reversed(self.captions) if c.side == side), None)
