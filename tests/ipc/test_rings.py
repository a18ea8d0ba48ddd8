"""Shared-memory rings: order, integrity, wrap-around, overruns (drop-newest), flush marks,
validation, and across a spawned process."""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from engine.ipc import AudioRing, AudioSpec, Doorbell, FrameRing, FrameSpec, MediaRings, SlotRing

from .child import echo_child, pattern_audio, pattern_frame, slow_reader_child

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def frames() -> Iterator[FrameRing]:
    ring = FrameRing.create("tfrm", FrameSpec(16, 16, 4))
    yield ring
    ring.close()


def test_frames_in_order_and_wrap_around(frames: FrameRing) -> None:
    reader = FrameRing.attach(frames.name)
    try:
        got = []
        for tick in range(50):  # 50 items through 4 slots: the indices wrap many times
            h, w = 8 + tick % 8, 16 - tick % 5
            assert frames.write(tick, pattern_frame(tick, h, w))
            if tick % 3 == 2:
                got += reader.read()
        got += reader.read()
        assert [t for t, _ in got] == list(range(50))
        for t, f in got:
            assert np.array_equal(f, pattern_frame(t, 8 + t % 8, 16 - t % 5))
        assert frames.overruns() == 0
    finally:
        reader.close()


def test_overrun_drops_newest_and_counts(frames: FrameRing) -> None:
    for tick in range(10):
        frames.write(tick, pattern_frame(tick, 8, 8))
    assert frames.overruns() == 6
    assert [t for t, _ in frames.read()] == [0, 1, 2, 3]  # the oldest kept, the newest dropped
    assert frames.write(10, pattern_frame(10, 8, 8))
    assert [t for t, _ in frames.read()] == [10]


def test_audio_blocks_split_and_intact() -> None:
    ring = AudioRing.create("taud", AudioSpec(640, max_block_ticks=4, n_slots=8))
    try:
        pcm = pattern_audio(3, 10, 640)
        assert ring.write(3, pcm) == 0
        blocks = ring.read()
        assert [(t, b.size) for t, b in blocks] == [(3, 2560), (7, 2560), (11, 1280)]
        assert np.array_equal(np.concatenate([b for _, b in blocks]), pcm)
        for tick in range(20):  # overrun: 8 slots
            ring.write(tick, pattern_audio(tick, 1, 640))
        assert ring.overruns() == 12
        assert [t for t, _ in ring.read()] == list(range(8))
    finally:
        ring.close()


