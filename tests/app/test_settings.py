"""Settings persistence (platformdirs config dir, pointed at tmp_path by tests/conftest.py) and CLI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from app.__main__ import parse_args
from app.settings import Settings
from engine import paths


def test_round_trip_and_reset() -> None:
    s = Settings(model="testecho", persona="p", hud=True, mic_device="Mic X", geometry="abcd")
    s.save()
    assert Settings.path().parent == paths.config_dir()
    t = Settings.load()
    assert (t.model, t.persona, t.hud, t.mic_device, t.geometry) == ("testecho", "p", True, "Mic X", "abcd")
    Settings.reset()
    assert Settings.load() == Settings()


def test_bad_files_fall_back_to_defaults() -> None:
    Settings.path().write_text("{not json")
    assert Settings.load() == Settings()
    # the unusable file is set aside, not overwritten by the next save: nothing is lost
    kept = Settings.path().with_name("settings.broken.json")
    assert kept.read_text() == "{not json" and not Settings.path().exists()
    assert Settings.load().load_note == ""  # nothing there now: plain defaults, nothing to say
    Settings.path().write_text("{not json either")
    second = Settings.path().with_name("settings.broken-2.json")  # the first one is kept too
    assert Settings.load().load_note == (
        "Your saved settings could not be read, so Duet started with its defaults"
        f" (the old file is kept as {second})."
    )
    assert "load_note" not in dataclasses.asdict(Settings())  # never saved
    Settings().save()
    Settings.path().write_text("[1, 2]")
    third = Settings.path().with_name("settings.broken-3.json")
    assert Settings.load() == Settings() and third.read_text() == "[1, 2]"
    assert kept.read_text() == "{not json" and second.read_text() == "{not json either"
    Settings.path().write_text(json.dumps({"hud": "yes", "persona": "x", "unknown": 1}))
    s = Settings.load()
    assert s.hud is False and s.persona == "x"


def test_cli_flags() -> None:
    a = parse_args(["--model", "testecho", "--no-gl", "--fullscreen", "--reset-settings", "--persona", "p"])
    assert a.model == "testecho" and a.no_gl and a.fullscreen and a.reset_settings and a.persona == "p"
    assert parse_args(["--kiosk"]).kiosk and not parse_args([]).kiosk
    with pytest.raises(SystemExit):
        parse_args(["--bogus"])


def test_unknown_model_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    from app.__main__ import main

    assert main(["--model", "nope"]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err


def test_brain_settings_persist_and_reach_the_session_spec() -> None:
    from app.settings import Settings

    s = Settings(brain="llm", llm_url="http://127.0.0.1:9/v1", llm_model="tiny", persona="booth")
    s.save()
    spec = Settings.load().session_spec()
    assert (spec.brain, spec.llm_url, spec.llm_model, spec.persona) == (
        "llm",
        "http://127.0.0.1:9/v1",
        "tiny",
        "booth",
    )
    # "llm" without a server URL falls back to the persona script instead of failing the session
    assert Settings(brain="llm", llm_url="").session_spec().brain == "script"


def test_a_settings_file_that_cannot_be_read_is_left_alone_and_not_overwritten(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not the file's fault (no permission, locked by another program): it is neither moved aside
    as broken nor written over with the defaults Duet started with."""
    s = Settings(persona="booth")
    s.save()
    path = Settings.path()
    real = Path.read_bytes

    def locked(self: Path) -> bytes:
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    with monkeypatch.context() as m:
        m.setattr(Path, "read_bytes", locked)
        loaded = Settings.load()
    assert loaded.read_only and loaded.persona == Settings().persona
    assert "Permission denied" in loaded.load_note and "left as it is" in loaded.load_note
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # nothing set aside
    assert Settings.load().persona == "booth"


def test_reset_settings_while_another_duet_runs_deletes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    from app.__main__ import main
    from app.instance import single_instance

    Settings(persona="booth").save()
    held = single_instance()  # the Duet that runs (this process)
    assert held is not None
    try:
        assert main(["--reset-settings", "--no-camera"]) == 3
    finally:
        held.unlock()
    assert "already running" in capsys.readouterr().err
    assert Settings.load().persona == "booth"
