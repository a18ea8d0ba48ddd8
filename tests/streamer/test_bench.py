"""`duet-engine bench streamer` prints one JSON object with step times and memory samples;
`bench gpu` runs it the ways issue 5 asks for, in fresh processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.bench import gpu
from engine.bench import streamer as bench

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("extra", [[], ["--core"]])
def test_bench_prints_json(extra: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        bench.main(
            ["--size", "S", "--device", "cpu", "--units", "6", "--warmup", "1", "--threads", "1", *extra]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["size"] == "S" and result["units"] == 6 and result["device"] == "cpu"
    assert result["step_ms"]["p50"] > 0 and result["step_ms"]["p99"] >= result["step_ms"]["p50"]
    assert result["memory"]["samples"] and "rss_growth_mb" in result["memory"]
    assert result["path"] == ("core" if extra else "model.step")


def test_bench_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--size", "XXL", "--device", "cpu"]) == 2
    assert "unknown streamer size" in capsys.readouterr().err
    assert bench.main(["--size", "S", "--device", "cpu", "--cuda-graph", "--units", "1"]) == 2
    assert "CUDA" in capsys.readouterr().err
    for bad in (["--units", "0"], ["--warmup", "-1"], ["--threads", "-2"]):  # not "the default" in disguise
        assert bench.main(["--size", "S", "--device", "cpu", *bad]) == 2
        assert "--units must be >= 1, --warmup, --threads and --max-s >= 0" in capsys.readouterr().err


def test_bench_gpu_runs_what_this_machine_can(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`bench gpu` on a CPU: the CUDA-graph runs say why they were skipped, the eager run runs in
    its own process, and every run's JSON and the summary land in --out."""
    out = tmp_path / "gpu"
    args = ["--size", "S", "--device", "cpu", "--units", "3", "--eager-units", "3", "--out", str(out)]
    assert gpu.main([*args, "--train-steps", "3"]) == 0
    summary = json.loads(capsys.readouterr().out)
    runs = summary["runs"]
    assert "CUDA" in runs["engine_graph"]["skipped"] and "CUDA" in runs["core_graph"]["skipped"]
    eager = runs["engine_eager"]
    assert eager["path"] == "model.step" and eager["units"] == 3 and eager["step_ms"]["p50"] > 0
    assert summary["met"] == {
        "step_under_80ms": None,
        "constant_memory": None,
        "enough_units": None,
        "graph_ok": None,
    }
    assert json.loads((out / "summary.json").read_text()) == summary
    assert json.loads((out / "engine_eager.json").read_text()) == eager
    trained = runs["train"]  # the same config trains, on synthetic sessions, in its own process
    assert trained["steps"] == 3 and trained["finite"] and trained["s_per_step"] > 0
    assert json.loads((out / "train.json").read_text()) == trained


def test_bench_gpu_judges_the_goal() -> None:
    run = {
        "units": 10_000,
        "step_ms": {"p99": 12.5},
        "memory": {"cuda_allocated_growth_mb": 0.0},
        "cuda_graph_captured": True,
        "graph_check": {"matches": True},
    }
    assert gpu.judge({"engine_graph": run}) == {
        "step_under_80ms": True,
        "constant_memory": True,
        "enough_units": True,
        "graph_ok": True,
    }
    slow = {"units": 500, "step_ms": {"p99": 95.0}, "memory": {"cuda_allocated_growth_mb": 40.0}}
    assert gpu.judge({"engine_graph": slow}) == {
        "step_under_80ms": False,
        "constant_memory": False,
        "enough_units": False,
        "graph_ok": False,
    }
    # fast, but the graph replays something else (or nothing): the times mean nothing
    wrong = {**run, "graph_check": {"matches": False}}
    assert gpu.judge({"engine_graph": wrong})["graph_ok"] is False
    assert gpu.judge({"engine_graph": {**run, "cuda_graph_captured": False}})["graph_ok"] is False


