"""What `duet-engine train` tells: what it is about to do, how far it is without the bar, how well
the model decides at the end (beside the baselines that tell undertrained from broken), a clear
line when memory runs out or a flag can never work; and the files it writes."""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from engine.models.streamer import report, stopping
from engine.models.streamer import train as train_mod
from engine.models.streamer.config import StreamerConfig
from engine.models.streamer.core import StreamerCore
from engine.models.streamer.data import load_examples, session_to_example
from engine.models.streamer.heads import DECISION_INDEX
from engine.protocol import Decision

from .synth import make_session
from .test_train import write_session

CFG = StreamerConfig()


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture
def sessions(tmp_path: Path) -> Path:
    folder = tmp_path / "sessions"
    for seed in (0, 1):
        write_session(folder / f"s{seed}.mkv", seed)
    return folder


def base(sessions: Path, out: Path) -> list[str]:
    return [
        *("--sessions", str(sessions), "--out", str(out)),
        *("--batch", "1", "--seq-units", "4", "--no-progress"),
    ]


def test_the_summary_says_what_was_trained_and_how_well_it_decides(
    tmp_path: Path, sessions: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert train_mod.main([*base(sessions, out), "--steps", "20", "--threads", "1"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    losses = [json.loads(x) for x in (out / "losses.jsonl").read_text().splitlines()]
    assert summary["steps"] == 20 and summary["saved_step"] == 20 and summary["sessions"] == 2
    assert summary["last_loss"] == losses[-1]["loss"]
    assert summary["last_loss_mean"] == pytest.approx((losses[-1]["loss"] + losses[-2]["loss"]) / 2)
    examples = load_examples([str(sessions)], CFG)
    labels = torch.cat([e.targets.decision[0] for e in examples])
    listen = float((labels == DECISION_INDEX[Decision.LISTEN]).float().mean())
    assert summary["accuracy_units"] == labels.numel() == summary["units"]
    assert summary["always_listen_accuracy"] == pytest.approx(listen, abs=1e-4)
    assert 0.0 <= summary["decision_accuracy"] <= 1.0
    assert 0.0 < summary["keep_previous_accuracy"] <= 1.0
    err = captured.err.splitlines()
    assert err[0] == f"duet-engine train: reading the sessions under {sessions} ..."
    assert err[1] == (
        f"duet-engine train: 2 sessions ({summary['units']} units, 0.0 min), size S (0.3 M params),"
        f" device cpu, threads 1 -> {out}"
    )
    # without the bar, a line every ~10% of the steps: 2, 4, ... 20
    progress = [line for line in err if re.match(r"duet-engine train: step \d+/20: loss \d", line)]
    assert [int(line.split()[3].split("/")[0]) for line in progress] == list(range(2, 21, 2))
    assert err[-1].startswith(
        f"duet-engine train: decision accuracy {summary['decision_accuracy']:.3f} on the training sessions"
        f" ({summary['units']} units); always 'listen' would score {listen:.3f}"
    )


def test_decision_accuracy_is_the_models_own_teacher_forced_decisions() -> None:
    """The cheaper pass (trunk and decision head only, crops of --seq-units) decides as the full
    forward pass over the same crops does; the baselines count the labels."""
    examples = [session_to_example(make_session(s, n_units=10), CFG) for s in range(2)]
    torch.manual_seed(0)
    core = StreamerCore(CFG).eval()
    opts = train_mod.TrainOptions(batch=3, seq_units=4)
    score = report.decision_accuracy(core, examples, opts)
    right = listen = same = 0
    with torch.no_grad():
        for ex in examples:
            for lo in range(0, ex.n_units, 4):
                hi = min(lo + 4, ex.n_units)
                batch = ex.inputs.select(lo, hi)
                batch.video, batch.prev_frame = batch.video.float() / 255, batch.prev_frame.float() / 255
                guess = core(ex.sink_text, ex.identity, batch).decision_logits.argmax(-1)
                labels = ex.targets.decision[:, lo:hi]
                right += int((guess == labels).sum())
                listen += int((labels == DECISION_INDEX[Decision.LISTEN]).sum())
                same += int((labels == ex.inputs.prev_decision[:, lo:hi]).sum())
    units = sum(e.n_units for e in examples)
    assert score.units == units
    assert score.accuracy == pytest.approx(right / units)
    assert score.always_listen == pytest.approx(listen / units)
    assert score.keep_previous == pytest.approx(same / units)
    capped = report.decision_accuracy(core, examples, opts, max_units=8)
    assert capped.units == 8  # evenly spread crops stand for all past the cap


def test_the_smoothed_loss_is_the_mean_of_the_last_tenth() -> None:
    rows = [{"step": i + 1, "loss": float(i)} for i in range(30)]
    assert report.smoothed_loss(rows) == pytest.approx((27 + 28 + 29) / 3)
    assert report.smoothed_loss(rows[:5]) == 4.0 and report.smoothed_loss([]) is None


@pytest.fixture
def umask_027() -> Iterator[None]:
    previous = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(previous)


def test_checkpoint_files_get_the_mode_the_umask_gives(
    tmp_path: Path, sessions: Path, umask_027: None
) -> None:
    """safetensors makes its files 0600 whatever the umask: the weights and the optimizer state are
    given the mode config.json gets, so a group that may read the folder may load the model."""
    out = tmp_path / "out"
    assert train_mod.main([*base(sessions, out), "--steps", "1"]) == 0
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()}
    assert (
        modes == {n: 0o640 for n in modes}
        and "model.safetensors" in modes
        and "optimizer.safetensors" in modes
    )


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: 8 GB"),
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        MemoryError(),
    ],
    ids=["cpu", "cuda", "python"],
)
def test_out_of_memory_is_one_line_naming_the_step_and_what_is_kept(
    tmp_path: Path,
    sessions: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    error: BaseException,
) -> None:
    real_loss = train_mod.streamer_loss
    calls = {"n": 0}

    def loss_or_out_of_memory(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 3:
            raise error
        return real_loss(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(train_mod, "streamer_loss", loss_or_out_of_memory)
    out = tmp_path / "out"
    assert train_mod.main([*base(sessions, out), "--steps", "5", "--save-every", "2"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    assert captured.err.splitlines()[-1] == (
        "duet-engine train: error: out of memory at step 3 (size S, batch 1, seq-units 4): try a smaller"
        f" --batch/--seq-units/--size; the checkpoint of step 2 in {out} is kept"
    )
    assert train_mod._checkpoint_step(out) == 2
    calls["n"] = -100  # enough memory now
    assert train_mod.main([*base(sessions, tmp_path / "fresh"), "--steps", "2", "--save-every", "5"]) == 0
    calls["n"] = 2
    capsys.readouterr()
    assert train_mod.main([*base(sessions, tmp_path / "new"), "--steps", "5", "--save-every", "5"]) == 1
    assert capsys.readouterr().err.splitlines()[-1].endswith("--size; no checkpoint was saved")
    assert not (tmp_path / "new").exists()


def test_a_runtime_error_that_is_not_memory_is_not_called_memory() -> None:
    assert not stopping.is_out_of_memory(RuntimeError("shape mismatch"))
    assert stopping.is_out_of_memory(RuntimeError("CUDA error: out of memory"))


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--threads", "300"), "--threads must be 1..256 (0: half the cores), got 300"),
        (("--threads", "-1"), "--threads must be 1..256 (0: half the cores), got -1"),
        (("--lr", "nan"), "--lr must be a finite number > 0, got nan"),
        (("--lr", "0"), "--lr must be a finite number > 0, got 0"),
        (("--lr=-1e-3",), "--lr must be a finite number > 0, got -0.001"),
        (("--weight-decay", "inf"), "--weight-decay must be a finite number >= 0, got inf"),
        (("--batch", "0"), "--batch must be >= 1, got 0"),
        (("--seq-units", "1"), "--seq-units must be >= 2, got 1"),
        (("--save-every", "0"), "--save-every must be >= 1, got 0"),
        (("--steps", "0"), "--steps must be >= 1, got 0"),
    ],
)
def test_a_flag_no_run_could_use_is_a_one_line_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: tuple[str, ...], message: str
) -> None:
    out = tmp_path / "new" / "out"
    argv = ["--sessions", str(tmp_path / "none"), "--out", str(out), *flags]
    assert train_mod.main(argv) == 2
    assert capsys.readouterr().err.splitlines() == [f"duet-engine train: error: {message}"]
    assert not (tmp_path / "new").exists()  # nothing made, nothing read


def test_help_gives_every_default() -> None:
    text = " ".join(train_mod.build_parser().format_help().split())
    for flag, default in (
        ("--steps", "300"),
        ("--batch", "4"),
        ("--seq-units", "16"),
        ("--lr", "0.003"),
        ("--weight-decay", "0.01"),
        ("--save-every", "100"),
        ("--seed", "0"),
        ("--threads", "0"),
        ("--device", "auto"),
        ("--size", "S"),
    ):
        assert re.search(re.escape(flag) + r" [A-Z_]+ [^-]*\(default " + re.escape(default), text), flag


def test_size_beside_config_is_said_to_be_ignored(
    tmp_path: Path, sessions: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"d_model": 32}))
    out = tmp_path / "out"
    assert train_mod.main([*base(sessions, out), "--steps", "1", "--config", str(config), "--size", "M"]) == 0
    err = capsys.readouterr().err
    assert f"note: --size ignored: --config {config} sets the model's size" in err
    assert "size custom (" in err
    assert json.loads((out / "config.json").read_text())["d_model"] == 32


def test_the_loss_plot_smooths_names_the_run_and_marks_a_resume() -> None:
    rows = [
        {"step": i + 1, "loss": 5.0 - i / 10, "text": 3.0, "decision": 1.0, "audio": 0.5, "video": 0.2}
        for i in range(40)
    ]
    rows[20]["resumed_from"] = 20
    fig = report.loss_figure(rows, "size S, 2 sessions")
    try:
        ax = fig.axes[0]
        assert ax.get_title() == "streamer training: size S, 2 sessions"
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert labels == ["total", "text", "decision", "audio", "video", "resumed"]
        faint = [line for line in ax.get_lines() if line.get_alpha() == 0.25]
        assert len(faint) == 5  # the raw curves, under their moving averages
        resumed = [line for line in ax.get_lines() if line.get_label() == "resumed"]
        assert list(resumed[0].get_xdata()) == [20, 20]
        anchor = ax.get_legend().get_bbox_to_anchor().transformed(ax.transAxes.inverted())
        assert anchor.x0 > 1.0  # outside the axes, on the right
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)
    assert report.moving_average([1.0, 3.0, 5.0, 7.0], 2) == [1.0, 2.0, 4.0, 6.0]
