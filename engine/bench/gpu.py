"""`duet-engine bench gpu [--out DIR]`: issue 5's GPU benchmark of the streamer in one command.

Runs `duet-engine bench streamer` three ways, each in a fresh process (so one run's CUDA memory
and graph pool never count against the next):

- core_graph: the core step alone on device tensors, CUDA graph (the model's own time).
- engine_graph: the full engine step (numpy in, numpy out: what the runner calls) with the
  transformer step replayed as a CUDA graph, over --units units (default 10 000). The goal:
  a 160 ms unit stepped in under 80 ms (p99), memory constant over the run.
- engine_eager: the full engine step without the graph (what the graph saves).

On a machine without CUDA the graph runs are reported as skipped and the eager run still runs
(that is how the tests check this command on a CPU). Prints one JSON object; with --out, also
writes each run's JSON and the summary there.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
GOAL_STEP_MS = 80.0  # per 160 ms unit: real-time factor 0.5
GOAL_UNITS = 10_000
SETUP_S = 120.0  # building ~1B parameters, moving them to the GPU, warm-up and capture
MEMORY_SLACK_MB = 1.0  # CUDA allocator growth tolerated over a whole run (rounding of samples)

# name -> (extra `bench streamer` flags, needs CUDA, uses --units (else --eager-units)), shortest
# first: a run cut off by an outer time limit leaves the earlier runs' JSON and the summary so far
RUNS: dict[str, tuple[list[str], bool, bool]] = {
    "core_graph": (["--core", "--cuda-graph"], True, False),
    "engine_graph": (["--cuda-graph"], True, True),
    "engine_eager": ([], False, False),
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="duet-engine bench gpu", description=__doc__)
    p.add_argument("--size", default="L", help="streamer preset (default L: ~1B params, 256x256)")
    p.add_argument("--device", default="cuda", help="cuda | cuda:N (cpu: only the eager run, for tests)")
    p.add_argument("--dtype", default="", help="default: bf16 on GPU, fp32 on CPU")
    p.add_argument("--units", type=int, default=GOAL_UNITS, help="units of the engine_graph run")
    p.add_argument("--eager-units", type=int, default=1000, help="units of the other runs")
    p.add_argument(
        "--timeout-s",
        type=float,
        default=0.0,
        help="limit for each run (default: 120 s + 0.1 s a unit, room for a step slower than the goal)",
    )
    p.add_argument("--out", type=Path, default=None, help="folder for each run's JSON and summary.json")
    return p


def _is_cuda(device: str) -> bool:
    if not device.startswith("cuda"):
        return False
    import torch

    return bool(torch.cuda.is_available())


def run_one(name: str, argv: list[str], timeout_s: float) -> dict[str, Any]:
    """One `bench streamer` in a child process -> its JSON, or {"error": ...}."""
    cmd = [sys.executable, "-m", "engine.cli", "bench", "streamer", *argv]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env, cwd=REPO)
    except subprocess.TimeoutExpired:
        return {"error": f"{name}: no result within {timeout_s:.0f} s (raise --timeout-s or lower --units)"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return {"error": f"{name}: exit {proc.returncode}", "stderr_tail": tail}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def judge(runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The goal, read from the engine_graph run: p99 step < 80 ms over >= 10 000 units, and CUDA
    memory that does not grow. None where that run did not happen."""
    main = runs.get("engine_graph", {})
    if "step_ms" not in main:
        return {"step_under_80ms": None, "constant_memory": None, "enough_units": None}
    mem = main.get("memory", {})
    growth = mem.get("cuda_allocated_growth_mb", mem.get("rss_growth_mb"))
    return {
        "step_under_80ms": main["step_ms"]["p99"] < GOAL_STEP_MS,
        "constant_memory": growth is not None and abs(growth) <= MEMORY_SLACK_MB,
        "enough_units": main["units"] >= GOAL_UNITS,
    }


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.units < 1 or args.eager_units < 1:
        print("duet-engine bench gpu: error: --units and --eager-units must be >= 1", file=sys.stderr)
        return 2
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

    for name, (flags, needs_cuda, long_run) in RUNS.items():
        if needs_cuda and not cuda:
            runs[name] = {"skipped": f"needs a CUDA device ({args.device!r} is not one here)"}
            continue
        units = args.units if long_run else args.eager_units
        limit = args.timeout_s or SETUP_S + units * GOAL_STEP_MS * 1.25 / 1000
        runs[name] = run_one(name, [*common, "--units", str(units), *flags], limit)
        print(f"bench gpu: {name}: {json.dumps(runs[name].get('step_ms') or runs[name])}", file=sys.stderr)
        if args.out is not None:
            (args.out / f"{name}.json").write_text(json.dumps(runs[name], indent=1) + "\n")
            (args.out / "summary.json").write_text(json.dumps(summary(), indent=1) + "\n")
    result = summary()
    if args.out is not None:
        (args.out / "summary.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))
    failed = [n for n, r in runs.items() if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
