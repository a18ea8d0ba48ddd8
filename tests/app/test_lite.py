"""The default model end to end: lite hears a spoken turn through the PipeWire mic and answers."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from engine import paths

from .conftest import SPEECH_WAV, play_into_mic
from .test_views import to_array

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot

    from app.measure import MonitorRecorder

    from .conftest import DuetWindow

pytestmark = [pytest.mark.gui, pytest.mark.audio, pytest.mark.slow]


def test_lite_conversation_and_avatar_screenshot(
    duet_window: DuetWindow,
    qtbot: QtBot,
    pipewire: None,
    monitor_recorder: type[MonitorRecorder],
    tmp_path: Path,
) -> None:
    w = duet_window("lite", use_gl=True, persona="guide", avatar="ada")
    qtbot.waitUntil(lambda: w.core._live is not None, timeout=180_000)
    assert w.core.ready_info is not None and w.core.ready_info.frame_size == 512
    qtbot.waitUntil(lambda: w.stage.view.frames_set >= 25, timeout=20_000)
    img = to_array(w.stage.view.snapshot())
    assert img.std() > 10, "the avatar view is blank"
    w.grab().save(str(tmp_path / "lite_window.png"))
    assert w.stage.view.last_frame is not None
    first = w.stage.view.last_frame.copy()
    wav = paths.assets_dir() / "demo" / "user_turn.wav"
    with monitor_recorder() as rec:
        qtbot.wait(2500)  # let a greeting, if any, start before the user talks
        user = play_into_mic(wav if wav.exists() else SPEECH_WAV)
        qtbot.waitUntil(lambda: user.done(), timeout=30_000)  # the window runs meanwhile
        qtbot.waitUntil(lambda: w.core.conversation.last("user") is not None, timeout=30_000)
        qtbot.waitUntil(lambda: w.core.conversation.last("avatar") is not None, timeout=30_000)
        t_user = rec.blocks[-1][0]  # the avatar's voice reaches the speaker sink after the user turn

        def avatar_heard() -> bool:
            after = [b for t0, b in list(rec.blocks) if t0 > t_user + 0.2]
            return bool(after) and float(np.abs(np.concatenate(after)).max()) > 0.05

        qtbot.waitUntil(avatar_heard, timeout=30_000)
        qtbot.wait(1000)
        # open speakers at full loudness (the sink's monitor is the mic): the avatar talks its whole
        # answer through without taking its own voice for the user
        qtbot.waitUntil(lambda: time.monotonic() > w.core.player.voiced_until + 2.0, timeout=30_000)
    heard = [t for side, t, _ in w.captions.texts() if side == "user"]
    assert len(heard) == 1, f"the avatar heard itself: {heard}"
    assert w.core.player.buffer.flushed_ticks == 0  # and never yielded to itself
    assert not np.array_equal(first, w.stage.view.last_frame)  # the avatar moves
    w.grab().save(str(tmp_path / "lite_talking.png"))
    # a typed question: shown once (lite echoes it as a final transcript) and answered
    n_avatar = sum(1 for side, _, _ in w.captions.texts() if side == "avatar")
    w.text_box.setText("What is Duet?")
    qtbot.keyClick(w.text_box, "\r")
    qtbot.waitUntil(
        lambda: sum(1 for side, _, _ in w.captions.texts() if side == "avatar") > n_avatar, timeout=30_000
    )
    assert [t for _, t, _ in w.captions.texts()].count("What is Duet?") == 1
    last = w.core.conversation.last("avatar")
    assert last is not None and last.text.startswith("Duet is an app")
    print("captions:", w.captions.texts(), "latency:", [t.ms for t in w.core.latency.turns])
