"""A reader learns which writer flush marks its reads crossed (take_flushes): media it read
BEFORE a mark and still holds is stale from the mark's tick on; media read with or after it is not.
This is how the app tells the yielding step's own output (written after its mark) from the
older output the yield cancels, whichever of the mark and the FlushOut event it sees first."""

from __future__ import annotations

import numpy as np

from engine.ipc import AudioRing, AudioSpec, FrameRing, FrameSpec, MediaRings
from engine.protocol import AVATAR_SAMPLES_PER_TICK


def _frame(tick: int) -> np.ndarray:
    return np.full((4, 4, 3), tick % 256, np.uint8)


def test_crossings_are_reported_once_in_order_with_the_reads_that_see_them() -> None:
    writer = FrameRing.create("tfx", FrameSpec(4, 4, 32))
    reader = FrameRing.attach(writer.name)
    try:
        for t in range(8, 20):  # speech queued before the yield
            writer.write(t, _frame(t))
        assert [t for t, _ in reader.read()] == list(range(8, 20))
        assert reader.take_flushes() == []  # no mark yet
        # the yielding step: mark (from 12), then its own output 20..23
        writer.mark_flush(12)
        for t in range(20, 24):
            writer.write(t, _frame(t))
        assert [t for t, _ in reader.read()] == [20, 21, 22, 23]  # current: written after the mark
        assert reader.take_flushes() == [12]  # held 12..19 from the earlier read are stale
        assert reader.take_flushes() == []  # once
        writer.mark_flush(30)
        writer.mark_flush(25)
        assert reader.read() == []
        assert reader.take_flushes() == [30, 25]
    finally:
        reader.close()
        writer.close()


def test_a_read_that_crosses_a_mark_returns_only_current_media() -> None:
    writer = AudioRing.create("tax", AudioSpec(AVATAR_SAMPLES_PER_TICK, 4, 32))
    reader = AudioRing.attach(writer.name, AVATAR_SAMPLES_PER_TICK)
    try:
        writer.write(8, np.zeros(8 * AVATAR_SAMPLES_PER_TICK, np.float32))  # ticks 8..15, unread
        writer.mark_flush(12)
        writer.write(20, np.ones(4 * AVATAR_SAMPLES_PER_TICK, np.float32))
        got = [(t, pcm.size // AVATAR_SAMPLES_PER_TICK) for t, pcm in reader.read()]
        assert got == [(8, 4), (20, 4)]  # 12..15 cut by the mark in the same read; 20..23 kept
        assert reader.take_flushes() == [12]
    finally:
        reader.close()
        writer.close()


def test_local_flushes_are_not_reported_and_unread_crossings_stay_bounded() -> None:
    rings = MediaRings.create(16)
    try:
        rings.avatar_audio.local_flush(5)  # the reader's own flush: it dropped its media itself
        assert rings.avatar_audio.read() == [] and rings.avatar_audio.take_flushes() == []
        for i in range(200):  # a reader that never takes them (the runner): bounded memory
            rings.avatar_frames.mark_flush(i)
            rings.avatar_frames.read()
        crossed = rings.avatar_frames.take_flushes()
        assert 0 < len(crossed) <= 64 and crossed[-1] == 199
    finally:
        rings.close()


def test_a_stale_epoch_load_does_not_cross_a_mark_one_read_late() -> None:
    """On a weakly ordered CPU (ARM) the load of the writer's epoch may return an older value
    than the items just read carry. The read must still report the mark those items were
    written after: reported a read late, the app would drop what this read returned."""
    writer = FrameRing.create("tfs", FrameSpec(4, 4, 32))
    reader = FrameRing.attach(writer.name)
    real = reader.ring.flush_marks
    stale = {"loads": 1}

    def flush_marks(after_epoch: int) -> list[tuple[int, int]]:
        marks = real(after_epoch)
        if marks and stale["loads"] > 0:  # this load still sees the epoch before the newest mark
            stale["loads"] -= 1
            return marks[:-1]
        return marks

    reader.ring.flush_marks = flush_marks  # type: ignore[method-assign]
    try:
        for t in range(8, 20):
            writer.write(t, _frame(t))
        assert [t for t, _ in reader.read()] == list(range(8, 20))
        writer.mark_flush(12)  # the yielding step: its mark, then its own output
        for t in range(20, 24):
            writer.write(t, _frame(t))
        assert [t for t, _ in reader.read()] == [20, 21, 22, 23]
        assert stale["loads"] == 0  # (the stale load happened)
        assert reader.take_flushes() == [12]  # crossed by THIS read: 20..23 are current
        assert reader.read() == [] and reader.take_flushes() == []
    finally:
        reader.close()
        writer.close()


def test_audio_read_waits_for_the_mark_of_its_items_too() -> None:
    writer = AudioRing.create("tas", AudioSpec(AVATAR_SAMPLES_PER_TICK, 4, 32))
    reader = AudioRing.attach(writer.name, AVATAR_SAMPLES_PER_TICK)
    real = reader.ring.flush_marks
    stale = {"loads": 3}  # three stale loads: no mark yet

    def flush_marks(after_epoch: int) -> list[tuple[int, int]]:
        if stale["loads"] > 0:
            stale["loads"] -= 1
            return []
        return real(after_epoch)

    reader.ring.flush_marks = flush_marks  # type: ignore[method-assign]
    try:
        writer.write(8, np.zeros(8 * AVATAR_SAMPLES_PER_TICK, np.float32))
        writer.mark_flush(12)
        writer.write(20, np.ones(4 * AVATAR_SAMPLES_PER_TICK, np.float32))
        got = [(t, pcm.size // AVATAR_SAMPLES_PER_TICK) for t, pcm in reader.read()]
        assert got == [(8, 4), (20, 4)]  # the mark applied in this read: 12..15 cut
        assert stale["loads"] == 0 and reader.take_flushes() == [12]
    finally:
        reader.close()
        writer.close()
