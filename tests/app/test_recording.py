"""Recording in the app: the Record toggle writes a session file of both sides on the tick clock."""

from __future__ import annotations

import errno
import time
import wave
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from engine import paths
from engine.protocol import (
    AVATAR_SAMPLES_PER_TICK,
    MIC_SAMPLES_PER_TICK,
    TICK_S,
    Closed,
    PlaybackReport,
    Transcript,
    UserText,
)
from engine.session import SessionWriteError, SessionWriter, describe, read_session
from tests.support.models import SPEECH_RMS
from tests.support.paths import a_file

from .app_process import running_app, stop_app, wait_for_log
from .conftest import SPEECH_WAV, play_into_mic

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication
    from pytestqt.qtbot import QtBot

    from app.window import MainWindow

    from .conftest import DuetWindow

pytestmark = [pytest.mark.gui, pytest.mark.audio]


def tick_rms(pcm: np.ndarray, spt: int) -> np.ndarray:
    """float (n_ticks,) RMS of each whole tick."""
    n = pcm.shape[0] // spt
    x = pcm[: n * spt].reshape(n, spt).astype(np.float64)
    return np.sqrt(np.mean(x * x, axis=1))


def speech_16k() -> np.ndarray:
    """float64 (n,): the voiced part of SPEECH_WAV (48 kHz mono) at 16 kHz, from its onset."""
    with wave.open(str(SPEECH_WAV)) as f:
        assert f.getframerate() == 48_000 and f.getnchannels() == 1
        x = np.frombuffer(f.readframes(f.getnframes()), np.int16).astype(np.float64) / 32768.0
    k = np.arange(-30, 31)
    h = np.sinc(k / 3) * np.hanning(k.size)  # low-pass at 8 kHz, then keep every 3rd sample
    x = np.convolve(x, h / h.sum(), "same")[::3]
    return x[int(np.argmax(np.abs(x) > 0.05)) :]


def best_ncc(rec: np.ndarray, seg: np.ndarray) -> tuple[float, int]:
    """(max normalised cross-correlation of `seg` over `rec`, at which sample of rec)."""
    rec = rec.astype(np.float64)
    n = seg.shape[0]
    c = np.concatenate([[0.0], np.cumsum(rec * rec)])
    r = np.correlate(rec, seg, "valid") / (np.sqrt(c[n:] - c[:-n]) * np.linalg.norm(seg) + 1e-12)
    return float(r.max()), int(r.argmax())


def saved_path(w: MainWindow) -> Path:
    text = w.record_note.text()
    assert text.startswith("Saved: "), text
    return Path(text.removeprefix("Saved: "))


def open_session(w: MainWindow, qtbot: QtBot) -> None:
    qtbot.waitUntil(lambda: w.core.session_open, timeout=60_000)
    assert w.core.mic_ok, w.device_note.text()
    qtbot.waitUntil(lambda: w.core.player.played_tick() >= 0, timeout=10_000)  # the avatar plays


