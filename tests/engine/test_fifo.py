"""The engine's input FIFO: units pop as soon as their last tick arrived; gaps are zero-filled and
counted; late audio is dropped and counted; the FIFO is bounded; camera frames go with their unit."""

from __future__ import annotations

import numpy as np
import pytest

from engine.process.fifo import IDLE_MAX_TICKS, UnitFifo


def mic(tick: int, n: int = 1) -> np.ndarray:
    return np.concatenate([np.full(640, (t + 1) / 1000, np.float32) for t in range(tick, tick + n)])


def frame(tick: int, h: int = 4, w: int = 6) -> np.ndarray:
    return np.full((h, w, 3), tick, np.uint8)


@pytest.fixture
def fifo() -> UnitFifo:
    f = UnitFifo(unit_ticks=4, max_ticks=16, max_frames=6)
    f.set_session_open(True)
    return f


def test_pops_when_last_tick_arrives_in_any_chunking(fifo: UnitFifo) -> None:
    fifo.push_mic(10, mic(10, 3))
    assert fifo.pop() is None and not fifo.ready()
    fifo.push_mic(13, mic(13, 2))
    unit = fifo.pop()
    assert unit is not None and (unit.tick, unit.n_ticks) == (10, 4)
    np.testing.assert_array_equal(unit.mic, mic(10, 4))
    assert unit.frames.shape == (0, 1, 1, 3) and fifo.pop() is None
    assert fifo.next_tick() == 14


def test_missing_ticks_are_zero_filled_and_counted(fifo: UnitFifo) -> None:
    fifo.push_mic(0, mic(0))
    fifo.push_mic(3, mic(3))  # ticks 1 and 2 were lost upstream
    unit = fifo.pop()
    assert unit is not None and fifo.missing_ticks == 2
    np.testing.assert_array_equal(unit.mic[640:1920], 0)
    np.testing.assert_array_equal(unit.mic[1920:], mic(3))


def test_late_audio_is_dropped_and_counted(fifo: UnitFifo) -> None:
    fifo.push_mic(0, mic(0, 4))
    assert fifo.pop() is not None
    fifo.push_mic(2, mic(2, 3))  # ticks 2, 3 belong to a unit already stepped; 4 is fine
    assert fifo.late_ticks == 2
    fifo.push_mic(5, mic(5, 3))
    unit = fifo.pop()
    assert unit is not None
    np.testing.assert_array_equal(unit.mic, mic(4, 4))


def test_bounded_when_the_model_is_slow(fifo: UnitFifo) -> None:
    fifo.push_mic(0, mic(0, 40))  # 40 ticks, room for 16
    assert fifo.skipped_ticks == 24
    assert fifo.next_tick() == 24 and fifo.depth_units() == 4
    units = [fifo.pop() for _ in range(4)]
    assert [u.tick for u in units if u is not None] == [24, 28, 32, 36]


def test_camera_frames_travel_with_their_unit(fifo: UnitFifo) -> None:
    for t in (0, 1, 3):
        fifo.push_frame(t, frame(t))
    fifo.push_frame(2, frame(2, 8, 8))  # a different shape inside the unit: the newest shape wins
    fifo.push_frame(5, frame(5))
    fifo.push_mic(0, mic(0, 4))
    unit = fifo.pop()
    assert unit is not None
    assert unit.frame_ticks.tolist() == [0, 1, 3]
    assert unit.frames.shape == (3, 4, 6, 3) and unit.frames[2, 0, 0, 0] == 3
    assert fifo.dropped_frames == 1
    fifo.push_mic(4, mic(4, 4))
    last = fifo.pop()
    assert last is not None and last.frame_ticks.tolist() == [5]


def test_without_a_session_only_a_short_tail_is_kept() -> None:
    f = UnitFifo(unit_ticks=4)
    f.push_mic(0, mic(0, 100))
    assert f.skipped_ticks == 0  # not counted: nobody is listening
    f.set_session_open(True)
    assert f.depth_units() == IDLE_MAX_TICKS // 4
    f.set_session_open(False)
    assert f.pop() is None and f.next_tick() is None


def test_rejects_bad_unit() -> None:
    with pytest.raises(ValueError, match="positive"):
        UnitFifo(0)
