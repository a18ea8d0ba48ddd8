"""The single-instance lock is the operating system's: a lock file whose process is gone holds
nothing, whatever process id it names (ids are reused: by an unrelated program, even by this
process: a container's Duet is PID 1 at every boot). Only a living Duet's lock refuses."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from app.instance import another_running, holder, lock_path, single_instance

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parents[2]


def _crashed_duet_left(pid: int) -> None:
    """A Duet that was killed while holding the lock left its file naming `pid`."""
    script = textwrap.dedent(
        f"""
        import os
        from app.instance import single_instance
        assert single_instance().isLocked()
        with open({str(lock_path())!r}, "r+b") as f:  # (as if its pid had been {pid})
            f.write({f"{pid}".encode()!r}.ljust(16, b" ") + b"\\n")
        os._exit(0)  # no unlock: a crash
        """
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True, timeout=60)
    assert holder() is not None and holder()[0] == pid  # type: ignore[index]


@pytest.fixture
def unrelated_python() -> Iterator[int]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_a_dead_duets_lock_naming_a_live_unrelated_process_is_taken_over(unrelated_python: int) -> None:
    _crashed_duet_left(unrelated_python)  # its pid now belongs to another python program
    taken = single_instance()
    assert taken is not None and taken.isLocked()
    assert holder() == (os.getpid(), holder()[1])  # type: ignore[index]
    taken.unlock()


def test_a_dead_duets_lock_naming_this_very_process_is_taken_over() -> None:
    _crashed_duet_left(os.getpid())  # a container restarted: Duet is PID 1 again
    taken = single_instance()
    assert taken is not None and taken.isLocked()
    taken.unlock()


def test_a_living_duet_in_another_process_refuses_and_is_named() -> None:
    script = textwrap.dedent(
        """
        import sys
        from app.instance import single_instance
        lock = single_instance()
        print(lock is not None and lock.isLocked(), flush=True)
        sys.stdin.read()  # hold it until told
        """
    )
    other = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "True"
        assert single_instance() is None
        assert f"Duet is already running (process {other.pid}" in another_running()
        other.kill()  # the holder dies without a word: the kernel releases its lock
        other.wait(10)
        taken = single_instance()
        assert taken is not None and taken.isLocked()
        taken.unlock()
    finally:
        other.kill()
        other.wait()


def test_the_refusal_box_is_for_a_desktop_icon_only_and_closes_by_itself(qapp: QApplication) -> None:
    """A second Duet at an unattended booth must not leave a modal box over the kiosk, nor hang the
    script that started it: no box with --kiosk or a terminal on stderr, and the box closes itself."""
    import io
    import time

    from PySide6.QtCore import QTimer

    from app.instance import refusal_box_wanted, show_refusal

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert refusal_box_wanted(False, io.StringIO()) and refusal_box_wanted(False, None)
    assert not refusal_box_wanted(False, Tty()) and not refusal_box_wanted(True, io.StringIO())
    assert not refusal_box_wanted(True, None)

    rescue = QTimer()  # (were it not to close by itself, this ends the test instead of hanging)
    rescue.setSingleShot(True)
    rescue.timeout.connect(lambda: [w.close() for w in qapp.topLevelWidgets() if w.isModal()])
    rescue.start(10_000)
    start = time.monotonic()
    show_refusal("Duet is already running (process 1).", timeout_s=0.3, headless_ok=True)
    took = time.monotonic() - start
    rescue.stop()
    assert 0.2 < took < 5
