"""What a keyboard or screen-reader user meets: a visible focus ring on every Tab stop, a name
(and a tooltip) on every control, a highlighted item in an open picker, readable contrast."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QAccessible, QColor, QImage, QPalette
from PySide6.QtWidgets import QComboBox, QLabel, QWidget

from app.theme import DIM_TEXT, FIELD_EDGE, contrast_ratio

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot

    from app.window import MainWindow

    from .conftest import DuetWindow

pytestmark = pytest.mark.gui
PANELS = ("#0f1115", "#141720", "#151821")  # window, side panel, top and bottom bars


def _tab_stops(w: MainWindow) -> list[QWidget]:
    """The widgets Tab reaches, in order, starting at the text box."""
    stops: list[QWidget] = [w.text_box]
    x = w.text_box.nextInFocusChain()
    while x is not None and x is not w.text_box:
        tab = x.focusPolicy() & Qt.FocusPolicy.TabFocus == Qt.FocusPolicy.TabFocus
        if tab and x.isVisible() and x.isEnabled() and x.window() is w:
            stops.append(x)
        x = x.nextInFocusChain()
    return stops


def _name(x: QWidget) -> str:
    """What a screen reader calls `x` (a picker's name on Linux is its choice, and its label comes
    through the label's buddy: its accessibleName is the name elsewhere)."""
    if isinstance(x, QComboBox):
        return x.accessibleName()
    iface = QAccessible.queryAccessibleInterface(x)
    return iface.text(QAccessible.Text.Name) if iface is not None else ""


def _edge(w: MainWindow, x: QWidget) -> list[str]:
    """The colours of the left edge of `x` (2 px, half-way down) as the window draws them."""
    image: QImage = w.grab(QRect(x.mapTo(w, QPoint(0, 0)), x.size())).toImage()
    return [QColor(image.pixel(i, image.height() // 2)).name() for i in (0, 1)]


def test_every_tab_stop_shows_a_focus_ring(duet_window: DuetWindow, qtbot: QtBot) -> None:
    w = duet_window(start=False)
    w.banner.show_status("warn", "A note")  # its ✕ is a Tab stop too
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=5_000)
    stops = _tab_stops(w)
    names = [_name(x) for x in stops]
    for must in ("Model", "Persona", "Avatar", "Latency HUD", "Full screen", "Dismiss message"):
        assert must in names
    assert "Conversation" in names
    assert "Devices settings" in names and "Microphone" in names and "Send message" in names
    for x in stops:
        w.stage.setFocus()  # (not a Tab stop: nothing drawn for it)
        before = _edge(w, x)
        x.setFocus(Qt.FocusReason.TabFocusReason)
        assert x.hasFocus()
        after = _edge(w, x)
        best = max(contrast_ratio(a, b) for a, b in zip(before, after, strict=True))
        assert best >= 3.0, f"{_name(x)}: focus ring {after} on {before} is {best:.2f}:1"


def test_every_control_has_a_name_and_says_what_it_does(duet_window: DuetWindow) -> None:
    w = duet_window(start=False, push_to_talk=True)
    w.banner.show_status("error", "It broke")  # Retry
    controls = [*_tab_stops(w), w.level, w.state_pill, w.talk_button, w.banner.retry_button]
    for x in controls:
        assert _name(x).strip() not in ("", "✕"), f"{type(x).__name__} {x.objectName()} has no name"
    assert _name(w.mic_combo) == "Microphone" and _name(w.speaker_combo) == "Speaker"
    labels = {lab.buddy(): lab.text() for lab in w.findChildren(QLabel) if lab.buddy() is not None}
    pickers = (w.model_combo, w.persona_combo, w.avatar_combo, w.mic_combo, w.speaker_combo, w.camera_combo)
    for combo in pickers:
        assert labels.get(combo) == combo.accessibleName()  # the label beside it names it (Linux)
    assert _name(w.level) == "Microphone level"
    w.core.conversation.set_state("speaking")
    assert _name(w.state_pill) == "Conversation state: speaking"
    for x in (
        w.send_button,
        w.talk_button,
        w.banner.retry_button,
        w.banner.close_button,
        w.brain_panel.apply_button,
        w.brain_panel.model,
        w.brain_panel.url,
        w.state_pill,
        w.level,
        w.mic_combo,
        w.speaker_combo,
        w.model_combo,
    ):
        assert x.toolTip(), f"{_name(x)} has no tooltip"
    assert w.mic_combo.toolTip() != w.speaker_combo.toolTip()


def test_the_open_pickers_current_item_is_highlighted(duet_window: DuetWindow, qtbot: QtBot) -> None:
    w = duet_window(start=False)
    combo = w.persona_combo
    combo.showPopup()
    view = combo.view()
    qtbot.waitUntil(view.isVisible, timeout=5_000)
    view.setCurrentIndex(combo.model().index(1, 0))
    image = view.viewport().grab().toImage()

    def at(row: int) -> str:
        r = view.visualRect(combo.model().index(row, 0))
        return QColor(image.pixel(r.left() + 3, r.center().y())).name()

    assert contrast_ratio(at(1), at(0)) >= 3.0, (at(1), at(0))
    combo.hidePopup()


def test_text_and_field_edges_are_readable(duet_window: DuetWindow, qtbot: QtBot) -> None:
    for panel in (*PANELS, "#161922", "#1c202b"):  # (a disabled field, a field)
        assert contrast_ratio(DIM_TEXT, panel) >= 4.5
    for panel in (*PANELS, "#1c202b"):
        assert contrast_ratio(FIELD_EDGE, panel) >= 3.0
    w = duet_window(start=False)
    hint = w.captions.empty_hint
    assert hint.isVisible() and hint.palette().color(QPalette.ColorRole.WindowText).name() == DIM_TEXT
    url = w.brain_panel.url
    assert not url.isEnabled()  # (answers from the script)
    assert url.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text).name() == DIM_TEXT
    # who said what: a name over every bubble, and the two sides' bubbles tell apart
    w.core.conversation.typed("hello")
    w.core.conversation.transcript("avatar", "Hi.", True)
    user, avatar = w.captions._bubbles
    assert (user.speaker.text(), avatar.speaker.text()) == ("You", "Avatar")
    qtbot.waitUntil(lambda: user.speaker.isVisible() and avatar.speaker.isVisible(), timeout=5_000)
    colours = []
    for b in (user, avatar):
        image = b.frame.grab().toImage()
        colours.append(QColor(image.pixel(image.width() - 4, image.height() // 2)).name())
    assert contrast_ratio(*colours) >= 1.3, colours
