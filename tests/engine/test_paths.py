"""engine.paths: env overrides first, platformdirs defaults otherwise; folders are created."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import platformdirs
import pytest

from engine import paths
from tests.support.paths import a_file


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


def test_a_folder_that_cannot_be_made_names_its_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = a_file(tmp_path)
    monkeypatch.setenv("DUET_LOG_DIR", str(blocker / "logs"))
    with pytest.raises(OSError) as info:
        paths.log_dir()
    assert (
        str(info.value)
        == f"cannot create the folder DUET_LOG_DIR={blocker / 'logs'}: a parent of it is not a folder"
    )
    monkeypatch.setenv("DUET_DATA_DIR", str(blocker))  # the default sessions folder goes under it
    with pytest.raises(OSError, match=r"DUET_DATA_DIR=.*: it is a file, not a folder$"):
        paths.sessions_dir()
