"""Latency HUD: glass-to-glass latency of the last turns, A/V offset, fps, drops, engine step time."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QWidget

from .core import DuetCore


class Sparkline(QWidget):
    """A tiny line plot of the last values (QPainter), with a dashed budget line."""

    def __init__(self, color: str, budget: float | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.values: list[float] = []
        self.color = QColor(color)
        self.budget = budget
        self.setMinimumSize(160, 36)

    def set_values(self, values: Sequence[float]) -> None:
        self.values = list(values)[-120:]
        self.update()

    def paintEvent(self, event: object) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        w, h = self.width(), self.height()
        top = max([*self.values, self.budget or 0.0, 1e-6]) * 1.15
        if self.budget is not None:
            y = h - self.budget / top * (h - 2) - 1
            p.setPen(QPen(QColor(255, 255, 255, 60), 1, Qt.PenStyle.DashLine))
            p.drawLine(QPointF(0, y), QPointF(w, y))
        if len(self.values) >= 2:
            n = len(self.values)
            pts = QPolygonF(
                [QPointF(i * (w - 1) / (n - 1), h - v / top * (h - 2) - 1) for i, v in enumerate(self.values)]
            )
            p.setPen(QPen(self.color, 1.6))
            p.drawPolyline(pts)
        elif self.values:  # one measurement (the first turn): a dot, not an empty graph
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(self.color)
            p.drawEllipse(QPointF(w / 2, h - self.values[0] / top * (h - 2) - 1), 2.5, 2.5)
        p.end()


def _fmt(values: Sequence[float], unit: str = "ms") -> str:
    if not values:
        return "—"
    a = np.asarray(values, dtype=np.float64)
    return f"{np.median(a):.0f} {unit} (p95 {np.percentile(a, 95):.0f})"


class Hud(QFrame):
    def __init__(self, core: DuetCore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.core = core
        self.setObjectName("hud")
        grid = QGridLayout(self)
        grid.setContentsMargins(12, 10, 12, 10)
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(4)
        self.labels: dict[str, QLabel] = {}
        self._extra: list[QWidget] = []  # what a compact HUD leaves out (see set_compact)
        rows = [
            ("latency", "Response (glass→glass)"),
            ("turns", "Last turns"),
            ("offset", "A/V offset"),
            ("fps", "Frame rate"),
            ("drops", "Dropped / late frames"),
            ("audio", "Audio underruns / queue"),
            ("step", "Engine step"),
        ]
        for r, (key, title) in enumerate(rows):
            t = QLabel(title)
            t.setObjectName("hudKey")
            v = QLabel("—")
            v.setObjectName("hudValue")
            grid.addWidget(t, r, 0)
            grid.addWidget(v, r, 1)
            self.labels[key] = v
            if key in ("turns", "drops", "audio"):
                self._extra += [t, v]
        self.step_plot = Sparkline("#5ec8ff", budget=None)
        self.latency_plot = Sparkline("#ffb86b")
        cap1, cap2 = QLabel("step ms"), QLabel("latency ms")
        cap1.setObjectName("hudKey")
        cap2.setObjectName("hudKey")
        grid.addWidget(cap1, len(rows), 0)
        grid.addWidget(self.step_plot, len(rows), 1)
        grid.addWidget(cap2, len(rows) + 1, 0)
        grid.addWidget(self.latency_plot, len(rows) + 1, 1)
        self._extra += [cap1, self.step_plot, cap2, self.latency_plot]
        self.compact = False

    def set_compact(self, on: bool) -> None:
        """Four rows (latency, A/V offset, frame rate, engine step) instead of all and the graphs:
        on a small stage the whole HUD would cover the avatar's eyes."""
        if on != self.compact:
            self.compact = on
            for w in self._extra:
                w.setVisible(not on)
            self.adjustSize()

    def refresh(self) -> None:
        c = self.core
        turns = [t.ms for t in c.latency.turns]
        self.labels["latency"].setText(_fmt(turns))
        self.labels["turns"].setText(", ".join(f"{v:.0f}" for v in turns[-5:]) or "—")
        offs = list(c.scheduler.stats.offsets_ms)
        if offs:
            a = np.abs(np.asarray(offs[-200:]))
            self.labels["offset"].setText(f"{np.median(a):.1f} ms (p99 {np.percentile(a, 99):.1f})")
        else:
            self.labels["offset"].setText("—")
        self.labels["fps"].setText(f"{c.scheduler.fps():.1f} fps")
        s = c.scheduler.stats
        self.labels["drops"].setText(f"{s.dropped} / {s.late}")
        b = c.player.buffer
        self.labels["audio"].setText(f"{b.underruns} / {b.queued_samples() / 24:.0f} ms")
        steps = list(c.step_ms)
        if steps and c.ready_info is not None:
            budget = c.ready_info.unit_ticks * 40.0
            self.step_plot.budget = budget
            self.labels["step"].setText(f"{_fmt(steps)} of {budget:.0f} ms, queue {c.engine_queue}")
        else:
            self.labels["step"].setText(_fmt(steps))
        self.step_plot.set_values(steps)
        self.latency_plot.set_values(turns)
