"""app/recorder.py without Qt: the hand-off queues, the worker, the file it writes, its errors."""

from __future__ import annotations

import errno
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.recorder import Recorder, rebase
from engine import paths
from engine.protocol import (
    AVATAR_SAMPLES_PER_TICK,
    MIC_SAMPLES_PER_TICK,
    FlushOut,
    SessionOpened,
    Transcript,
    UserText,
)
from engine.session import SessionWriteError, read_session
from tests.support.models import decode_tick, tick_frame, tone
from tests.support.paths import a_file

START = 100  # session tick the recording starts at (file tick 0)


def mic_tick(tick: int) -> np.ndarray:
    """float32 (640,): a constant level that encodes the tick (1e-4 per tick)."""
    return np.full(MIC_SAMPLES_PER_TICK, (tick % 1000) * 1e-4, np.float32)


def test_records_both_sides_on_the_file_clock_and_drops_unplayed_avatar_media(tmp_path: Path) -> None:
    rec = Recorder(lambda: tmp_path / "sessions", "duet-test", start_tick=START, epoch=3, avatar_size=32)
    rec.add_user_audio(3, START - 1, mic_tick(START - 1))  # before the start: not in the file
    rec.add_user_audio(2, START, mic_tick(START))  # another session's mic stream: not in the file
    rec.add_event(START, "engine", SessionOpened(persona="guide", avatar="ada"))
    n = 60
    for t in range(START, START + n):
        rec.add_user_audio(3, t, mic_tick(t))
        rec.add_avatar_audio(t, tone(t))
        rec.add_avatar_frame(t, tick_frame(t, 32))
        if t == START + 30:
            rec.add_event(t, "client", UserText("hello", tick=t))
        rec.played(t - 10)  # the speaker is 10 ticks behind the mic
    rec.add_event(START + 50, "engine", FlushOut(from_tick=START + 52))
    rec.flush(START + 52)  # a barge-in: ticks 52.. were not played
    rec.stop(START + n)
    assert rec.wait(10), "the worker did not finish"
    assert rec.error is None and rec.path == tmp_path / "sessions" / "duet-test.mkv"
    assert rec.mic_dropped == 0 and rec.media_dropped == 0 and rec.skipped == 0

    data = read_session(rec.path)
    assert data.n_ticks == n
    assert data.meta["avatar"] == "" and data.meta["duet_session_version"] == "1"
    user = data.user_pcm.reshape(-1, MIC_SAMPLES_PER_TICK)
    levels = np.round(user.mean(axis=1) / 1e-4).astype(int)  # s16 round-trip: whole steps survive
    assert levels.tolist() == [(START + t) % 1000 for t in range(n)]  # file tick t = session tick START + t
    avatar = data.avatar_pcm.reshape(-1, AVATAR_SAMPLES_PER_TICK)
    assert avatar.shape[0] == n
    assert np.abs(avatar[:52]).max() > 0.25 and np.abs(avatar[52:]).max() == 0.0  # flushed: silent
    assert data.avatar_frames is not None and data.user_frames is None
    shown = [decode_tick(f) for f in data.avatar_frames[:52]]
    assert all(abs(s - (START + t)) <= 3 for t, s in enumerate(shown)), shown
    events = [(t, type(m).__name__) for t, _, m in data.events]
    assert events == [(0, "SessionOpened"), (30, "UserText"), (50, "FlushOut")]
    flush = data.events[2][2]
    assert isinstance(flush, FlushOut) and flush.from_tick == 52  # rebased onto the file clock


def test_camera_track_sized_from_the_camera(tmp_path: Path) -> None:
    rec = Recorder(lambda: tmp_path, "cam", start_tick=0, user_video_size=(64, 48), avatar_size=16)
    for t in range(10):
        rec.add_user_audio(0, t, mic_tick(t))
        rec.add_user_frame(t, np.full((48, 64, 3), 200, np.uint8))
    rec.stop(10)
    assert rec.wait(10) and rec.error is None and rec.path is not None
    data = read_session(rec.path)
    assert data.user_frames is not None and data.user_frames.shape[1:] == (48, 64, 3)
    assert abs(int(data.user_frames[5, 10, 10, 0]) - 200) <= 3


class SlowWriter:
    """A writer whose every call takes `delay_s` (a slow disk), recording what it was given."""

    def __init__(self, path: Path, delay_s: float = 0.05, fail_after: int | None = None, **_: Any) -> None:
        self.delay_s, self.fail_after, self.calls = delay_s, fail_after, 0
        self.user_ticks: list[int] = []
        self.closed = False
        self.n_ticks = 0

    def _call(self) -> None:
        self.calls += 1
        time.sleep(self.delay_s)
        if self.fail_after is not None and self.calls > self.fail_after:
            raise SessionWriteError(errno.ENOSPC, "cannot write session file x.mkv: No space left on device")

    def add_user_audio(self, tick: int, pcm: np.ndarray) -> None:
        self._call()
        self.user_ticks.append(tick)

    def add_avatar_audio(self, tick: int, pcm: np.ndarray) -> None:
        self._call()

    def add_avatar_frame(self, tick: int, rgb: np.ndarray) -> None:
        self._call()

    def add_event(self, tick: int, src: str, msg: object) -> None:
        self._call()

    def drop_avatar_from(self, tick: int) -> None:
        pass

    def stats(self) -> dict[str, int]:
        return {}

    def close(self) -> None:
        self.closed = True


