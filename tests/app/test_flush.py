"""Flush (barge-in): queued avatar audio and frames from the flush tick on are dropped at once."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
import pytest

from engine.protocol import FlushOut

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot

    from app.measure import MonitorRecorder

    from .conftest import DuetWindow

pytestmark = [pytest.mark.gui, pytest.mark.audio]


def test_flush_out_drops_queued_audio_and_frames(
    duet_window: DuetWindow, qtbot: QtBot, pipewire: None, monitor_recorder: type[MonitorRecorder]
) -> None:
    w = duet_window(start=False)  # the app's playback path alone, fed like the engine feeds it
    core = w.core
    core.player.start()
    core.timer.start()
    t = np.arange(960 * 75) / 24_000
    pcm = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)  # 3 s of tone, ticks 0..74
    with monitor_recorder() as rec:
        core.player.buffer.push(0, pcm)
        for k in range(75):
            core.scheduler.add(k, np.full((64, 64, 3), k, np.uint8))
        qtbot.waitUntil(lambda: core.player.played_tick() >= 10, timeout=5_000)
        cut = core.player.played_tick() + 3
        core.handle_event(FlushOut(from_tick=cut))
        t_flush = time.monotonic()
        assert len(core.scheduler) <= 3 and core.scheduler.stats.flushed >= 70 - cut  # frames: at once
        # silence is expected once what the device had buffered has played: its output latency,
        # which PipeWire raises under load (250 ms at least)
        drain_s = max(0.25, core.player.latency_s + 0.1)
        qtbot.wait(int(1000 * drain_s) + 350)
    assert core.player.buffer.flushed_ticks >= 60
    assert core.player.buffer.last_tick < cut  # nothing from the cut on was rendered
    assert core.scheduler.current_tick < cut
    # at the speaker: tone before the flush, silence after it (once the device buffer drained)
    after = [b for t0, b in rec.blocks if t0 > t_flush + drain_s]
    before = [b for t0, b in rec.blocks if t0 < t_flush - 0.05]
    assert before and np.abs(np.concatenate(before)).max() > 0.1
    loud = [
        (round(t0 - t_flush, 3), float(np.abs(b).max())) for t0, b in rec.blocks if np.abs(b).max() >= 0.01
    ]
    assert after and np.abs(np.concatenate(after)).max() < 0.01, (
        f"sound after the flush; loud blocks (s from flush, peak): {loud[-8:]}"
    )
