"""The sessions folder's disk budget (app/disk_budget.py): a reserve under which recording pauses
(no file starts, a running one ends cleanly), recording that resumes by itself once space is back
(linked with `continues`; a user's Stop cancels it), a full disk that pauses instead of stopping for
good, and opt-in retention that deletes only the oldest Duet session pairs, never the file being
written nor anything else. Free space is faked (shutil.disk_usage); the files are real."""

from __future__ import annotations

import errno
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from engine import paths
from engine.protocol import Closed, SessionOpened
from engine.session import SessionWriteError, SessionWriter, read_session

from .recording_parts import controller, mic, opened

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication
    from pytestqt.qtbot import QtBot

    from app.recorder import Recorder
    from app.recording import RecordingController

    from .conftest import DuetWindow

GB = 1_000_000_000


def finished(ctl: RecordingController, f: Recorder) -> Path:
    """Wait for the file to be closed (and reported); its path."""
    assert f.wait(10), "the file was not closed"
    ctl.poll()
    assert f.path is not None
    return f.path


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, int]:
    """The sessions folder's free space (bytes), as shutil.disk_usage tells it; set ["free"].
    Disk checks happen at every poll (DISK_CHECK_S = 0)."""
    import app.disk_budget as disk_budget
    import app.recording as recording

    free = {"free": 100 * GB}
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(disk_budget.shutil, "disk_usage", lambda _p: usage._replace(free=free["free"]))
    monkeypatch.setattr(recording, "DISK_CHECK_S", 0.0)
    return free


def spy(signal: object) -> list[tuple[str, ...]]:
    said: list[tuple[str, ...]] = []
    signal.connect(lambda *a: said.append(a))  # type: ignore[attr-defined]
    return said


