"""The window fits the screen it opens on (a small laptop, or a screen scaled to 150% or 200%,
keeps the bottom bar), and nothing in its bars is cut off at any width it can take."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from app.bottom_bar import MIN_TEXT_W
from app.window import DEFAULT_SIZE, MIN_SIZE, first_size, min_size

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot

    from app.window import MainWindow

    from .conftest import DuetWindow

# logical pixels available on a 1366x768 screen at 150% and a 1920x1080 one at 200% (less a panel)
SCALED_SCREENS = ((910, 480), (960, 510))


def test_the_first_size_fits_the_screen() -> None:
    assert first_size((1920, 1080)) == DEFAULT_SIZE == (1180, 760)
    assert first_size((1024, 640)) == (1024, 640)  # shrunk to the available area, bottom bar included
    assert first_size((1180, 600)) == (1180, 600)
    assert min_size((1920, 1080)) == MIN_SIZE
    for screen in SCALED_SCREENS:  # the whole window on the screen, and it can be made smaller
        assert first_size(screen) == screen
        assert min_size(screen) == MIN_SIZE and MIN_SIZE[0] < screen[0] and MIN_SIZE[1] < screen[1]
    assert first_size((600, 400)) == min_size((600, 400)) == (600, 400)  # never larger than the screen


def _cut_off(w: MainWindow) -> list[str]:
    """What in the top and bottom bars is cut short, squeezed under its size or overlaps another."""
    out = []
    for bar in (w.top_bar, w.bottom_bar):
        shown = sorted(
            (c for c in bar.findChildren(QWidget) if c.isVisible() and c.parentWidget() is bar),
            key=lambda c: (c.y() + c.height() // 2 > bar.height() // 2 + 20, c.x()),  # row, then x
        )
        inside = bar.contentsRect()
        for c in shown:
            name = c.accessibleName() or c.objectName() or type(c).__name__
            if not inside.contains(c.geometry()):
                out.append(f"{name} {c.geometry()} outside its bar {inside}")
            least = min(c.minimumSizeHint().width(), c.maximumWidth())  # (a fixed width is its own)
            if c.width() < least:
                out.append(f"{name} squeezed to {c.width()} < {least}")
        for a, b in itertools.pairwise(shown):
            if a.geometry().intersects(b.geometry()):
                out.append(f"{a.accessibleName()} overlaps {b.accessibleName()}")
    return out


def _fit(w: MainWindow, qtbot: QtBot, size: tuple[int, int]) -> None:
    w.resize(*size)
    qtbot.waitUntil(lambda: w.size().toTuple() == size, timeout=5_000)
    bar = w.bottom_bar
    qtbot.waitUntil(lambda: bar.width() == size[0] and (bar.rows, bar.compact) == bar.mode_for(size[0]))
    qtbot.waitUntil(lambda: bar.geometry().bottom() < w.height(), timeout=5_000)
    for lay in (bar.layout(), w.top_bar.layout()):
        assert lay is not None
        lay.activate()


@pytest.mark.gui
def test_nothing_is_cut_off_from_the_widest_window_to_the_narrowest(
    duet_window: DuetWindow, qtbot: QtBot
) -> None:
    """Mute, Push-to-talk, Hold to talk, Interrupt, Record with its indicator, the text box and
    Send stay whole at every width the window can take (as on a 1366x768 screen at 150%); the
    text box keeps room to type; the pickers shrink by eliding their labels."""
    w = duet_window(start=False, push_to_talk=True)
    w.record_button.click()  # recording (waiting for a session: the bar's widest state)
    assert w.rec_indicator.isVisible() and w.record_button.full_text() == "Stop recording"
    w.weights_button.show()  # (a model that loads trained weights)
    w.untrained_badge.show()  # (and runs untrained)
    bar = w.bottom_bar
    seen = set()
    for size in ((1180, 760), *SCALED_SCREENS, MIN_SIZE):
        _fit(w, qtbot, size)
        assert w.size().toTuple() == size  # the window can be that small
        assert not _cut_off(w), (size, _cut_off(w))
        assert w.text_box.width() >= MIN_TEXT_W
        assert w.bottom_bar.geometry().bottom() < w.height()  # the bar is in the window
        seen.add((bar.rows, bar.compact))
    assert (1, True) in seen and (2, True) in seen  # one row at 1180, two at the minimum
    assert w.ptt_toggle.text() == "PTT" and w.record_button.text() == "Stop rec"  # compact words...
    assert w.ptt_toggle.accessibleName() == "Push-to-talk" and "Push-to-talk" in w.ptt_toggle.toolTip()
    w.record_button.click()
    _fit(w, qtbot, (1180, 760))
    assert (bar.rows, bar.compact) == (1, False)  # ...and the full ones where there is room
    assert w.ptt_toggle.text() == "Push-to-talk" and w.record_button.text() == "Record"
    assert not _cut_off(w)


@pytest.mark.gui
def test_a_picker_too_narrow_for_its_label_elides_it(duet_window: DuetWindow, qtbot: QtBot) -> None:
    w = duet_window(start=False)
    combo = w.avatar_combo
    assert combo.currentText() == "Persona's own"
    combo.grab()  # painted as wide as its label: whole
    assert not combo.elided and combo.width() >= combo.sizeHint().width()
    combo.setFixedWidth(combo.minimumSizeHint().width())  # as narrow as the top bar may squeeze it
    combo.grab()
    assert combo.elided  # "Persona's o…", not a label cut off mid-letter
    assert combo.minimumSizeHint().width() < combo.sizeHint().width()


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
