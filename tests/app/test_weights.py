"""Trained weights in the app: `duet --weights/--revision/--model-option`, saved per model; the real
streamer engine started from the window with a checkpoint saved here; the untrained badge; a model
that needs weights picked without any gives a clear message and no crash loop."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

import pytest

from app.__main__ import (
    apply_model_flags,
    drop_unknown_options,
    ignored_option_notes,
    main,
    parse_args,
    persona_setting,
)
from app.settings import ModelSource, Settings
from engine import paths
from tests.support.paths import a_file

from .app_process import running_app, stop_app, wait_for_log
from .conftest import replied, say

if TYPE_CHECKING:
    from PySide6.QtCore import Qt
    from pytestqt.qtbot import QtBot

    from app.window import MainWindow

    from .conftest import DuetWindow

NEEDS_WEIGHTS = (
    "streamer needs trained weights: start with --weights DIR, or train one with duet-engine train"
    " (--model-option allow_untrained=1 runs it untrained)"
)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny (size S) trained-labelled streamer checkpoint: config.json + model.safetensors."""
    import torch

    from engine import hub
    from engine.models.streamer.config import StreamerConfig
    from engine.models.streamer.core import StreamerCore

    torch.manual_seed(0)
    cfg = StreamerConfig()
    out = tmp_path_factory.mktemp("weights") / "streamer-s"
    return hub.save_pretrained(StreamerCore(cfg), cfg, out, metadata={"duet_trained": "true"})


def flags(settings: Settings, *argv: str) -> str:
    return apply_model_flags(parse_args(list(argv)), settings)


# ---------------------------------------------------------------- command line + settings
def test_flags_parse_like_duet_engine_run(checkpoint: Path) -> None:
    w = str(checkpoint)
    opts = ["--model-option", "a=1", "--model-option", "threads=1"]
    a = parse_args(["--model", "streamer", "--weights", w, "--revision", "abc", *opts])
    assert (a.model, a.weights, a.revision) == ("streamer", str(checkpoint), "abc")
    assert a.model_option == ["a=1", "threads=1"]
    a = parse_args([])
    assert a.weights is None and a.revision is None and a.model_option == []


