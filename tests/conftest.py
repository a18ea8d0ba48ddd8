"""Suite-wide fixtures: every test gets its own settings/data/log dirs under tmp_path, and the
deterministic test models (tests/support/models.py) are registered for the engine process."""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.engines import ClientFactory
from tests.support.logs import ENGINE_WARNINGS_ENV, our_warnings

TEST_MODELS = (
    "testecho=tests.support.models:EchoTestModel,"
    "testmarker=tests.support.models:MarkerTestModel,"
    "testcrash=tests.support.models:CrashTestModel"
)
ROOT = Path(__file__).resolve().parent.parent

# Tests that need Linux: Xvfb (gui), PipeWire (audio), or POSIX signals, /proc, FIFOs (linux). On
# Windows and macOS (installers/test.ps1, test.sh on macOS) they are skipped with the reason; on
# Linux (CI) every one runs.
LINUX_ONLY = {
    "gui": "needs Linux: Qt under Xvfb (pytest-xvfb's 1280x900 screen, Mesa GL)",
    "audio": "needs Linux: a PipeWire null sink as the default devices (installers/audio-setup.sh)",
    "linux": "needs Linux: POSIX signals (SIGKILL, SIGSTOP, SIGUSR1, a handled SIGTERM), /proc, FIFOs",
}
# fixtures that need Linux too, for tests that use them without a marker
LINUX_FIXTURES = {
    "pipewire": LINUX_ONLY["audio"],
    "front_center": "needs Linux: /usr/share/sounds/alsa/Front_Center.wav (alsa-utils)",
}
PLATFORM = sys.platform  # a module global, so a check of this hook can pretend another OS


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if PLATFORM.startswith("linux"):
        return
    for item in items:
        marks = {m.name for m in item.iter_markers()}
        reasons = [why for name, why in LINUX_ONLY.items() if name in marks]
        reasons += [why for name, why in LINUX_FIXTURES.items() if name in getattr(item, "fixturenames", ())]
        if reasons:
            item.add_marker(pytest.mark.skip(reason=f"{reasons[0]} (this is {PLATFORM})"))


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUET_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("DUET_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DUET_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setenv("DUET_TEST_MODELS", TEST_MODELS)
    monkeypatch.delenv("DUET_EXTRA_MODELS", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    # engine/hub.py reads these before HF_HOME: a developer's own cache must not leak in
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    # app main() run in-process sets this (os.environ.setdefault): recorded first, so it is gone
    # again after the test (a plain delenv of an unset variable records nothing to undo)
    monkeypatch.setenv("QT_LOGGING_RULES", "")
    monkeypatch.delenv("QT_LOGGING_RULES")
    for name in (
        "DUET_SESSIONS_DIR",
        "DUET_SESSIONS_RESERVE_GB",
        "DUET_SESSIONS_KEEP_GB",
        "DUET_ASSETS_DIR",
        "DUET_ECHO_DUMP",
        "DUET_LLM_API_KEY",
        "OPENAI_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))
    # the engine is spawned: make the repo (and so tests.support) importable there
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Code under test that sets logging up in-process (app.__main__.main, the engine CLI) adds
    root handlers writing into that test's tmp_path and changes levels: undo it after each test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    client_level = logging.getLogger("duet.client").level
    yield
    for h in root.handlers:
        if h not in handlers:
            h.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("duet.client").setLevel(client_level)


@pytest.fixture
def client_factory(monkeypatch: pytest.MonkeyPatch) -> Iterator[ClientFactory]:
    """THE fixture for tests that start EngineClients outside a window (see ClientFactory)."""
    from engine import paths
    from engine.client import EngineClient

    monkeypatch.setenv("PYTHONWARNINGS", ENGINE_WARNINGS_ENV)  # read by each spawned engine
    made: list[EngineClient] = []

    def make(model: str = "testecho", **kw: Any) -> EngineClient:
        kw.setdefault("device", "cpu")
        client = EngineClient(model, **kw)
        made.append(client)
        return client

    yield make
    for client in made:
        client.stop()
    left = mp.active_children()
    for p in left:
        p.kill()
        p.join(2)
    assert not left, f"engine processes left running: {left}"
    logs = [paths.log_dir() / "engine.log"] + [c.log_path for c in made if c.log_path is not None]
    warned = our_warnings(logs)
    assert not warned, "the engine warned:\n" + "\n".join(warned)
