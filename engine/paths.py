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


class FolderError(OSError):
    """A Duet folder cannot be created; the message names the setting that chose it."""

    def __str__(self) -> str:
        return str(self.strerror)


def folder_reason(e: BaseException, folder: Path | None = None) -> str:
    """Plain words for why a folder (`folder`, or one of a file's parents) could not be made: a
    file in its place, a file where a parent folder should be, else the OS's own words."""
    if folder is not None and folder.exists() and not folder.is_dir():
        return "it is a file, not a folder"
    if isinstance(e, NotADirectoryError | FileExistsError):
        return "a parent of it is not a folder"
    return str(getattr(e, "strerror", None) or e)


def _dir(env: str, default: Callable[[], str]) -> Path:
    """$env if set, else the platform default; created if missing. platformdirs is imported only
    when a default is needed (the engine's benchmarks run on bare GPU images without it).
    A folder that cannot be made is an OSError naming the setting to change."""
    chosen = os.environ.get(env)
    path = Path(chosen or default())
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        reason = folder_reason(e, path)
        where = f"{env}={chosen}" if chosen else f"{path} (set {env} to use another folder)"
        raise FolderError(e.errno or 5, f"cannot create the folder {where}: {reason}", str(path)) from None
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