def test_validation_errors_are_clear(frames: FrameRing) -> None:
    with pytest.raises(ValueError, match="larger than this ring"):
        frames.write(0, np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        frames.write(0, np.zeros((8, 8, 3), np.float32))
    ring = AudioRing.create("taud", AudioSpec(640))
    try:
        with pytest.raises(ValueError, match="multiple of 640"):
            ring.write(0, np.zeros(100, np.float32))
        with pytest.raises(ValueError, match="float32"):
            ring.write(0, np.zeros(640, np.float64))
    finally:
        ring.close()
    with pytest.raises(ValueError, match="not a Duet ring"):
        from multiprocessing.shared_memory import SharedMemory

        mem = SharedMemory(create=True, size=4096)
        try:
            SlotRing(mem, owner=False)
        finally:
            mem.close()
            mem.unlink()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        SlotRing.attach("duet_nope_0000000000")


def test_flush_marks_drop_only_stale_items() -> None:
    ring = AudioRing.create("taud", AudioSpec(960, 4, 16))
    try:
        ring.write(0, pattern_audio(0, 4, 960))  # ticks 0..3
        ring.write(4, pattern_audio(4, 4, 960))  # ticks 4..7: stale from 6 on
        ring.mark_flush(6)  # the writer's flush: what was written before, from tick 6, is stale
        ring.write(8, pattern_audio(8, 4, 960))  # written after the mark: kept
        got = ring.read()
        assert [(t, b.size // 960) for t, b in got] == [(0, 4), (4, 2), (8, 4)]
        # a reader-side (local) flush drops what is already published and unread
        ring.write(12, pattern_audio(12, 4, 960))
        ring.local_flush(13)
        assert [(t, b.size // 960) for t, b in ring.read()] == [(12, 1)]
    finally:
        ring.close()


def test_flush_filter_keeps_items_written_after_the_mark() -> None:
    frames = FrameRing.create("tfrm", FrameSpec(4, 4, 16))
    try:
        for t in range(4):
            frames.write(t, pattern_frame(t, 4, 4))
        frames.mark_flush(2)
        for t in range(2, 5):  # new output for the same ticks after the flush
            frames.write(t, pattern_frame(100 + t, 4, 4))
        got = frames.read()
        assert [t for t, _ in got] == [0, 1, 2, 3, 4]
        assert np.array_equal(got[2][1], pattern_frame(102, 4, 4))
    finally:
        frames.close()


def test_rings_cross_a_spawned_process_intact_and_in_order() -> None:
    ctx = mp.get_context("spawn")
    n, spt = 60, 960
    fin, fout = FrameRing.create("fin", FrameSpec(64, 96, 8)), FrameRing.create("fout", FrameSpec(64, 96, 8))
    ain, aout = (
        AudioRing.create("ain", AudioSpec(spt, 4, 8)),
        AudioRing.create("aout", AudioSpec(spt, 4, 128)),
    )
    bell = Doorbell()
    proc = ctx.Process(
        target=echo_child, args=(fin.name, fout.name, ain.name, aout.name, spt, bell.reader, n), daemon=True
    )
    proc.start()
    try:
        frames_back: list[tuple[int, np.ndarray]] = []
        audio_back: list[tuple[int, np.ndarray]] = []
        sent = 0
        deadline = time.monotonic() + 60
        while (len(frames_back) < n or len(audio_back) < n) and time.monotonic() < deadline:
            if sent < n and fin.ring.pending() < 4 and ain.ring.pending() < 4:
                h, w = 32 + sent % 32, 96 - sent % 7
                assert fin.write(sent, pattern_frame(sent, h, w))
                assert ain.write(2 * sent, pattern_audio(2 * sent, 1 + sent % 4, spt)) == 0
                bell.ring()
                sent += 1
            frames_back += fout.read()
            audio_back += aout.read()
            time.sleep(0.001)
        assert [t for t, _ in frames_back] == list(range(n))
        for t, f in frames_back:
            assert np.array_equal(f, pattern_frame(t, 32 + t % 32, 96 - t % 7))
        assert [t for t, _ in audio_back] == [2 * i for i in range(n)]
        for t, pcm in audio_back:
            assert np.array_equal(pcm, pattern_audio(t, 1 + (t // 2) % 4, spt))
        assert fin.overruns() == fout.overruns() == ain.overruns() == aout.overruns() == 0
    finally:
        proc.join(10)
        if proc.is_alive():
            proc.kill()
        for r in (fin, fout, ain, aout):
            r.close()
        bell.close()
    assert proc.exitcode == 0


def test_overruns_counted_in_shared_memory_when_the_reader_is_slow() -> None:
    ctx = mp.get_context("spawn")
    ring = FrameRing.create("slow", FrameSpec(8, 8, 5))
    go_recv, go_send = ctx.Pipe(duplex=False)
    res_recv, res_send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=slow_reader_child, args=(ring.name, go_recv, res_send), daemon=True)
    proc.start()
    try:
        for tick in range(12):  # the child does not read yet: 5 fit, 7 are dropped
            ring.write(tick, pattern_frame(tick, 8, 8))
        go_send.send(True)
        assert res_recv.poll(30)
        overruns, ticks, intact = res_recv.recv()
        assert overruns == 7
        assert ticks == [0, 1, 2, 3, 4]
        assert intact
    finally:
        proc.join(10)
        if proc.is_alive():
            proc.kill()
        ring.close()


def test_media_rings_attach_by_name_and_unlink_on_close() -> None:
    rings = MediaRings.create(max_frame_size=64)
    names = rings.names()
    other = MediaRings.attach(names)
    other.close()
    assert rings.avatar_frames.max_pixels == 64 * 64
    rings.close()
    rings.close()  # idempotent
    if sys.platform.startswith("linux"):
        for name in (names.mic, names.camera, names.avatar_audio, names.avatar_frames):
            assert not Path("/dev/shm", name).exists()
    with pytest.raises(ValueError, match="max_frame_size"):
        MediaRings.create(max_frame_size=4)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/dev/shm is Linux-only")
def test_attached_child_leaves_no_resource_tracker_warnings(tmp_path: Path) -> None:
    """An independent process (own resource tracker) attaches and exits: it must not unlink or
    report the segments (CPython gh-82300); the creator unlinks them without any warning."""
    script = tmp_path / "leak.py"
    script.write_text(
        textwrap.dedent(
            """
            import subprocess, sys
            from pathlib import Path
            from engine.ipc import MediaRings

            rings = MediaRings.create(max_frame_size=32)
            n = rings.names()
            names = [n.mic, n.camera, n.avatar_audio, n.avatar_frames]
            code = "import sys; from tests.ipc.child import attach_and_exit; attach_and_exit(sys.argv[1:])"
            subprocess.run([sys.executable, "-c", code, *names], check=True, timeout=30)
            assert all(Path("/dev/shm", name).exists() for name in names), "child unlinked our segments"
            rings.close()
            print("ok")
            """
        )
    )
    out = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
    assert "resource_tracker" not in out.stderr and "leaked" not in out.stderr, out.stderr


def test_a_slot_not_yet_visible_is_left_for_the_next_read(frames: FrameRing) -> None:
    """A slot whose header seq is not the expected index (not yet visible) ends the read there."""
    for tick in range(3):
        frames.write(tick, pattern_frame(tick, 8, 8))
    slot_hdr = frames.ring._slot_hdr
    assert slot_hdr is not None
    saved = int(slot_hdr[1, 0])
    slot_hdr[1, 0] = -1
    assert [t for t, _ in frames.read()] == [0]
    slot_hdr[1, 0] = saved
    assert [t for t, _ in frames.read()] == [1, 2]
    del slot_hdr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the /dev/shm check is Linux-only")
def test_too_little_shared_memory_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.statvfs

    class Tiny:  # /dev/shm with one free page
        f_bavail, f_frsize = 1, 4096

    monkeypatch.setattr(os, "statvfs", lambda path: Tiny() if path == "/dev/shm" else real(path))
    with pytest.raises(OSError, match="not enough shared memory in /dev/shm"):
        MediaRings.create()
