"""App logging: a rotated file in engine.paths.log_dir() plus stderr warnings."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from engine import paths

LOG_NAME = "duet-app.log"
MAX_BYTES = 2_000_000
BACKUPS = 5


def setup_logging(verbose: bool = False) -> Path:
    """Install the rotating file handler once; returns the log file path."""
    path = paths.log_dir() / LOG_NAME
    root = logging.getLogger()
    for h in root.handlers:
        if isinstance(h, logging.handlers.RotatingFileHandler) and Path(h.baseFilename) == path:
            return path
    fh = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    fh.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.addHandler(fh)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    return path


def app_log_path() -> Path:
    return paths.log_dir() / LOG_NAME


def engine_log_path() -> Path:
    return paths.log_dir() / "duet-engine.log"
