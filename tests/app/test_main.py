"""`python -m app` end to end in a subprocess: window + engine start, clean exit, no orphans."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from engine import paths

from .app_process import running_app, stop_app, wait_for_log

pytestmark = [pytest.mark.gui, pytest.mark.audio]


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


def test_app_starts_and_sigterm_shuts_down_cleanly(pipewire: None) -> None:
    assert os.environ.get("DISPLAY"), "needs the Xvfb display from pytest-xvfb"
    log = paths.log_dir() / "duet-app.log"
    engine_pids: list[int] = []

    def engine_started() -> bool:
        engine_pids[:] = [p for p in children_of(proc.pid) if "resource_tracker" not in _cmd(p)]
        return bool(engine_pids)

    with running_app(["--model", "testecho", "--hud", "--persona", "booth"]) as proc:
        text = wait_for_log(proc, log, "session open", 90, also=engine_started)
        assert "window shown" in text and "Duet starting: duet --model testecho --hud --persona booth" in text
        assert "session open: model testecho, persona booth, avatar max, answers from the script" in text
        out = stop_app(proc, timeout_s=20)
    assert "Abort" not in out and "Fatal" not in out and "Traceback" not in out, out
    ending = log.read_text().splitlines()  # the log says how the app ended
    assert any(line.endswith("SIGTERM: closing") for line in ending) and ending[-1].endswith("Duet closed")

    def ended(pid: int) -> bool:
        state = _state(pid)  # "gone" when /proc/<pid> is
        return state == "gone" or "zombie" in state

    deadline = time.monotonic() + 10  # the app has exited: its engine goes with it, or is orphaned
    while not all(ended(pid) for pid in engine_pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in engine_pids:
        assert ended(pid), f"engine {pid} orphaned"
    saved = json.loads((paths.config_dir() / "settings.json").read_text())
    assert saved["model"] == "testecho" and saved["persona"] == "booth" and saved["hud"] is True
    assert saved["geometry"]
    # --reset-settings forgets them
    from app.settings import Settings

    Settings.reset()
    assert not (paths.config_dir() / "settings.json").exists()


def test_unreadable_assets_do_not_stop_the_app_and_a_session_error_is_logged(
    pipewire: None, tmp_path: Path
) -> None:
    """A persona and an avatar saved as Latin-1 in the assets folder (an old editor): the window
    opens anyway (it once crashed with a UnicodeDecodeError), duet-app.log says what is wrong with
    each file, and why the session could not open (not only duet-engine.log)."""
    assets = tmp_path / "assets"
    shutil.copytree(paths.assets_dir(), assets)
    (assets / "personas" / "latin.yaml").write_bytes("greeting: Hi!\nname: Jürgen\n".encode("latin-1"))
    (assets / "avatars" / "latin.yaml").write_bytes("id: latin\nname: Jürgen\n".encode("latin-1"))
    broken = tmp_path / "broken.yaml"  # testecho refuses it, as lite a persona it cannot parse
    broken.write_text("name: x\n", encoding="utf-8")
    log = paths.log_dir() / "duet-app.log"
    argv = ["--model", "testecho", "--persona", str(broken)]
    with running_app(argv, env={"DUET_ASSETS_DIR": str(assets)}) as proc:
        text = wait_for_log(proc, log, "could not start the conversation", 90)
        out = stop_app(proc, timeout_s=20)
    assert "window shown" in text and "Traceback" not in out, out
    for kind in ("personas", "avatars"):
        assert (
            f"{assets / kind / 'latin.yaml'}: not UTF-8 text (byte 0xfc at line 2): save it as UTF-8" in text
        )
    reason = f"{broken}:3: invalid YAML: mapping values are not allowed here"
    assert f"could not start the conversation: {reason}" in text


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


def test_a_start_prints_nothing_but_problems(pipewire: None) -> None:
    """Qt Multimedia's 9 lines about VA-API at every start are not the user's business."""
    assert "QT_LOGGING_RULES" not in os.environ  # (the test environment sets no rules of its own)
    log = paths.log_dir() / "duet-app.log"
    with running_app(["--model", "testecho", "--no-camera"]) as proc:
        wait_for_log(proc, log, "session open", 90)
        out = stop_app(proc, timeout_s=20)
    assert "qt.multimedia" not in out, out