def test_producers_never_block_and_count_what_a_full_queue_drops(tmp_path: Path) -> None:
    """The writer is stuck (its file is not even open) while the producers run: they all return
    anyway, dropping and counting exactly what does not fit in the queues."""
    writers: list[SlowWriter] = []
    stuck = threading.Event()

    def factory(path: Path, **kw: Any) -> SlowWriter:
        stuck.wait(60)  # the worker takes nothing off the queues until the test lets it go
        writers.append(SlowWriter(path, **kw))
        return writers[-1]

    frame = np.zeros((256, 256, 3), np.uint8)  # 192 KiB: 5 fit in 1 MiB, the 6th does not
    rec = Recorder(
        lambda: tmp_path,
        "slow",
        start_tick=0,
        writer_factory=factory,
        max_mic_ticks=20,
        max_media_bytes=1 << 20,
    )

    def audio_thread() -> None:  # like the PortAudio callback: 200 ticks as fast as it can
        for t in range(200):
            rec.add_user_audio(0, t, mic_tick(t))

    def produce() -> None:  # beside it, the GUI thread's frames
        th = threading.Thread(target=audio_thread)
        th.start()
        for t in range(50):
            rec.add_avatar_frame(t, frame)
        th.join()

    producers = threading.Thread(target=produce)
    producers.start()
    producers.join(30)  # a hang guard: producers that waited for the writer would never end
    assert not producers.is_alive(), "a producer blocked on the stuck writer"
    assert not writers  # all of that happened while the writer was stuck
    assert rec.mic_dropped == 200 - 20 and rec.media_dropped == 50 - 5  # counted, not blocked on
    stuck.set()
    rec.stop()
    assert rec.wait(30) and rec.error is None and writers[0].closed
    assert writers[0].user_ticks == list(range(20))  # what fitted is written, in order


def test_write_error_ends_the_file_and_keeps_producers_fast(tmp_path: Path) -> None:
    writers: list[SlowWriter] = []

    def factory(path: Path, **kw: Any) -> SlowWriter:
        writers.append(SlowWriter(path, delay_s=0.0, fail_after=5, **kw))
        return writers[-1]

    rec = Recorder(lambda: tmp_path, "full", start_tick=0, writer_factory=factory, hold_ticks=0)
    for t in range(20):
        rec.add_user_audio(0, t, mic_tick(t))
        time.sleep(0.005)
    deadline = time.monotonic() + 5
    while not rec.done and time.monotonic() < deadline:
        time.sleep(0.01)
    assert rec.done and isinstance(rec.error, SessionWriteError)
    assert "No space left" in str(rec.error) and writers[0].closed  # what was written is finished
    rec.add_user_audio(0, 21, mic_tick(21))  # after the error: returns at once, nothing queued
    rec.add_avatar_frame(21, np.zeros((8, 8, 3), np.uint8))
    rec.stop()
    assert rec.wait(1)


def test_a_sessions_setting_that_cannot_be_made_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = a_file(tmp_path)
    monkeypatch.setenv("DUET_SESSIONS_DIR", str(blocker / "sessions"))
    rec = Recorder(paths.sessions_dir, "duet-x", start_tick=0)
    assert rec.wait(5)
    assert str(rec.error) == (
        f"cannot write session files: cannot create the folder DUET_SESSIONS_DIR={blocker / 'sessions'}:"
        " a parent of it is not a folder"
    )


def test_unwritable_folder_names_the_path_and_the_reason(tmp_path: Path) -> None:
    blocker = a_file(tmp_path)

    def folder() -> Path:  # like engine.paths.sessions_dir(): creates the folder
        p = blocker / "sessions"
        p.mkdir(parents=True, exist_ok=True)
        return p

    rec = Recorder(folder, "duet-x", start_tick=0)
    assert rec.wait(5)
    assert isinstance(rec.error, SessionWriteError)
    assert (
        str(rec.error)
        == f"cannot write session file {blocker / 'sessions' / 'duet-x.mkv'}: a parent of it is not a folder"
    )
    assert rec.path is None


def test_rebase_moves_every_tick_field() -> None:
    said = Transcript(tick=130, side="user", text="hi", final=True)
    assert rebase(said, 100) == Transcript(tick=30, side="user", text="hi", final=True)
    assert rebase(FlushOut(from_tick=90), 100) == FlushOut(from_tick=0)  # before the file: its start
    assert rebase(UserText("x", tick=-1), 100) == UserText("x", tick=-1)  # unknown stays unknown
    assert rebase(SessionOpened("p", "a"), 100) == SessionOpened("p", "a")
