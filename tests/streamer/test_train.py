"""Training: the loss goes down, an overfit model replays its session's decisions, the CLI
checkpoints to safetensors and resumes, and session files are read through engine.session."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.models.streamer import checkpoint as checkpoint_mod
from engine.models.streamer import train as train_mod
from engine.models.streamer.config import StreamerConfig
from engine.models.streamer.data import DataError, decision_per_tick, session_to_example
from engine.models.streamer.heads import DECISIONS
from engine.models.streamer.model import StreamerModel
from engine.protocol import Decision, DecisionChanged, Transcript, UserText
from engine.registry import ModelOptions
from engine.session import SessionWriter
from tests.support.paths import a_file

from .synth import decisions_for, make_session, replay_decisions, user_activity

CFG = StreamerConfig()


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def test_session_to_example_labels() -> None:
    data = make_session(0, n_units=12)
    data.events.append((9, "client", UserText("yo")))
    ex = session_to_example(data, CFG)
    assert ex.n_units == 11
    # the targets are the session's own decisions (synth: one per output unit, from the user's
    # activity, which make_session draws first from its seed), for output units 1..11
    decided = decisions_for(user_activity(12, np.random.default_rng(0)))
    assert {Decision.LISTEN, Decision.SPEAK} <= set(decided[1:])  # (a change to get right)
    assert [DECISIONS[i] for i in ex.targets.decision[0].tolist()] == decided[1:]
    # feedback is the previous unit's target (silence / LISTEN for unit 0)
    assert ex.inputs.prev_decision[0, 0] == 0 and float(ex.inputs.prev_pcm[0, 0].abs().sum()) == 0
    torch.testing.assert_close(ex.inputs.prev_pcm[0, 1:], ex.targets.pcm[0, :-1])
    assert bytes(ex.inputs.text_in[0, 2, :2].tolist()) == b"yo"  # tick 9 -> unit 2
    said = [(t, m) for t, _, m in data.events if isinstance(m, Transcript)]
    assert said  # the avatar's "hi" when it takes the turn
    v = said[0][0] // 4
    assert bytes(ex.targets.text[0, v - 1, :2].tolist()) == b"hi"
    with pytest.raises(DataError, match="too short"):
        session_to_example(make_session(0, n_units=1), CFG)


def test_no_camera_no_avatar_video() -> None:
    data = make_session(1, n_units=6, camera=False)
    data.avatar_frames = None
    ex = session_to_example(data, CFG)
    assert not ex.inputs.has_video.any() and not ex.targets.has_frames.any()


def test_loss_goes_down_on_a_few_sessions() -> None:
    examples = [session_to_example(make_session(s, n_units=14), CFG) for s in range(3)]
    opts = train_mod.TrainOptions(steps=25, batch=2, seq_units=8, progress=False, warmup=5)
    result = train_mod.train(examples, CFG, opts)
    first = np.mean([x["loss"] for x in result.losses[:3]])
    last = np.mean([x["loss"] for x in result.losses[-3:]])
    assert last < 0.5 * first
    assert result.losses[-1]["decision"] < result.losses[0]["decision"]


def test_overfit_model_replays_its_decisions(tmp_path: Path) -> None:
    data = make_session(3, n_units=16)
    example = session_to_example(data, CFG)
    opts = train_mod.TrainOptions(
        steps=60, batch=1, seq_units=example.n_units, progress=False, save_every=1000
    )
    train_mod.train([example], CFG, opts, out_dir=tmp_path / "ckpt")
    model = StreamerModel(ModelOptions(device="cpu", weights=str(tmp_path / "ckpt"), extra={"threads": "1"}))
    assert model.trained
    expected = [DECISIONS[i] for i in example.targets.decision[0].tolist()]
    assert {Decision.SPEAK, Decision.LISTEN} <= set(expected)
    assert replay_decisions(model, data) == expected


def write_session(path: Path, seed: int) -> None:
    data = make_session(seed, n_units=8)
    assert data.avatar_frames is not None and data.user_frames is not None
    with SessionWriter(
        path, model="test", persona="guide", avatar="ada", avatar_size=32, user_video_size=(32, 24)
    ) as w:
        for tick in range(data.n_ticks):
            w.add_user_audio(tick, data.user_pcm[tick * 640 : (tick + 1) * 640])
            w.add_avatar_audio(tick, data.avatar_pcm[tick * 960 : (tick + 1) * 960])
            w.add_avatar_frame(tick, data.avatar_frames[tick])
            w.add_user_frame(tick, data.user_frames[tick])
        for tick, src, msg in data.events:
            w.add_event(tick, src, msg)


def test_cli_trains_on_session_files_checkpoints_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sessions = tmp_path / "sessions"
    for seed in (0, 1):
        write_session(sessions / f"s{seed}.mkv", seed)
    out = tmp_path / "model"
    args = [
        "--sessions",
        str(sessions),
        "--out",
        str(out),
        "--batch",
        "2",
        "--seq-units",
        "4",
        "--no-progress",
    ]
    assert train_mod.main([*args, "--steps", "3", "--save-every", "2"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["steps"] == 3 and summary["sessions"] == 2
    for name in ("config.json", "model.safetensors", "optimizer.safetensors", "losses.jsonl", "loss.png"):
        assert (out / name).is_file(), name
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert StreamerModel(ModelOptions(device="cpu", weights=str(out))).trained
    first = [json.loads(x) for x in (out / "losses.jsonl").read_text().splitlines()]
    assert train_mod.main([*args, "--steps", "5", "--resume"]) == 0
    losses = [json.loads(x) for x in (out / "losses.jsonl").read_text().splitlines()]
    assert [x["step"] for x in losses] == [1, 2, 3, 4, 5] and losses[:3] == first
    from safetensors import safe_open

    with safe_open(str(out / "optimizer.safetensors"), "pt") as f:
        assert f.metadata()["step"] == "5"


def test_cli_errors_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert train_mod.main(["--sessions", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 1
    assert "no such session file or folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert train_mod.main(["--sessions", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 1
    assert "no session files" in capsys.readouterr().err
    assert train_mod.main(["--sessions", str(tmp_path), "--out", str(tmp_path / "o"), "--size", "Q"]) == 1
    assert "unknown streamer size" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text(json.dumps({"d_model": "x"}))
    assert (
        train_mod.main(
            [
                "--sessions",
                str(tmp_path),
                "--out",
                str(tmp_path / "o"),
                "--config",
                str(tmp_path / "bad.json"),
            ]
        )
        == 1
    )
    assert "field 'd_model'" in capsys.readouterr().err


def test_decision_track_from_events() -> None:
    events: list[tuple[int, str, object]] = [
        (8, "engine", DecisionChanged(8, Decision.SPEAK)),
        (13, "engine", DecisionChanged(13, Decision.YIELD)),
    ]
    track = decision_per_tick(events, 16)
    assert track[7] == Decision.LISTEN and track[8] == Decision.SPEAK and track[13] == Decision.YIELD


@pytest.mark.parametrize("raised_by", ["os", "safetensors"])
def test_a_full_disk_keeps_the_last_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, raised_by: str
) -> None:
    """The disk fills up while step 4's checkpoint is written: a one-line error names the step and
    what is kept; the folder still holds step 2's complete checkpoint (loads, resumes), and no
    half-written file or staging folder is left."""
    import errno

    from safetensors import SafetensorError

    sessions = tmp_path / "sessions"
    write_session(sessions / "s0.mkv", 0)
    out = tmp_path / "model"
    args = ["--sessions", str(sessions), "--out", str(out), "--batch", "1", "--seq-units", "4"]
    args += ["--no-progress", "--save-every", "2"]
    real = checkpoint_mod.save_optimizer

    def fill_up(opt: torch.optim.Optimizer, path: Path, step: int) -> None:
        if step == 4:
            path.write_bytes(b"\0" * 100)  # part of it made it to disk
            if raised_by == "os":
                raise OSError(errno.ENOSPC, "No space left on device")
            # what safetensors' save_file raises on a full disk (seen on a full tmpfs)
            raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
        real(opt, path, step)

    monkeypatch.setattr(checkpoint_mod, "save_optimizer", fill_up)
    assert train_mod.main([*args, "--steps", "6"]) == 1
    err = capsys.readouterr().err.strip()
    assert [line for line in err.splitlines() if "error" in line] == [
        f"duet-engine train: error: cannot save the checkpoint of step 4 in {out}: No space left on device;"
        " the checkpoint of step 2 is kept"
    ]
    assert err.splitlines()[-1].startswith("duet-engine train: error: ")  # the last word, once
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json",
        "loss.png",
        "losses.jsonl",
        "model.safetensors",
        "optimizer.safetensors",
    ]
    from safetensors import safe_open

    with safe_open(str(out / "model.safetensors"), "pt") as f:
        assert f.metadata()["duet_steps"] == "2"
    assert StreamerModel(ModelOptions(device="cpu", weights=str(out))).trained
    monkeypatch.setattr(checkpoint_mod, "save_optimizer", real)  # space again
    before = (out / "model.safetensors").read_bytes()
    assert train_mod.main([*args, "--steps", "4"]) == 1  # neither --resume nor --overwrite
    assert (
        "already holds a checkpoint (config.json, model.safetensors, optimizer.safetensors):"
        " --resume continues it, --overwrite starts over" in capsys.readouterr().err
    )
    assert (out / "model.safetensors").read_bytes() == before
    assert train_mod.main([*args, "--steps", "4", "--resume"]) == 0
    losses = [json.loads(x) for x in (out / "losses.jsonl").read_text().splitlines()]
    assert [x["step"] for x in losses] == [1, 2, 3, 4]
    monkeypatch.setattr(checkpoint_mod, "save_optimizer", fill_up)
    assert train_mod.main([*args, "--steps", "6", "--overwrite"]) == 1  # fails at step 4 again
    assert "the checkpoint of step 2 is kept" in capsys.readouterr().err
    monkeypatch.setattr(checkpoint_mod, "save_optimizer", real)
    assert train_mod.main([*args, "--steps", "2", "--overwrite"]) == 0  # start over on purpose
    losses = [json.loads(x) for x in (out / "losses.jsonl").read_text().splitlines()]
    assert [x["step"] for x in losses] == [1, 2]
    capsys.readouterr()
    fresh = tmp_path / "fresh"
    assert train_mod.main([*args[:3], str(fresh), *args[4:], "--steps", "1", "--resume"]) == 0
    assert f"no checkpoint in {fresh} to resume" in capsys.readouterr().err


def test_an_unwritable_out_folder_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sessions = tmp_path / "sessions"
    write_session(sessions / "s0.mkv", 0)
    blocker = a_file(tmp_path)
    args = ["--sessions", str(sessions), "--out", str(blocker / "model"), "--steps", "1", "--no-progress"]
    assert train_mod.main([*args, "--batch", "1", "--seq-units", "4"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == (
        f"duet-engine train: error: cannot write checkpoints to {blocker / 'model'}:"
        " a parent of it is not a folder"
    )
    assert train_mod.main([*args[:3], str(blocker), *args[4:]]) == 1  # --out is a file
    assert "it is a file, not a folder" in capsys.readouterr().err


def test_a_failed_first_checkpoint_says_nothing_was_saved(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = tmp_path / "sessions"
    write_session(sessions / "s0.mkv", 0)

    def broken(*_: object, **__: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(train_mod.hub, "save_pretrained", broken)
    out = tmp_path / "model"
    args = ["--sessions", str(sessions), "--out", str(out), "--steps", "1", "--no-progress"]
    assert train_mod.main([*args, "--batch", "1", "--seq-units", "4"]) == 1
    err = capsys.readouterr().err
    assert "cannot save the checkpoint of step 1" in err and "no checkpoint had been saved yet" in err
    assert not out.exists()  # it made the folder, saved nothing: no empty folder left behind


def test_a_mixed_checkpoint_is_refused_on_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Weights of one step beside the optimizer of another (a save cut off between its files):
    --resume refuses, naming both steps, instead of training on from the wrong step."""
    import shutil

    sessions = tmp_path / "sessions"
    write_session(sessions / "s0.mkv", 0)
    base = ["--sessions", str(sessions), "--batch", "1", "--seq-units", "4", "--no-progress"]
    a, b = tmp_path / "a", tmp_path / "b"
    assert train_mod.main([*base, "--out", str(a), "--steps", "2"]) == 0
    assert train_mod.main([*base, "--out", str(b), "--steps", "1"]) == 0
    shutil.copy(b / "optimizer.safetensors", a / "optimizer.safetensors")
    capsys.readouterr()
    assert train_mod.main([*base, "--out", str(a), "--steps", "3", "--resume"]) == 1
    err = capsys.readouterr().err
    assert "the weights are from step 2 but optimizer.safetensors from step 1" in err
    assert "--overwrite starts over" in err


def test_nested_out_folders_made_for_a_failed_run_are_removed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "new" / "a" / "b"
    assert train_mod.main(["--sessions", str(tmp_path / "none"), "--out", str(out)]) == 1
    assert "no such session file or folder" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()  # every folder it made, and nothing else
    assert tmp_path.is_dir()
