"""Keeps C libraries from flooding stderr (Linux).

When the sound server dies under an open stream, PortAudio's ALSA thread can spin printing
`Expression '...' failed in 'src/hostapi/alsa/pa_linux_alsa.c'` at ~75 MB/s; that thread cannot be
stopped from Python, and a booth whose stderr goes to a file or the journal would fill its disk.

install() points file descriptor 2 at a pipe whose write end never blocks (a writer finding it full
loses that message: nothing in the app can hang on stderr), read by a thread that passes lines on
to the real stderr: repeats folded into one "repeated N times" line, at most LINES_PER_S a second
(bursts of BURST), reading at most READ_HZ times a second so a flood costs it little CPU; what the
kernel drops meanwhile is the flood itself. Python's own sys.stderr (tracebacks, logging to the
terminal) and Qt's messages (a handler installed here: a fatal one is written just before Qt aborts,
when the pump could not pass it on any more) write straight to the real stderr, as before.
Installed once the window is up: until then nothing floods, and a failure to start is said whole.
"""

from __future__ import annotations

import contextlib
import io
import os
import select
import sys
import threading
import time

LINES_PER_S = 20.0
BURST = 200.0
READ_HZ = 50.0
CHUNK = 65536  # bytes read at a time

_installed = False


class LineGate:
    """Which lines pass (a token bucket of LINES_PER_S, BURST), with repeats folded.
    Returns what to write for each line fed; not thread-safe (one reader thread)."""

    def __init__(self, lines_per_s: float = LINES_PER_S, burst: float = BURST) -> None:
        self.rate = lines_per_s
        self.burst = burst
        self._tokens = burst
        self._t: float | None = None  # monotonic time of the last line that was not a repeat (s)
        self._last = b""
        self._repeats = 0  # repeats of _last not written yet
        self.dropped = 0  # other lines not written (over the rate) since the last note

    def feed(self, line: bytes, now: float) -> bytes:
        """`line` without its newline; the bytes to write now (maybe empty)."""
        # a repeat, also with scraps of lost writes glued before it (a writer that found the pipe
        # nearly full got one byte of its line in: "EEEExpression ...")
        if line == self._last or (self._last and line.endswith(self._last)):
            self._repeats += 1
            return b""
        out = self._summary()
        self._last = line
        if self._t is not None:
            self._tokens = min(self.burst, self._tokens + max(0.0, now - self._t) * self.rate)
        self._t = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            if self.dropped:
                out += b"duet: (%d more lines on stderr were left out)\n" % self.dropped
                self.dropped = 0
            return out + line + b"\n"
        self.dropped += 1
        return out

    def flush(self) -> bytes:
        """The pending repeat count, if any (when the stream goes quiet)."""
        return self._summary()

    def _summary(self) -> bytes:
        if not self._repeats:
            return b""
        n, self._repeats = self._repeats, 0
        return b"duet: (the line above repeated %d more times)\n" % n


def install() -> bool:
    """Guard fd 2 (Linux only: the flood is ALSA's; elsewhere a pipe cannot be made non-blocking).
    Idempotent; False when not installed."""
    global _installed
    if _installed or not sys.platform.startswith("linux"):
        return _installed
    real = os.dup(2)
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    for stream in (sys.stderr, sys.__stderr__):
        if stream is not None:
            stream.flush()
    os.dup2(write_end, 2)
    os.close(write_end)
    # Python's writers go to the real stderr directly (a traceback at a crash is never held back)
    sys.stderr = io.TextIOWrapper(
        io.FileIO(real, "w", closefd=False), encoding="utf-8", errors="backslashreplace", line_buffering=True
    )
    threading.Thread(target=_pump, args=(read_end, real), name="duet-stderr", daemon=True).start()
    _qt_messages_to(sys.stderr)
    _installed = True
    return True


def _qt_messages_to(stream: io.TextIOBase) -> None:
    """Qt's messages (qWarning ... qFatal) as Qt would print them, but to `stream`."""
    try:
        from PySide6.QtCore import QtMsgType, qInstallMessageHandler
    except ImportError:  # no Qt in this process
        return

    def handler(kind: QtMsgType, _context: object, message: str) -> None:
        if kind == QtMsgType.QtDebugMsg:
            return  # Qt prints debug messages only in debug builds
        with contextlib.suppress(OSError, ValueError):
            stream.write(message + "\n")
            stream.flush()

    qInstallMessageHandler(handler)


def _pump(read_end: int, real: int) -> None:
    gate = LineGate()
    partial = b""
    said = time.monotonic()  # when pending repeats were last written (an endless flood: every 10 s)
    while True:
        ready, _, _ = select.select([read_end], [], [], 1.0)
        now = time.monotonic()
        if not ready or now - said > 10.0:  # quiet for a second, or a flood that goes on
            _write(real, gate.flush())
            said = now
        if not ready:
            continue
        try:
            data = os.read(read_end, CHUNK)
        except OSError:
            return
        if not data:
            return
        *lines, partial = (partial + data).split(b"\n")
        partial = partial[-4096:]  # an endless line without a newline is cut
        _write(real, b"".join(gate.feed(line, now) for line in lines))
        if len(data) >= CHUNK // 4:  # a flood: read less often (what the pipe cannot hold is lost)
            time.sleep(1.0 / READ_HZ)


def _write(fd: int, data: bytes) -> None:
    if data:
        with contextlib.suppress(OSError):  # the terminal is gone: nothing to tell
            os.write(fd, data)
