"""The stderr guard (a C library's flood stays small) and the pieces that close dead audio streams."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from app.playback import StallWatch, abandoned_streams, close_stream
from app.stderr_guard import LineGate

LINE = b"Expression 'self->capture.ready || self->playback.ready' failed in 'pa_linux_alsa.c', line: 3958"


def test_repeats_are_folded_and_a_flood_is_thinned() -> None:
    gate = LineGate(lines_per_s=10, burst=3)
    out = gate.feed(LINE, 0.0)
    assert out == LINE + b"\n"
    for _ in range(1000):
        assert gate.feed(LINE, 0.0) == b""
    assert gate.feed(b"E" * 40 + LINE, 0.0) == b""  # scraps of lost writes glued before a repeat
    assert gate.feed(b"other", 0.0) == b"duet: (the line above repeated 1001 more times)\nother\n"
    assert gate.flush() == b""
    assert gate.feed(b"a", 0.0) == b"a\n"  # the third line: the burst of 3 is spent
    assert gate.feed(b"c", 0.0) == b"" and gate.feed(b"d", 0.0) == b""
    assert gate.feed(b"e", 1.0) == b"duet: (2 more lines on stderr were left out)\ne\n"  # refilled
    gate.feed(b"e", 1.0)
    assert gate.flush() == b"duet: (the line above repeated 1 more times)\n"


def test_the_guard_keeps_a_flood_on_fd_2_small_and_python_s_own_lines_whole() -> None:
    """A child process installs the guard, floods fd 2 from C-like writes for a second, then
    prints a traceback-like line through sys.stderr: the latter arrives, the flood is folded."""
    code = f"""
import os, sys, time
from app import stderr_guard
assert stderr_guard.install() and stderr_guard.install()  # idempotent
line = {LINE!r} + b"\\n"
end = time.monotonic() + 1.0
n = 0
while time.monotonic() < end:
    try:
        os.write(2, line)
        n += 1
    except BlockingIOError:
        pass  # the guard's pipe was full: the line is lost, the writer is not held up
print("python says: done", file=sys.stderr)
from PySide6.QtCore import qWarning
qWarning("qt says: careful")  # Qt's messages bypass the pipe (a fatal one comes right before abort)
time.sleep(1.5)  # the guard says how many times the line repeated once it goes quiet
print(n)
"""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # as a user's shell
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60, env=env)
    assert p.returncode == 0, p.stderr[-2000:]
    written = int(p.stdout)
    assert written > 10_000  # a real flood
    assert len(p.stderr) < 20_000, len(p.stderr)
    lines = p.stderr.splitlines()
    assert lines[0] == LINE and b"python says: done" in lines and b"qt says: careful" in lines
    folded = [int(x.split(b"repeated ")[1].split()[0]) for x in lines if b"repeated" in x]
    assert folded and sum(folded) > 1000


class FakeStream:
    def __init__(self, hang: bool) -> None:
        self.hang = hang
        self.calls: list[str] = []
        self.release = threading.Event()

    def abort(self) -> None:
        self.calls.append("abort")
        if self.hang:
            self.release.wait(30)

    def close(self) -> None:
        self.calls.append("close")


def test_closing_a_stream_never_hangs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("app.playback._abandoned", [])  # (later tests' device rescans must not see it)
    ok = FakeStream(hang=False)
    assert close_stream(ok) and ok.calls == ["abort", "close"]  # abort: nothing needs to play out
    assert close_stream(None)
    stuck = FakeStream(hang=True)
    assert not close_stream(stuck, timeout_s=0.3)  # returned while abort() is still stuck:
    assert stuck.calls == ["abort"] and abandoned_streams() == 1  # abandoned, not waited on
    stuck.release.set()  # let the helper thread go: it closes the stream, then ends
    deadline = time.monotonic() + 30
    while stuck.calls != ["abort", "close"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stuck.calls == ["abort", "close"]


def test_a_stalled_callback_is_noticed_after_a_second() -> None:
    watch = StallWatch()
    assert not watch.stalled(5, 0.0)
    assert not watch.stalled(5, 0.9)
    assert watch.stalled(5, 1.1)
    assert not watch.stalled(6, 1.2)  # it runs again
    assert not watch.stalled(6, 2.1) and watch.stalled(6, 2.3)
    watch.reset()
    assert not watch.stalled(6, 10.0)  # a new stream starts its own count
