"""Signal handlers set for a while and given back (the CLI, training, benchmarks)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any


@contextlib.contextmanager
def handling(handler: Callable[[int, FrameType | None], Any], *signums: int) -> Iterator[None]:
    """`handler` for `signums` while inside; the handlers before come back after. Only in the main
    thread (where Python delivers signals; elsewhere nothing changes) and not for a signal the
    process ignores (a job started in the background ignores SIGINT: it stays so). A handler set
    outside Python (getsignal() gives None) comes back as the default."""
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in signums:
            if signal.getsignal(signum) is not signal.SIG_IGN:
                previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old if old is not None else signal.SIG_DFL)
