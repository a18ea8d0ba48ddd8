"""`python -m app` as a real process for end-to-end tests: start it, wait for a line in its log,
stop it with SIGTERM (as a desktop session or Ctrl+C would) and get what it printed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def running_app(argv: list[str], env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    """The app with `argv`, killed on the way out if a test left it running."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", *argv],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wait_for_log(
    proc: subprocess.Popen[str],
    log: Path,
    marker: str,
    timeout_s: float,
    also: Callable[[], bool] = lambda: True,
) -> str:
    """The log's text once it holds `marker` (and `also()` holds); fails if the app exits first."""
    deadline = time.monotonic() + timeout_s
    while True:
        text = log.read_text() if log.exists() else ""
        if marker in text and also():
            return text
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        if time.monotonic() > deadline:
            pytest.fail(f"the app did not log {marker!r} within {timeout_s:g} s")
        time.sleep(0.2)


def stop_app(proc: subprocess.Popen[str], timeout_s: float = 30) -> str:
    """SIGTERM, then everything the app printed; it must exit cleanly."""
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=timeout_s)
    assert proc.returncode == 0, out
    return out
