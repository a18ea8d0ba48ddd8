"""End-to-end with the real engine (testecho) and real PipeWire audio; no camera exists here."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from tests.support.models import decode_tick

from .conftest import play_into_mic
from .test_views import to_array

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot

    from app.measure import MonitorRecorder
    from app.window import MainWindow

    from .conftest import DuetWindow

pytestmark = [pytest.mark.gui, pytest.mark.audio]


def shown_tick(window: MainWindow) -> int:
    f = window.stage.view.last_frame
    return -1 if f is None else int(f[0, 0, 0]) + 256 * int(f[0, 0, 1])  # testecho encodes the tick


def test_spoken_turn_captions_audio_and_frames(
    duet_window: DuetWindow, qtbot: QtBot, pipewire: None, monitor_recorder: type[MonitorRecorder]
) -> None:
    w = duet_window("testecho")
    qtbot.waitUntil(lambda: w.core.ready_info is not None, timeout=60_000)
    assert w.core.mic_ok, w.device_note.text()
    # no camera on this machine: the window says so and the session is audio-only
    assert "No camera" in w.device_note.text() and not w.camera.active
    qtbot.waitUntil(lambda: w.stage.view.frames_set >= 10, timeout=10_000)
    first = shown_tick(w)
    with monitor_recorder() as rec:
        player = play_into_mic()
        qtbot.waitUntil(lambda: w.core.conversation.last("user") is not None, timeout=15_000)
        qtbot.waitUntil(lambda: rec.tone_seconds() >= 0.3, timeout=15_000)
        qtbot.waitUntil(lambda: player.done(), timeout=10_000)
    assert shown_tick(w) > first  # the view follows the engine's frames
    cap = w.core.conversation.last("user")
    assert cap is not None and cap.text.startswith("speech")
    assert any("speech" in t for _, t, _ in w.captions.texts())
    assert w.core.player.buffer.underruns >= 0 and w.core.scheduler.stats.shown > 10


def test_typed_text_gets_a_caption_reply_and_screenshot_is_not_blank(
    duet_window: DuetWindow, qtbot: QtBot, pipewire: None, tmp_path: Path
) -> None:
    w = duet_window("testecho", use_gl=True)
    qtbot.waitUntil(lambda: w.core.ready_info is not None, timeout=60_000)
    assert w.stage.view.kind == "vispy"  # Xvfb + Mesa has OpenGL
    assert w.untrained_badge.isVisible()  # test models report trained=False
    assert "untrained" in w.model_combo.currentText()
    w.text_box.setText("hello there")
    qtbot.keyClick(w.text_box, "\r")
    qtbot.waitUntil(
        lambda: (c := w.core.conversation.last("avatar")) is not None and "hello there" in c.text,
        timeout=10_000,
    )
    assert w.text_box.text() == ""
    qtbot.waitUntil(lambda: w.stage.view.frames_set >= 5, timeout=10_000)
    img = w.stage.view.snapshot()
    img.save(str(tmp_path / "view.png"))
    arr = to_array(img)
    h, w_ = arr.shape[:2]
    frame = w.stage.view.last_frame
    assert frame is not None
    # the centre of the view shows the engine's frame (testecho: solid colour encoding its tick)
    assert np.abs(arr[h // 2, w_ // 2].astype(int) - frame[0, 0].astype(int)).max() <= 3 + 2 * 25
    whole = w.grab()
    whole.save(str(tmp_path / "window.png"))
    assert not whole.isNull() and whole.width() > 600
    # what the X server shows (the GL view is a native window: only a screen grab sees whether it is
    # stacked under other native windows, which once left the view blank while it drew fine)
    view = w.stage.view
    centre = view.mapToGlobal(view.rect().center())
    screen = to_array(view.screen().grabWindow(0, centre.x() - 2, centre.y() - 2, 5, 5).toImage())
    assert view.last_frame is not None
    shown, latest = decode_tick(screen[2:3, 2:3]), decode_tick(view.last_frame)
    # the grabbed pixel is one of the last frames (not the background, whose blue is 0x15)
    assert 0 <= latest - shown <= 25, (screen[2, 2], view.last_frame[0, 0])
