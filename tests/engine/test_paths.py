"""engine.paths: env overrides first, platformdirs defaults otherwise; folders are created."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import platformdirs
import pytest

from engine import paths


def test_env_overrides_and_platform_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUET_CONFIG_DIR", str(tmp_path / "cfg"))
    assert paths.config_dir() == tmp_path / "cfg" and (tmp_path / "cfg").is_dir()

    asked: list[tuple[str, str]] = []

    def fake(kind: str) -> Callable[[str, str], str]:  # stands in for platformdirs.user_*_dir
        def user_dir(app: str, author: str) -> str:
            asked.append((kind, app))
            return str(tmp_path / "platform" / kind)

        return user_dir

    for kind in ("config", "data", "log"):
        monkeypatch.setattr(platformdirs, f"user_{kind}_dir", fake(kind))
    for env in ("DUET_CONFIG_DIR", "DUET_DATA_DIR", "DUET_LOG_DIR", "DUET_SESSIONS_DIR"):
        monkeypatch.delenv(env, raising=False)
    assert paths.config_dir() == tmp_path / "platform" / "config"
    assert paths.log_dir() == tmp_path / "platform" / "log"
    sessions = paths.sessions_dir()
    assert sessions == tmp_path / "platform" / "data" / "sessions" and sessions.is_dir()
    assert asked == [("config", "duet"), ("log", "duet"), ("data", "duet")]
