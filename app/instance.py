"""One Duet at a time: two would each hear the other's avatar through the microphone (the avatars
talk to each other) and both would record it. `duet` locks a file in its data folder
(<data dir>/duet.lock) before the window opens; a second `duet` is refused with a message (and
exit status 3).

The lock is the operating system's (flock on Linux and macOS, msvcrt.locking on Windows) on the
file, kept open for the process's life: the kernel releases it when the process ends, however it
ends. So a lock file left by a Duet that crashed or was killed holds nothing and is taken over
without a word, whatever process id it names (ids are reused: by another program, or by this very
process in a container that restarts as PID 1). The file records the holder's process id and host,
for the message. The lock is per data folder (DUET_DATA_DIR): a Duet with a data folder of its own
is another installation, not a second copy of this one. Where the lock cannot be made at all (a
read-only data folder, a file system without locks) Duet starts anyway, without the guard, and the
log says why. (The file is not inherited by child processes: Python opens it non-inheritable.)
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TextIO

from engine import paths

if TYPE_CHECKING:
    from PySide6.QtWidgets import QMessageBox

log = logging.getLogger(__name__)
LOCK_NAME = "duet.lock"
_RECORD = 256  # bytes at the start of the file: "<pid>\n<host>\n", padded with spaces
_WIN_LOCK_AT = 1 << 20  # Windows locks bytes against reading too: lock one far past the record
_HELD = (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES, errno.EDEADLK)  # another process holds it


def lock_path() -> Path:
    return paths.data_dir() / LOCK_NAME


class InstanceLock:
    """This process's hold on the lock (or, where it could not be made, nothing)."""

    def __init__(self, path: Path, file: BinaryIO | None) -> None:
        self.path = path
        self._file = file

    def isLocked(self) -> bool:  # (QLockFile's name, as before)
        return self._file is not None

    def unlock(self) -> None:
        """Release it (the file stays: it holds nothing once no process has it locked)."""
        file, self._file = self._file, None
        if file is not None:
            file.close()  # closing the file releases its lock

    def __del__(self) -> None:  # dropped without unlock() (an early return): released, as QLockFile's
        self.unlock()


def _try_lock(file: BinaryIO) -> bool:
    """Lock `file` for this process without waiting: False when another process (or another
    open file of this one) holds it. OSError when the file system cannot lock at all."""
    try:
        if sys.platform == "win32":
            import msvcrt

            file.seek(_WIN_LOCK_AT)
            msvcrt.locking(file.fileno(), msvcrt.LK_NBLCK, 1)
            file.seek(0)
        else:
            import fcntl

            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in _HELD:
            return False
        raise
    return True


def single_instance() -> InstanceLock | None:
    """This process's hold on the lock (keep it until exit; unlock() on the way out), or None when
    another Duet holds it. A lock that cannot be made at all is no reason to refuse: then a lock
    object that holds nothing comes back (and the log says why)."""
    path = lock_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # (never truncated: the holder's record)
    except OSError as e:
        log.warning("no single-instance lock (%s): %s", path, paths.folder_reason(e))
        return InstanceLock(path, None)
    file = os.fdopen(fd, "r+b", buffering=0)
    try:
        if not _try_lock(file):
            file.close()
            return None
        record = f"{os.getpid()}\n{socket.gethostname()}\n".encode()[:_RECORD]
        file.seek(0)
        file.write(record.ljust(_RECORD, b" "))
    except OSError as e:
        file.close()
        log.warning("no single-instance lock (%s): %s", path, os.strerror(e.errno) if e.errno else e)
        return InstanceLock(path, None)
    return InstanceLock(path, file)


def holder() -> tuple[int, str] | None:
    """(process id, host) the lock file names: the holder's while it is held."""
    try:
        with open(lock_path(), "rb") as f:
            lines = f.read(_RECORD).decode("utf-8", "replace").split("\n")
        return int(lines[0]), lines[1].strip() if len(lines) > 1 else ""
    except (OSError, ValueError):
        return None


def another_running() -> str:
    """What to tell the user when the lock is taken: which process holds it and what to do."""
    held_by = holder()
    who = ""
    if held_by is not None:
        pid, host = held_by
        who = f" (process {pid}" + (f" on {host}" if host else "") + ")"
    return (
        f"Duet is already running{who}. Two copies would hear each other's avatar and record it"
        " twice: use the window that is open, or close it first (its lock: "
        f"{lock_path()})"
    )


REFUSAL_TIMEOUT_S = 10.0  # the refusal box closes by itself after this long


def refusal_box_wanted(kiosk: bool, stderr: TextIO | None) -> bool:
    """Whether a refused second Duet also says so in a message box: not for `--kiosk` (a booth's
    autostart or watchdog: nobody there to click it, and it would sit over the running kiosk), and
    not when stderr is a terminal (the message is printed there)."""
    if kiosk:
        return False
    try:
        return stderr is None or not stderr.isatty()
    except (OSError, ValueError):  # closed or odd stderr: no terminal to read
        return True


def refusal_box(text: str, timeout_s: float = REFUSAL_TIMEOUT_S) -> QMessageBox:
    """The message box saying `text`, set to close by itself `timeout_s` from now: show it with
    exec() at once (a launching script never hangs on it)."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QMessageBox

    box = QMessageBox(QMessageBox.Icon.Warning, "Duet is already running", text)
    box.setInformativeText(f"(This message closes by itself in {timeout_s:g} s.)")
    timer = QTimer(box)
    timer.setSingleShot(True)
    timer.setInterval(max(0, round(timeout_s * 1000)))
    timer.timeout.connect(box.reject)
    timer.start()  # (it fires in the box's own event loop: exec() right after)
    return box


def show_refusal(text: str, timeout_s: float = REFUSAL_TIMEOUT_S, *, headless_ok: bool = False) -> None:
    """Say `text` in a message box (started from a desktop icon, there is no terminal to read) that
    closes by itself after `timeout_s` (or a click). Not shown on the offscreen or minimal platform
    (nobody could see it) unless `headless_ok` (tests)."""
    from PySide6.QtGui import QGuiApplication

    from .widgets import widget_app

    widget_app(["duet"])
    if QGuiApplication.platformName() in ("offscreen", "minimal") and not headless_ok:
        return  # nobody could see it, nor close it
    refusal_box(text, timeout_s).exec()
