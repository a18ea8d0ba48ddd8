"""Where Duet keeps settings, data (sessions, models) and logs: platformdirs, overridable by env.

DUET_CONFIG_DIR / DUET_DATA_DIR / DUET_LOG_DIR override the platform defaults (tests point them at
tmp_path). Assets shipped with the code live in <repo>/assets (or DUET_ASSETS_DIR).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

APP_NAME = "duet"
APP_AUTHOR = "duet"


def _dir(env: str, default: Callable[[], str]) -> Path:
    """$env if set, else the platform default; created if missing. platformdirs is imported only
    when a default is needed (the engine's benchmarks run on bare GPU images without it)."""
    path = Path(os.environ.get(env) or default())
    path.mkdir(parents=True, exist_ok=True)
    return path


def _platform(kind: str) -> Callable[[], str]:
    def default() -> str:
        import platformdirs

        return str(getattr(platformdirs, f"user_{kind}_dir")(APP_NAME, APP_AUTHOR))

    return default


def config_dir() -> Path:
    return _dir("DUET_CONFIG_DIR", _platform("config"))


def data_dir() -> Path:
    return _dir("DUET_DATA_DIR", _platform("data"))


def log_dir() -> Path:
    return _dir("DUET_LOG_DIR", _platform("log"))


def sessions_dir() -> Path:
    return _dir("DUET_SESSIONS_DIR", lambda: str(data_dir() / "sessions"))


def assets_dir() -> Path:
    env = os.environ.get("DUET_ASSETS_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "assets"
