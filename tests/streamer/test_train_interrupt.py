"""Ctrl-C during `duet-engine train` keeps the work done so far: the step in progress finishes, is
checkpointed whole, and `--resume` goes on from it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from safetensors import safe_open

from tests.streamer.test_train import write_session

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.linux  # SIGINT to a child process
def test_ctrl_c_saves_the_last_whole_step_and_resume_goes_on(tmp_path: Path) -> None:
    sessions = tmp_path / "sessions"
    write_session(sessions / "s0.mkv", 0)
    out = tmp_path / "model"
    args = ["--sessions", str(sessions), "--out", str(out), "--batch", "2", "--seq-units", "4"]
    cmd = [sys.executable, "-m", "engine.cli", "train", *args, "--steps", "100000", "--save-every", "100000"]
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        stream = proc.stderr
        assert stream is not None and proc.stdout is not None
        err: list[str] = []  # stderr so far, a character at a time (the bar rewrites its line with \r)
        reader = threading.Thread(target=lambda: err.extend(iter(lambda: stream.read(1), "")), daemon=True)
        reader.start()
        done = re.compile(r"\|\s*(\d+)/100000")  # the progress bar: steps done
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            counts = [int(n) for n in done.findall("".join(err))]
            if counts and max(counts) >= 3:
                break
            time.sleep(0.1)
        assert proc.poll() is None, "".join(err)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
        reader.join(10)  # stderr to its end (read by the reader alone)
    finally:
        if proc.poll() is None:  # a check above failed: leave no training run behind
            proc.kill()
            proc.wait()
    stdout = proc.stdout.read()
    stderr = "".join(err)
    assert proc.returncode == 130, stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    n = summary["steps"]
    assert summary["interrupted"] is True and n >= 3
    assert f"interrupted at step {n}; its checkpoint is complete in {out}: --resume continues" in stderr
    assert "Traceback" not in stderr
    losses = [json.loads(x) for x in (out / "losses.jsonl").read_text().splitlines()]
    assert [x["step"] for x in losses] == list(range(1, n + 1))
    with safe_open(str(out / "optimizer.safetensors"), "pt") as f:
        assert f.metadata()["step"] == str(n)
    with safe_open(str(out / "model.safetensors"), "pt") as f:
        assert f.metadata()["duet_steps"] == str(n)

    more = [*args, "--steps", str(n + 2), "--resume", "--no-progress"]
    p = subprocess.run(
        [sys.executable, "-m", "engine.cli", "train", *more],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert p.returncode == 0, p.stderr
    losses = [json.loads(x) for x in (out / "losses.jsonl").read_text().splitlines()]
    assert [x["step"] for x in losses] == list(range(1, n + 3))


def test_a_second_ctrl_c_waits_for_the_checkpoint_being_saved() -> None:
    """The first Ctrl-C asks for a stop; a second one stops at once, but not in the middle of a
    checkpoint being moved in (that would leave a folder half old, half new): right after it."""
    from engine.models.streamer.stopping import _StopOnCtrlC

    stop = _StopOnCtrlC()
    stop._on_sigint(signal.SIGINT, None)
    assert stop.requested  # the first: a request, nothing raised
    finished: list[str] = []
    with pytest.raises(KeyboardInterrupt), stop.save():
        stop._on_sigint(signal.SIGINT, None)  # the second, while saving
        finished.append("the whole save")
    assert finished == ["the whole save"]
    with pytest.raises(KeyboardInterrupt):
        stop._on_sigint(signal.SIGINT, None)  # not saving: at once


def test_a_second_sigterm_stops_at_once_with_sigterms_status() -> None:
    from engine.models.streamer.stopping import StopNow, _StopOnCtrlC

    stop = _StopOnCtrlC()
    stop._on_sigint(signal.SIGTERM, None)
    assert stop.requested and stop.code == 143  # the first: a request, like Ctrl-C
    with pytest.raises(StopNow) as caught:
        stop._on_sigint(signal.SIGTERM, None)
    assert caught.value.code == 143


def test_sigterm_finishes_the_step_saves_it_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`kill`, `timeout` or a service manager stopping training: as the first Ctrl-C (the step in
    progress finishes and is checkpointed, --resume goes on), exit 143; the handlers are put back."""
    from engine.models.streamer import train as train_mod

    sessions = tmp_path / "sessions"
    write_session(sessions / "s0.mkv", 0)
    out = tmp_path / "model"
    real_loss = train_mod.streamer_loss
    calls = {"n": 0}

    def loss_then_sigterm(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 3:
            signal.raise_signal(signal.SIGTERM)  # as `kill PID` during that step
        return real_loss(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(train_mod, "streamer_loss", loss_then_sigterm)
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    args = [
        "--sessions",
        str(sessions),
        "--out",
        str(out),
        "--batch",
        "1",
        "--seq-units",
        "4",
        "--no-progress",
    ]
    assert train_mod.main([*args, "--steps", "50", "--save-every", "100"]) == 143
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["steps"] == 3 and summary["saved_step"] == 3 and summary["interrupted"] is True
    assert captured.err.splitlines()[-1] == (
        f"duet-engine train: interrupted at step 3; its checkpoint is complete in {out}: --resume continues"
    )
    with safe_open(str(out / "model.safetensors"), "pt") as f:
        assert f.metadata()["duet_steps"] == "3"
    monkeypatch.setattr(train_mod, "streamer_loss", real_loss)
    assert train_mod.main([*args, "--steps", "4", "--resume"]) == 0
    losses = [json.loads(x) for x in (out / "losses.jsonl").read_text().splitlines()]
    assert [x["step"] for x in losses] == [1, 2, 3, 4]


def test_sigterm_while_the_sessions_are_read_stops_with_a_word(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.models.streamer import train as train_mod

    sessions = tmp_path / "sessions"
    write_session(sessions / "s0.mkv", 0)
    real_load = train_mod.load_examples

    def load_then_sigterm(*args: object, **kwargs: object) -> object:
        signal.raise_signal(signal.SIGTERM)
        return real_load(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(train_mod, "load_examples", load_then_sigterm)
    out = tmp_path / "new" / "model"
    args = ["--sessions", str(sessions), "--out", str(out), "--no-progress"]
    assert train_mod.main(args) == 143
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "duet-engine train: interrupted before training began: nothing was saved"
    assert not (tmp_path / "new").exists()  # the folders it made for --out go again
