"""One Duet at a time: two would each hear the other's avatar through the microphone (the avatars
talk to each other) and both would record it. `duet` takes a lock file in its data folder
(<data dir>/duet.lock, QLockFile) before the window opens; a second `duet` is refused with a
message (and exit status 3).

A lock left behind by a Duet that crashed or was killed is stale (QLockFile: its process is gone,
or its process id now belongs to another program) and is taken over without a word. The lock is
per data folder (DUET_DATA_DIR): a Duet with a data folder of its own is another installation, not
a second copy of this one. Where the lock cannot be made at all (a read-only data folder) Duet
starts anyway, without the guard, and the log says why.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QLockFile

from engine import paths

log = logging.getLogger(__name__)
LOCK_NAME = "duet.lock"


def lock_path() -> Path:
    return paths.data_dir() / LOCK_NAME


def single_instance() -> QLockFile | None:
    """This process's hold on the lock (keep it until exit; unlock() on the way out), or None when
    another Duet holds it. A lock that cannot be made at all is no reason to refuse: then a lock
    object that holds nothing comes back (and the log says why)."""
    path = lock_path()
    lock = QLockFile(str(path))
    lock.setStaleLockTime(0)  # stale only when its process is gone: a Duet may run for days
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        log.warning("no single-instance lock (%s): %s", path, paths.folder_reason(e))
        return lock
    if lock.tryLock(0):
        return lock
    if lock.error() == QLockFile.LockError.LockFailedError:
        return None
    log.warning("no single-instance lock (%s): %s", path, lock.error().name)
    return lock


def another_running() -> str:
    """What to tell the user when the lock is taken: which process holds it and what to do."""
    holder = ""
    try:
        pid, host, _app = QLockFile(str(lock_path())).getLockInfo()
        holder = f" (process {pid}" + (f" on {host}" if host else "") + ")"
    except (TypeError, ValueError):
        pass
    return (
        f"Duet is already running{holder}. Two copies would hear each other's avatar and record it"
        " twice: use the window that is open, or close it first (its lock: "
        f"{lock_path()})"
    )


def show_refusal(text: str) -> None:
    """Say `text` in a message box (started from a desktop icon, there is no terminal to read)."""
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QMessageBox

    from .widgets import widget_app

    widget_app(["duet"])
    if QGuiApplication.platformName() in ("offscreen", "minimal"):
        return  # nobody could see it, nor close it
    box = QMessageBox(QMessageBox.Icon.Warning, "Duet is already running", text)
    box.exec()
