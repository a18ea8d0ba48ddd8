"""Sound devices that cannot be opened, and picking a speaker (no sound device is opened here:
Player.start / MicCapture.start are replaced)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from app.mic import MicCapture, SilenceSource
from app.playback import AudioDeviceError, Player

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot

    from .conftest import DuetWindow

pytestmark = pytest.mark.gui


def test_a_speaker_that_cannot_open_mutes_the_avatar_and_says_so(
    duet_window: DuetWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: Player) -> None:
        raise AudioDeviceError("cannot open the speaker (default): Device unavailable")

    monkeypatch.setattr(Player, "start", refuse)
    monkeypatch.setattr(MicCapture, "start", lambda self: None)
    w = duet_window(start=False)
    w.core.start()
    assert not w.core.player.running
    assert (
        w.device_note.text() == "Cannot open the speaker (default): Device unavailable — the avatar is muted."
    )
    assert w.device_note.isVisible()


def test_a_microphone_that_cannot_open_is_silence_and_the_clock_goes_on(
    duet_window: DuetWindow, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: MicCapture) -> None:
        raise AudioDeviceError("cannot open the microphone (default): Device unavailable")

    monkeypatch.setattr(MicCapture, "start", refuse)
    monkeypatch.setattr(Player, "start", lambda self: None)
    w = duet_window(start=False)
    w.core.start()
    assert isinstance(w.core.mic, SilenceSource)
    assert w.device_note.text() == (
        "Cannot open the microphone (default): Device unavailable — type to talk, or pick another microphone."
    )
    tick = w.core.assembler.tick
    qtbot.waitUntil(lambda: w.core.assembler.tick > tick + 5, timeout=10_000)  # silence keeps time


def test_picking_a_speaker_opens_it_and_saves_the_choice(
    duet_window: DuetWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str | int | None] = []

    def start(self: Player) -> None:
        opened.append(self.device)
        if self.device == "Broken speaker":
            raise AudioDeviceError("cannot open the speaker (Broken speaker): Invalid device")

    monkeypatch.setattr(Player, "start", start)
    monkeypatch.setattr(MicCapture, "start", lambda self: None)
    w = duet_window(start=False)
    w.core.start()
    assert opened == [None]  # the system default
    combo = w.speaker_combo
    for name in ("USB headset", "Broken speaker"):
        combo.addItem(name, name)
    combo.setCurrentIndex(combo.findData("USB headset"))
    assert opened == [None, "USB headset"] and w.settings.speaker_device == "USB headset"
    assert not w.device_note.text()
    combo.setCurrentIndex(combo.findData("Broken speaker"))  # it fails: said, and the choice is kept
    assert opened[-1] == "Broken speaker" and w.settings.speaker_device == "Broken speaker"
    assert w.device_note.text() == (
        "Cannot open the speaker (Broken speaker): Invalid device — the avatar is muted."
    )
    combo.setCurrentIndex(combo.findData(""))  # back to the system default: works, the note goes
    assert opened[-1] is None and w.settings.speaker_device == ""
    assert not w.device_note.text() and not w.device_note.isVisible()
