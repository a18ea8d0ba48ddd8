"""The HUD's graphs show a measurement from the first one on."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication


def drawn_pixels(values: list[float]) -> int:
    """Pixels of the graph's colour after drawing `values`."""
    from app.hud import Sparkline

    graph = Sparkline("#ff0000")
    graph.resize(160, 36)
    graph.set_values(values)
    image = graph.grab().toImage()
    bits = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    rgba = bits[:, : image.width() * 4].reshape(image.height(), image.width(), 4)  # BGRA in memory
    graph.close()
    return int(np.count_nonzero((rgba[..., 2] > 150) & (rgba[..., 1] < 90) & (rgba[..., 0] < 90)))


def test_one_measurement_is_drawn(qapp: QApplication) -> None:
    assert drawn_pixels([]) == 0
    assert drawn_pixels([907.0]) > 0  # the first turn's latency: a dot
    assert drawn_pixels([907.0, 650.0]) > drawn_pixels([907.0])  # then a line
