"""Ctrl-C during `duet-engine run` keeps the session so far, readable, and says where it is."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.protocol import SessionOpened
from engine.session import read_session
from tests.cli.test_cli import write_wav

pytestmark = pytest.mark.linux  # SIGINT to a child process, /proc/<pid>/task

EXE = Path(sys.executable).parent / "duet-engine"


def test_ctrl_c_during_run_keeps_the_session_so_far(tmp_path: Path) -> None:
    wav, out = tmp_path / "in.wav", tmp_path / "out.mkv"
    write_wav(wav, 20.0)
    cmd = [str(EXE), "run", "--model", "testecho", "--input", str(wav), "--output", str(out), "--realtime"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    events = out.with_name("out.events.jsonl")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if events.is_file() and "session_opened" in events.read_text():
            break
        time.sleep(0.1)
    time.sleep(1.5)  # a second and a half of conversation
    assert proc.poll() is None
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert stderr.strip().splitlines()[-1] == f"duet-engine: interrupted; the session so far is in {out}"
    data = read_session(out)
    assert 1.0 <= data.n_ticks * 0.04 < 20.0  # the part before Ctrl-C, closed and readable
    assert any(isinstance(m, SessionOpened) for _, _, m in data.events)


def test_ctrl_c_before_the_file_is_opened_leaves_an_earlier_one_alone(tmp_path: Path) -> None:
    """With --overwrite, Ctrl-C while the model still loads: the earlier file is not "the session so
    far" (this run never opened it) and is left as it was."""
    wav, out = tmp_path / "in.wav", tmp_path / "out.mkv"
    write_wav(wav, 2.0)
    out.write_bytes(b"an earlier session")
    cmd = [str(EXE), "run", "--model", "testcrash", "--model-option", "slowload=20", "--input", str(wav)]
    cmd += ["--output", str(out), "--overwrite"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None and not children.read_text().split():
        time.sleep(0.1)  # until the engine process is started: the model is loading (20 s)
    time.sleep(0.5)
    assert proc.poll() is None
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    last = stderr.strip().splitlines()[-1]
    assert last == (
        f"duet-engine: interrupted; no session file was written ({out} is the earlier one, untouched)"
    )
    assert out.read_bytes() == b"an earlier session"