# ---------------------------------------------------------------------- settings
def test_the_budget_comes_from_the_variables_and_the_flags_win(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.__main__ import disk_budget_for, parse_args
    from app.disk_budget import DEFAULT_RESERVE_BYTES, Budget, budget_from_env, parse_gb

    assert parse_gb("1.5", zero_ok=False) == 1_500_000_000 and parse_gb("0", zero_ok=True) == 0
    for bad in ("x", "-1", "nan", "inf"):
        with pytest.raises(ValueError):
            parse_gb(bad, zero_ok=True)
    with pytest.raises(ValueError, match="above 0"):
        parse_gb("0", zero_ok=False)
    assert budget_from_env({}) == Budget(DEFAULT_RESERVE_BYTES, None)  # retention: off unless asked
    env = {"DUET_SESSIONS_RESERVE_GB": "2", "DUET_SESSIONS_KEEP_GB": "50"}
    assert budget_from_env(env) == Budget(2 * GB, 50 * GB)
    # a bad value is ignored (logged): the default reserve, and nothing deleted
    wrong = {"DUET_SESSIONS_RESERVE_GB": "lots", "DUET_SESSIONS_KEEP_GB": "0"}
    assert budget_from_env(wrong) == Budget(DEFAULT_RESERVE_BYTES, None)

    args = parse_args(["--keep-gb", "40", "--reserve-gb", "0"])
    assert disk_budget_for(args, Budget(2 * GB, 50 * GB)) == Budget(0, 40 * GB)
    assert disk_budget_for(parse_args([]), Budget(2 * GB, 50 * GB)) == Budget(2 * GB, 50 * GB)
    for argv in (["--keep-gb", "0"], ["--reserve-gb", "-1"], ["--keep-gb", "many"]):
        with pytest.raises(SystemExit) as e:
            parse_args(argv)
        assert e.value.code == 2

    monkeypatch.setenv("DUET_SESSIONS_KEEP_GB", "3")
    assert controller(Path(".")).budget.keep_bytes == 3 * GB  # the app reads them


# ---------------------------------------------------------------------- reserve and resume
def test_under_the_reserve_no_file_starts_and_recording_resumes_in_a_linked_file(
    qapp: QApplication, tmp_path: Path, disk: dict[str, int]
) -> None:
    ctl = controller(tmp_path)
    space, changed = spy(ctl.space), spy(ctl.changed)
    ctl.session_opened(SessionOpened("guide", "ada"))
    disk["free"] = GB // 2  # under the 1 GB reserve
    ctl.set_wanted(True)
    assert ctl.wanted and ctl.current is None and not list(tmp_path.iterdir())  # nothing started
    assert ctl.paused and space == [("warn", ctl.paused)] and changed
    assert space[0][1].startswith(f"Recording paused: only 0.5 GB free in {tmp_path}, under the 1.0 GB")
    assert "resumes by itself in a new file once 1.5 GB are free" in space[0][1]

    disk["free"] = GB + GB // 10  # above the reserve, not by the margin: it would stop again soon
    ctl.poll()
    assert ctl.current is None and ctl.paused
    disk["free"] = 5 * GB
    ctl.poll()
    first = opened(ctl.current)
    assert not ctl.paused and space[-1] == ("info", "Recording resumed in a new file: 5 GB free again.")
    mic(ctl, 10)

    # running low while recording: the file ends cleanly (readable, says why), recording pauses
    disk["free"] = GB // 3
    ctl.poll()
    assert ctl.current is None and ctl.wanted and ctl.paused.startswith("Recording paused: only 0.3 GB")
    path = finished(ctl, first)
    data = read_session(path, video=False)
    assert not data.truncated and data.n_ticks >= 5
    last = data.events[-1][2]
    assert isinstance(last, Closed) and last.reason.startswith("the disk is nearly full (0.3 GB free")

    disk["free"] = 5 * GB  # space freed by hand: a new file, linked to the one before
    ctl.poll()
    second = opened(ctl.current)
    mic(ctl, 5)
    assert second.path != path
    ctl.set_wanted(False)
    second_path = finished(ctl, second)
    assert read_session(second_path, video=False).meta["continues"] == path.name
    assert ctl.last_error == ""
    ctl.shutdown()


def test_a_users_stop_cancels_the_resume_and_a_new_session_is_not_linked(
    qapp: QApplication, tmp_path: Path, disk: dict[str, int]
) -> None:
    ctl = controller(tmp_path)
    ctl.session_opened(SessionOpened("guide", "ada"))
    ctl.set_wanted(True)
    first = opened(ctl.current)
    mic(ctl, 5)
    disk["free"] = 0
    ctl.poll()
    assert ctl.paused and ctl.current is None
    ctl.set_wanted(False)  # Stop: no longer waiting for space
    assert not ctl.paused and not ctl.wanted
    disk["free"] = 50 * GB
    ctl.poll()
    ctl.poll()
    assert ctl.current is None and not ctl.wanted
    first_path = finished(ctl, first)

    # paused across a session switch: the next file is a recording of its own (no `continues`)
    ctl.set_wanted(True)
    again = opened(ctl.current)  # Stop then Record in the same session: linked, as always
    mic(ctl, 5)
    disk["free"] = 0
    ctl.poll()
    assert ctl.paused
    ctl.session_closed()
    disk["free"] = 50 * GB
    ctl.session_opened(SessionOpened("booth", "max"))  # a file starts as the session opens
    third = opened(ctl.current)
    mic(ctl, 5)
    ctl.shutdown()
    again_path, third_path = finished(ctl, again), finished(ctl, third)
    assert read_session(again_path, video=False).meta["continues"] == first_path.name
    assert "continues" not in read_session(third_path, video=False).meta
    assert not ctl.paused


def test_a_full_disk_pauses_recording_keeps_the_file_and_resumes_once_space_is_back(
    qapp: QApplication, tmp_path: Path, disk: dict[str, int]
) -> None:
    class FullDisk(SessionWriter):
        def add_user_audio(self, tick: int, pcm: np.ndarray) -> None:
            if tick >= 10:
                raise SessionWriteError(
                    errno.ENOSPC, f"cannot write session file {self.path}: No space left on device"
                )
            super().add_user_audio(tick, pcm)

    ctl = controller(tmp_path)
    space, saved = spy(ctl.space), spy(ctl.finished)
    ctl.writer_factory = FullDisk
    ctl.session_opened(SessionOpened("guide", "ada"))
    ctl.set_wanted(True)
    failed = opened(ctl.current)
    disk["free"] = 0
    mic(ctl, 60)  # past the hold (38 ticks): tick 10 reaches the writer and fails
    assert failed.wait(10)
    ctl.poll()
    assert failed.path is not None and saved == [(str(failed.path), str(failed.error))]
    assert ctl.wanted and ctl.current is None  # paused, not stopped for good
    assert ctl.paused.startswith(f"Recording paused: cannot write session file {failed.path}: No space left")
    assert space == [("warn", ctl.paused)]
    assert read_session(failed.path, video=False).n_ticks >= 5  # readable up to the error

    ctl.writer_factory = SessionWriter
    disk["free"] = GB  # not enough yet (reserve + margin)
    ctl.poll()
    assert ctl.current is None
    disk["free"] = 20 * GB
    ctl.poll()
    resumed = opened(ctl.current)
    mic(ctl, 5)
    assert space[-1][0] == "info" and "resumed" in space[-1][1]
    ctl.shutdown()
    meta = read_session(finished(ctl, resumed), video=False).meta
    assert meta["continues"] == failed.path.name  # the same conversation goes on


def test_another_write_error_still_stops_recording(
    qapp: QApplication, tmp_path: Path, disk: dict[str, int]
) -> None:
    class ReadOnly(SessionWriter):
        def add_user_audio(self, tick: int, pcm: np.ndarray) -> None:
            raise SessionWriteError(errno.EACCES, f"cannot write session file {self.path}: Permission denied")

    ctl = controller(tmp_path)
    ctl.writer_factory = ReadOnly
    ctl.session_opened(SessionOpened("guide", "ada"))
    ctl.set_wanted(True)
    f = opened(ctl.current)
    mic(ctl, 60)
    assert f.wait(10)
    ctl.poll()
    assert not ctl.wanted and not ctl.paused and "Permission denied" in ctl.last_error
    ctl.shutdown()


# ---------------------------------------------------------------------- retention
def pair(folder: Path, stem: str, size: int, age_h: float, events: bool = True) -> Path:
    """A session file pair `stem`.mkv (+ .events.jsonl) of `size` bytes, `age_h` hours old."""
    mkv = folder / f"{stem}.mkv"
    mkv.write_bytes(b"\0" * size)
    when = time.time() - age_h * 3600
    os.utime(mkv, (when, when))
    if events:
        ev = folder / f"{stem}.events.jsonl"
        ev.write_text("{}\n")
        os.utime(ev, (when, when))
    return mkv


def others(folder: Path) -> list[Path]:
    """Files in `folder` that are not Duet session pairs: retention must never touch them."""
    sub = folder / "exports"
    sub.mkdir()
    made = [
        folder / "notes.txt",
        folder / "run-2026-01-01-090000.mkv",  # duet-engine run's, not the app's
        folder / "run-2026-01-01-090000.events.jsonl",
        folder / "duet-2026-01-01-080000.mkv",  # no events file beside it: not one the app wrote
        folder / "duet-export.mkv",  # not an app name
        folder / "duet-2026-01-01-070000.events.jsonl",  # events whose .mkv is gone
        sub / "duet-2026-01-01-060000.mkv",  # in a subfolder
        sub / "duet-2026-01-01-060000.events.jsonl",
    ]
    for p in made:
        p.write_bytes(b"\0" * 5000)
        os.utime(p, (1, 1))  # older than anything
    target = pair(sub, "duet-2026-01-01-050000", 5000, 100)
    link = folder / "duet-2026-01-01-040000.mkv"  # a link to a pair elsewhere
    link.symlink_to(target)
    (folder / "duet-2026-01-01-040000.events.jsonl").symlink_to(target.with_suffix(".events.jsonl"))
    return [*made, target, link]


def test_prune_deletes_the_oldest_duet_pairs_only_and_never_a_protected_one(tmp_path: Path) -> None:
    from app.disk_budget import duet_sessions, prune

    keep_out = others(tmp_path)
    oldest = pair(tmp_path, "duet-2026-01-02-100000", 1000, 50)  # being written (protected)
    old = pair(tmp_path, "duet-2026-01-03-100000-P01", 1000, 40)
    mid = pair(tmp_path, "duet-2026-01-03-100000-P01-2", 1000, 30)
    new = pair(tmp_path, "duet-2026-01-04-100000", 1000, 20)
    newest = pair(tmp_path, "duet-2026-01-05-100000", 1000, 10)
    each = 1000 + len("{}\n")
    assert [s.mkv for s in duet_sessions(tmp_path)] == [oldest, old, mid, new, newest]

    gone = prune(tmp_path, 3 * each, ["duet-2026-01-02-100000"], set())
    assert [s.mkv for s in gone] == [old, mid]  # oldest first, until 3 pairs are left
    for mkv in (old, mid):
        assert not mkv.exists() and not mkv.with_suffix(".events.jsonl").exists()
    assert all(p.exists() for p in (oldest, new, newest, oldest.with_suffix(".events.jsonl")))
    assert all(p.exists() or p.is_symlink() for p in keep_out)  # nothing else touched
    assert prune(tmp_path, 3 * each, ["duet-2026-01-02-100000"], set()) == []  # within the budget

    # the protected file counts: with room for none, all but it go, and it stays, and so does the
    # newest finished one (what led up to a crash or a pause)
    assert [s.mkv for s in prune(tmp_path, 1, ["duet-2026-01-02"], set())] == [new]
    assert oldest.exists() and newest.exists() and all(p.exists() or p.is_symlink() for p in keep_out)


def test_retention_runs_before_each_file_and_while_recording_never_on_the_file_being_written(
    qapp: QApplication, tmp_path: Path, disk: dict[str, int]
) -> None:
    from app.disk_budget import Budget, duet_sessions

    keep_out = others(tmp_path)
    a = pair(tmp_path, "duet-2026-01-01-100000", 4000, 30)
    b = pair(tmp_path, "duet-2026-01-02-100000", 4000, 20)
    c = pair(tmp_path, "duet-2026-01-03-100000", 4000, 10)
    ctl = controller(tmp_path)
    assert ctl.budget.keep_bytes is None  # off by default: nothing is deleted
    ctl.session_opened(SessionOpened("guide", "ada"))
    ctl.set_wanted(True)
    f = opened(ctl.current)
    mic(ctl, 5)
    ctl.poll()
    assert a.exists() and b.exists() and c.exists()
    ctl.set_wanted(False)
    finished(ctl, f)

    sizes = {s.mkv: s.size for s in duet_sessions(tmp_path)}
    assert set(sizes) == {a, b, c, f.path}
    ctl.budget = Budget(GB, sum(sizes.values()) - sizes[a])  # room for all but the oldest
    ctl.set_wanted(True)  # before the file starts: the oldest goes
    assert not a.exists() and b.exists() and c.exists()
    g = opened(ctl.current)
    assert g.path is not None
    mic(ctl, 150)  # the .mkv is made at its first packet (muxed once 75 ticks ahead of the avatar)
    deadline = time.monotonic() + 10
    while not g.path.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    os.utime(g.path, (1, 1))  # the file being written looks like the oldest of all
    ctl.budget = Budget(GB, 1)  # room for nothing
    ctl.poll()  # while recording: all but the file being written and the one before it go
    assert not b.exists() and not c.exists() and f.path.exists()  # type: ignore[union-attr]
    assert g.path.exists() and g.path.with_suffix(".events.jsonl").exists()
    assert all(p.exists() or p.is_symlink() for p in keep_out)
    ctl.shutdown()
    assert read_session(finished(ctl, g), video=False).n_ticks >= 100


def test_deletions_are_logged_and_a_file_that_cannot_be_deleted_is_said_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from app.disk_budget import prune

    a = pair(tmp_path, "duet-2026-01-01-100000", 4000, 30)
    b = pair(tmp_path, "duet-2026-01-02-100000", 4000, 20)
    pair(tmp_path, "duet-2026-01-03-100000", 4000, 10)  # the newest: kept
    real_unlink: Callable[..., None] = Path.unlink

    def unlink(self: Path, missing_ok: bool = False) -> None:
        if self == a:
            raise PermissionError(errno.EACCES, "Permission denied")
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)
    failed: set[Path] = set()
    caplog.set_level("INFO", "app.disk_budget")
    assert [s.mkv for s in prune(tmp_path, 1, [], failed)] == [b]
    prune(tmp_path, 1, [], failed)
    text = caplog.text
    assert text.count(f"cannot delete {a}: Permission denied") == 1 and a.exists()
    assert f"retention: deleted {b} and its .events.jsonl" in text


