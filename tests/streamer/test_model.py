"""StreamerModel: the engine contract, weights through the hub loader, honest untrained behaviour."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import hub, registry
from engine.hub import CheckpointError
from engine.models.base import InteractiveModel
from engine.models.streamer.config import StreamerConfig
from engine.models.streamer.core import StreamerCore
from engine.models.streamer.inputs import sink_inputs
from engine.models.streamer.model import StreamerModel, StreamerWeightsError
from engine.protocol import Decision, DecisionChanged, SessionSpec, UnitIn, UnitOut
from engine.registry import ModelOptions

from .synth import make_session, unit_inputs
from .units import FIELDS, random_units

REV = "fedcba9876543210fedcba9876543210fedcba98"


def untrained(**extra: str) -> StreamerModel:
    return StreamerModel(ModelOptions(device="cpu", extra={"allow_untrained": "1", "threads": "1", **extra}))


@pytest.fixture
def checkpoint(tmp_path: Path) -> tuple[Path, StreamerCore]:
    torch.manual_seed(3)
    cfg = StreamerConfig(window_units=3)
    core = StreamerCore(cfg)
    folder = hub.save_pretrained(core, cfg, tmp_path / "ckpt", metadata={"duet_trained": "true"})
    return folder, core


def run(model: StreamerModel, n_units: int = 5, seed: int = 0) -> list[UnitOut]:
    model.open(SessionSpec(persona="guide", avatar="ada"))
    return [model.step(u) for u in unit_inputs(make_session(seed, n_units=n_units))]


def test_refuses_to_start_without_weights() -> None:
    with pytest.raises(StreamerWeightsError, match=r"duet-engine train.*--weights.*allow_untrained"):
        StreamerModel(ModelOptions(device="cpu"))


def test_untrained_runs_and_says_so() -> None:
    model = untrained()
    assert isinstance(model, InteractiveModel)
    assert model.trained is False and model.unit_ticks == 4 and model.output_lag_units == 1
    outs = run(model, n_units=3)
    for i, out in enumerate(outs):
        assert out.tick == i * 4 + 4 and out.n_ticks == 4
        assert out.frames.shape == (4, model.frame_size, model.frame_size, 3) and out.frames.dtype == np.uint8
        assert out.pcm is None or (out.pcm.shape == (3840,) and out.pcm.dtype == np.float32)
        assert out.decision in tuple(Decision)
        assert set(out.timings) == {"prepare", "model", "post"}
    model.close()


def test_registry_builds_streamer() -> None:
    model = registry.create("streamer", ModelOptions(device="cpu", extra={"allow_untrained": "true"}))
    assert isinstance(model, StreamerModel) and not model.trained
    assert registry.info("streamer").needs_weights


def test_round_trip_through_hub_loader(checkpoint: tuple[Path, StreamerCore]) -> None:
    folder, core = checkpoint
    model = StreamerModel(ModelOptions(device="cpu", weights=str(folder)))
    assert model.trained is True and model.config == core.cfg
    saved, loaded = core.state_dict(), model.core.state_dict()
    assert list(loaded) == list(saved)  # the same tensors, none missing or extra
    for key, tensor in saved.items():
        torch.testing.assert_close(loaded[key], tensor, rtol=0, atol=0, msg=key)
    # and the loaded core computes what the saved one did, on the same units (audio included)
    text, frame = sink_inputs(core.cfg, "guide", "ada")
    units = random_units(core.cfg, 1, 4, seed=7)
    with torch.no_grad():
        expected, got = core.eval()(text, frame, units), model.core(text, frame, units)
    for field in FIELDS:
        torch.testing.assert_close(getattr(got, field), getattr(expected, field), msg=field)
    assert got.pcm.abs().amax() > 0  # (a pcm of zeros on both sides would prove nothing)


def test_loads_from_hub_repo_id_offline(
    checkpoint: tuple[Path, StreamerCore], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, core = checkpoint
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    root = tmp_path / "hf" / "hub" / "models--duet--streamer-tiny"
    shutil.copytree(folder, root / "snapshots" / REV)
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(REV)
    model = StreamerModel(ModelOptions(device="cpu", weights="duet/streamer-tiny", revision=REV))
    assert model.trained and model.source == str(root / "snapshots" / REV)
    torch.testing.assert_close(model.core.slot_emb, core.slot_emb)


def test_untrained_checkpoint_is_labelled_untrained(tmp_path: Path) -> None:
    cfg = StreamerConfig()
    folder = hub.save_pretrained(StreamerCore(cfg), cfg, tmp_path / "raw")
    assert StreamerModel(ModelOptions(device="cpu", weights=str(folder))).trained is False


def test_mismatched_config_is_refused(checkpoint: tuple[Path, StreamerCore]) -> None:
    folder, _ = checkpoint
    saved = json.loads((folder / "config.json").read_text())
    data = {**saved, "d_model": 96}
    (folder / "config.json").write_text(json.dumps(data))
    with pytest.raises(
        CheckpointError, match=r"config\.json: does not match the config the weights were saved"
    ):
        StreamerModel(ModelOptions(device="cpu", weights=str(folder)))
    # changes that keep every tensor's shape would load silently: the saved config catches them
    for key, value in (("n_heads", saved["n_heads"] * 2), ("window_units", 30), ("rope_theta", 5.0)):
        (folder / "config.json").write_text(json.dumps({**saved, key: value}))
        with pytest.raises(CheckpointError) as e:
            StreamerModel(ModelOptions(device="cpu", weights=str(folder)))
        assert f"{key} {value!r} (saved with {saved[key]!r})" in str(e.value)
    # weights saved without their config (an older Duet): the shapes still decide
    from safetensors import safe_open
    from safetensors.torch import save_file

    weights = folder / "model.safetensors"
    with safe_open(str(weights), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
        meta = {k: v for k, v in (f.metadata() or {}).items() if k != "duet_config"}
    save_file(tensors, str(weights), metadata=meta)
    (folder / "config.json").write_text(json.dumps({**saved, "n_heads": saved["n_heads"] * 2}))
    assert StreamerModel(ModelOptions(device="cpu", weights=str(folder))).trained  # not checkable
    (folder / "config.json").write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match=r"model\.safetensors.*does not match.*config\.json"):
        StreamerModel(ModelOptions(device="cpu", weights=str(folder)))
    data["d_model"] = "wide"
    (folder / "config.json").write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match=r"config\.json: field 'd_model': expected an integer"):
        StreamerModel(ModelOptions(device="cpu", weights=str(folder)))


def test_pickle_checkpoint_is_refused(checkpoint: tuple[Path, StreamerCore]) -> None:
    folder, core = checkpoint
    (folder / "model.safetensors").unlink()
    torch.save(core.state_dict(), folder / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match=r"pytorch_model\.bin.*refused"):
        StreamerModel(ModelOptions(device="cpu", weights=str(folder)))


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="unknown streamer size"):
        untrained(size="XL")
    with pytest.raises(ValueError, match="dtype"):
        untrained(dtype="int8")
    with pytest.raises(ValueError, match=r"CUDA is not available|unknown device"):
        StreamerModel(ModelOptions(device="cuda:7" if not torch.cuda.is_available() else "tpu"))
    model = untrained()
    with pytest.raises(ValueError, match="4 ticks"):
        model.step(UnitIn.silent(0, 2))


def test_decision_events_and_text_queue() -> None:
    message = "hello there, a long message that spans several units"  # 53 bytes

    def go(text: str) -> tuple[StreamerModel, list[UnitOut]]:
        model = untrained(seed="2")  # (this seed yields, then speaks: there are changes to check)
        model.open(SessionSpec(persona="guide", avatar="ada"))  # (open() empties the text queue)
        if text:
            model.user_text(text, operator=False)
        return model, [model.step(u) for u in unit_inputs(make_session(2, n_units=6))]

    model, outs = go(message)
    _, without = go("")
    assert len(model._texts) == 53 - 6 * 4  # each unit takes 4 bytes of it (its text_in slots)
    assert any(not np.array_equal(a.frames, b.frames) for a, b in zip(outs, without))  # it was read
    assert {out.decision for out in outs} == {Decision.YIELD, Decision.SPEAK}
    current = Decision.LISTEN
    for out in outs:
        changes = [e for e in out.events if isinstance(e, DecisionChanged)]
        if out.decision != current:
            assert changes and changes[0].decision == out.decision and changes[0].tick == out.tick
            current = out.decision
        else:
            assert not changes
        if out.decision != Decision.SPEAK:
            assert out.pcm is None and out.text == ""
    model.flush(outs[-1].tick)
    assert float(model._prev_pcm.abs().sum()) == 0.0


def test_steps_without_open_and_with_no_camera() -> None:
    model = untrained()
    out = model.step(UnitIn.silent(0, 4))
    assert out.tick == 4
    model.close()
    model.open(SessionSpec())
    assert model.step(UnitIn.silent(4, 4)).tick == 8


def test_captions_of_bytes_that_are_not_text_show_nothing_broken() -> None:
    """An untrained model's text head emits random bytes: its captions must not be boxes."""
    from engine.models.streamer import tokenizer

    ids = tokenizer.encode("Hello, Grüße")
    assert tokenizer.decode(ids) == "Hello, Grüße"
    assert tokenizer.decode([0xFF, 0xFE, 0x07, *tokenizer.encode("ok"), 0xC3]) == "ok"
    assert tokenizer.decode(tokenizer.encode("tab\there\nnew\x07")) == "tab here new"
