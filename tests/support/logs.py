"""Warnings that our own code raised in a spawned engine process.

The engine logs its warnings (engine/process/main.py: logging.captureWarnings) as records like
    ... WARNING py.warnings [MainThread] /repo/engine/x.py:12: FutureWarning: message
The pytest filterwarnings of pyproject.toml do not reach that process, so the fixtures that start
engines read their logs at teardown and fail on a warning whose source is our code (app/, engine/,
tests/); third-party warnings are not ours to fix and are left alone, as in pyproject.toml.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
OURS = tuple(str(ROOT / part) + "/" for part in ("app", "engine", "tests"))
WARNING = re.compile(r"(?P<file>\S+\.py):(?P<line>\d+): (?P<category>\w*Warning): (?P<message>.*)")
# The engine process starts with Python's default filters (DeprecationWarning hidden outside
# __main__); a fixture sets this in the environment it spawns engines with to show them.
ENGINE_WARNINGS_ENV = "default::DeprecationWarning"


def our_warnings(logs: Iterable[Path]) -> list[str]:
    """`file:line: Category: message` of each warning from our code in these log files (and
    their rotated backups `name.1` ...)."""
    out: list[str] = []
    for log in sorted({p for path in logs for p in path.parent.glob(path.name + "*") if p.is_file()}):
        for m in WARNING.finditer(log.read_text(encoding="utf-8", errors="replace")):
            if m["file"].startswith(OURS):
                out.append(f"{log.name}: {m['file']}:{m['line']}: {m['category']}: {m['message']}")
    return out
