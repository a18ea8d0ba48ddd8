"""Engine failures: SIGKILL and hang -> banner, restart, conversation resumes; 3 within 60 s -> a
pause (Retry, or it tries again by itself, each pause longer)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .conftest import replied, say

if TYPE_CHECKING:
    from PySide6.QtCore import Qt
    from pytestqt.qtbot import QtBot

    from .conftest import DuetWindow

pytestmark = [pytest.mark.gui, pytest.mark.audio]


def test_crash_and_hang_restart_then_repeated_crashes_pause(
    duet_window: DuetWindow, qtbot: QtBot, pipewire: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.core")
    w = duet_window("testcrash")
    qtbot.waitUntil(lambda: w.core.ready_info is not None and w.core._live is not None, timeout=60_000)
    first_pid = w.core.client.pid
    say(qtbot, w, "hello")
    qtbot.waitUntil(lambda: replied(w, "hello"), timeout=10_000)

    say(qtbot, w, "crash")  # SIGKILL inside the engine
    qtbot.waitUntil(lambda: w.banner.isVisible() and "crashed" in w.banner.label.text(), timeout=10_000)
    assert w.banner.level == "warn" and "restarting" in w.banner.label.text()
    qtbot.waitUntil(lambda: w.core._live is not None and not w.banner.isVisible(), timeout=60_000)
    assert w.core.client.pid != first_pid and w.core.restarts == 1
    say(qtbot, w, "after crash")
    qtbot.waitUntil(lambda: replied(w, "after crash"), timeout=10_000)
    qtbot.waitUntil(lambda: w.stage.view.frames_set > 5, timeout=10_000)

    say(qtbot, w, "hang")  # the next step blocks forever: detected by missed pings
    qtbot.waitUntil(lambda: "stopped responding" in w.banner.label.text(), timeout=15_000)
    qtbot.waitUntil(lambda: w.core._live is not None and not w.banner.isVisible(), timeout=60_000)
    say(qtbot, w, "after hang")
    qtbot.waitUntil(lambda: replied(w, "after hang"), timeout=10_000)

    say(qtbot, w, "crash")  # third failure within 60 s: give up and say where the log is
    qtbot.waitUntil(lambda: w.banner.level == "error", timeout=15_000)
    text = w.banner.label.text()
    assert "trying again in 30 s (or press Retry)" in text and "Log:" in text
    assert w.banner.retry_button.isVisible()
    assert w.core.conversation.state == "offline" and w.core._live is None
    qtbot.wait(500)
    assert w.core.restarts == 2  # no further attempt during the pause

    qtbot.mouseClick(w.banner.retry_button, qtbot_button())  # the user asks to try again
    qtbot.waitUntil(lambda: w.core._live is not None and not w.banner.isVisible(), timeout=60_000)
    say(qtbot, w, "back")
    qtbot.waitUntil(lambda: replied(w, "back"), timeout=10_000)

    # an unattended booth: after the next give-up nobody presses Retry; it tries again by itself,
    # after a longer pause (shortened here: 1 s doubled once = 2 s)
    w.core.crash_policy.FIRST_PAUSE_S = 1.0
    for _ in range(3):
        before = w.core.client.pid

        def restarted_or_paused(before: int = before) -> bool:  # a new engine's session, or the pause
            new = w.core._live is not None and w.core.client.pid != before
            return new or w.banner.level == "error"

        say(qtbot, w, "crash")
        qtbot.waitUntil(restarted_or_paused, timeout=60_000)
    assert "trying again in 2 s" in w.banner.label.text()
    qtbot.waitUntil(lambda: w.core._live is not None and not w.banner.isVisible(), timeout=60_000)
    say(qtbot, w, "back again")
    qtbot.waitUntil(lambda: replied(w, "back again"), timeout=10_000)
    log_text = caplog.text  # what duet-app.log gets
    assert "no restart for 30 s" in log_text and "no restart for 2 s" in log_text
    assert "Retry pressed" in log_text and "automatic retry" in log_text


def test_unknown_model_shows_start_error(
    duet_window: DuetWindow, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    monkeypatch.setenv("DUET_TEST_MODELS", os.environ["DUET_TEST_MODELS"] + ",broken=tests.nonexistent:Nope")
    w = duet_window("broken")
    qtbot.waitUntil(lambda: w.banner.level == "error", timeout=90_000)
    assert "could not start" in w.banner.label.text() and "not retrying" in w.banner.label.text()


def qtbot_button() -> Qt.MouseButton:
    from PySide6.QtCore import Qt

    return Qt.MouseButton.LeftButton


@pytest.mark.timeout(120)  # a hang guard: a close that waited for the 600 s model load never ends
def test_closing_while_the_engine_starts_leaves_nothing_behind(duet_window: DuetWindow, qtbot: QtBot) -> None:
    # the model takes 600 s to load: the engine is still "starting…" whenever the window closes
    w = duet_window("testcrash", model_sources={"testcrash": {"options": {"slowload": "600"}}})
    qtbot.waitUntil(lambda: w.core.client is not None and w.core.client.pid is not None, timeout=30_000)
    assert w.core._live is None and w.state_pill.text().startswith("starting")
    w.close()  # cancels the start: the fixture fails the test if the engine or its thread is left
    assert w.core.client is None


def test_a_persona_that_cannot_load_says_so_and_another_one_works(
    duet_window: DuetWindow, qtbot: QtBot, pipewire: None, tmp_path: Path
) -> None:
    """The session cannot open (a broken persona file): the pill says "no session" instead of
    "starting…", the banner says why in plain words and what to do; picking another
    persona opens a session and clears both."""
    broken = str(tmp_path / "broken.yaml")
    w = duet_window("testecho", persona=broken)
    qtbot.waitUntil(lambda: w.core.conversation.state == "no session", timeout=60_000)
    text = w.banner.label.text()
    assert w.banner.isVisible() and w.banner.level == "error"
    assert text == (
        f"Could not start the conversation: {broken}:3: invalid YAML: mapping values are not allowed here."
        " Pick another persona or avatar, or fix it and pick it again."
    )
    assert w.state_pill.text() == "no session"
    w.core.update_session(persona="guide")
    qtbot.waitUntil(lambda: w.core.session_open and not w.banner.isVisible(), timeout=20_000)
    assert w.core.conversation.state == "listening"
    say(qtbot, w, "hello")
    qtbot.waitUntil(lambda: replied(w, "hello"), timeout=10_000)


def test_a_start_failure_is_one_line_in_the_window_and_whole_in_the_log(
    duet_window: DuetWindow, caplog: pytest.LogCaptureFixture
) -> None:
    """An engine's start error goes on with the tail of its log (Python tracebacks): the banner
    says the first line, the log keeps all of it."""
    import concurrent.futures as cf

    from app.engine_faults import SUMMARY_CHARS, summary

    assert summary("one line") == "one line"
    assert " … " in summary("x " * 500) and len(summary("x " * 500)) <= SUMMARY_CHARS
    w = duet_window(start=False)
    err = RuntimeError(
        "engine 'testecho' did not say Ready within 120 s\n--- engine log ---\nTraceback (most recent"
        ' call last):\n  File "x.py", line 1, in <module>\nKeyError: 7'
    )
    fut: cf.Future[object] = cf.Future()
    fut.set_exception(err)
    w.core._job_done("start", fut)
    text = w.banner.label.text()
    assert w.banner.level == "error"
    assert text.startswith(
        "The engine could not start: engine 'testecho' did not say Ready within 120 s (more in the log)\n"
    )
    assert "Traceback" not in text and "KeyError" not in text
    assert "KeyError: 7" in caplog.text  # (duet-app.log)
