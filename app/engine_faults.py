"""How the app reads an engine that failed: whether to restart it (CrashPolicy) and whether the
model failed to load (load_error), which is never retried since it fails the same way every time."""

from __future__ import annotations

import re
from collections import deque

from engine.protocol import ErrorEvent

SUMMARY_CHARS = 240  # a failure said in the window is cut here (the log has all of it)

# "pkg.mod.SomeError: why" in an engine log tail -> "SomeError: why"
_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_][\w]*\.)*([A-Za-z_]\w*(?:Error|Exception): .+)$")


class CrashPolicy:
    """Restart after a crash unless `max_crashes` happened within `window_s` seconds; then pause
    (pause_s: 30 s, doubling up to 5 min while it keeps failing) before the next automatic try, so
    an unattended booth comes back by itself without restarting in a tight loop."""

    FIRST_PAUSE_S = 30.0
    MAX_PAUSE_S = 300.0

    def __init__(self, max_crashes: int = 3, window_s: float = 60.0) -> None:
        self.max_crashes = max_crashes
        self.window_s = window_s
        self.times: deque[float] = deque()
        self.pauses = 0  # pauses in a row (reset once an engine ran well for window_s)
        self._started: float | None = None  # monotonic s: the engine's session last opened

    def started(self, now: float) -> None:
        """An engine is up (its session opened) at monotonic `now`."""
        self._started = now

    def crashed(self, now: float) -> bool:
        """Record a crash; True if we should restart."""
        if self._started is not None and now - self._started > self.window_s:
            self.pauses = 0  # it ran well for a while: the next give-up starts at the first pause
        self.times.append(now)
        while self.times and now - self.times[0] > self.window_s:
            self.times.popleft()
        return len(self.times) < self.max_crashes

    def pause_s(self) -> float:
        """The pause before the next automatic try, after crashed() said no (each call is one more)."""
        pause = min(self.MAX_PAUSE_S, self.FIRST_PAUSE_S * 2.0**self.pauses)
        self.pauses += 1
        return pause


def load_error(err: BaseException, events: list[object], model: str) -> str:
    """Why `model` did not load ("" if the engine failed otherwise: a timeout, a signal).

    The engine says why in an ErrorEvent ("model_load", among `events` still unread) and then exits
    by itself; when that event is lost (the process exits right after sending it), the exit and the
    exception line of the engine log tail in `err` say the same."""
    for ev in events:
        if isinstance(ev, ErrorEvent) and ev.code == "model_load":
            return ev.message
    first, _, tail = str(err).partition("\n")
    if "exited with code" not in first:
        return ""
    for line in reversed(tail.splitlines()):
        m = _EXCEPTION_LINE.match(line.strip())
        if m:
            return f"model {model!r} failed to load: {m.group(1)}"
    return first


def summary(text: str) -> str:
    """A failure in one line for the window: its first line (an engine's start error goes on with
    the tail of the engine log, which is for the log), at most SUMMARY_CHARS: a longer one loses
    its middle (shorten), never its end, where the remedy is said."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = shorten(lines[0] if lines else "", SUMMARY_CHARS)
    return first + (" (more in the log)" if len(lines) > 1 else "")


def shorten(text: str, limit: int) -> str:
    """`text` in at most `limit` characters: its start (what failed) and its end (what to do
    about it), whole sentences or clauses where they fit, with "…" for the detail between."""
    if len(text) <= limit:
        return text
    room = limit - 3  # " … "
    tail = text[-(room * 11 // 20) :]  # a little over half for the end: the remedy
    starts = [m.end() for m in re.finditer(r"(?<=[.;:,)])\s+", tail)]
    if starts and starts[0] < len(tail) * 2 // 3:
        tail = tail[starts[0] :]  # from the start of a sentence or clause
    elif " " in tail:
        tail = tail[tail.index(" ") + 1 :]  # from a whole word
    head = text[: room - len(tail)]
    if " " in head:
        head = head[: head.rindex(" ")]  # to a whole word
    return f"{head.rstrip(' ,;:')} … {tail}"
