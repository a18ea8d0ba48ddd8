"""Bad input in the app loses nothing: weights that fail to load are not remembered and the model
that ran before comes back."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from app.settings import ModelSource, Settings
from engine import paths

from .app_process import running_app, stop_app, wait_for_log

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot

    from .conftest import DuetWindow


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from engine import hub
    from engine.models.streamer.config import StreamerConfig
    from engine.models.streamer.core import StreamerCore

    torch.manual_seed(0)
    cfg = StreamerConfig(window_units=3)
    out = tmp_path_factory.mktemp("weights") / "good"
    return hub.save_pretrained(StreamerCore(cfg), cfg, out, metadata={"duet_trained": "true"})


@pytest.fixture(scope="module")
def truncated(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """config.json + a model.safetensors cut in half: the app takes it, the engine cannot load it."""
    out = tmp_path_factory.mktemp("weights") / "trunc"
    out.mkdir()
    (out / "config.json").write_bytes((checkpoint / "config.json").read_bytes())
    data = (checkpoint / "model.safetensors").read_bytes()
    (out / "model.safetensors").write_bytes(data[: len(data) // 2])
    return out


@pytest.mark.gui
@pytest.mark.audio
def test_weights_that_fail_to_load_are_not_saved_and_the_model_before_comes_back(
    pipewire: None, truncated: Path
) -> None:
    """`duet --model testecho`, then `duet --model streamer --weights TRUNCATED`: the streamer fails
    to load, the window goes back to testecho, and the settings keep testecho and no weights (the
    next plain `duet` starts testecho, not a model that cannot load)."""
    Settings(model="testecho").save()  # what the previous `duet --model testecho` left
    log = paths.log_dir() / "duet-app.log"
    argv = ["--model", "streamer", "--weights", str(truncated), "--no-camera"]
    with running_app(argv) as proc:
        text = wait_for_log(
            proc, log, "failed to load", 120, also=lambda: log.read_text().count("engine ready") >= 1
        )
        assert "model='testecho'" in text.split("failed to load", 1)[1]  # ready: the one before
        stop_app(proc)
    saved = Settings.load()
    assert saved.model == "testecho"
    assert saved.source("streamer") == ModelSource()
    assert "weights" in text and "are not kept" in text


@pytest.mark.gui
@pytest.mark.audio
def test_new_weights_that_fail_to_load_give_back_the_previous_ones(
    duet_window: DuetWindow, qtbot: QtBot, pipewire: None, checkpoint: Path, truncated: Path
) -> None:
    w = duet_window("streamer", model_sources={"streamer": {"weights": str(checkpoint)}})
    qtbot.waitUntil(lambda: w.core.session_open, timeout=120_000)
    assert w._use_weights("streamer", str(truncated)) == ""
    assert w.settings.source("streamer").weights == str(truncated)
    qtbot.waitUntil(lambda: "what it ran with before" in w.banner.label.text(), timeout=120_000)
    assert "Could not start streamer" in w.banner.label.text() and w.banner.level == "warn"
    qtbot.waitUntil(lambda: w.core.session_open, timeout=120_000)
    assert w.core.model == "streamer" and w.core.source("streamer").weights == str(checkpoint)
    assert w.settings.source("streamer").weights == str(checkpoint) and w.core.restarts == 0


# ---------------------------------------------------------------- settings folder and file
@pytest.mark.parametrize("argv", [["--no-camera"], ["--reset-settings", "--no-camera"]])
def test_an_unusable_settings_folder_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    from app.__main__ import main

    blocker = tmp_path / "passwd"
    blocker.write_text("root:x:0:0::/root:/bin/sh\n")
    monkeypatch.setenv("DUET_CONFIG_DIR", str(blocker))
    assert main(argv) == 1
    assert capsys.readouterr().err == (
        f"duet: cannot create the folder DUET_CONFIG_DIR={blocker}: it is a file, not a folder\n"
    )
    assert blocker.read_text() == "root:x:0:0::/root:/bin/sh\n"


def test_a_second_broken_settings_file_does_not_replace_the_first() -> None:
    path = Settings.path()
    kept = [path.with_name("settings.broken.json"), path.with_name("settings.broken-2.json")]
    path.write_text("{first")
    assert Settings.load().load_note.endswith(f"(the old file is kept as {kept[0]}).")
    path.write_text("[2]")
    assert Settings.load().load_note.endswith(f"(the old file is kept as {kept[1]}).")
    assert kept[0].read_text() == "{first" and kept[1].read_text() == "[2]"
    kept[0].unlink()  # the lowest free name is used again
    path.write_text("{third")
    assert Settings.load().load_note.endswith(f"(the old file is kept as {kept[0]}).")
    assert kept[0].read_text() == "{third" and kept[1].read_text() == "[2]"


@pytest.mark.gui
def test_settings_that_could_not_be_read_nor_saved_say_both(duet_window: DuetWindow, qtbot: QtBot) -> None:
    note = "Your saved settings could not be read, so Duet started with its defaults (kept as X)."
    w = duet_window("testecho", start=False)
    w.settings.load_note = note
    path = Settings.path()
    path.mkdir(parents=True)  # settings.json cannot be written
    w.hud_button.setChecked(True)
    qtbot.waitUntil(lambda: w.banner.isVisible(), timeout=5_000)
    text = w.banner.label.text()
    assert text.startswith(note) and "Your settings cannot be saved (" in text


# ---------------------------------------------------------------- weights folders the app refuses
def test_a_pickle_checkpoint_folder_is_named_as_such_in_the_engine_s_words(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app import catalog
    from app.__main__ import main
    from engine import hub

    folder = tmp_path / "pickle_bin"
    folder.mkdir()
    (folder / "config.json").write_bytes((checkpoint / "config.json").read_bytes())
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04not really")
    engine_words = hub.pickle_refusal(folder, ["pytorch_model.bin"])
    assert catalog.weights_folder_problem(folder) == engine_words
    assert main(["--model", "streamer", "--weights", str(folder)]) == 2
    assert capsys.readouterr().err == f"duet: --weights: {engine_words}\n"
    assert "no config.json" not in engine_words
    (folder / "config.json").unlink()
    assert catalog.weights_folder_problem(folder) == f"{engine_words} The folder has no config.json either."
    assert catalog.PICKLE_SUFFIXES == hub.PICKLE_SUFFIXES


# ---------------------------------------------------------------- long failures keep their remedy
def test_a_long_failure_loses_its_middle_not_the_remedy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.engine_faults import SUMMARY_CHARS, summary
    from engine import hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(hub.CheckpointError) as info:
        hub.resolve("duet/streamer-tiny")
    text = f"model 'streamer' failed to load: CheckpointError: {info.value}"
    assert len(text) > SUMMARY_CHARS
    short = summary(text)
    assert len(short) <= SUMMARY_CHARS
    assert short.startswith(
        "model 'streamer' failed to load: CheckpointError: no such folder: duet/streamer-tiny"
    )
    assert short.endswith(
        "HF_HUB_OFFLINE is set, so only the local cache was searched. Download it once with network "
        "access, or pass a local folder."
    )
    assert " … " in short
    assert summary(text + "\nTraceback ...") == short + " (more in the log)"


@pytest.mark.gui
@pytest.mark.audio
def test_a_saved_model_that_cannot_load_at_start_up_has_the_default_stand_in(
    pipewire: None, truncated: Path
) -> None:
    """Plain `duet` with saved settings whose model cannot load (its weights were damaged or are on
    a drive since removed): the built-in default runs instead of a blank window, and the banner
    says why; the saved model and weights stay the choice (they are the user's, and may come back)."""
    saved = Settings(model="streamer")
    saved.set_source("streamer", ModelSource(weights=str(truncated)))
    saved.save()
    log = paths.log_dir() / "duet-app.log"
    with running_app(["--no-camera"]) as proc:
        text = wait_for_log(proc, log, "model='lite'", 120, also=lambda: "failed to load" in log.read_text())
        wait_for_log(proc, log, "session open", 60)
        stop_app(proc)  # (the window saves its settings as it closes)
    assert text.index("failed to load") < text.index("model='lite'")  # lite started after the failure
    saved = Settings.load()
    assert saved.model == "streamer" and saved.source("streamer").weights == str(truncated)


@pytest.mark.gui
@pytest.mark.audio
def test_new_weights_for_the_saved_model_fall_back_to_its_old_ones_not_to_the_default(
    pipewire: None, checkpoint: Path, truncated: Path
) -> None:
    """`duet --weights BROKEN` for the streamer that ran with good weights: it runs again with the
    good ones (not the default model), and the settings keep them."""
    saved = Settings(model="streamer")
    saved.set_source("streamer", ModelSource(weights=str(checkpoint)))
    saved.save()
    log = paths.log_dir() / "duet-app.log"
    with running_app(["--weights", str(truncated), "--no-camera"]) as proc:
        text = wait_for_log(proc, log, "session open", 120, also=lambda: "failed to load" in log.read_text())
        stop_app(proc)
    assert "model='lite'" not in text and f"are not kept (back to '{checkpoint}')" in text
    assert text.index("failed to load") < text.index("Ready(model='streamer'")  # ran again, good weights
    saved = Settings.load()
    assert saved.model == "streamer" and saved.source("streamer").weights == str(checkpoint)


def test_settings_not_yet_loaded_are_not_saved(
    duet_window: DuetWindow, qtbot: QtBot, pipewire: None, checkpoint: Path, truncated: Path
) -> None:
    """New weights are saved only once they load: a close (or a crash, a power cut) during their
    load leaves the weights that worked in the file."""
    w = duet_window("streamer", model_sources={"streamer": {"weights": str(checkpoint)}})
    qtbot.waitUntil(lambda: w.core.session_open, timeout=120_000)
    assert w._use_weights("streamer", str(truncated)) == ""
    assert w.settings.source("streamer").weights == str(truncated)  # in the window: the new ones
    w.save_settings()
    assert Settings.load().source("streamer").weights == str(checkpoint)  # in the file: the old ones
