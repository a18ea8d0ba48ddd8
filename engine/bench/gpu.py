"""`duet-engine bench gpu [--out DIR]`: the streamer's GPU benchmark in one command.

Runs `duet-engine bench streamer` three ways, each in a fresh process (so one run's CUDA memory
and graph pool never count against the next), in this order:

- core_graph: the core step alone on device tensors, CUDA graph (the model's own time); short.
- engine_graph: the full engine step (numpy in, numpy out: what the runner calls) with the
  transformer step replayed as a CUDA graph, over --units units (default 10 000). The goal:
  a 160 ms unit stepped in under 80 ms (p99), memory constant over the run.
- engine_eager: the full engine step without the graph (what the graph saves).
- train: a few optimizer steps of the same config on synthetic two-sided sessions, made in
  memory (bf16 autocast on a GPU; no checkpoint written): training scales up with the same code.

Each graph run first checks that the graph computes what the eager step does (`graph_check`);
the goal counts only then. The whole command keeps within --budget-s (default 540 s: one call on
a lent GPU machine): engine_graph gets what the others leave and stops early (`stopped_early`,
with the units it did) rather than run out of time, and a run cut off by its time limit is
asked to stop (SIGTERM) and still reports what it measured. On a machine without CUDA the graph
runs are reported as skipped and the eager run still runs (that is how the tests check this
command on a CPU). Prints one JSON object; with --out, also writes each run's JSON and the summary
there after every run, so a command cut off from outside still leaves what was done.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
GOAL_STEP_MS = 80.0  # per 160 ms unit: real-time factor 0.5
GOAL_UNITS = 10_000
SETUP_S = 120.0  # building ~1B parameters, moving them to the GPU, warm-up, graph check and capture
MEMORY_SLACK_MB = 1.0  # CUDA allocator growth tolerated over a whole run (rounding of samples)
BUDGET_S = 540.0  # the whole command: one call on a lent GPU machine (10 min a call, less start-up)
AFTER_MAIN_S = 90.0  # kept from engine_graph's share for engine_eager and train (short runs)
MAIN_SETUP_S = 60.0  # engine_graph's start before its timed loop (build, graph check, warm-up)
TERM_GRACE_S = 20.0  # a run past its limit gets SIGTERM, and this long to print what it measured

# name -> (extra `bench streamer` flags, needs CUDA, the goal's run (uses --units and the time
# left; the others use --eager-units)); the short graph run first shows the capture works
RUNS: dict[str, tuple[list[str], bool, bool]] = {
    "core_graph": (["--core", "--cuda-graph"], True, False),
    "engine_graph": (["--cuda-graph"], True, True),
    "engine_eager": ([], False, False),
}
TRAIN_RUN = "train"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="duet-engine bench gpu", description=__doc__)
    p.add_argument("--size", default="L", help="streamer preset (default L: ~1B params, 256x256)")
    p.add_argument("--device", default="cuda", help="cuda | cuda:N (cpu: only the eager run, for tests)")
    p.add_argument("--dtype", default="", help="default: bf16 on GPU, fp32 on CPU")
    p.add_argument("--units", type=int, default=GOAL_UNITS, help="units of the engine_graph run")
    p.add_argument("--eager-units", type=int, default=300, help="units of the other runs")
    p.add_argument(
        "--timeout-s",
        type=float,
        default=0.0,
        help="limit for each run (default: 120 s + 0.1 s a unit, room for a step slower than the goal)",
    )
    p.add_argument("--budget-s", type=float, default=BUDGET_S, help="the whole command's time (0: no limit)")
    p.add_argument("--out", type=Path, default=None, help="folder for each run's JSON and summary.json")
    p.add_argument("--train-steps", type=int, default=8, help="optimizer steps of the train run (0: skip)")
    p.add_argument("--train-probe", action="store_true", help=argparse.SUPPRESS)  # the train run's child
    return p


class _Session:
    """A synthetic two-sided session in memory (the fields training reads; see data.SessionLike):
    the user talks in bursts of noise, the avatar answers with a tone and a bright mouth patch."""

    def __init__(self, seed: int, n_units: int, unit_ticks: int, frame_size: int) -> None:
        from engine.protocol import AVATAR_SAMPLES_PER_TICK, MIC_SAMPLES_PER_TICK, Decision, DecisionChanged

        rng = np.random.default_rng(seed)
        self.n_ticks = n_units * unit_ticks
        self.user_pcm = np.zeros(self.n_ticks * MIC_SAMPLES_PER_TICK, np.float32)
        self.avatar_pcm = np.zeros(self.n_ticks * AVATAR_SAMPLES_PER_TICK, np.float32)
        self.avatar_frames: np.ndarray | None = np.full(
            (self.n_ticks, frame_size, frame_size, 3), 40, np.uint8
        )
        self.user_frames: np.ndarray | None = None
        self.events: list[tuple[int, str, object]] = []
        self.meta = {"persona": "guide", "avatar": "ada"}
        per_user, per_avatar = unit_ticks * MIC_SAMPLES_PER_TICK, unit_ticks * AVATAR_SAMPLES_PER_TICK
        tone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(per_avatar) / 24_000)).astype(np.float32)
        for u in range(n_units):
            talking = (u // 4) % 2 == 0  # 4 units of the user, then 4 of the avatar
            tick = u * unit_ticks
            if talking:
                self.user_pcm[u * per_user : (u + 1) * per_user] = rng.normal(0, 0.25, per_user)
            else:
                self.avatar_pcm[u * per_avatar : (u + 1) * per_avatar] = tone
                self.avatar_frames[tick : tick + unit_ticks, frame_size // 2 :, frame_size // 4 :] = 220
            if u % 4 == 0:
                decision = Decision.LISTEN if talking else Decision.SPEAK
                self.events.append((tick, "engine", DecisionChanged(tick=tick, decision=decision)))


def train_probe(size: str, device: str, steps: int) -> dict[str, Any]:
    """`steps` optimizer steps of preset `size` on synthetic sessions -> timings and losses."""
    import time

    import torch

    from engine.models.streamer.config import preset
    from engine.models.streamer.data import session_to_example
    from engine.models.streamer.train import TrainOptions, train

    cfg = preset(size)
    examples = [
        session_to_example(
            _Session(seed, 24, cfg.unit_ticks, cfg.video_out_size), cfg, name=f"synthetic-{seed}"
        )
        for seed in range(2)
    ]
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    opts = TrainOptions(steps=steps, batch=2, seq_units=8, warmup=1, device=device, progress=False)
    t0 = time.perf_counter()
    try:
        result = train(examples, cfg, opts)
    except FloatingPointError as e:  # train() stops on a loss that is not finite
        return {"bench": "train", "size": size.upper(), "device": device, "finite": False, "error": str(e)}
    seconds = time.perf_counter() - t0
    losses = [x["loss"] for x in result.losses]
    return {
        "bench": "train",
        "size": size.upper(),
        "device": device,
        "steps": result.step,
        "batch": opts.batch,
        "seq_units": opts.seq_units,
        "s_per_step": round(seconds / max(1, result.step), 3),  # the first step's warm-up included
        "first_loss": round(losses[0], 4),
        "last_loss": round(losses[-1], 4),
        "finite": all(np.isfinite(losses)),
        **(
            {"cuda_max_allocated_mb": round(torch.cuda.max_memory_allocated(device) / 2**20, 1)}
            if cuda
            else {}
        ),
    }


def _is_cuda(device: str) -> bool:
    if not device.startswith("cuda"):
        return False
    import torch

    return bool(torch.cuda.is_available())


def run_one(name: str, argv: list[str], timeout_s: float, module: bool = False) -> dict[str, Any]:
    """One `bench streamer ARGV` (module=True: `python ARGV`) in a child process -> its JSON, or
    {"error": ...}. Past `timeout_s` the child gets SIGTERM and TERM_GRACE_S to print what it
    measured (`bench streamer` does): that JSON is kept, marked `cut_by_time_limit`."""
    cmd = (
        [sys.executable, *argv]
        if module
        else [sys.executable, "-m", "engine.cli", "bench", "streamer", *argv]
    )
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    cut = False
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        cut = True
        proc.terminate()
        try:
            stdout, stderr = proc.communicate(timeout=TERM_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    if cut and not lines:
        return {"error": f"{name}: no result within {timeout_s:.0f} s (raise --timeout-s or lower --units)"}
    if (proc.returncode != 0 and not cut) or not lines:
        tail = (stderr or stdout).strip().splitlines()[-5:]
        return {"error": f"{name}: exit {proc.returncode}", "stderr_tail": tail}
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except json.JSONDecodeError:  # a line cut off by the kill
        return {
            "error": f"{name}: its JSON was cut off (exit {proc.returncode})",
            "stdout_tail": lines[-1][-200:],
        }
    if cut:
        result["cut_by_time_limit"] = round(timeout_s, 1)
    return result


def judge(runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The goal, read from the engine_graph run: p99 step < 80 ms over >= 10 000 units, CUDA
    memory that does not grow, and a graph that was captured and computes what the eager step
    does (else its times mean nothing). None where that run did not happen."""
    main = runs.get("engine_graph", {})
    if "step_ms" not in main:
        return {"step_under_80ms": None, "constant_memory": None, "enough_units": None, "graph_ok": None}
    mem = main.get("memory", {})
    growth = mem.get("cuda_allocated_growth_mb", mem.get("rss_growth_mb"))
    check = main.get("graph_check") or {}
    return {
        "step_under_80ms": main["step_ms"]["p99"] < GOAL_STEP_MS,
        "constant_memory": growth is not None and abs(growth) <= MEMORY_SLACK_MB,
        "enough_units": main["units"] >= GOAL_UNITS,
        "graph_ok": bool(main.get("cuda_graph_captured")) and check.get("matches") is True,
    }


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.train_probe:  # in the child: one JSON line
        try:
            print(json.dumps(train_probe(args.size, args.device, max(1, args.train_steps))))
        except (ValueError, RuntimeError) as e:  # a bad size or device, out of memory
            print(f"duet-engine bench gpu: error: {e}", file=sys.stderr)
            return 2
        return 0
    if args.units < 1 or args.eager_units < 1 or args.train_steps < 0 or args.budget_s < 0:
        print(
            "duet-engine bench gpu: error: --units, --eager-units must be >= 1, --train-steps and"
            " --budget-s >= 0",
            file=sys.stderr,
        )
        return 2
    started = time.monotonic()

    def left() -> float:  # of --budget-s
        return args.budget_s - (time.monotonic() - started) if args.budget_s else float("inf")

    cuda = _is_cuda(args.device)
    if args.out is not None:
        try:
            args.out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            print(f"duet-engine bench gpu: error: cannot write to {args.out}: {e}", file=sys.stderr)
            return 2
    common = ["--size", args.size, "--device", args.device, *(["--dtype", args.dtype] if args.dtype else [])]
    runs: dict[str, dict[str, Any]] = {}

    def summary() -> dict[str, Any]:
        return {
            "bench": "gpu",
            "size": args.size.upper(),
            "device": args.device,
            "cuda": cuda,
            "goal": {"step_ms_p99_under": GOAL_STEP_MS, "unit_ms": 160, "units": GOAL_UNITS},
            "met": judge(runs),
            "runs": runs,
        }

    def record(name: str) -> None:
        print(f"bench gpu: {name}: {json.dumps(runs[name].get('step_ms') or runs[name])}", file=sys.stderr)
        if args.out is not None:
            (args.out / f"{name}.json").write_text(json.dumps(runs[name], indent=1) + "\n")
            (args.out / "summary.json").write_text(json.dumps(summary(), indent=1) + "\n")

    def out_of_time(name: str) -> bool:
        if left() > TERM_GRACE_S:
            return False
        runs[name] = {"skipped": f"out of --budget-s {args.budget_s:g}"}
        record(name)
        return True

    for name, (flags, needs_cuda, main_run) in RUNS.items():
        if needs_cuda and not cuda:
            runs[name] = {"skipped": f"needs a CUDA device ({args.device!r} is not one here)"}
            continue
        if out_of_time(name):
            continue
        units = args.units if main_run else args.eager_units
        limit = args.timeout_s or SETUP_S + units * GOAL_STEP_MS * 1.25 / 1000
        extra: list[str] = []
        if main_run and left() < limit + AFTER_MAIN_S:  # step for what the budget leaves it
            max_s = max(30.0, left() - AFTER_MAIN_S - MAIN_SETUP_S)
            extra = ["--max-s", f"{max_s:.0f}"]
            # a slower start than MAIN_SETUP_S is cut (SIGTERM: it still reports what it stepped)
            # rather than eat what engine_eager and train were left
            limit = max_s + MAIN_SETUP_S + 30.0
        limit = min(limit, max(1.0, left() - TERM_GRACE_S))
        runs[name] = run_one(name, [*common, "--units", str(units), *flags, *extra], limit)
        record(name)
    if args.train_steps and not out_of_time(TRAIN_RUN):
        cmd = ["-m", "engine.bench.gpu", "--train-probe", "--size", args.size, "--device", args.device]
        limit = min(args.timeout_s or SETUP_S + 10 * args.train_steps, max(1.0, left() - TERM_GRACE_S))
        runs[TRAIN_RUN] = run_one(
            TRAIN_RUN, [*cmd, "--train-steps", str(args.train_steps)], limit, module=True
        )
        record(TRAIN_RUN)
    result = summary()
    if args.out is not None:
        (args.out / "summary.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))
    failed = [n for n, r in runs.items() if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
