"""The HUD's graphs show a measurement from the first one on."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication
    from pytestqt.qtbot import QtBot

    from .conftest import DuetWindow

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("qt_clean")]


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


def test_the_hud_keeps_clear_of_the_avatars_eyes(duet_window: DuetWindow, qtbot: QtBot) -> None:
    """On a small stage the whole HUD reached below the avatar's eyes: it goes compact there,
    and whole again where the stage has room beside or above the face."""
    w = duet_window(start=False)
    w.hud_button.setChecked(True)
    w.resize(1024, 640)
    qtbot.waitUntil(lambda: w.hud.compact, timeout=5_000)
    side = min(w.stage.width(), w.stage.height())
    eyes = (w.stage.height() - side) // 2 + int(0.4 * side)
    assert w.hud.geometry().bottom() < eyes and w.hud.labels["latency"].isVisible()
    assert not w.hud.labels["turns"].isVisible() and not w.hud.step_plot.isVisible()
    w.resize(1900, 900)  # a wide stage: the margin beside the avatar holds it all
    qtbot.waitUntil(lambda: not w.hud.compact, timeout=5_000)
    assert w.hud.step_plot.isVisible() and w.hud.labels["turns"].isVisible()
