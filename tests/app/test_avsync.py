"""FrameScheduler: the frame shown is the one whose tick the speaker plays now."""

from __future__ import annotations

import numpy as np

from app.avsync import FrameScheduler


def frame(v: int) -> np.ndarray:
    return np.full((4, 4, 3), v, np.uint8)


def test_picks_the_frame_matching_the_audio_clock() -> None:
    s = FrameScheduler(lead_ticks=0.0)
    for t in range(10, 20):
        s.add(t, frame(t))
    assert s.pick(9.5, now=0.0) is None  # audio still before the first frame
    picked = s.pick(10.2, now=0.01)
    assert picked is not None
    tick, f = picked
    assert tick == 10 and f[0, 0, 0] == 10
    assert s.pick(10.9, now=0.02) is None  # same tick: nothing new to show
    picked = s.pick(13.0, now=0.03)  # the clock jumped: 11 and 12 are skipped
    assert picked is not None
    tick, _ = picked
    assert tick == 13 and s.stats.dropped == 2
    assert s.stats.shown == 2 and abs(s.stats.offsets_ms[0] - (-8.0)) < 1e-6


def test_flush_drops_frames_from_tick() -> None:
    s = FrameScheduler()
    for t in range(10):
        s.add(t, frame(t))
    s.flush(4)
    assert len(s) == 4 and s.stats.flushed == 6
    s.add(4, frame(99))  # replacement output after the flush is accepted
    picked = s.pick(4.0, now=0.0)
    assert picked is not None
    tick, shown = picked
    assert tick == 4 and s.current_tick == 4
    np.testing.assert_array_equal(shown, frame(99))  # the replacement, not the flushed frame 4


def test_late_and_stale_frames_are_counted() -> None:
    s = FrameScheduler(lead_ticks=0.0)
    s.add(5, frame(5))
    s.pick(7.5, now=0.0)  # shown 2.5 ticks after its slot began
    assert s.stats.late == 1
    s.add(3, frame(3))  # older than what is on screen: dropped
    assert s.stats.dropped == 1 and len(s) == 0


def test_free_runs_at_25_fps_without_audio_clock() -> None:
    s = FrameScheduler(lead_ticks=0.0)
    for t in range(100, 110):
        s.add(t, frame(t))
    shown = [p[0] for k in range(10) if (p := s.pick(None, now=k * 0.04 + 0.001)) is not None]
    assert shown == list(range(100, 110))
    assert 24.0 < s.fps() < 26.0


def test_bounded_queue() -> None:
    s = FrameScheduler(max_frames=5)
    for t in range(8):
        s.add(t, frame(t))
    assert len(s) == 5 and s.stats.dropped == 3
