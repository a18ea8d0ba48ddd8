"""Running a study with the app: labelled files, linked parts of one recording, a new conversation
between participants, Mute / push-to-talk in the events, one Duet at a time, and the shortcuts."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from engine.protocol import Closed, MicInput, SessionOpened
from engine.session import describe, read_session

from .recording_parts import controller, mic, opened

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication
    from pytestqt.qtbot import QtBot

    from .conftest import DuetWindow

ROOT = Path(__file__).resolve().parents[2]
MUTED = MicInput(muted=True, push_to_talk=False, talk_held=False, heard=False)
OPEN = MicInput(muted=False, push_to_talk=False, talk_held=False, heard=True)


def test_labelled_files_continue_after_stop_but_not_after_a_new_conversation(
    qapp: QApplication, tmp_path: Path
) -> None:
    ctl = controller(tmp_path)
    ctl.set_label("  P03 cond/B ")
    ctl.session_opened(SessionOpened("guide", "ada"))
    ctl.set_input(MUTED)  # before recording: no file to write it to, but remembered
    ctl.set_wanted(True)
    first = opened(ctl.current)
    mic(ctl, 5)
    ctl.set_input(OPEN)
    ctl.set_input(OPEN)  # no change: no event
    mic(ctl, 5)
    ctl.set_wanted(False)
    ctl.set_wanted(True)  # Record again, same session: the same recording goes on
    second = opened(ctl.current)
    mic(ctl, 5)
    ctl.new_conversation()  # the window then reopens the session
    assert ctl.current is None and ctl.wanted
    ctl.session_closed()
    ctl.session_opened(SessionOpened("guide", "ada"))
    third = opened(ctl.current)
    mic(ctl, 5)
    ctl.set_wanted(False)
    ctl.session_closed()  # a switch while not recording: the next Record is a recording of its own
    ctl.session_opened(SessionOpened("booth", "max"))
    ctl.set_label("")
    ctl.set_wanted(True)
    fourth = opened(ctl.current)
    mic(ctl, 5)
    ctl.shutdown()

    paths = [f.path for f in (first, second, third, fourth) if f.path is not None]
    assert len(paths) == 4
    a, b, c, d = (read_session(p, video=False) for p in paths)
    for p, data in zip(paths[:3], (a, b, c), strict=True):
        assert p.stem.split("-", 5)[-1].startswith("P03-cond-B"), p.name
        assert data.meta["label"] == "P03 cond/B"  # as typed (one line) in the metadata
    assert "label" not in d.meta and paths[3].stem.count("-") == 4
    assert "continues" not in a.meta
    assert b.meta["continues"] == paths[0].name
    assert "continues" not in c.meta and "continues" not in d.meta
    # the file that starts muted says so at its tick 0; the change is an event of its own
    mics = [(t, src, m) for t, src, m in a.events if isinstance(m, MicInput)]
    assert mics == [(0, "client", MUTED), (5, "client", OPEN)]
    assert not any(isinstance(m, MicInput) for _, _, m in b.events)  # open mic: nothing to say
    ends = [data.events[-1][2] for data in (a, b, c)]
    assert all(isinstance(e, Closed) for e in ends)
    assert [e.reason for e in ends if isinstance(e, Closed)] == [
        "recording stopped",
        "a new conversation was started",
        "recording stopped",
    ]
    # created is UTC; created_local the same moment as the file name's local time, with its offset
    assert a.meta["created"].endswith("+00:00") and a.meta["created_local"][-6] in "+-"
    info = describe(paths[0])
    assert info["mic_input"] == [
        {"tick": 0, "muted": True, "push_to_talk": False, "talk_held": False, "heard": False},
        {"tick": 5, "muted": False, "push_to_talk": False, "talk_held": False, "heard": True},
    ]


def test_show_prints_the_label_and_the_mic_changes_among_the_lines(
    qapp: QApplication, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from engine.cli.main import main as engine_main

    ctl = controller(tmp_path)
    ctl.set_label("P07")
    ctl.session_opened(SessionOpened("guide", "ada"))
    ctl.set_input(MicInput(muted=False, push_to_talk=True, talk_held=False, heard=False))
    ctl.set_wanted(True)
    f = opened(ctl.current)
    mic(ctl, 3)
    ctl.set_input(MicInput(muted=False, push_to_talk=True, talk_held=True, heard=True))
    mic(ctl, 10)
    ctl.set_input(MicInput(muted=False, push_to_talk=True, talk_held=False, heard=False))
    mic(ctl, 3)
    ctl.set_input(MicInput(muted=True, push_to_talk=True, talk_held=False, heard=False))
    mic(ctl, 3)
    ctl.shutdown()
    assert engine_main(["show", str(f.path)]) == 0
    out = capsys.readouterr().out
    assert "label P07" in out and "(local " in out
    assert "[  0.00 s] mic   : on, push-to-talk, not held (not heard)" in out
    assert "[  0.12 s] mic   : talk held" in out
    assert "[  0.52 s] mic   : talk let go (not heard)" in out
    assert "[  0.64 s] mic   : muted (not heard)" in out
    assert "mic_input 4" in out  # among the event counts


def test_the_shortcut_sheet_lists_record_and_new_conversation(qapp: QApplication) -> None:
    from app.keyboard import ShortcutSheet

    rows = dict(ShortcutSheet(kiosk=False).rows)
    assert "Ctrl+R" in rows and "Ctrl+N" in rows
    kiosk = dict(ShortcutSheet(kiosk=True).rows)
    assert "Ctrl+R" not in kiosk  # a booth records as it was started, or not at all
    assert "Ctrl+N" in kiosk


def test_a_second_duet_is_refused_and_a_stale_lock_is_taken_over(
    qapp: QApplication, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.__main__ import main
    from app.instance import lock_path, single_instance

    held = single_instance()  # another Duet (this process) holds it
    assert held is not None and held.isLocked()
    assert single_instance() is None
    assert main(["--no-camera"]) == 3
    err = capsys.readouterr().err
    assert f"Duet is already running (process {os.getpid()}" in err and str(lock_path()) in err
    held.unlock()

    # a Duet that was killed left its lock file: no process holds its lock, it is stale
    lock_path().write_text(f"999999\n{socket.gethostname()}\n")
    taken = single_instance()
    assert taken is not None and taken.isLocked()
    assert lock_path().read_text().split("\n", 1)[0] == str(os.getpid())
    taken.unlock()
    again = single_instance()  # unlocked: the next Duet takes it
    assert again is not None and again.isLocked()
    again.unlock()


def test_a_second_duet_process_exits_with_status_3_and_says_why() -> None:
    from app.instance import single_instance

    held = single_instance()
    assert held is not None
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "app", "--no-camera"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},  # (its message box: nobody to see it)
        )
    finally:
        held.unlock()
    assert proc.returncode == 3, proc.stderr
    assert "duet: Duet is already running" in proc.stderr and "close it first" in proc.stderr


def test_duet_label_refuses_a_label_with_nothing_for_the_file_name(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from app.__main__ import main

    assert main(["--label", "###", "--no-camera"]) == 2
    assert "--label" in capsys.readouterr().err


@pytest.mark.gui
@pytest.mark.audio
def test_new_conversation_in_the_window_clears_it_and_records_on_in_an_unlinked_file(
    duet_window: DuetWindow, qtbot: QtBot, pipewire: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtCore import Qt

    from .conftest import replied, say

    monkeypatch.setenv("DUET_SESSIONS_DIR", str(tmp_path / "sessions"))
    w = duet_window("testecho")
    qtbot.waitUntil(lambda: w.core.session_open, timeout=60_000)
    section = w.captions.sections["RECORDING"]
    assert not section.isChecked() and not w.label_edit.isVisible()  # a chat keeps the room
    w.label_edit.setText("P01 condA")
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=5_000)
    qtbot.keyClick(w.text_box, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)  # Record
    assert w.core.recording.wanted and w.record_button.isChecked()
    assert section.isChecked() and w.label_edit.isVisible()  # recording shows its label and file
    qtbot.waitUntil(
        lambda: w.core.recording.current is not None and w.core.recording.current.path is not None
    )
    first = w.core.recording.current
    assert first is not None and first.path is not None
    qtbot.waitUntil(lambda: w.rec_indicator.full_text().endswith(" P01-condA"), timeout=5_000)
    name = first.path.name
    qtbot.waitUntil(lambda: w.rec_indicator.accessibleName() == f"Recording to {name}", timeout=5_000)
    assert w.file_name.text() == name
    w.mute_button.click()
    w.mute_button.click()
    say(qtbot, w, "hello")
    qtbot.waitUntil(lambda: replied(w, "hello"), timeout=20_000)
    session = w.core.client

    qtbot.keyClick(w.text_box, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)  # New conversation
    assert not w.core.conversation.captions  # the panel starts over at once
    qtbot.waitUntil(lambda: first.done, timeout=10_000)
    qtbot.waitUntil(lambda: w.core.recording.current is not None, timeout=20_000)
    second = opened(w.core.recording.current)
    assert w.core.client is session  # the same engine, a new session on it
    say(qtbot, w, "again")
    qtbot.waitUntil(lambda: replied(w, "again"), timeout=20_000)
    assert [c.text for c in w.core.conversation.captions if c.side == "user"] == ["again"]
    w.record_button.click()
    qtbot.waitUntil(lambda: second.done, timeout=10_000)
    assert first.path is not None and second.path is not None
    a, b = read_session(first.path, video=False), read_session(second.path, video=False)
    assert a.meta["label"] == b.meta["label"] == "P01 condA"
    assert "-P01-condA" in first.path.name and "-P01-condA" in second.path.name  # (-2: the same second)
    assert "continues" not in b.meta  # another participant's conversation: not a part of the first
    assert [m.muted for _, _, m in a.events if isinstance(m, MicInput)] == [True, False]
    reason = a.events[-1][2]
    assert isinstance(reason, Closed) and reason.reason == "a new conversation was started"
    said = [c["text"] for c in describe(second.path)["conversation"] if c["side"] == "user"]
    assert said == ["again"]


@pytest.mark.gui
@pytest.mark.audio
def test_in_fullscreen_the_saved_path_shows_over_the_stage(
    duet_window: DuetWindow, qtbot: QtBot, pipewire: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUET_SESSIONS_DIR", str(tmp_path / "sessions"))
    w = duet_window("testecho")
    qtbot.waitUntil(lambda: w.core.session_open, timeout=60_000)
    w.enter_fullscreen()
    qtbot.waitUntil(w.isFullScreen, timeout=5_000)
    w.record_button.click()
    qtbot.waitUntil(lambda: w.core.recording.current is not None, timeout=10_000)
    f = opened(w.core.recording.current)
    qtbot.wait(500)
    w.record_button.click()
    qtbot.waitUntil(lambda: f.done, timeout=10_000)
    qtbot.waitUntil(lambda: w.stage.toast.isVisible() and w.stage.toast.text() == f"Saved: {f.path}")
    assert not w.record_note.isVisible()  # (under the stage: only once fullscreen is left)
