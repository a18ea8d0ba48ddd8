"""The bottom bar's layout: it fits any window width without cutting anything off.

The controls (state, level, Mute, Push-to-talk, Hold to talk, Interrupt, Record, REC) and the text
box with Send share one row while the text box keeps MIN_TEXT_W; on a narrower window the controls
take their compact words ("PTT", "Rec"), then the text box and Send move to a row of their own,
with the full words again if they fit, else the compact ones. Which one is re-decided whenever the
bar is resized or a control shows, hides or changes its text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from PySide6.QtCore import QEvent, QSize
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QVBoxLayout, QWidget

MIN_TEXT_W = 260  # the text box never gets narrower than this (about 30 characters) beside the controls
MARGINS = (16, 10, 16, 10)
SPACING = 10
MODES = ((1, False), (1, True), (2, False), (2, True))  # (rows, compact), the first that fits wins


class Compactable(Protocol):
    def set_compact(self, on: bool) -> None: ...
    def width_for(self, compact: bool) -> int: ...


class BottomBar(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("bottomBar")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(*MARGINS)
        outer.setSpacing(8)
        self.row1 = QHBoxLayout()
        self.row2 = QHBoxLayout()
        for row in (self.row1, self.row2):
            row.setContentsMargins(0, 0, 0, 0)
            row.setSpacing(SPACING)
            outer.addLayout(row)
        self.controls: list[QWidget] = []
        self.field: QWidget | None = None
        self.send: QWidget | None = None
        self.fixed: dict[QWidget, tuple[int, int]] = {}  # fixed-width controls: (full, compact) width
        self.rows, self.compact = 0, False  # 0: not laid out yet
        self._fitting = False

    def set_widgets(
        self,
        controls: Sequence[QWidget],
        field: QWidget,
        send: QWidget,
        fixed: dict[QWidget, tuple[int, int]] | None = None,
    ) -> None:
        self.controls, self.field, self.send = list(controls), field, send
        self.fixed = dict(fixed or {})
        self.fit()

    # ------------------------------------------------------------------ measuring
    def _width(self, w: QWidget, compact: bool) -> int:
        if w in self.fixed:
            return self.fixed[w][1 if compact else 0]
        if hasattr(w, "width_for"):
            c: Compactable = w  # type: ignore[assignment]
            return c.width_for(compact)
        return max(min(w.sizeHint().width(), w.maximumWidth()), w.minimumWidth())

    def needed(self, rows: int, compact: bool) -> int:
        """The width (margins included) the bar needs laid out in `rows` rows, compact or not."""
        shown = [w for w in self.controls if not w.isHidden()]
        widths = [self._width(w, compact) for w in shown]
        if self.send is not None and rows == 1:
            widths += [MIN_TEXT_W, self._width(self.send, compact)]
        row = sum(widths) + SPACING * max(0, len(widths) - 1)
        return row + MARGINS[0] + MARGINS[2]

    def mode_for(self, width: int) -> tuple[int, bool]:
        for rows, compact in MODES:
            if self.needed(rows, compact) <= width:
                return rows, compact
        return MODES[-1]

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        return QSize(self.needed(*MODES[-1]), hint.height())

    # ------------------------------------------------------------------ laying out
    def fit(self) -> None:
        """Lay the bar out for its width (see the module's docstring)."""
        if self._fitting or self.field is None or self.send is None:
            return
        self._fitting = True
        try:
            rows, compact = self.mode_for(self.width())
            if compact != self.compact or self.rows == 0:
                self.compact = compact
                for w in [*self.controls, self.send]:
                    if w in self.fixed:
                        w.setFixedWidth(self.fixed[w][1 if compact else 0])
                    elif hasattr(w, "set_compact"):
                        c: Compactable = w  # type: ignore[assignment]
                        c.set_compact(compact)
            if rows != self.rows:
                self.rows = rows
                self._arrange(rows)
        finally:
            self._fitting = False

    def _arrange(self, rows: int) -> None:
        assert self.field is not None and self.send is not None
        for row in (self.row1, self.row2):
            while row.count():
                row.takeAt(0)  # the widgets stay children of the bar; spacers go
        for w in self.controls:
            self.row1.addWidget(w)
        entry = self.row1 if rows == 1 else self.row2
        if rows == 2:
            self.row1.addStretch(1)
        entry.addWidget(self.field, 1)
        entry.addWidget(self.send)
        self.updateGeometry()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.fit()

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.LayoutRequest:  # a control showed, hid or changed its text
            self.fit()
        return super().event(event)
