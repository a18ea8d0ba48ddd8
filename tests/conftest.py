"""Suite-wide fixtures: every test gets its own settings/data/log dirs under tmp_path, and the
deterministic test models (tests/support/models.py) are registered for the engine process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TEST_MODELS = (
    "testecho=tests.support.models:EchoTestModel,"
    "testmarker=tests.support.models:MarkerTestModel,"
    "testcrash=tests.support.models:CrashTestModel"
)
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUET_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("DUET_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DUET_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setenv("DUET_TEST_MODELS", TEST_MODELS)
    monkeypatch.delenv("DUET_EXTRA_MODELS", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    # the engine is spawned: make the repo (and so tests.support) importable there
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
