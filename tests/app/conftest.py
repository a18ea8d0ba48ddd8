"""THE Qt fixture for app tests: builds windows on the real engine and fails on leaks.

`duet_window(model=..., **settings)` builds DuetCore + MainWindow (real EngineClient with the
settings' per-model weights/options, real PipeWire audio when available), shows and starts it. At
teardown every window is closed (engine stopped) and the test FAILS if a top-level window is still
visible, a Python-created QThread still runs, an app thread ("duet-*") is still alive, or an engine
process is left behind, or if an engine logged a warning from our code (tests/support/logs.py).
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import subprocess
import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pytest

from tests.support.logs import ENGINE_WARNINGS_ENV, our_warnings

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication
    from pytestqt.qtbot import QtBot

    from app.measure import MonitorRecorder
    from app.window import MainWindow

SPEECH_WAV = Path("/usr/share/sounds/alsa/Front_Center.wav")


def _leaks(before: frozenset[threading.Thread] = frozenset()) -> list[str]:
    from PySide6.QtCore import QThread
    from PySide6.QtWidgets import QApplication

    out = []
    for w in QApplication.topLevelWidgets():
        if w.isVisible():
            out.append(f"window {type(w).__name__} {w.windowTitle()!r} still open")
            w.close()
    for obj in gc.get_objects():
        try:
            # type(obj), not isinstance: isinstance reads __class__, which some lazy module
            # attributes (torch's deprecated aliases) answer with a FutureWarning
            if issubclass(type(obj), QThread) and obj.isRunning():
                out.append(f"QThread {obj.objectName() or obj!r} still running")
        except RuntimeError:  # wrapper whose C++ object is gone
            continue
    for t in threading.enumerate():
        # (not those alive before the test: a session-scoped fixture's, e.g. tests/lite's model)
        if t.name.startswith("duet-") and t.is_alive() and t not in before:
            out.append(f"thread {t.name} still alive")
    for p in mp.active_children():
        out.append(f"engine process {p.name} (pid {p.pid}) left running")
        p.kill()
        p.join(2)
    return out


def _settled_leaks(qapp: QApplication, threads_before: frozenset[threading.Thread]) -> list[str]:
    deadline = time.monotonic() + 5
    leaks = _leaks(threads_before)
    windows = [leak for leak in leaks if leak.startswith("window ")]  # closed by _leaks: said once
    while leaks and time.monotonic() < deadline:  # threads may need a moment to wind down
        qapp.processEvents()
        time.sleep(0.1)
        leaks = _leaks(threads_before)
    return windows + [leak for leak in leaks if leak not in windows]


@pytest.fixture
def qt_clean(qtbot: QtBot, qapp: QApplication) -> Iterator[None]:
    """For Qt tests that build their own widgets, players or cameras (no MainWindow): the same
    leak checks as duet_window at teardown (after pytest-qt has closed the qtbot.addWidget ones)."""
    threads_before = frozenset(threading.enumerate())
    yield
    leaks = _settled_leaks(qapp, threads_before)
    assert not leaks, "leaked: " + "; ".join(leaks)


class DuetWindow(Protocol):
    """What the `duet_window` fixture yields: builds (and by default starts) a MainWindow."""

    def __call__(
        self, model: str = "testecho", use_gl: bool | str = False, start: bool = True, **kw: object
    ) -> MainWindow: ...


@pytest.fixture
def duet_window(qtbot: QtBot, qapp: QApplication, monkeypatch: pytest.MonkeyPatch) -> Iterator[DuetWindow]:
    from app.core import DuetCore
    from app.logs import engine_log_path
    from app.settings import Settings
    from app.theme import STYLESHEET
    from app.window import MainWindow
    from engine.protocol import SessionSpec

    qapp.setStyleSheet(STYLESHEET)
    monkeypatch.setenv("PYTHONWARNINGS", ENGINE_WARNINGS_ENV)  # read by each spawned engine
    threads_before = frozenset(threading.enumerate())
    made: list[MainWindow] = []

    def make(
        model: str = "testecho", use_gl: bool | str = False, start: bool = True, **kw: object
    ) -> MainWindow:
        settings = Settings(model=model, **kw)  # type: ignore[arg-type]
        spec = SessionSpec(persona=settings.persona, avatar=settings.avatar)
        core = DuetCore(model, spec, settings.mic_device, settings.speaker_device, sources=settings.sources())
        window = MainWindow(core, settings, use_gl=use_gl)
        made.append(window)
        window.show()
        if start:
            window.start()
        return window

    yield make
    for player in _PLAYERS:  # a test that failed early leaves its speech playing into the next one
        player.stop()
    _PLAYERS.clear()
    for w in made:
        w.close()
    leaks = _settled_leaks(qapp, threads_before)
    for w in made:  # audio streams outlive nothing: a stream left open would keep playing
        if w.core.player.running or (w.core.mic is not None and getattr(w.core.mic, "running", False)):
            leaks.append(f"audio stream of {w.core.model!r} window still running")
    assert not leaks, "leaked: " + "; ".join(leaks)
    warned = our_warnings([engine_log_path()])
    assert not warned, "the engine warned:\n" + "\n".join(warned)


@pytest.fixture
def pipewire() -> None:
    """Real audio: fail clearly when no PipeWire/PortAudio device is reachable."""
    import sounddevice as sd

    try:
        sd.query_devices(kind="output")
        sd.query_devices(kind="input")
    except Exception as e:
        pytest.fail(
            f"no audio device ({e}); start PipeWire first: `source installers/audio-setup.sh` "
            f"(XDG_RUNTIME_DIR={os.environ.get('XDG_RUNTIME_DIR')})"
        )


@pytest.fixture
def monitor_recorder() -> type[MonitorRecorder]:
    from app.measure import MonitorRecorder

    return MonitorRecorder


class Playing:
    """A WAV playing into the default sink through `pw-play` in its own process."""

    def __init__(self, path: Path) -> None:
        with wave.open(str(path)) as w:
            seconds = w.getnframes() / w.getframerate()
        self.proc = subprocess.Popen(
            ["pw-play", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        # pw-play now and then never sees its stream drained and does not exit (1 run in ~30)
        self.deadline = time.monotonic() + seconds + 3.0

    def done(self) -> bool:
        """Has it played to the end? (Stops a player that hangs after the end.)"""
        if self.proc.poll() is None and time.monotonic() > self.deadline:
            self.stop()
        return self.proc.poll() is not None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)


def play_into_mic(path: Path = SPEECH_WAV) -> Playing:
    """Play a WAV into the default sink (heard by the default source = the app's mic); async.

    In its own process (PipeWire's pw-play), not a thread of this one: a blocking write from a
    Python thread starves whenever the GUI thread holds the GIL for a few ms, and the mic then hears
    the speech with dropouts (enough to split one turn in two on a busy machine)."""
    player = Playing(path)
    _PLAYERS.append(player)
    return player


_PLAYERS: list[Playing] = []  # stopped by the duet_window fixture


def say(qtbot: QtBot, w: MainWindow, text: str) -> None:
    """Type `text` into the window's text box and press Enter."""
    w.text_box.setText(text)
    qtbot.keyClick(w.text_box, "\r")


def replied(w: MainWindow, text: str) -> bool:
    """Has the testecho model answered `text` (its reply is "echo: <text>")?"""
    c = w.core.conversation.last("avatar")
    return c is not None and c.text == f"echo: {text}"
