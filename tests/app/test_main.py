"""`python -m app` end to end in a subprocess: window + engine start, clean exit, no orphans."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine import paths

pytestmark = [pytest.mark.gui, pytest.mark.audio]
ROOT = Path(__file__).resolve().parents[2]


def children_of(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(d.name))
    return out


def test_app_starts_and_sigterm_shuts_down_cleanly(pipewire):
    assert os.environ.get("DISPLAY"), "needs the Xvfb display from pytest-xvfb"
    log = paths.log_dir() / "duet-app.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "--model", "testecho", "--hud", "--persona", "booth"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        engine_pids: list[int] = []
        while time.monotonic() < deadline:
            text = log.read_text() if log.exists() else ""
            engine_pids = [p for p in children_of(proc.pid) if "resource_tracker" not in _cmd(p)]
            if "engine ready" in text and engine_pids:
                break
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.2)
        else:
            pytest.fail("the app did not report a ready engine within 90 s")
        assert "window shown" in text
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert "Abort" not in out and "Fatal" not in out and "Traceback" not in out, out
    time.sleep(0.3)
    for pid in engine_pids:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in _state(pid), f"engine {pid} orphaned"
    saved = json.loads((paths.config_dir() / "settings.json").read_text())
    assert saved["model"] == "testecho" and saved["persona"] == "booth" and saved["hud"] is True
    assert saved["geometry"]
    # --reset-settings forgets them
    from app.settings import Settings

    Settings.reset()
    assert not (paths.config_dir() / "settings.json").exists()


def _cmd(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return "gone"