def test_record_a_spoken_turn_and_read_it_back(duet_window: DuetWindow, qtbot: QtBot, pipewire: None) -> None:
    w = duet_window("testecho")
    open_session(w, qtbot)
    assert w.record_button.full_text() == "Record" and not w.rec_indicator.isVisible()
    w.record_button.click()
    assert w.core.recording.recording and w.record_button.full_text() == "Stop recording"
    qtbot.wait(600)
    assert w.rec_indicator.isVisible() and w.rec_indicator.full_text().startswith("● REC 0:0")
    player = play_into_mic()
    qtbot.waitUntil(lambda: player.done(), timeout=15_000)  # the window runs meanwhile
    qtbot.waitUntil(lambda: w.core.conversation.last("user") is not None, timeout=10_000)
    # the sink's monitor is the mic, so testecho's answer (a tone) comes back as "speech" forever:
    # Mute ends the loop, and the user's turn
    w.mute_button.click()
    qtbot.waitUntil(lambda: (c := w.core.conversation.last("user")) is not None and c.final, timeout=10_000)
    w.text_box.setText("and a typed line")
    qtbot.keyClick(w.text_box, "\r")
    qtbot.wait(800)
    elapsed = w.core.recording.elapsed_s()
    rec = w.core.recording.current
    assert rec is not None
    w.record_button.click()
    assert not w.rec_indicator.isVisible() and w.record_button.full_text() == "Record"
    qtbot.waitUntil(lambda: w.record_note.text().startswith("Saved: "), timeout=15_000)
    path = saved_path(w)
    assert path == rec.path and rec.error is None
    # nothing was dropped on the way (queues) or arrived after its tick was written (late)
    assert rec.mic_dropped == 0 and rec.media_dropped == 0 and not any(rec.stats.values()), rec.stats
    assert path.parent == paths.sessions_dir() and path.name.startswith("duet-") and path.suffix == ".mkv"

    data = read_session(path)
    assert data.meta["persona"] == "guide" and data.meta["avatar"] == "ada"  # the persona's own, named
    expect = round(elapsed / 0.04)
    n_user = data.user_pcm.shape[0] // MIC_SAMPLES_PER_TICK
    n_avatar = data.avatar_pcm.shape[0] // AVATAR_SAMPLES_PER_TICK
    assert abs(n_user - expect) <= 3 and abs(n_avatar - expect) <= 3, (n_user, n_avatar, expect)
    assert data.meta["model"] == "testecho" and int(data.meta["start_tick"]) > 0
    # how it was run: testecho's one unit of output lag, no model options, which persona file
    assert data.meta["output_lag_units"] == "1" and data.meta["model_options"] == "{}"
    assert len(data.meta["persona_sha256"]) == 16 and "weights" not in data.meta
    # the played speech is in the user track; testecho answered each spoken tick 4 ticks later
    # (one unit of lag) with a tone, and the file has both on the same ticks
    user = tick_rms(data.user_pcm, MIC_SAMPLES_PER_TICK)
    avatar = tick_rms(data.avatar_pcm, AVATAR_SAMPLES_PER_TICK)
    spoken = set(np.flatnonzero(user > SPEECH_RMS * 1.2).tolist())
    answered = set(np.flatnonzero(avatar > 0.1).tolist())
    assert len(spoken) >= 10 and user.max() > 0.05, user.max()
    # the played speech itself: its first 0.3 s (before testecho's answer comes back through the
    # speaker and sums with it) is in the user track, sample for sample
    ncc, at = best_ncc(data.user_pcm, speech_16k()[:4800])
    assert ncc > 0.9 and min(spoken) - 1 <= at // MIC_SAMPLES_PER_TICK <= min(spoken) + 2, (
        ncc,
        at,
        min(spoken),
    )
    assert len({t + 4 for t in spoken} & answered) >= 0.9 * len(spoken), (sorted(spoken), sorted(answered))
    # avatar frames: testecho draws its output tick (session clock) into the pixels
    assert data.avatar_frames is not None and data.avatar_frames.shape[1:] == (128, 128, 3)
    assert data.user_frames is None  # no camera on this machine
    start = int(data.meta["start_tick"])
    mid = range(n_avatar // 4, 3 * n_avatar // 4)
    off = [(int(data.avatar_frames[t, 0, 0, 0]) - (start + t)) % 256 for t in mid]
    assert all(o <= 3 or o >= 253 for o in off), off
    # events: the engine's transcripts and the typed line, on the file's ticks
    said = [(t, m) for t, src, m in data.events if isinstance(m, Transcript) and m.side == "user"]
    assert said and said[-1][1].final and all(0 <= t < data.n_ticks for t, _ in said)
    typed = [(t, src, m) for t, src, m in data.events if isinstance(m, UserText)]
    assert [(src, m.text) for _, src, m in typed] == [("client", "and a typed line")]
    assert any(isinstance(m, Transcript) and m.text == "echo: and a typed line" for _, _, m in data.events)
    # the speaker's lag behind the avatar track (what a latency measured on the file misses)
    lags = [(t, m) for t, src, m in data.events if isinstance(m, PlaybackReport) and src == "client"]
    assert lags and all(m.mic_lag_ticks is not None and 1 < m.mic_lag_ticks < 30 for _, m in lags), lags
    assert all(0 <= m.played_tick < data.n_ticks for _, m in lags)  # on the file's clock
    assert len(lags) < data.n_ticks / 10  # when it moves, not every report
    info = describe(path)  # what `duet-engine show` prints
    assert {t["kind"] for t in info["tracks"]} >= {"audio:user", "audio:avatar", "video:avatar"}
    assert 40 < info["playback_lag_ms"]["p50"] < 1200


def test_unwritable_sessions_folder_and_a_full_disk_say_why_and_the_conversation_goes_on(
    duet_window: DuetWindow, qtbot: QtBot, pipewire: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = a_file(tmp_path)
    monkeypatch.setenv("DUET_SESSIONS_DIR", str(blocker / "sessions"))
    w = duet_window("testecho")
    open_session(w, qtbot)
    w.record_button.click()
    qtbot.waitUntil(
        lambda: w.record_note.isVisible() and "Recording stopped" in w.record_note.text(), timeout=10_000
    )
    text = w.record_note.text()
    assert str(blocker / "sessions") in text and "a parent of it is not a folder" in text, text
    assert "DUET_SESSIONS_DIR=" in text and "<" not in text  # names the setting; no placeholder
    assert not w.record_button.isChecked() and not w.rec_indicator.isVisible()
    assert not w.core.recording.wanted and not w.core.recording.recording

    # a disk that fills up while recording: the file so far is kept, the window says why, and
    # recording pauses (resumes by itself once space is back: test_disk_budget.py)
    monkeypatch.setenv("DUET_SESSIONS_DIR", str(tmp_path / "sessions"))

    class FullDisk(SessionWriter):
        def add_user_audio(self, tick: int, pcm: np.ndarray) -> None:
            if tick >= 30:
                raise SessionWriteError(errno.ENOSPC, f"cannot write session file {self.path}: No space left")
            super().add_user_audio(tick, pcm)

    w.core.recording.writer_factory = FullDisk
    w.record_button.click()
    assert w.record_note.text() == ""  # a new recording clears the last message
    qtbot.waitUntil(lambda: "Recording paused" in w.record_note.text(), timeout=10_000)
    text = w.record_note.text()
    assert "No space left" in text and str(tmp_path / "sessions") in text, text
    assert w.record_button.isChecked() and w.rec_indicator.full_text() == "● REC paused: disk space"
    kept = list((tmp_path / "sessions").glob("duet-*.mkv"))
    assert len(kept) == 1 and read_session(kept[0]).n_ticks >= 20  # readable up to the error
    w.record_button.click()  # Stop: no longer waiting for space
    assert not w.core.recording.wanted and not w.rec_indicator.isVisible() and not w.record_note.isVisible()
    # Record again: a new file, going on from the one the full disk cut short (same session)
    w.core.recording.writer_factory = SessionWriter
    w.record_button.click()
    opened = lambda: (c := w.core.recording.current) is not None and c.path is not None  # noqa: E731
    qtbot.waitUntil(opened, timeout=10_000)
    again = w.core.recording.current
    assert again is not None
    qtbot.wait(300)
    w.record_button.click()
    qtbot.waitUntil(lambda: again.done, timeout=10_000)
    assert again.path is not None and again.error is None
    assert read_session(again.path).meta["continues"] == kept[0].name

    # the conversation goes on: typed and spoken turns are answered
    assert w.core.conversation.state != "offline" and w.core._live is not None
    w.text_box.setText("still there?")
    qtbot.keyClick(w.text_box, "\r")
    qtbot.waitUntil(
        lambda: (c := w.core.conversation.last("avatar")) is not None and "still there?" in c.text,
        timeout=10_000,
    )
    player = play_into_mic()
    qtbot.waitUntil(lambda: player.done(), timeout=15_000)
    qtbot.waitUntil(lambda: w.core.conversation.last("user") is not None, timeout=10_000)


def test_persona_switch_ends_the_file_and_recording_goes_on_in_a_new_one(
    duet_window: DuetWindow, qtbot: QtBot, pipewire: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.recording_view

    monkeypatch.setattr(app.recording_view, "RECORD_NOTE_S", 2)  # the note of the switch clears itself
    w = duet_window("testecho", persona="guide")
    open_session(w, qtbot)
    w.record_button.click()
    first = w.core.recording.current
    assert first is not None
    qtbot.wait(800)
    w.persona_combo.setCurrentIndex(w.persona_combo.findData("booth"))
    qtbot.waitUntil(lambda: first.done, timeout=10_000)
    assert first.error is None and w.core.recording.wanted
    qtbot.waitUntil(lambda: w.core.recording.current is not None, timeout=10_000)
    second = w.core.recording.current
    assert second is not None and second is not first
    assert second.epoch != first.epoch  # the new session's own mic stream
    # on its own clock: counted from 0 at the switch; the file starts when the session is open
    # (the model loads the persona first: a tick or more, more on a busy machine)
    assert second.start_tick * TICK_S < 2.0
    # the window names the saved part and says recording goes on; the indicator names the new file
    saved = f"Saved: {first.path} — recording goes on in a new file"
    qtbot.waitUntil(lambda: w.record_note.text() == saved, timeout=5_000)
    qtbot.waitUntil(lambda: w.rec_indicator.toolTip() == f"Recording to {second.path}", timeout=5_000)
    qtbot.waitUntil(lambda: not w.record_note.isVisible() and w.record_note.text() == "", timeout=5_000)
    w.record_button.click()
    qtbot.waitUntil(lambda: second.done, timeout=10_000)
    qtbot.waitUntil(lambda: w.record_note.text() == f"Saved: {second.path}", timeout=5_000)
    assert first.path is not None and second.path is not None
    a, b = read_session(first.path), read_session(second.path)
    assert a.meta["persona"] == "guide" and b.meta["persona"] == "booth"
    assert a.n_ticks >= 15 and b.n_ticks >= 15
    assert first.path != second.path
    # the parts of one recording are linked, each says how it was run and why it ended
    assert b.meta["continues"] == first.path.name and "continues" not in a.meta
    assert a.meta["brain"] == b.meta["brain"] == "script" and a.meta["device"] == "cpu"
    assert isinstance(a.events[-1][2], Closed) and "session ended" in a.events[-1][2].reason
    assert isinstance(b.events[-1][2], Closed) and b.events[-1][2].reason == "recording stopped"
    assert a.events[-1][1] == b.events[-1][1] == "client"


def test_engine_crash_ends_the_file_cleanly_and_recording_goes_on_after_the_restart(
    duet_window: DuetWindow, qtbot: QtBot, pipewire: None
) -> None:
    w = duet_window("testcrash")
    open_session(w, qtbot)
    w.record_button.click()
    first = w.core.recording.current
    assert first is not None
    qtbot.wait(800)
    w.text_box.setText("crash")  # testcrash SIGKILLs its engine process
    qtbot.keyClick(w.text_box, "\r")
    qtbot.waitUntil(lambda: first.done, timeout=10_000)
    assert first.error is None and w.record_button.isChecked()
    assert w.rec_indicator.isVisible() and "waiting" in w.rec_indicator.full_text()  # until the restart
    qtbot.waitUntil(lambda: w.core.recording.current is not None, timeout=60_000)  # restarted
    second = w.core.recording.current
    assert second is not None
    qtbot.waitUntil(lambda: w.rec_indicator.full_text().startswith("● REC"), timeout=5_000)
    qtbot.wait(800)
    w.record_button.click()
    qtbot.waitUntil(lambda: second.done, timeout=10_000)
    assert first.path is not None and second.path is not None
    a, b = read_session(first.path), read_session(second.path)
    assert not a.truncated and a.n_ticks >= 15 and b.n_ticks >= 15
    kinds = [type(m).__name__ for _, _, m in a.events]
    assert "UserText" in kinds and kinds[-2:] == ["EngineDown", "Closed"]  # it ends with the crash
    assert a.events[-1][1] == "client"
    assert type(b.events[0][2]).__name__ == "SessionOpened" and b.events[0][0] == 0


def test_camera_turned_on_while_recording_continues_in_a_file_with_a_camera_track(
    duet_window: DuetWindow, qtbot: QtBot, pipewire: None, tmp_path: Path
) -> None:
    from PySide6.QtCore import QUrl
    from PySide6.QtMultimedia import QMediaPlayer, QVideoSink

    from .test_camera import make_video

    w = duet_window("testecho")
    open_session(w, qtbot)
    w.record_button.click()
    first = w.core.recording.current
    assert first is not None and not first.has_user_video  # no camera here: audio-only file
    qtbot.wait(600)
    player = QMediaPlayer()  # a video file stands in for a webcam (the real camera path from the sink on)
    sink = QVideoSink()
    player.setVideoSink(sink)
    sink.videoFrameChanged.connect(w.camera.handle_frame)
    player.setSource(QUrl.fromLocalFile(str(make_video(tmp_path / "cam.mp4", 1280, 720, 3.0))))
    player.play()
    try:
        qtbot.waitUntil(lambda: first.done, timeout=10_000)
        second = w.core.recording.current
        assert second is not None and second.user_video_size == (640, 360)  # as the engine gets it
        qtbot.waitUntil(lambda: w.camera.frames_pushed >= 25, timeout=15_000)
    finally:
        player.stop()
    w.record_button.click()
    qtbot.waitUntil(lambda: second.done, timeout=10_000)
    assert first.error is None and second.error is None
    assert first.path is not None and second.path is not None
    b = read_session(second.path)
    assert b.user_frames is not None and b.user_frames.shape[1:] == (360, 640, 3)
    assert b.user_frames[-1].std() > 10  # the picture, not a blank
    assert read_session(first.path).user_frames is None


def test_duet_record_flag_records_and_sigterm_closes_the_file(pipewire: None, tmp_path: Path) -> None:
    sessions = tmp_path / "sessions"
    env_log = paths.log_dir() / "duet-app.log"
    argv = ["--model", "testecho", "--record", "--no-camera"]
    with running_app(argv, env={"DUET_SESSIONS_DIR": str(sessions)}) as proc:
        wait_for_log(proc, env_log, "recording to", 90)
        time.sleep(1.5)
        out = stop_app(proc)
    assert "Traceback" not in out, out
    files = list(sessions.glob("duet-*.mkv"))
    assert len(files) == 1, files
    assert f"Saved: {files[0]}" in env_log.read_text()
    data = read_session(files[0])
    assert not data.truncated and data.n_ticks >= 30  # closed properly, ~1.5 s of both sides
    assert data.events and type(data.events[0][2]).__name__ == "SessionOpened"


def test_the_recording_controller_leaves_qts_own_events_to_qobject(
    qapp: QApplication, tmp_path: Path
) -> None:
    """RecordingController is a QObject: Qt delivers its own events (children, deferred delete) to
    QObject.event, so the method that records engine events must not shadow it."""
    from PySide6.QtCore import QCoreApplication, QEvent, QObject
    from shiboken6 import isValid

    from app.mic import TickAssembler
    from app.recording import RecordingController

    ctl = RecordingController(TickAssembler(lambda *_: None), lambda: None, folder=lambda: tmp_path)
    child = QObject(ctl)  # ChildAdded goes through ctl.event
    assert QCoreApplication.sendEvent(ctl, QEvent(QEvent.Type.User))  # QObject's answer: a bool
    ctl.deleteLater()
    QCoreApplication.sendPostedEvents(ctl, QEvent.Type.DeferredDelete)
    assert not isValid(ctl) and not isValid(child)  # QObject.event deleted it, and its child


def test_low_disk_space_is_said_once_while_recording(
    qapp: QApplication, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A booth records ~0.55 GB an hour: within 2 GB of the reserve (none here) the window says how
    long is left, once (again only after the space came back)."""
    import shutil
    from types import SimpleNamespace

    import app.disk_budget as disk_budget
    import app.recording as recording
    from app.mic import TickAssembler
    from app.recording import RecordingController, disk_note

    assert disk_note(tmp_path, 1_500_000_000, 150_000) == (
        f"Disk space low: 1.5 GB left in {tmp_path}, about 2 h 46 min of recording. Recording pauses"
        " when it is full and resumes once space is freed; free some space or move DUET_SESSIONS_DIR."
    )
    assert disk_note(tmp_path, 1_500_000_000, 150_000, 1_000_000_000).startswith(
        f"Disk space low: 1.5 GB left in {tmp_path}, about 0 h 55 min of recording. Recording pauses"
        " with 1.0 GB left"
    )
    ctl = RecordingController(TickAssembler(lambda *_: None), lambda: None, folder=lambda: tmp_path)
    ctl.budget = disk_budget.Budget(reserve_bytes=0)  # the warning alone (the reserve: test_disk_budget.py)
    said: list[str] = []
    ctl.disk_low.connect(said.append)
    video = tmp_path / "duet-x.mkv"
    video.write_bytes(b"x" * 3000)
    ctl._file = SimpleNamespace(path=video, done=False, start_tick=0, epoch=-1)  # type: ignore[assignment]
    free = {"bytes": 10_000_000_000}
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(disk_budget.shutil, "disk_usage", lambda _p: usage._replace(free=free["bytes"]))
    monkeypatch.setattr(recording, "DISK_CHECK_S", 0.0)
    ctl.poll()
    assert said == []  # plenty
    free["bytes"] = 1_000_000_000
    ctl.poll()
    ctl.poll()
    assert len(said) == 1 and said[0].startswith(f"Disk space low: 1.0 GB left in {tmp_path}")
    free["bytes"] = 5_000_000_000  # space freed
    ctl.poll()
    free["bytes"] = 900_000_000
    ctl.poll()
    assert len(said) == 2
    ctl._file = None
