"""Where Duet keeps settings, data (sessions, models) and logs: platformdirs, overridable by env.

DUET_CONFIG_DIR / DUET_DATA_DIR / DUET_LOG_DIR override the platform defaults (tests point them at
tmp_path). Assets shipped with the code live in <repo>/assets (or DUET_ASSETS_DIR).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "duet"
APP_AUTHOR = "duet"


def _dir(env: str, default: str) -> Path:
    path = Path(os.environ.get(env) or default)
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_dir() -> Path:
    return _dir("DUET_CONFIG_DIR", platformdirs.user_config_dir(APP_NAME, APP_AUTHOR))


def data_dir() -> Path:
    return _dir("DUET_DATA_DIR", platformdirs.user_data_dir(APP_NAME, APP_AUTHOR))


def log_dir() -> Path:
    return _dir("DUET_LOG_DIR", platformdirs.user_log_dir(APP_NAME, APP_AUTHOR))


def sessions_dir() -> Path:
    return _dir("DUET_SESSIONS_DIR", str(data_dir() / "sessions"))


def assets_dir() -> Path:
    env = os.environ.get("DUET_ASSETS_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "assets"
