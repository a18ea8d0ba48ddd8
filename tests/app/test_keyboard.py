"""The window from the keyboard: where Space talks in push-to-talk mode, the shortcuts and their
sheet (F1), pickers that never act on a stray key, and where the focus starts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot

    from app.window import MainWindow

    from .conftest import DuetWindow

pytestmark = pytest.mark.gui


def _active(w: MainWindow, qtbot: QtBot) -> None:
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=5_000)


def test_the_focus_starts_in_the_text_box(duet_window: DuetWindow, qtbot: QtBot) -> None:
    """Not on the model picker, where a typed letter would pick a model."""
    w = duet_window(start=False)
    _active(w, qtbot)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is w.text_box, timeout=5_000)
    qtbot.keyClicks(w.text_box, "so")
    assert w.text_box.text() == "so" and w.model_combo.currentData() == "testecho"


def test_space_talks_only_where_it_means_nothing_else(duet_window: DuetWindow, qtbot: QtBot) -> None:
    w = duet_window(start=False, push_to_talk=True)
    asm = w.core.assembler
    _active(w, qtbot)
    w.core.conversation.set_state("idle")
    assert w.state_pill.text() == "hold to talk"  # push-to-talk, nothing held: not "ready"

    # the empty text box (where the focus is after sending a line): Space talks, and the button
    # and the pill say so
    w.text_box.setFocus()
    qtbot.keyPress(w.text_box, Qt.Key.Key_Space)
    assert asm.ptt_down and w.talk_button.isDown() and w.talk_button.text() == "Talking…"
    assert w.state_pill.text() == "listening"
    qtbot.keyRelease(w.text_box, Qt.Key.Key_Space)
    assert not asm.ptt_down and not w.talk_button.isDown() and w.text_box.text() == ""
    assert w.state_pill.text() == "hold to talk"
    # Space held, Ctrl+I to interrupt, Space let go with Ctrl still down: the turn ends all the same
    ctrl = Qt.KeyboardModifier.ControlModifier
    qtbot.keyPress(w.text_box, Qt.Key.Key_Space)
    assert asm.ptt_down
    qtbot.keyClick(w.text_box, Qt.Key.Key_I, ctrl)
    qtbot.keyRelease(w.text_box, Qt.Key.Key_Space, ctrl)
    assert not asm.ptt_down and w.text_box.text() == ""
    # Space held, and "Hold to talk" clicked and let go meanwhile: Space still holds the turn
    qtbot.keyPress(w.text_box, Qt.Key.Key_Space)
    w.talk_button.pressed.emit()
    w.talk_button.released.emit()
    assert asm.ptt_down
    qtbot.keyRelease(w.text_box, Qt.Key.Key_Space)
    assert not asm.ptt_down
    # a line begun: Space types
    qtbot.keyClicks(w.text_box, "hi")
    qtbot.keyClick(w.text_box, Qt.Key.Key_Space)
    assert w.text_box.text() == "hi " and not asm.ptt_down

    # a focused button gets its Space: it is pressed
    clicked: list[bool] = []
    w.stop_button.clicked.connect(lambda: clicked.append(True))
    w.stop_button.setFocus()
    qtbot.keyClick(w.stop_button, Qt.Key.Key_Space)
    assert clicked and not asm.ptt_down

    # the Answers panel's fields type spaces
    w.brain_panel.kind.setCurrentIndex(w.brain_panel.kind.findData("llm"))
    w.brain_panel.model.setFocus()
    w.brain_panel.model.clear()
    qtbot.keyClicks(w.brain_panel.model, "my model")
    assert w.brain_panel.model.text() == "my model" and not asm.ptt_down

    # a focused picker opens its list
    w.persona_combo.setFocus()
    qtbot.keyClick(w.persona_combo, Qt.Key.Key_Space)
    assert w.persona_combo.view().isVisible() and not asm.ptt_down
    w.persona_combo.hidePopup()

    # the conversation (a Tab stop) and the avatar: Space talks
    for where in (w.captions.scroller, w.stage):
        where.setFocus()
        qtbot.keyPress(where, Qt.Key.Key_Space)
        assert asm.ptt_down
        qtbot.keyRelease(where, Qt.Key.Key_Space)
        assert not asm.ptt_down

    # push-to-talk off: Space is Space everywhere (the empty text box types it)
    w.ptt_toggle.click()
    w.text_box.clear()
    w.text_box.setFocus()
    qtbot.keyClick(w.text_box, Qt.Key.Key_Space)
    assert w.text_box.text() == " " and not asm.ptt_down
    assert w.state_pill.text() == "ready"


def test_shortcuts_mute_switch_push_to_talk_and_interrupt(duet_window: DuetWindow, qtbot: QtBot) -> None:
    w = duet_window(start=False)
    asm = w.core.assembler
    _active(w, qtbot)
    w.core.conversation.set_state("idle")
    assert w.state_pill.text() == "ready"
    qtbot.keyClick(w, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    assert asm.ptt_mode and w.ptt_toggle.isChecked() and w.talk_button.isVisible()
    qtbot.keyClick(w, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    assert not asm.ptt_mode and not w.ptt_toggle.isChecked()
    qtbot.keyClick(w, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)
    assert asm.muted and w.mute_button.isChecked() and w.state_pill.text() == "muted"
    qtbot.keyClick(w, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)
    assert not asm.muted and w.state_pill.text() == "ready"
    clicked: list[bool] = []
    w.stop_button.clicked.connect(lambda: clicked.append(True))
    qtbot.keyClick(w.text_box, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier)  # while typing, too
    qtbot.waitUntil(lambda: bool(clicked), timeout=5_000)
    for button, keys in ((w.mute_button, "Ctrl+M"), (w.ptt_toggle, "Ctrl+T"), (w.stop_button, "Ctrl+I")):
        assert keys in button.toolTip()  # the tooltips say the shortcuts


def test_f1_lists_the_shortcuts(duet_window: DuetWindow, qtbot: QtBot) -> None:
    w = duet_window(start=False)
    _active(w, qtbot)
    assert "F1" in w.captions.empty_hint.text() and "F1" in w.text_box.toolTip()  # said where one looks
    qtbot.keyClick(w, Qt.Key.Key_F1)
    sheet = w.shortcut_sheet
    assert sheet is not None
    qtbot.waitUntil(sheet.isActiveWindow, timeout=5_000)
    keys = [k for k, _ in sheet.rows]
    assert {"Ctrl+I", "Ctrl+M", "Ctrl+T", "Ctrl+H", "F11", "Space (hold)"} <= set(keys)
    qtbot.keyClick(sheet, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not sheet.isVisible(), timeout=5_000)
    assert w.isVisible() and not w.isFullScreen()  # Esc closed the sheet, nothing else
    _active(w, qtbot)
    qtbot.keyClick(w, Qt.Key.Key_Slash, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(sheet.isVisible, timeout=5_000)
    sheet.close()


def test_full_screen_says_how_to_leave_it_and_a_kiosk_does_not(
    duet_window: DuetWindow, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("app.fullscreen.LEAVE_HINT_MS", 300)
    w = duet_window(start=False)
    w.enter_fullscreen()
    qtbot.waitUntil(w.isFullScreen, timeout=5_000)
    toast = w.stage.toast
    assert toast.isVisible() and "Esc" in toast.text() and "F11" in toast.text()
    assert toast.geometry().top() >= 0 and w.stage.rect().contains(toast.geometry())
    qtbot.waitUntil(lambda: not toast.isVisible(), timeout=5_000)  # it passes
    w.toggle_fullscreen()
    qtbot.waitUntil(lambda: not w.isFullScreen(), timeout=5_000)

    k = duet_window(start=False)
    k.start_kiosk()
    qtbot.waitUntil(k.isFullScreen, timeout=5_000)
    assert not k.stage.toast.isVisible()  # a booth's visitors cannot leave: no such hint
    _active(k, qtbot)
    qtbot.keyClick(k, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(k, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    assert not k.core.assembler.muted and not k.core.assembler.ptt_mode  # no Mute, no Push-to-talk
    qtbot.keyClick(k, Qt.Key.Key_F1)
    sheet = k.shortcut_sheet
    assert sheet is not None
    keys = {key for key, _ in sheet.rows}
    assert "Ctrl+M" not in keys and "Ctrl+T" not in keys and "F11" not in keys and "Ctrl+I" in keys
    # nothing a visitor cannot use (push-to-talk is off, the pickers are hidden), nor the way out
    assert not {"Space (hold)", "Alt+Down, Space", "Ctrl+Shift+Q"} & keys
    sheet.close()


def test_a_picker_acts_only_on_a_choice(
    duet_window: DuetWindow, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An arrow key, a typed letter or the wheel on a closed picker opens its list (or does
    nothing): no persona switch that wipes the conversation, no folder dialog for a model that
    needs weights. Enter in the list chooses."""
    from PySide6.QtWidgets import QFileDialog

    asked: list[object] = []

    def ask(*a: object) -> str:
        asked.append(a)
        return ""

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(ask))
    w = duet_window(start=False, persona="guide")
    _active(w, qtbot)
    persona = w.persona_combo
    persona.setFocus()
    for key in (Qt.Key.Key_Down, Qt.Key.Key_Up, Qt.Key.Key_End):
        qtbot.keyClick(persona, key)
        assert (
            persona.view().isVisible() and persona.currentData() == "guide" and w.settings.persona == "guide"
        )
        persona.hidePopup()
    wheel = QWheelEvent(
        QPointF(10, 10),
        QPointF(persona.mapToGlobal(QPoint(10, 10))),
        QPoint(0, 0),
        QPoint(0, -120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(persona, wheel)
    assert persona.currentData() == "guide"

    model = w.model_combo
    model.setFocus()
    qtbot.keyClick(model, Qt.Key.Key_S)  # "streamer (needs weights)" is highlighted, not picked
    view = model.view()
    assert view.isVisible() and model.currentData() == "testecho" and not asked
    assert model.itemData(view.currentIndex().row()) == "streamer"
    qtbot.keyClick(view, Qt.Key.Key_Escape)  # Esc keeps the choice
    qtbot.waitUntil(lambda: not view.isVisible(), timeout=5_000)
    assert model.currentData() == "testecho" and not asked and w.core.model == "testecho"

    persona.setFocus()
    qtbot.keyClick(persona, Qt.Key.Key_Down)
    view = persona.view()
    booth = persona.findData("booth")
    view.setCurrentIndex(persona.model().index(booth, 0))
    qtbot.keyClick(view, Qt.Key.Key_Return)  # chosen: now it switches
    qtbot.waitUntil(lambda: w.settings.persona == "booth", timeout=5_000)
    assert w.core.spec.persona == "booth"


def test_the_session_log_names_the_persona_the_engine_opened(
    duet_window: DuetWindow, caplog: pytest.LogCaptureFixture
) -> None:
    """After a quick switch back (guide -> booth -> guide), the first session to open is booth's:
    the log says so, and the avatar's bubbles are named after its avatar."""
    from engine.protocol import SessionOpened

    w = duet_window(start=False, persona="guide")
    caplog.set_level("INFO", logger="app.core")
    w.core.handle_event(SessionOpened(persona="booth", avatar="max"))
    assert "persona booth, avatar max" in caplog.text
    assert w.captions.avatar_name == "Max"
    w.core.conversation.typed("hello")
    w.core.conversation.transcript("avatar", "Hi.", True)
    assert [b.speaker.text() for b in w.captions._bubbles] == ["You", "Max"]
