"""A doorbell: the writer of a ring wakes a sleeping reader without ever blocking.

POSIX: one byte into a non-blocking pipe (a full pipe already means "there is news", so EAGAIN is
ignored); the reader waits with select() and drains the pipe. Elsewhere (Windows pipes have no
selectable fd) `wait` degrades to a short sleep, i.e. polling.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import select
import sys
import time
from multiprocessing.connection import Connection

_POSIX = sys.platform != "win32"


class Doorbell:
    """Create in the parent; pass `reader` to the child (picklable under spawn)."""

    def __init__(self) -> None:
        self.reader, self.writer = mp.Pipe(duplex=False)
        if _POSIX:
            os.set_blocking(self.writer.fileno(), False)

    def ring(self) -> None:
        ring_fd(self.writer)

    def close(self) -> None:
        self.reader.close()
        self.writer.close()


def ring_fd(writer: Connection) -> None:
    if not _POSIX or writer.closed:
        return
    # a full pipe (BlockingIOError) means the reader will wake anyway; a gone reader needs no wake
    with contextlib.suppress(OSError):
        os.write(writer.fileno(), b"\x01")


def wait(reader: Connection, timeout_s: float) -> bool:
    """Sleep until rung or `timeout_s`; returns True if rung (the pipe is drained)."""
    if not _POSIX:
        time.sleep(min(timeout_s, 0.005))
        return True
    fd = reader.fileno()
    ready, _, _ = select.select([fd], [], [], timeout_s)
    if not ready:
        return False
    try:
        data = os.read(fd, 4096)
    except (BlockingIOError, OSError):
        return True
    if not data:  # writer gone (EOF): behave like a timeout instead of spinning
        time.sleep(timeout_s)
        return False
    return True