# ---------------------------------------------------------------------- the window
@pytest.mark.gui
@pytest.mark.audio
def test_the_window_says_recording_paused_and_resumed_and_stop_cancels(
    duet_window: DuetWindow, qtbot: QtBot, pipewire: None, tmp_path: Path, disk: dict[str, int]
) -> None:
    w = duet_window("testecho")
    qtbot.waitUntil(lambda: w.core.session_open, timeout=60_000)
    rec = w.core.recording
    disk["free"] = GB // 2
    w.record_button.click()
    qtbot.waitUntil(lambda: w.record_note.isVisible(), timeout=5_000)
    assert w.record_note.text() == rec.paused and rec.paused.startswith("Recording paused: only 0.5 GB")
    assert w.record_note.property("level") == "warn"
    assert w.rec_indicator.isVisible() and w.rec_indicator.full_text() == "● REC paused: disk space"
    assert w.record_button.isChecked() and rec.current is None  # still wanted: Stop cancels
    assert w.file_name.text() == "Paused: not enough disk space"

    disk["free"] = 5 * GB
    qtbot.waitUntil(lambda: rec.current is not None, timeout=5_000)
    assert w.record_note.text() == "Recording resumed in a new file: 5 GB free again."
    qtbot.waitUntil(lambda: w.rec_indicator.full_text().startswith("● REC 0:"), timeout=5_000)

    disk["free"] = 0  # full again: the file ends (saved), the pause note stays
    qtbot.waitUntil(lambda: bool(rec.paused), timeout=5_000)
    qtbot.waitUntil(lambda: not rec._closing, timeout=10_000)
    assert w.record_note.text() == rec.paused and w.record_button.isChecked()
    assert len(list(paths.sessions_dir().glob("duet-*.mkv"))) == 1
    w.record_button.click()  # Stop: no longer waiting
    assert not rec.wanted and not rec.paused and not w.rec_indicator.isVisible()
    assert not w.record_note.isVisible()
    disk["free"] = 50 * GB
    qtbot.wait(500)
    assert rec.current is None and not w.record_button.isChecked()


