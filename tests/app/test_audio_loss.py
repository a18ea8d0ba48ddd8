"""The sound server goes away under a running booth (and comes back): the app notices within
seconds, says so, opens its devices again by itself, keeps stderr small (PortAudio's ALSA thread
spins printing errors at ~75 MB/s when its server dies) and still closes cleanly."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import paths
from engine.session import read_events

from .app_process import ROOT, running_app, stop_app, wait_for_log

pytestmark = [pytest.mark.gui, pytest.mark.audio, pytest.mark.slow]

DAEMONS = ("pipewire-pulse", "wireplumber", "pipewire", "dbus")


class PrivateAudio:
    """A PipeWire of this test's own (installers/audio-setup.sh in its own folder): killing it
    leaves the suite's shared one alone."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="duet-pw-", dir="/tmp"))  # short: socket paths
        self.env = {
            "AUDIO_DIR": str(self.dir),
            "XDG_RUNTIME_DIR": str(self.dir / "run"),
            "DBUS_SESSION_BUS_ADDRESS": f"unix:path={self.dir / 'run' / 'bus'}",
        }

    def start(self) -> None:
        subprocess.run(
            ["bash", "-c", "source installers/audio-setup.sh"],
            cwd=ROOT,
            env={**os.environ, **self.env},
            check=True,
            timeout=60,
            stdout=subprocess.DEVNULL,
        )

    def kill(self) -> None:
        """The server dies (as when it crashes or the user's session restarts it)."""
        for name in DAEMONS:
            pid_file = self.dir / f"{name}.pid"
            if pid_file.exists():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid_file.read_text()), signal.SIGKILL)
                pid_file.unlink()
        for sock in (self.dir / "run").glob("pipewire-0*"):
            sock.unlink(missing_ok=True)

    def streams(self) -> str:
        """pactl's list of playback and capture streams ("" when there are none or no server)."""
        env = {**os.environ, **self.env}
        run = [
            subprocess.run(
                ["pactl", "list", "short", kind], env=env, capture_output=True, text=True, timeout=10
            )
            for kind in ("sink-inputs", "source-outputs")
        ]
        return "".join(r.stdout for r in run if r.returncode == 0)


@pytest.fixture
def private_audio() -> Iterator[PrivateAudio]:
    audio = PrivateAudio()
    audio.start()
    try:
        yield audio
    finally:
        audio.kill()
        shutil.rmtree(audio.dir, ignore_errors=True)


def test_the_booth_comes_back_when_the_sound_server_does(private_audio: PrivateAudio) -> None:
    log = paths.log_dir() / "duet-app.log"
    with running_app(["--model", "testecho", "--kiosk", "--record"], env=private_audio.env) as proc:
        wait_for_log(proc, log, "session open", 90, also=lambda: private_audio.streams().count("\n") >= 2)
        private_audio.kill()
        wait_for_log(proc, log, "speaker stream", 20)
        text = wait_for_log(proc, log, "microphone stream", 20)
        assert "trying it again every 3 s" in text
        time.sleep(3)  # the server stays away a while: tries to open the devices fail meanwhile
        private_audio.start()
        wait_for_log(proc, log, "speaker is back", 30, also=lambda: "microphone is back" in log.read_text())
        deadline = time.monotonic() + 10
        while private_audio.streams().count("\n") < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert private_audio.streams().count("\n") >= 2  # playing and capturing again
        out = stop_app(proc, timeout_s=20)  # closes even past a stream that never closed
    assert len(out) < 200_000, f"{len(out)} bytes on stderr"  # not a flood
    assert "Traceback" not in out
    sessions = sorted(paths.sessions_dir().glob("duet-*.mkv"))
    assert sessions
    assert type(read_events(sessions[-1])[-1][2]).__name__ == "Closed"  # the recording was finished
