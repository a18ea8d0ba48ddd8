"""`duet-engine train` with inputs that are not what it expects: folders that hold someone else's
checkpoint, sessions that cannot teach anything, a damaged loss log or optimizer file, flags that
do nothing. Each gets a clear line and loses nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from engine import hub
from engine.models.streamer import train as train_mod
from engine.models.streamer.config import StreamerConfig
from engine.models.streamer.data import find_sessions, load_examples, sample_batch, session_to_example

from .synth import make_session
from .test_train import write_session

CFG = StreamerConfig()


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def base(sessions: Path, out: Path) -> list[str]:
    return [
        *("--sessions", str(sessions), "--out", str(out)),
        *("--batch", "1", "--seq-units", "4", "--no-progress"),
    ]


@pytest.fixture
def sessions(tmp_path: Path) -> Path:
    folder = tmp_path / "sessions"
    write_session(folder / "s0.mkv", 0)
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_a_folder_with_a_sharded_or_foreign_checkpoint_is_never_written_over(
    tmp_path: Path, sessions: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sharded = tmp_path / "sharded"
    sharded.mkdir()
    (sharded / "config.json").write_text(json.dumps({"model_type": "streamer", "d_model": 64}))
    save_file({"w": torch.zeros(2)}, str(sharded / "model-00001-of-00002.safetensors"))
    save_file({"v": torch.zeros(2)}, str(sharded / "model-00002-of-00002.safetensors"))
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "config.json").write_text('{"model_type": "bert"}')
    (foreign / "pytorch_model.bin").write_bytes(b"\x80\x02}q\x00.")
    for folder in (sharded, foreign):
        before = snapshot(folder)
        assert train_mod.main([*base(sessions, folder), "--steps", "1"]) == 1
        err = capsys.readouterr().err
        assert f"{folder} already holds a checkpoint (" in err and "config.json" in err, err
        assert train_mod.main([*base(sessions, folder), "--steps", "1", "--resume"]) == 1
        err = capsys.readouterr().err
        assert "but no model.safetensors: --resume continues a checkpoint that train wrote" in err, err
        assert snapshot(folder) == before  # nothing touched
    assert train_mod.main([*base(sessions, foreign), "--steps", "1", "--overwrite"]) == 0  # asked for
    assert json.loads((foreign / "config.json").read_text())["model_type"] == "streamer"


def test_sessions_that_cannot_teach_are_skipped_with_a_warning(
    tmp_path: Path, sessions: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Shorter than two units, or without the events file (every label would be "listen"): skipped,
    said on stderr; training goes on with the rest. Nothing usable at all: one clear error."""
    write_session(sessions / "noevents.mkv", 1)
    (sessions / "noevents.events.jsonl").unlink()
    data = make_session(2, n_units=8)
    short = sessions / "short.mkv"
    write_session(short, 2)
    cut = tmp_path / "cut"  # a crash-cut file: 7 ticks, under two 4-tick units
    cut.mkdir()
    from engine.session import SessionWriter

    with SessionWriter(cut / "short.mkv", model="test", persona="guide", avatar="ada", avatar_size=32) as w:
        for tick in range(7):
            w.add_user_audio(tick, data.user_pcm[tick * 640 : (tick + 1) * 640])
            w.add_avatar_audio(tick, data.avatar_pcm[tick * 960 : (tick + 1) * 960])
    shutil.copy(cut / "short.mkv", short)
    shutil.copy(cut / "short.events.jsonl", sessions / "short.events.jsonl")
    write_session(sessions / "damaged.mkv", 3)  # one line of its events log is garbage
    log = sessions / "damaged.events.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join([lines[0], "garbage\n", *lines[1:]]))
    out = tmp_path / "out"
    assert train_mod.main([*base(sessions, out), "--steps", "1"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out.strip().splitlines()[-1])["sessions"] == 1
    assert "damaged.mkv: skipped: 1 unreadable line(s) in damaged.events.jsonl" in captured.err
    assert "warning: " in captured.err
    assert "noevents.mkv: skipped: noevents.events.jsonl is missing" in captured.err
    assert "short.mkv: too short (7 ticks; need >= 8): skipped" in captured.err
    assert train_mod.main([*base(cut, tmp_path / "out2"), "--steps", "1"]) == 1
    err = capsys.readouterr().err
    assert "error: no session to train on under" in err and "too short" in err
    assert not (tmp_path / "out2").exists()
    warned: list[str] = []
    assert len(load_examples([str(sessions)], CFG, warn=warned.append)) == 1 and len(warned) == 3


def test_a_short_session_shortens_only_the_batches_it_starts() -> None:
    long_a, long_b = (session_to_example(make_session(s, n_units=12), CFG) for s in (0, 1))
    short = session_to_example(make_session(2, n_units=3), CFG)  # 2 input units
    examples = [long_a, short, long_b]
    gen = torch.Generator().manual_seed(0)
    lengths = [sample_batch(examples, 3, 8, gen)[2].mic.shape[1] for _ in range(30)]
    assert set(lengths) == {2, 8}  # full-length crops whenever the short one does not start a batch
    assert lengths.count(8) > lengths.count(2)


def test_a_damaged_loss_log_is_skipped_line_by_line_on_resume(
    tmp_path: Path, sessions: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert train_mod.main([*base(sessions, out), "--steps", "2"]) == 0
    log = out / "losses.jsonl"
    lines = log.read_text().splitlines()
    log.write_text("\n".join([lines[0], "garbage", '{"step": 2', lines[1]]) + "\n")
    capsys.readouterr()
    assert train_mod.main([*base(sessions, out), "--steps", "3", "--resume"]) == 0
    err = capsys.readouterr().err
    assert f"warning: {log}: skipped unreadable line(s) 2, 3" in err
    assert [json.loads(x)["step"] for x in log.read_text().splitlines()] == [1, 2, 3]


def test_a_wrong_optimizer_file_names_itself(
    tmp_path: Path, sessions: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert train_mod.main([*base(sessions, out), "--steps", "1"]) == 0
    shutil.copy(out / "model.safetensors", out / "optimizer.safetensors")  # weights, not an optimizer
    capsys.readouterr()
    assert train_mod.main([*base(sessions, out), "--steps", "2", "--resume"]) == 1
    err = capsys.readouterr().err
    assert f"{out / 'optimizer.safetensors'}: not a Duet optimizer checkpoint (unexpected tensor" in err


def test_a_save_left_by_a_crash_is_cleared_at_the_next_save(tmp_path: Path, sessions: Path) -> None:
    out = tmp_path / "out"
    assert train_mod.main([*base(sessions, out), "--steps", "1"]) == 0
    (out / ".saving-step-7").mkdir()  # a hard kill mid-save of step 7
    (out / ".saving-step-7" / "model.safetensors").write_bytes(b"x" * 100)
    assert train_mod.main([*base(sessions, out), "--steps", "2", "--resume"]) == 0
    assert not list(out.glob(".saving-*")) and (out / "model.safetensors").is_file()


def test_flags_that_would_do_nothing_are_said(
    tmp_path: Path, sessions: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert train_mod.main([*base(sessions, out), "--steps", "1", "--save-every", "0"]) == 2  # usage
    assert "error: --save-every must be >= 1" in capsys.readouterr().err
    assert train_mod.main([*base(sessions, out), "--steps", "2"]) == 0
    capsys.readouterr()
    assert train_mod.main([*base(sessions, out), "--steps", "2", "--resume", "--size", "M"]) == 0
    err = capsys.readouterr().err
    assert f"note: --size ignored: --resume goes on with {out / 'config.json'}" in err
    assert f"note: the checkpoint in {out} is already at step 2 (--steps 2): nothing to train" in err
    assert hub.load_config(out, StreamerConfig) == StreamerConfig()  # still the S config


def test_zero_heads_is_a_clear_config_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n_heads >= 1"):
        StreamerConfig(n_heads=0)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"n_heads": 0}))
    with pytest.raises(hub.CheckpointError, match=r"bad\.json: d_model >= 8 and n_heads >= 1"):
        train_mod._config_file(str(bad))


def test_ctrl_c_before_an_overwrite_runs_first_save_keeps_the_old_checkpoint(
    tmp_path: Path, sessions: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--overwrite by mistake, then Ctrl-C: the checkpoint that was there is kept rather than traded
    for a few steps of the new run. Once the new run has saved, Ctrl-C saves its step as always."""
    import signal

    from safetensors import safe_open

    out = tmp_path / "out"
    assert train_mod.main([*base(sessions, out), "--steps", "3"]) == 0
    before = snapshot(out)
    real_loss = train_mod.streamer_loss
    calls = {"n": 0, "ctrl_c_at": 2}

    def loss_then_ctrl_c(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == calls["ctrl_c_at"]:
            signal.raise_signal(signal.SIGINT)  # as a Ctrl-C during that step
        return real_loss(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(train_mod, "streamer_loss", loss_then_ctrl_c)
    capsys.readouterr()
    overwrite = [*base(sessions, out), "--steps", "50", "--save-every", "10", "--overwrite"]
    assert train_mod.main(overwrite) == 130
    captured = capsys.readouterr()
    err = captured.err
    assert "interrupted at step 2, before this run's first checkpoint: the checkpoint already in" in err
    summary = json.loads(captured.out.strip().splitlines()[-1])
    # "steps": how far this run got; "saved_step": the checkpoint actually in --out (the old one)
    assert (summary["steps"], summary["saved_step"], summary["interrupted"]) == (2, 3, True)
    assert snapshot(out) == before
    calls.update(n=0, ctrl_c_at=12)
    assert train_mod.main(overwrite) == 130
    assert f"interrupted at step 12; its checkpoint is complete in {out}" in capsys.readouterr().err
    with safe_open(str(out / "model.safetensors"), "pt") as f:
        assert f.metadata()["duet_steps"] == "12"


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        (
            "video_out_size",
            1024,
            "video_out_size must be 1..512 (the largest avatar frame the engine can show)",
        ),
        ("video_out_size", 0, "video_out_size must be 1..512"),
        ("text_out_slots", 0, "text_out_slots must be >= 1"),
        ("audio_enc_dim", 0, "audio_enc_dim, audio_dec_dim and video_dec_dim must be >= 1"),
        ("video_in_size", 0, "video_in_size must be >= 1"),
    ],
)
def test_a_config_that_could_never_run_is_refused_before_any_session_is_read(
    tmp_path: Path, sessions: Path, capsys: pytest.CaptureFixture[str], field: str, value: int, needle: str
) -> None:
    """A frame larger than the engine's frame ring holds would train (for hours, or until memory
    runs out) into weights `run` refuses; a zero size fails deep inside torch or makes every loss
    nan. One line, before the sessions are read, and no --out folder left behind."""
    with pytest.raises(ValueError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        StreamerConfig().replace(**{field: value})
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({field: value}))
    out = tmp_path / "out"
    assert train_mod.main([*base(sessions, out), "--steps", "1", "--config", str(bad)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"duet-engine train: error: {bad}: {needle}"), err
    assert not out.exists()
    assert StreamerConfig(video_out_size=512).video_out_size == 512  # the largest that runs


def test_a_file_that_is_not_a_session_is_skipped_not_fatal(
    tmp_path: Path, sessions: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty, damaged or non-Duet .mkv among the sessions is skipped with a warning, like a
    session without its events file; so is an events file named instead of its .mkv. Only when
    nothing usable is left is it an error, counting what was skipped and why."""
    events = (sessions / "s0.events.jsonl").read_text()
    (sessions / "zero.mkv").write_bytes(b"")
    (sessions / "zero.events.jsonl").write_text(events)
    (sessions / "random.mkv").write_bytes(bytes(range(256)) * 64)
    (sessions / "random.events.jsonl").write_text(events)
    out = tmp_path / "out"
    named = str(sessions / "s0.events.jsonl")
    args = [*base(sessions, out), "--steps", "1"]
    assert train_mod.main([*args[:2], named, *args[2:]]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out.strip().splitlines()[-1])["sessions"] == 1
    warnings = [line for line in captured.err.splitlines() if "warning: " in line]
    assert warnings == [
        f"duet-engine train: warning: {sessions / 'random.mkv'} is not a readable session file:"
        " it is not Matroska, or its header is damaged (FFmpeg: Invalid data found when processing input):"
        " skipped",
        f"duet-engine train: warning: {sessions / 'zero.mkv'} is empty (0 bytes), not a session file:"
        " skipped",
        f"duet-engine train: warning: {named}: skipped: an events file; pass the .mkv, not its events file",
    ]
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("zero", "random"):
        shutil.copy(sessions / f"{name}.mkv", bad)
        shutil.copy(sessions / f"{name}.events.jsonl", bad)
    shutil.copy(sessions / "s0.mkv", bad / "noevents.mkv")
    # without its events file too, a file that is no session is called that (not "events missing")
    (bad / "alone.mkv").write_bytes(bytes(range(256)) * 64)
    assert train_mod.main([*base(bad, tmp_path / "out2"), "--steps", "1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert f"duet-engine train: warning: {bad / 'alone.mkv'} is not a readable session file:" in "\n".join(
        err
    )
    assert err[-1] == (
        f"duet-engine train: error: no session to train on under {bad}: 4 file(s) skipped"
        " (3 not a readable session file, 1 no events file beside it)"
    )
    assert sum("error" in line for line in err) == 1 and not (tmp_path / "out2").exists()


def test_a_session_reached_twice_counts_once_and_upper_case_mkv_is_found(
    tmp_path: Path, sessions: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    upper = tmp_path / "upper"
    upper.mkdir()
    write_session(upper / "X.MKV", 1)  # from a camera card or a case-insensitive file system
    assert (upper / "X.events.jsonl").is_file()
    again = sessions / ".." / "sessions" / "s0.mkv"  # the same file by another path
    out = tmp_path / "out"
    args = [*base(sessions, out), "--steps", "1"]
    assert train_mod.main([*args[:2], str(again), str(sessions), str(upper), *args[2:]]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out.strip().splitlines()[-1])["sessions"] == 3 - 1
    assert f"note: {again} is {sessions / 's0.mkv'} (and 1 more): each session is used once" in captured.err
    assert find_sessions([str(upper), str(upper / "X.MKV")]) == [upper / "X.MKV"]
