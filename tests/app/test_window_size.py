"""The window's first size fits the screen it opens on (a small laptop keeps the bottom bar)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from PySide6.QtCore import Qt

from app.window import DEFAULT_SIZE, MIN_SIZE, first_size

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot

    from .conftest import DuetWindow


def test_the_first_size_fits_the_screen() -> None:
    assert first_size((1920, 1080)) == DEFAULT_SIZE == (1180, 760)
    assert first_size((1024, 640)) == (1024, 640)  # shrunk to the available area, bottom bar included
    assert first_size((1180, 600)) == (1180, 600)
    assert first_size((640, 480)) == MIN_SIZE  # never under the size the layout needs


@pytest.mark.gui
def test_settings_sections_fold_away_for_the_conversation(duet_window: DuetWindow, qtbot: QtBot) -> None:
    """Devices and Answers fold under their titles (open on this 900-line screen; a laptop's
    shorter screen starts them folded)."""
    w = duet_window(start=False)
    devices, answers = w.captions.sections["DEVICES"], w.captions.sections["ANSWERS"]
    qtbot.waitUntil(w.mic_combo.isVisible, timeout=5_000)
    assert devices.isChecked() and answers.isChecked() and w.brain_panel.isVisible()
    tall = w.captions.scroller.height()
    qtbot.mouseClick(devices, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(answers, Qt.MouseButton.LeftButton)
    assert not w.mic_combo.isVisible() and not w.brain_panel.isVisible()
    assert devices.toolTip() == "Show devices" and answers.arrowType() == Qt.ArrowType.RightArrow
    qtbot.waitUntil(lambda: w.captions.scroller.height() > tall, timeout=5_000)  # the room goes to it
    qtbot.mouseClick(devices, Qt.MouseButton.LeftButton)
    assert w.mic_combo.isVisible() and devices.toolTip() == "Hide devices"