def test_bench_stops_at_max_s_and_reports_what_it_stepped(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--size", "S", "--device", "cpu", "--units", "100000", "--warmup", "0", "--threads", "1"]
    import signal

    before = signal.getsignal(signal.SIGTERM)
    assert bench.main([*args, "--max-s", "0.3"]) == 0
    assert signal.getsignal(signal.SIGTERM) == before  # a caller's SIGTERM still works after it
    result = json.loads(capsys.readouterr().out)
    assert result["stopped_early"] == "--max-s" and result["units_asked"] == 100000
    assert 1 <= result["units"] < 100000 and result["memory"]["samples"][-1]["unit"] == result["units"] - 1
    assert bench.main(["--size", "S", "--device", "cpu", "--max-s", "-1"]) == 2


@pytest.mark.linux  # os.kill(own pid, SIGTERM)
def test_sigterm_ends_the_timed_loop_with_a_report() -> None:
    import signal

    old = signal.getsignal(signal.SIGTERM)
    try:
        with bench._Stop(0.0) as stop:
            assert stop.check() == ""  # no --max-s: runs to the end
            os.kill(os.getpid(), signal.SIGTERM)  # an outer time limit
            assert stop.check() == "SIGTERM"
        assert signal.getsignal(signal.SIGTERM) == old  # the process's own handler is back
    finally:
        signal.signal(signal.SIGTERM, old)


@pytest.mark.linux  # SIGTERM as a handled signal to a child
def test_a_run_past_its_limit_keeps_what_it_printed_on_sigterm() -> None:
    on_term = (
        "import json, signal, sys, time\n"
        "def term(*a):\n"
        "    print(json.dumps({'units': 3}))\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, term)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    result = gpu.run_one("engine_graph", ["-c", on_term], timeout_s=2.0, module=True)
    assert result == {"units": 3, "cut_by_time_limit": 2.0}
    silent = gpu.run_one("engine_graph", ["-c", "import time; time.sleep(60)"], timeout_s=1.0, module=True)
    assert silent["error"].startswith("engine_graph: no result within 1 s")


def test_bench_gpu_keeps_within_its_budget(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With no time left in --budget-s, runs are reported as skipped, and the summary still lands."""
    out = tmp_path / "gpu"
    args = ["--size", "S", "--device", "cpu", "--eager-units", "2", "--train-steps", "1"]
    assert gpu.main([*args, "--budget-s", "1", "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["runs"]["engine_eager"] == {"skipped": "out of --budget-s 1"}
    assert summary["runs"]["train"] == {"skipped": "out of --budget-s 1"}
    assert json.loads((out / "summary.json").read_text()) == summary


def test_bench_gpu_reports_a_failed_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert gpu.main(["--size", "XXL", "--device", "cpu", "--eager-units", "2"]) == 1
    summary = json.loads(capsys.readouterr().out)
    err = summary["runs"]["engine_eager"]
    assert err["error"].startswith("engine_eager: exit 2")
    assert any("unknown streamer size" in line for line in err["stderr_tail"])
    train = summary["runs"]["train"]
    assert train["error"].startswith("train: exit 2") and "unknown streamer size" in train["stderr_tail"][-1]
    assert gpu.main(["--units", "0"]) == 2


BARE_GPU_IMAGE_LACKS = ("av", "platformdirs", "PySide6", "sounddevice", "qasync", "vispy")


def test_bench_gpu_runs_without_the_apps_media_and_gui_packages(tmp_path: Path) -> None:
    """The GPU machine's image has torch, numpy, safetensors, PyYAML and tqdm but none of the app's
    media and GUI packages: `bench gpu` (its child runs, the CLI's error path) must not import them."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import importlib.abc, sys\n"
        f"LACKS = {BARE_GPU_IMAGE_LACKS!r}\n"
        "class Lacks(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in LACKS:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r} (not on the GPU image)')\n"
        "sys.meta_path.insert(0, Lacks())\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(REPO)]))
    out = tmp_path / "gpu"
    args = ["--size", "S", "--device", "cpu", "--units", "2", "--eager-units", "2", "--train-steps", "1"]
    cmd = [sys.executable, "-m", "engine.cli", "bench", "gpu", *args, "--out", str(out)]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert p.returncode == 0, p.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["runs"]["engine_eager"]["units"] == 2 and summary["runs"]["train"]["finite"]
    # the blocker works, and an error there is still one line, not an ImportError traceback
    p = subprocess.run(
        [sys.executable, "-m", "engine.cli", "bench", "streamer", "--size", "XXL", "--device", "cpu"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert p.returncode == 2 and "unknown streamer size" in p.stderr and "Traceback" not in p.stderr
    probe = "from engine.cli.main import CliError, _user_errors\nprint(CliError in _user_errors())\nimport av"
    p = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60)
    assert p.stdout == "True\n" and p.returncode == 1
    assert p.stderr.strip().endswith("No module named 'av' (not on the GPU image)")


def test_bench_times_a_trained_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A researcher times the model they trained (its config.json decides the size)."""
    from engine import hub
    from engine.models.streamer.config import StreamerConfig
    from engine.models.streamer.core import StreamerCore

    cfg = StreamerConfig(d_model=48, n_heads=4)
    folder = hub.save_pretrained(StreamerCore(cfg), cfg, tmp_path / "mine", metadata={"duet_trained": "true"})
    args = ["--device", "cpu", "--units", "3", "--warmup", "0", "--threads", "1"]
    assert bench.main(["--weights", str(folder), *args]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["weights"] == str(folder) and result["size"] is None and result["units"] == 3
    assert result["params_m"] == round(sum(p.numel() for p in StreamerCore(cfg).parameters()) / 1e6, 2)
    assert bench.main(["--weights", str(tmp_path / "missing"), *args]) == 1  # bad weights: not a usage error
    err = capsys.readouterr().err
    assert (
        err.startswith("duet-engine bench streamer: error: ")
        and "missing" in err
        and len(err.splitlines()) == 1
    )