def test_a_session_opening_while_paused_waits_for_the_margin_and_the_back_off(
    qapp: QApplication, tmp_path: Path, disk: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An engine restart or a new conversation while recording waits for disk space resumes by
    the same rules as the 30 s check: not with free space between the reserve and reserve + margin
    (it would pause again soon), not before the back-off after a full-disk failure is over."""
    import app.recording as recording

    ctl = controller(tmp_path)
    ctl.session_opened(SessionOpened("guide", "ada"))
    disk["free"] = GB // 2
    ctl.set_wanted(True)
    assert ctl.paused and ctl.current is None
    disk["free"] = GB + GB // 10  # above the reserve, under reserve + margin
    for _ in range(2):
        ctl.session_closed()  # an engine restart / New conversation
        ctl.new_conversation()
        ctl.session_opened(SessionOpened("guide", "ada"))
        assert ctl.current is None and ctl.paused and not list(tmp_path.iterdir())
    disk["free"] = 5 * GB
    ctl.session_closed()
    ctl.session_opened(SessionOpened("guide", "ada"))  # enough now: a file starts as it opens
    first = opened(ctl.current)
    assert not ctl.paused
    mic(ctl, 5)

    class FullDisk(SessionWriter):  # a full quota: the space looks free, writes fail
        def add_user_audio(self, tick: int, pcm: np.ndarray) -> None:
            raise SessionWriteError(
                errno.EDQUOT, f"cannot write session file {self.path}: Disk quota exceeded"
            )

    monkeypatch.setattr(recording, "DISK_CHECK_S", 30.0)  # the back-off: 30 s after one failure
    ctl.set_wanted(False)
    finished(ctl, first)
    ctl.writer_factory = FullDisk
    ctl.set_wanted(True)
    failed = opened(ctl.current)
    mic(ctl, 60)
    assert failed.wait(10)
    ctl.poll()
    assert ctl.paused and ctl.current is None and ctl.wanted
    files = sorted(tmp_path.iterdir())
    ctl.writer_factory = SessionWriter
    ctl.session_closed()
    ctl.session_opened(SessionOpened("guide", "ada"))  # within the back-off: no file yet
    assert ctl.current is None and ctl.paused and sorted(tmp_path.iterdir()) == files
    ctl._resume_after = 0.0  # the back-off is over
    ctl.session_closed()
    ctl.session_opened(SessionOpened("guide", "ada"))
    resumed = opened(ctl.current)
    assert not ctl.paused
    ctl.shutdown()
    finished(ctl, resumed)


def test_messages_never_show_equal_looking_sizes_and_a_size_of_0_bytes_is_0(tmp_path: Path) -> None:
    """0.96 GB free under a 1 GB reserve is not "only 1.0 GB free, under the 1.0 GB kept free";
    the note names the flag as well as the variable; a --keep-gb that rounds to 0 bytes (which
    would delete every finished recording) is refused like 0, and one too large to count too."""
    from app.__main__ import parse_args
    from app.disk_budget import Budget, budget_from_env, gb_under, parse_gb, reserve_note
    from app.recording import disk_note

    note = reserve_note(tmp_path, 960_000_000, Budget(GB))
    assert note.startswith(
        f"Recording paused: only 0.96 GB free in {tmp_path}, under the 1.00 GB kept free (--reserve-gb,"
        " DUET_SESSIONS_RESERVE_GB)."
    )
    assert reserve_note(tmp_path, GB // 2, Budget(GB)).startswith("Recording paused: only 0.5 GB free")
    assert gb_under(999_000_000, GB) == ("0.999 GB", "1.000 GB")
    assert gb_under(999_999_000, GB) == ("999,999,000 bytes", "1,000,000,000 bytes")
    assert disk_note(tmp_path, 1_040_000_000, 0, GB).startswith(
        f"Disk space low: 1.04 GB left in {tmp_path}. Recording pauses with 1.00 GB left"
    )
    for tiny in ("0.0000000001", "1e-10", "4e-10"):
        with pytest.raises(ValueError, match="above 0"):
            parse_gb(tiny, zero_ok=False)
        assert parse_gb(tiny, zero_ok=True) == 0
        with pytest.raises(SystemExit) as e:
            parse_args(["--keep-gb", tiny])
        assert e.value.code == 2
    assert parse_gb("6e-10", zero_ok=False) == 1
    assert budget_from_env({"DUET_SESSIONS_KEEP_GB": "1e-10"}) == Budget(keep_bytes=None)  # ignored
    with pytest.raises(ValueError):
        parse_gb("1e300", zero_ok=True)  # 10^309 bytes: not a number a disk has
    with pytest.raises(SystemExit) as e:
        parse_args(["--reserve-gb", "1e300"])
    assert e.value.code == 2


def test_the_file_before_the_one_being_written_survives_and_an_oversized_one_is_warned_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An engine crash ends a file and the next one starts: the pre-crash file alone exceeding the
    keep is still not deleted (until the next file is finished); the file being written growing
    past the keep is said once; the sizes in the log read right at small scales."""
    from app.disk_budget import prune

    caplog.set_level("INFO", "app.disk_budget")
    old = pair(tmp_path, "duet-2026-01-01-100000", 16_000_000, 30)
    crash = pair(tmp_path, "duet-2026-01-02-100000", 40_000_000, 20)  # before the crash
    live = pair(tmp_path, "duet-2026-01-03-100000", 60_000_000, 10)  # the file after it
    keep = 50_000_000  # --keep-gb 0.05
    warned: set[Path] = set()
    assert [s.mkv for s in prune(tmp_path, keep, [live.stem], set(), warned)] == [old]
    assert crash.exists() and live.exists() and warned == {live}
    assert [s.mkv for s in prune(tmp_path, keep, [live.stem], set(), warned)] == []
    text = caplog.text
    assert f"retention: deleted {old} and its .events.jsonl (16 MB, the oldest Duet session);" in text
    assert "Duet sessions now take 100 MB of the 0.05 GB = 50 MB kept" in text
    assert text.count(f"{live}, the file being written, alone takes 60 MB, more than the 0.05 GB") == 1
    assert "the file being written is never deleted" in text
    # once the live file is finished (and a newer one started), the pre-crash file may go
    after = pair(tmp_path, "duet-2026-01-04-100000", 1000, 0)
    assert [s.mkv for s in prune(tmp_path, keep, [after.stem], set(), warned)] == [crash]
    assert live.exists() and after.exists()


def test_sizes_read_right_at_every_scale() -> None:
    from app.disk_budget import keep_text, size_text

    assert size_text(0) == "0 bytes" and size_text(999) == "999 bytes" and size_text(4003) == "4 kB"
    assert size_text(16_000_000) == "16 MB" and size_text(2_500_000) == "2.5 MB"
    assert size_text(999_960_000) == "1 GB" and size_text(1_234_000_000) == "1.23 GB"
    assert size_text(13_000_000_000) == "13 GB" and size_text(40 * GB) == "40 GB"
    assert size_text(1_500_000_000) == "1.5 GB" and size_text(123_400_000_000) == "123 GB"
    assert keep_text(50_000_000) == "0.05 GB = 50 MB" and keep_text(40 * GB) == "40 GB"
    assert keep_text(1_500_000_000) == "1.5 GB"
