"""Window controls without audio devices: mute, push-to-talk (Space / button), HUD, fullscreen, pickers."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from PySide6.QtCore import Qt

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot

    from .conftest import DuetWindow

pytestmark = pytest.mark.gui


def test_controls_drive_the_core(
    duet_window: DuetWindow, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("app.fullscreen.SUBTITLE_HOLD_MS", 200)
    w = duet_window(start=False)
    asm = w.core.assembler
    qtbot.mouseClick(w.mute_button, Qt.MouseButton.LeftButton)
    assert asm.muted and w.mute_button.text() == "Muted" and "microphone" in w.mute_button.toolTip()
    asm.level = 0.2  # the room is loud, but muted the avatar hears nothing: the meter says so
    w._refresh_live()
    assert w.level.value() == 0 and not w.level.isEnabled()
    qtbot.mouseClick(w.mute_button, Qt.MouseButton.LeftButton)
    assert not asm.muted
    w._refresh_live()
    assert w.level.value() == 80 and w.level.isEnabled()

    qtbot.mouseClick(w.ptt_toggle, Qt.MouseButton.LeftButton)
    assert asm.ptt_mode and w.talk_button.isVisible() and w.settings.push_to_talk
    assert w.captions.empty_hint.text().startswith("Hold Space")  # the empty panel says how to talk
    w.activateWindow()
    w.stage.setFocus()
    qtbot.waitUntil(w.isActiveWindow, timeout=5_000)
    w._refresh_live()
    assert w.level.value() == 0 and not w.level.isEnabled()  # Space is up: the avatar hears nothing
    qtbot.keyPress(w.stage, Qt.Key.Key_Space)
    assert asm.ptt_down
    w._refresh_live()
    assert w.level.value() == 80 and w.level.isEnabled()  # held: the meter shows what it hears
    qtbot.keyRelease(w.stage, Qt.Key.Key_Space)
    assert not asm.ptt_down
    qtbot.mousePress(w.talk_button, Qt.MouseButton.LeftButton)
    assert asm.ptt_down and w.talk_button.text() == "Talking…"
    qtbot.mouseRelease(w.talk_button, Qt.MouseButton.LeftButton)
    assert not asm.ptt_down
    w.text_box.setFocus()
    qtbot.keyClicks(w.text_box, "hi")
    qtbot.keyClick(w.text_box, Qt.Key.Key_Space)  # typing a line: Space types (test_keyboard.py has more)
    assert w.text_box.text() == "hi " and not asm.ptt_down
    qtbot.mouseClick(w.ptt_toggle, Qt.MouseButton.LeftButton)
    assert not asm.ptt_mode and not w.talk_button.isVisible()
    assert w.captions.empty_hint.text().startswith("Just talk")

    assert not w.hud.isVisible()
    qtbot.keyClick(w, Qt.Key.Key_H, Qt.KeyboardModifier.ControlModifier)
    assert w.hud.isVisible() and w.settings.hud
    w.hud.refresh()
    assert w.hud.labels["fps"].text().endswith("fps")

    normal = w.geometry()
    w.toggle_fullscreen()  # the stage alone fills the screen (a booth); the bottom bar stays
    qtbot.waitUntil(w.isFullScreen, timeout=5_000)
    screen = w.screen()
    qtbot.waitUntil(lambda: w.geometry() == screen.geometry(), timeout=5_000)  # no window manager here
    assert not w.top_bar.isVisible() and not w.captions.isVisible()
    assert w.stage.isVisible() and w.state_pill.isVisible() and w.text_box.isVisible()
    assert w.subtitle.isVisible() and w.subtitle.text() == ""  # its room is kept; nothing said yet
    w._camera_note = "No camera found — audio-only conversation."
    w._update_note()
    assert not w.device_note.isVisible()  # a note for the operator, not for a booth's visitors
    stage_size = w.stage.size()
    w.core.conversation.set_state("speaking")  # (before the captions: their hold is short here)
    w.core.conversation.transcript("user", "hello", False)
    assert w.subtitle.isVisible() and w.subtitle.text() == "You: hello…"  # captions move under the stage
    w.core.conversation.transcript("user", "hello there", True)
    w.core.conversation.transcript("avatar", "Hi, I'm Max.", True)
    assert w.subtitle.text() == "Hi, I'm Max."
    with qtbot.waitSignal(w.subtitle._timer.timeout, timeout=5_000):  # its hold ends while speaking
        pass
    assert w.stage.size() == stage_size  # a caption does not make the avatar jump
    assert w.subtitle.text() == "Hi, I'm Max."  # held while the avatar speaks
    w.core.conversation.set_state("listening")
    qtbot.waitUntil(lambda: w.subtitle.text() == "", timeout=2_000)  # then it goes: the next
    # visitor does not read the last one's answer, not even when a cough's partial is withdrawn
    w.core.conversation.transcript("user", "uh", False)
    assert w.subtitle.text() == "You: uh…"
    w.core.conversation.transcript("user", "", True)
    assert w.subtitle.text() == ""
    qtbot.keyClick(w, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not w.isFullScreen(), timeout=5_000)
    assert w.top_bar.isVisible() and w.captions.isVisible() and not w.subtitle.isVisible()
    assert w.device_note.isVisible() and "No camera" in w.device_note.text()
    qtbot.waitUntil(lambda: w.size() == normal.size(), timeout=5_000)  # back to its size


def test_pickers_list_assets_and_models(duet_window: DuetWindow, monkeypatch: pytest.MonkeyPatch) -> None:
    from app import catalog

    monkeypatch.setenv("DUET_EXTRA_MODELS", "mine=tests.support.models:EchoTestModel")
    w = duet_window(start=False)
    personas = {w.persona_combo.itemData(i) for i in range(w.persona_combo.count())}
    assert {c.id for c in catalog.personas()} <= personas and "guide" in personas
    guide = w.persona_combo.findData("guide")
    assert w.persona_combo.itemText(guide) == "Ada (guide)"  # who, and the id the CLI and files use
    avatars = {w.avatar_combo.itemData(i) for i in range(w.avatar_combo.count())}
    assert "ada" in avatars
    models = [w.model_combo.itemData(i) for i in range(w.model_combo.count())]
    assert "lite" in models and "testecho" in models  # the current (test) model stays selectable
    assert "mine" in models  # a model of one's own (DUET_EXTRA_MODELS) is offered
    assert "testmarker" not in models  # test models are not
    assert w.model_combo.currentData() == "testecho"


@pytest.mark.audio
def test_a_microphone_that_dies_falls_back_to_silence_and_says_so(
    duet_window: DuetWindow, qtbot: QtBot, pipewire: None
) -> None:
    from app.mic import MicCapture, SilenceSource

    w = duet_window(start=False)
    w.core.set_mic("")
    w.core.timer.start()
    assert isinstance(w.core.mic, MicCapture) and w.core.mic_ok
    w.core.mic._stream.abort()  # what an unplugged device looks like to PortAudio: the stream ends
    qtbot.waitUntil(lambda: isinstance(w.core.mic, SilenceSource), timeout=5_000)
    assert "microphone stopped" in w.device_note.text() and w.device_note.isVisible()
    ticks = w.core.assembler.tick
    qtbot.waitUntil(lambda: w.core.assembler.tick > ticks + 5, timeout=5_000)  # the clock keeps going
    w.core.set_mic("")  # picking it again works without a restart
    assert w.core.mic_ok and not w.device_note.text()


def test_a_saved_push_to_talk_mode_is_on_from_the_start(duet_window: DuetWindow) -> None:
    w = duet_window(start=False, push_to_talk=True)
    assert w.ptt_toggle.isChecked() and w.core.assembler.ptt_mode and w.talk_button.isVisible()
    assert w.captions.empty_hint.text().startswith("Hold Space")


def test_a_window_closed_in_fullscreen_starts_windowed_and_esc_always_leaves(
    duet_window: DuetWindow, qtbot: QtBot
) -> None:
    from app.settings import Settings

    w = duet_window(start=False)
    normal = w.size()
    w.enter_fullscreen()
    qtbot.waitUntil(w.isFullScreen, timeout=5_000)
    raw_fullscreen = bytes(w.saveGeometry().toHex().data())  # what an older Duet saved
    w.save_settings()  # as on close: the geometry from before fullscreen
    w2 = duet_window(start=False, geometry=Settings.load().geometry)
    assert not w2.isFullScreen() and w2.size() == normal and w2.top_bar.isVisible()
    w.close()
    w2.close()
    w3 = duet_window(start=False, geometry=raw_fullscreen.decode())  # starts fullscreen...
    qtbot.waitUntil(w3.isFullScreen, timeout=5_000)
    w3.enter_fullscreen()  # (--fullscreen on top of it)
    w3.activateWindow()
    qtbot.waitUntil(w3.isActiveWindow, timeout=5_000)
    qtbot.keyClick(w3, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not w3.isFullScreen(), timeout=5_000)  # ...and Esc still leaves
    assert w3.top_bar.isVisible() and w3.captions.isVisible()


def test_kiosk_mode_keeps_visitors_in_the_booth(duet_window: DuetWindow, qtbot: QtBot) -> None:
    w = duet_window(start=False, push_to_talk=True)
    w.start_kiosk()
    qtbot.waitUntil(w.isFullScreen, timeout=5_000)
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=5_000)
    for hidden in (w.mute_button, w.ptt_toggle, w.talk_button, w.record_button):
        assert not hidden.isVisible()  # nothing a visitor could mute, hold or record with
    assert w.text_box.isVisible() and w.stop_button.isVisible()
    assert not w.core.assembler.ptt_mode and w.settings.push_to_talk  # talk freely; the choice is kept
    for key in (Qt.Key.Key_Escape, Qt.Key.Key_F11):  # (each checked alone: F11 would go back in)
        qtbot.keyClick(w, key)  # handled at once: leaving would change the window state here
        assert w.isFullScreen() and not w.top_bar.isVisible(), f"{key.name} left full screen"
    qtbot.keyClick(w, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=5_000)  # the operator's way out


def test_fullscreen_keeps_the_operators_notes_off_the_visitors_screen(
    duet_window: DuetWindow, qtbot: QtBot
) -> None:
    w = duet_window(start=False)
    w._show_record_note("info", "Saved: /home/me/sessions/duet-1.mkv")
    assert w.record_note.isVisible()
    w.enter_fullscreen()
    qtbot.waitUntil(w.isFullScreen, timeout=5_000)
    assert not w.record_note.isVisible()  # a path is the operator's business
    w.subtitle.ensurePolished()  # captions under the avatar: sized for the screen, read from afar
    assert w.screen().geometry().height() == 900  # pytest-xvfb's screen (pyproject.toml)
    assert w.subtitle.font().pixelSize() == 25  # a 36th of 900 lines (22 px on a 768-line laptop)
    w._show_record_note("warn", "Disk space low: 1.2 GB left")
    assert w.record_note.isVisible()  # a problem shows even in fullscreen
    w._show_record_note("info", "Saved: /home/me/sessions/duet-2.mkv")
    assert not w.record_note.isVisible()
    w.toggle_fullscreen()
    qtbot.waitUntil(lambda: not w.isFullScreen(), timeout=5_000)
    assert w.record_note.isVisible() and w.record_note.text().endswith("duet-2.mkv")


def test_leaving_fullscreen_puts_the_window_back_where_it_was(duet_window: DuetWindow, qtbot: QtBot) -> None:
    """Also on a bare X server (no window manager: the tests' Xvfb), where restoreGeometry alone
    moved the window by a frame it assumed, and that geometry was saved."""
    w = duet_window(start=False)
    qtbot.waitUntil(w.isVisible, timeout=5_000)
    before = w.geometry()
    for _ in range(2):
        w.toggle_fullscreen()
        qtbot.waitUntil(w.isFullScreen, timeout=5_000)
        w.toggle_fullscreen()
        qtbot.waitUntil(lambda: not w.isFullScreen(), timeout=5_000)
        qtbot.waitUntil(lambda: w.geometry() == before, timeout=5_000)


def test_rescan_says_what_it_found_and_the_note_passes(
    duet_window: DuetWindow, qtbot: QtBot, pipewire: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = duet_window(start=False)
    monkeypatch.setattr(w, "_flash", lambda text, ms=100: type(w)._flash(w, text, ms))
    w.rescan_devices()
    assert w.banner.isVisible()
    assert re.fullmatch(r"Devices rescanned: \d+ microphones?, \d+ speakers?\.", w.banner.label.text())
    qtbot.waitUntil(lambda: not w.banner.isVisible(), timeout=3_000)


def test_a_persona_file_is_labelled_by_its_name() -> None:
    from app.catalog import Choice, with_current

    shipped = [Choice("booth", "Max (booth)", "")]
    assert with_current(shipped, "/home/me/my-booth.yaml")[-1].label == "my-booth (file)"
    assert with_current(shipped, "gone")[-1].label == "gone"
