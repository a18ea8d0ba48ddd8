"""Weights that parse but cannot be right: NaN/Inf values, integer tensors, odd files, and edited
configs that would allocate gigabytes before the shapes are compared."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from engine import hub
from engine.hub import CheckpointError
from engine.models.streamer import model as streamer_model
from engine.models.streamer.config import StreamerConfig
from engine.models.streamer.core import StreamerCore
from engine.registry import ModelOptions

from .test_hub import Tiny, TinyConfig, load


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    cfg = TinyConfig(d_hidden=6)
    return hub.save_pretrained(Tiny(cfg), cfg, tmp_path / "tiny", metadata={"duet_trained": "true"})


def _edit_tensor(folder: Path, name: str, value: torch.Tensor) -> None:
    path = folder / hub.WEIGHTS_NAME
    header = hub.check_safetensors_file(path)
    state = load_file(str(path))
    state[name] = value
    save_file(state, str(path), metadata=header.get("__metadata__"))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_weights_are_refused_naming_the_tensor(folder: Path, bad: float) -> None:
    weight = torch.zeros(6, 4)
    weight[2, 1] = bad
    _edit_tensor(folder, "a.weight", weight)
    with pytest.raises(
        CheckpointError, match=r"model\.safetensors: tensor 'a\.weight' holds 1 NaN/Inf value"
    ):
        load(str(folder))


def test_the_first_bad_tensor_is_named(folder: Path) -> None:
    _edit_tensor(folder, "b.bias", torch.full((2,), float("nan")))
    _edit_tensor(folder, "a.bias", torch.full((6,), float("nan")))
    with pytest.raises(CheckpointError, match=r"tensor 'a\.bias' holds 6 NaN/Inf"):
        load(str(folder))


def test_integer_tensors_where_the_model_has_floats_are_refused(folder: Path) -> None:
    _edit_tensor(folder, "a.weight", torch.ones(6, 4, dtype=torch.int64))
    with pytest.raises(
        CheckpointError, match=r"tensor 'a\.weight' holds int64 values where the model has floating"
    ):
        load(str(folder))


def test_a_nan_free_half_precision_file_still_loads(folder: Path) -> None:
    state = load_file(str(folder / hub.WEIGHTS_NAME))
    meta = hub.check_safetensors_file(folder / hub.WEIGHTS_NAME)["__metadata__"]
    save_file({k: v.half() for k, v in state.items()}, str(folder / hub.WEIGHTS_NAME), metadata=meta)
    module, _, _, _ = load(str(folder))
    assert torch.isfinite(module.a.weight).all()


# ---------------------------------------------------------------- not files
@pytest.mark.parametrize("name", [hub.WEIGHTS_NAME, hub.CONFIG_NAME])
def test_a_folder_in_place_of_a_file_is_named_as_such(folder: Path, name: str) -> None:
    (folder / name).unlink()
    (folder / name).mkdir()
    with pytest.raises(CheckpointError, match=rf"{name}: is a folder, not a file"):
        load(str(folder))


@pytest.mark.parametrize("name", [hub.WEIGHTS_NAME, hub.CONFIG_NAME])
def test_a_symlink_loop_is_named_as_such(folder: Path, name: str) -> None:
    (folder / name).unlink()
    os.symlink(name, folder / name)
    with pytest.raises(CheckpointError, match=rf"{name}: is a symbolic link loop"):
        load(str(folder))


def test_a_dangling_symlink_says_where_it_points(folder: Path) -> None:
    (folder / hub.WEIGHTS_NAME).unlink()
    os.symlink("/nowhere/at/all", folder / hub.WEIGHTS_NAME)
    with pytest.raises(CheckpointError, match=r"symbolic link to /nowhere/at/all, which does not exist"):
        load(str(folder))


# ---------------------------------------------------------------- config checked before building
@pytest.fixture
def streamer_folder(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    cfg = StreamerConfig(window_units=3)
    return hub.save_pretrained(StreamerCore(cfg), cfg, tmp_path / "streamer")


@pytest.fixture
def built_on(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The device every StreamerCore the model builds is built on; a real (non-meta) build of an
    edited, huge config fails at once instead of allocating gigabytes."""
    devices: list[str] = []

    def guarded(cfg: StreamerConfig) -> StreamerCore:
        device = torch.empty(0).device.type
        devices.append(device)
        if device != "meta" and cfg.d_model * cfg.n_layers > 64 * 64:
            raise AssertionError(f"built a d_model={cfg.d_model} x {cfg.n_layers} model on {device}")
        return StreamerCore(cfg)

    monkeypatch.setattr(streamer_model, "StreamerCore", guarded)
    return devices


def _edit_config(folder: Path, **changes: object) -> None:
    path = folder / hub.CONFIG_NAME
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def _drop_saved_config(folder: Path) -> None:
    """Weights without the duet_config metadata (saved elsewhere): only the shapes can tell."""
    path = folder / hub.WEIGHTS_NAME
    save_file(load_file(str(path)), str(path), metadata={"format": "pt"})


@pytest.mark.parametrize("saved_config", [True, False])
@pytest.mark.parametrize(
    "edit", [{"d_model": 16384, "n_layers": 48, "n_heads": 64}, {"sink_text_tokens": 100_000_000}]
)
def test_an_edited_config_is_refused_before_the_model_is_built(
    streamer_folder: Path, built_on: list[str], saved_config: bool, edit: dict
) -> None:
    _edit_config(streamer_folder, **edit)
    if not saved_config:
        _drop_saved_config(streamer_folder)
    with pytest.raises(CheckpointError, match=r"config\.json.*does not match|does not match .*config\.json"):
        streamer_model.StreamerModel(
            ModelOptions(device="cpu", weights=str(streamer_folder), extra={"threads": "1"})
        )
    assert "cpu" not in built_on


def test_matching_weights_still_load_after_the_meta_check(streamer_folder: Path, built_on: list[str]) -> None:
    _drop_saved_config(streamer_folder)
    model = streamer_model.StreamerModel(
        ModelOptions(device="cpu", weights=str(streamer_folder), extra={"threads": "1"})
    )
    assert built_on == ["meta", "cpu"]
    assert model.config.window_units == 3
