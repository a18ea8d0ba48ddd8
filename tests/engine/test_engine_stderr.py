"""The engine process writes its stderr (C libraries, last-resort tracebacks) into its own log,
never into the parent's stderr (in the app a guarded, non-blocking pipe)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_fd_2_goes_to_the_engine_log(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "engine.log"
    log.parent.mkdir()
    log.write_text("earlier line\n")
    code = f"""
import os, sys
from engine.process.main import _stderr_to
_stderr_to({str(log)!r})
os.write(2, b"from C: a warning\\n")
print("from python: a traceback", file=sys.stderr)
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stderr == ""
    assert log.read_text() == "earlier line\nfrom C: a warning\nfrom python: a traceback\n"
    unwritable = tmp_path / "nope" / "engine.log"  # the log cannot be opened: stderr stays
    p = subprocess.run(
        [sys.executable, "-c", code.replace(repr(str(log)), repr(str(unwritable)))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0 and "from C: a warning" in p.stderr


def test_fd_2_follows_the_log_when_it_rotates(tmp_path: Path) -> None:
    log = tmp_path / "engine.log"
    code = f"""
import logging, os
from engine.process.main import _setup_logging, _stderr_to
_setup_logging({str(log)!r})
_stderr_to({str(log)!r})
handler = logging.getLogger().handlers[0]
handler.maxBytes = 200
os.write(2, b"before\\n")
for i in range(5):
    logging.getLogger("t").warning("line %d %s", i, "x" * 60)
os.write(2, b"after\\n")
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    rotated = "".join(f.read_text() for f in tmp_path.glob("engine.log.*"))
    assert "before" in rotated and "after" not in rotated
    assert log.read_text().endswith("after\n")  # the current file, not a rotated one