def test_flags_are_saved_per_model_and_reused(checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = Settings(model="streamer")
    monkeypatch.chdir(checkpoint.parent)  # a relative folder is saved absolute
    opts = ["--model-option", "threads=1", "--model-option", "dtype=float32"]
    assert flags(s, "--weights", checkpoint.name, *opts) == ""
    assert s.source("streamer") == ModelSource(
        str(checkpoint.resolve()), "", {"threads": "1", "dtype": "float32"}
    )
    assert s.source("lite") == ModelSource()
    s.save()

    # the next start, with no flags, reuses them
    t = Settings.load()
    assert flags(t, "--model-option", "dtype=") == ""  # KEY= forgets one option, the rest stays
    assert t.source("streamer") == ModelSource(str(checkpoint.resolve()), "", {"threads": "1"})
    assert t.sources() == {"streamer": t.source("streamer")}

    # a hub repo id is kept as given and may be pinned; new weights reset the revision
    assert flags(t, "--weights", "someone/streamer-s", "--revision", "v1") == ""
    assert (t.source("streamer").weights, t.source("streamer").revision) == ("someone/streamer-s", "v1")
    assert flags(t, "--weights", "other/streamer-m") == ""
    assert t.source("streamer").revision == ""
    assert flags(t, "--revision", "0123abc") == ""
    assert t.source("streamer").revision == "0123abc"
    # --weights '' forgets the weights (options stay)
    assert flags(t, "--weights", "") == ""
    assert t.source("streamer") == ModelSource("", "", {"threads": "1"})
    assert flags(t, "--model-option", "threads=") == ""
    assert "streamer" not in t.model_sources  # nothing left: no entry


def test_saved_options_a_model_no_longer_reads_are_forgotten() -> None:
    """An older Duet saved any key; one the model does not read would stop its engine from starting."""
    s = Settings(model="streamer")
    s.set_source("streamer", ModelSource("", "", {"allow_untrained": "1", "x": "y", "thread": "2"}))
    s.set_source("lite", ModelSource("", "", {"frame_size": "256"}))
    notes = drop_unknown_options(s)
    assert notes == [
        "model 'streamer' has no option 'thread' any more: forgotten",
        "model 'streamer' has no option 'x' any more: forgotten",
    ]
    assert s.source("streamer").options == {"allow_untrained": "1"}
    assert s.source("lite").options == {"frame_size": "256"}  # known: kept
    assert drop_unknown_options(s) == []
    s.set_source("lite", ModelSource("", "", {"frame_size": "1024"}))  # a value this Duet refuses
    assert drop_unknown_options(s) == [
        "model 'lite' option frame_size='1024' must be whole pixels in 64..512: forgotten"
    ]
    assert s.source("lite").options == {}


def test_an_unmakeable_log_folder_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = a_file(tmp_path)
    monkeypatch.setenv("DUET_LOG_DIR", str(blocker / "logs"))
    assert main(["--no-camera"]) == 1
    assert capsys.readouterr().err == (
        f"duet: cannot create the folder DUET_LOG_DIR={blocker / 'logs'}: a parent of it is not a folder\n"
    )


def test_bad_flags_are_clear_errors(checkpoint: Path, tmp_path: Path) -> None:
    s = Settings(model="streamer")
    assert "no such folder" in flags(s, "--weights", str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    assert "no config.json + model.safetensors" in flags(s, "--weights", str(tmp_path / "empty"))
    assert "--revision needs --weights" in flags(s, "--revision", "v1")
    assert "KEY=VALUE" in flags(s, "--model-option", "oops")
    assert flags(s, "--model-option", "thread=2") == (
        "--model-option: model 'streamer' has no option 'thread' "
        "(its options: allow_untrained, cuda_graph, dtype, seed, size, threads)"
    )
    assert s.model_sources == {}  # nothing half-applied
    lite = Settings(model="lite")
    assert flags(lite, "--model-option", "frame_size=1024") == (
        "--model-option: model 'lite' option frame_size='1024' must be whole pixels in 64..512"
    )
    assert lite.model_sources == {}  # refused before it is saved or any engine starts
    assert "does not load weights" in flags(lite, "--weights", str(checkpoint))
    assert flags(s, "--model-option", "dtype=bf16") == (
        "--model-option: model 'streamer' option dtype='bf16' must be one of float32, bfloat16, float16"
    )
    assert s.model_sources == {}


def test_a_model_of_ones_own_may_be_given_weights(checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As `duet-engine run` decides: Duet does not know what a DUET_EXTRA_MODELS model loads."""
    monkeypatch.setenv("DUET_EXTRA_MODELS", "mine=tests.support.models:EchoTestModel")
    mine = Settings(model="mine")
    assert flags(mine, "--weights", str(checkpoint)) == ""
    assert mine.source("mine").weights == str(checkpoint.resolve())


def test_options_for_an_untrained_model_are_noted_as_ignored_with_weights(checkpoint: Path) -> None:
    s = Settings(model="streamer")
    assert flags(s, "--model-option", "size=M", "--model-option", "seed=3") == ""
    assert ignored_option_notes(s) == []  # untrained (no weights): they shape the model
    assert flags(s, "--weights", str(checkpoint)) == ""
    assert s.source("streamer").options == {"size": "M", "seed": "3"}  # kept for an untrained run
    assert ignored_option_notes(s) == [
        "model option seed=3 ignored: the weights' config.json decides",
        "model option size=M ignored: the weights' config.json decides",
    ]


def test_main_refuses_a_model_it_cannot_start(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["--model", "streamer"]) == 2
    assert NEEDS_WEIGHTS in capsys.readouterr().err
    assert NEEDS_WEIGHTS in (paths.log_dir() / "duet-app.log").read_text()  # no terminal: the log says it
    assert main(["--model", "streamer", "--weights", str(tmp_path / "nope")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["--model", "lite", "--weights", str(tmp_path)]) == 2
    assert "does not load weights" in capsys.readouterr().err


def test_main_refuses_a_persona_or_avatar_that_is_not_there(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["--persona", "nosuch"]) == 2
    assert capsys.readouterr().err == (
        "duet: --persona: no persona 'nosuch'; shipped: booth, guide (or a path to a YAML file)\n"
    )
    assert main(["--persona", str(tmp_path / "mine.yaml")]) == 2
    assert f"--persona: no such persona file: {tmp_path / 'mine.yaml'}" in capsys.readouterr().err
    assert main(["--avatar", "nosuch"]) == 2
    assert capsys.readouterr().err == "duet: --avatar: no avatar 'nosuch'; available: ada, max\n"
    assert "not started: --avatar: no avatar 'nosuch'" in (paths.log_dir() / "duet-app.log").read_text()
    assert Settings.load().persona != "nosuch"  # nothing saved


def test_empty_weights_flag_forgets_them(checkpoint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lite = Settings(model="lite")
    assert flags(lite, "--weights", "") == ""  # lite has none: nothing to forget, no error
    assert lite.model_sources == {}
    assert flags(lite, "--weights", "", "--model-option", "frame_size=256") == ""
    assert lite.source("lite").options == {"frame_size": "256"}  # the other flags still apply
    s = Settings(model="lite")
    s.set_source("streamer", ModelSource(str(checkpoint), "", {"threads": "1"}))
    s.save()
    # streamer cannot start without weights, so the window does not open; the forgetting is kept
    assert main(["--model", "streamer", "--weights", ""]) == 2
    err = capsys.readouterr().err
    assert err.startswith("duet: forgot the weights of streamer; it cannot start without them: ")
    saved = Settings.load()
    assert saved.source("streamer").weights == "" and saved.source("streamer").options == {"threads": "1"}
    assert saved.model == "lite"  # the model that ran before stays: the next `duet` starts


def test_a_persona_path_is_saved_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert persona_setting("mine.yaml") == str(tmp_path / "mine.yaml")
    assert persona_setting("./p/x.yml") == str(tmp_path / "p" / "x.yml")
    assert persona_setting("booth") == "booth"  # an id stays an id


def test_reset_settings_forgets_the_weights(checkpoint: Path) -> None:
    s = Settings(model="streamer")
    s.set_source("streamer", ModelSource(str(checkpoint), "", {"threads": "1"}))
    s.save()
    assert Settings.load().source("streamer").weights == str(checkpoint)
    assert main(["--reset-settings", "--model", "no-such-model"]) == 2  # resets, then stops at the bad model
    assert Settings.load().model_sources == {}


def test_bad_saved_sources_fall_back_to_defaults() -> None:
    Settings.path().parent.mkdir(parents=True, exist_ok=True)
    Settings.path().write_text(
        json.dumps({"model_sources": {"streamer": {"weights": 3, "options": {"a": "1", "b": 2}}, "x": []}})
    )
    s = Settings.load()
    assert s.source("streamer") == ModelSource("", "", {"a": "1"})
    assert s.source("x") == ModelSource()


# ---------------------------------------------------------------- the window on the real streamer


class _StreamerSettings(TypedDict):
    model_sources: dict[str, dict[str, object]]


def _streamer_settings(**source: object) -> _StreamerSettings:
    return {"model_sources": {"streamer": source}}


@pytest.mark.gui
@pytest.mark.audio
def test_window_runs_the_streamer_with_saved_weights(
    duet_window: DuetWindow, qtbot: QtBot, pipewire: None, checkpoint: Path
) -> None:
    w = duet_window("streamer", **_streamer_settings(weights=str(checkpoint), options={"threads": "1"}))
    assert w.weights_button.isVisible() and str(checkpoint) in w.weights_button.toolTip()
    qtbot.waitUntil(lambda: w.core.session_open, timeout=120_000)
    ready = w.core.ready_info
    assert ready is not None and ready.model == "streamer" and ready.trained and ready.frame_size == 32
    assert w.core.client.options.weights == str(checkpoint)
    qtbot.waitUntil(lambda: w.stage.view.frames_set > 10, timeout=30_000)
    assert w.stage.view.last_frame is not None and w.stage.view.last_frame.shape == (32, 32, 3)
    assert not w.untrained_badge.isVisible()
    assert w.model_combo.currentText() == "streamer"
    assert w.state_pill.state in ("listening", "speaking") and not w.banner.isVisible()


@pytest.mark.gui
@pytest.mark.audio
def test_untrained_streamer_shows_the_badge(duet_window: DuetWindow, qtbot: QtBot, pipewire: None) -> None:
    w = duet_window("streamer", **_streamer_settings(options={"allow_untrained": "1", "threads": "1"}))
    assert w.model_combo.currentText() == "streamer (untrained)"
    qtbot.waitUntil(lambda: w.core.session_open, timeout=120_000)
    assert w.core.ready_info is not None and w.core.ready_info.trained is False
    assert w.untrained_badge.isVisible() and w.untrained_badge.text() == "untrained model"
    qtbot.waitUntil(lambda: w.stage.view.frames_set > 5, timeout=30_000)


def _pick(w: MainWindow, model: str) -> None:
    w.model_combo.setCurrentIndex(w.model_combo.findData(model))


@pytest.mark.gui
@pytest.mark.audio
def test_picking_the_streamer_without_weights_says_why_and_stays(
    duet_window: DuetWindow, qtbot: QtBot, pipewire: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtWidgets import QFileDialog

    asked: list[str] = []

    def cancel(*a: object, **k: object) -> str:
        asked.append(str(a[1]))
        return ""

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(cancel))
    w = duet_window("testecho")
    qtbot.waitUntil(lambda: w.core.session_open, timeout=60_000)
    pid = w.core.client.pid
    assert not w.weights_button.isVisible()
    assert w.model_combo.itemText(w.model_combo.findData("streamer")) == "streamer (needs weights)"

    _pick(w, "streamer")
    assert asked and "streamer" in asked[0]  # the window asked for the folder first
    assert w.banner.isVisible() and w.banner.level == "warn"
    assert w.banner.label.text() == (
        "The streamer model needs trained weights: a folder with config.json and model.safetensors"
        " (training makes one; none is published yet). Still running testecho: pick streamer again"
        " to choose a folder."
    )
    assert w.model_combo.currentData() == "testecho" and w.settings.model == "testecho"
    say(qtbot, w, "still here")  # the engine that answers is the one that ran before: no engine
    qtbot.waitUntil(lambda: replied(w, "still here"), timeout=10_000)  # was started for streamer
    assert w.core.model == "testecho" and w.core.client.pid == pid and w.core.restarts == 0
    assert w.core.conversation.state != "offline" and w.banner.level == "warn"
    qtbot.mouseClick(w.banner.close_button, _left())  # the note can be dismissed
    assert not w.banner.isVisible()


@pytest.mark.gui
@pytest.mark.audio
def test_weights_picked_in_the_window_start_the_streamer_and_bad_ones_fall_back(
    duet_window: DuetWindow,
    qtbot: QtBot,
    pipewire: None,
    monkeypatch: pytest.MonkeyPatch,
    checkpoint: Path,
    tmp_path: Path,
) -> None:
    from PySide6.QtWidgets import QFileDialog

    # a folder that looks like a checkpoint but whose config.json is not the model's: fails to load
    bad = tmp_path / "bad"
    bad.mkdir()
    shutil.copy(checkpoint / "model.safetensors", bad / "model.safetensors")
    (bad / "config.json").write_text(json.dumps({"no_such_field": 1}))
    answers = [str(bad), str(checkpoint), "", str(tmp_path)]
    asked: list[str] = []

    def dialog(*a: object, **k: object) -> str:
        asked.append(str(a[1]))
        return answers[len(asked) - 1]

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(dialog))
    w = duet_window("testecho")
    qtbot.waitUntil(lambda: w.core.session_open, timeout=60_000)
    _pick(w, "streamer")
    assert len(asked) == 1 and w.core.model == "streamer" and w.weights_button.isVisible()
    assert w.settings.source("streamer").weights == str(bad)
    # the engine cannot load them: said once, not retried, back to the model that worked
    qtbot.waitUntil(lambda: w.core.model == "testecho" and w.core.session_open, timeout=120_000)
    text = w.banner.label.text()
    assert w.banner.isVisible() and w.banner.level == "warn"
    assert "Could not start streamer" in text and "failed to load" in text and "Back to testecho" in text
    assert w.core.restarts == 0 and w.model_combo.currentData() == "testecho"
    assert w.settings.model == "testecho" and not w.weights_button.isVisible()
    say(qtbot, w, "after the fall back")
    qtbot.waitUntil(lambda: replied(w, "after the fall back"), timeout=10_000)

    # picked again: its weights did not load, so the window asks again; a good folder runs it
    _pick(w, "streamer")
    assert len(asked) == 2
    qtbot.waitUntil(lambda: w.core.model == "streamer" and w.core.session_open, timeout=120_000)
    assert w.core.ready_info is not None and w.core.ready_info.trained
    assert w.settings.model == "streamer" and not w.untrained_badge.isVisible()
    assert w.settings.source("streamer").weights == str(checkpoint)
    qtbot.waitUntil(lambda: w.stage.view.frames_set > 5, timeout=30_000)

    # the Weights… button beside the picker: cancelled changes nothing; a folder without a
    # checkpoint is refused with a note; the running engine is left alone either way
    pid = w.core.client.pid
    qtbot.mouseClick(w.weights_button, _left())
    qtbot.mouseClick(w.weights_button, _left())
    assert len(asked) == 4
    assert w.banner.level == "warn" and "no config.json + model.safetensors" in w.banner.label.text()
    assert w.settings.source("streamer").weights == str(checkpoint) and w.core.client.pid == pid
    assert w.core.session_open


def _left() -> Qt.MouseButton:
    from PySide6.QtCore import Qt

    return Qt.MouseButton.LeftButton


# ---------------------------------------------------------------- `duet` end to end
@pytest.mark.gui
@pytest.mark.audio
def test_duet_weights_flag_runs_the_streamer_and_is_saved(pipewire: None, checkpoint: Path) -> None:
    assert os.environ.get("DISPLAY"), "needs the Xvfb display from pytest-xvfb"
    log = paths.log_dir() / "duet-app.log"
    argv = ["--model", "streamer", "--weights", str(checkpoint), "--model-option", "threads=1", "--no-camera"]
    with running_app(argv) as proc:
        text = wait_for_log(proc, log, "engine ready", 150)
        assert "model='streamer'" in text and "trained=True" in text
        stop_app(proc)
    saved = Settings.load()
    assert saved.model == "streamer"
    assert saved.source("streamer") == ModelSource(str(checkpoint), "", {"threads": "1"})


def test_no_display_is_one_clear_line_not_a_qt_abort(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.__main__ import display_problem

    assert display_problem({"DISPLAY": ":0"}, "linux") == ""
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") == ""
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") == ""
    assert display_problem({}, "darwin") == "" and display_problem({}, "win32") == ""
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(var, raising=False)
    assert main(["--no-camera"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("duet: no display to open the window on") and "duet-engine demo" in err
