"""`duet-engine bench streamer --size S|M|L [--device D] [--units N]`: per-unit step time and memory.

Builds a random-initialised streamer of the given size (no weights needed: speed does not depend on
training), opens a session and steps N units of synthetic input (noise mic, a 640x480 camera frame
per tick), timing each step. Default path: the full engine contract StreamerModel.step (numpy in,
numpy out). --core times StreamerCore.step on device tensors only; --cuda-graph replays the
step as a CUDA graph, after checking that the graph computes what the eager step does (past one
wrap of the KV ring). Memory (process RSS and CUDA allocated) is sampled across the run to show it
stays constant. --max-s (or SIGTERM) ends the timed loop early: the JSON then covers the units
stepped so far and says why it stopped. Prints one JSON object. The GPU goal: L (~1B params,
256x256, bf16) under 80 ms a 160 ms unit on one H100, constant memory over 10 000 units.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from types import FrameType
from typing import Any

import numpy as np
import torch

from engine import hub
from engine.models.streamer.config import preset
from engine.models.streamer.model import StreamerModel, cpu_threads
from engine.protocol import MIC_SAMPLES_PER_TICK, TICK_MS, SessionSpec, UnitIn
from engine.registry import ModelOptions
from engine.signals import handling


def rss_mb() -> float:
    """Resident set size of this process now (Linux /proc; falls back to peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def synthetic_units(n_ticks: int, count: int, seed: int = 0) -> list[UnitIn]:
    """`count` distinct units to cycle through (inputs vary, shapes do not)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        frames = rng.integers(0, 256, (n_ticks, 480, 640, 3), dtype=np.uint8)
        mic = (rng.standard_normal(MIC_SAMPLES_PER_TICK * n_ticks) * 0.1).astype(np.float32)
        ticks = np.arange(i * n_ticks, (i + 1) * n_ticks, dtype=np.int64)
        out.append(UnitIn(int(ticks[0]), n_ticks, mic, frames, ticks))
    return out


def _pct(xs: list[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(xs), q)), 3)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="duet-engine bench streamer", description=__doc__)
    p.add_argument("--size", default="S", help="S (tiny, CPU) | M | L (~1B params, GPU)")
    p.add_argument(
        "--weights",
        default="",
        help="a trained checkpoint (folder or hub repo id) to time instead of a random --size model",
    )
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument(
        "--units", type=int, default=None, help="units to time (default: 300 on CPU, 10000 on GPU)"
    )
    p.add_argument("--warmup", type=int, default=10, help="untimed units first")
    p.add_argument(
        "--dtype", default="", help="float32 | bfloat16 | float16 (default: bf16 on GPU, fp32 on CPU)"
    )
    p.add_argument("--threads", type=int, default=0, help="CPU threads (default: half the cores)")
    p.add_argument("--core", action="store_true", help="time only the core step on device tensors")
    p.add_argument("--cuda-graph", action="store_true", help="replay the step as a CUDA graph (GPU only)")
    p.add_argument(
        "--max-s", type=float, default=0.0, help="stop timing after this many seconds (0: all --units)"
    )
    return p


class _Stop:
    """Why the timed loop should end early ("" while it should not): --max-s, or SIGTERM (an outer
    time limit) -- either way the units stepped so far are reported. The SIGTERM handler is ours
    only inside `with` (engine.signals.handling); the one before comes back."""

    def __init__(self, max_s: float) -> None:
        self.reason = ""
        self.deadline = time.perf_counter() + max_s if max_s > 0 else float("inf")
        self._handling = handling(self._term, signal.SIGTERM)

    def __enter__(self) -> _Stop:
        self._handling.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._handling.__exit__(*exc)

    def _term(self, signum: int, frame: FrameType | None) -> None:
        self.reason = "SIGTERM"

    def check(self) -> str:
        if not self.reason and time.perf_counter() > self.deadline:
            self.reason = "--max-s"
        return self.reason


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if (args.units is not None and args.units < 1) or args.warmup < 0 or args.threads < 0 or args.max_s < 0:
        print(
            "duet-engine bench streamer: error: --units must be >= 1, --warmup, --threads and --max-s >= 0",
            file=sys.stderr,
        )
        return 2
    try:
        extra = {"threads": str(cpu_threads(str(args.threads) if args.threads else None))}
        if not args.weights:  # speed does not depend on training: a random model of the size
            preset(args.size)  # (an unknown size is said before anything is built)
            extra.update(allow_untrained="1", size=args.size)
        if args.dtype:
            extra["dtype"] = args.dtype
        if args.cuda_graph:
            extra["cuda_graph"] = "1"
        model = StreamerModel(ModelOptions(device=args.device, weights=args.weights, extra=extra))
        cfg = model.config
    except hub.CheckpointError as e:  # weights that cannot be used: not a usage error (as `run`: 1)
        print(f"duet-engine bench streamer: error: {e}", file=sys.stderr)
        return 1
    except (ValueError, RuntimeError) as e:  # a bad size or device; CheckpointError is a ValueError
        print(f"duet-engine bench streamer: error: {e}", file=sys.stderr)
        return 2
    device = model.device
    cuda = device.type == "cuda"
    if args.cuda_graph and not cuda:
        print("duet-engine bench streamer: error: --cuda-graph needs a CUDA device", file=sys.stderr)
        return 2
    units = args.units if args.units is not None else (10_000 if cuda else 300)
    inputs = synthetic_units(cfg.unit_ticks, 8)
    model.open(SessionSpec())
    graph_check: dict[str, object] | None = None
    if args.cuda_graph:  # a capture that recorded nothing would time as very fast: check it first
        from engine.models.streamer.graph import graph_vs_eager

        assert model._state is not None
        graph_check = graph_vs_eager(
            model.core, model._state, [model._batch(u) for u in inputs], cfg.window_units + 2
        )
        torch.cuda.empty_cache()
    use_core = args.core
    graph_note = ""
    step_core = None
    if use_core:
        from engine.models.streamer.graph import GraphedStep

        batches = [model._batch(u) for u in inputs]
        assert model._state is not None
        runner = GraphedStep(model.core, model._state, batches[0], capture=args.cuda_graph)
        graph_note = "captured" if runner.graph is not None else ""
        step_core = runner.step

    def one(i: int) -> None:
        if step_core is not None:
            step_core(batches[i % len(batches)])
        else:
            unit = inputs[i % len(inputs)]
            model.step(UnitIn(i * cfg.unit_ticks, unit.n_ticks, unit.mic, unit.frames, unit.frame_ticks))

    for i in range(args.warmup):
        one(i)
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    times: list[float] = []
    samples: list[dict[str, float]] = []
    every = max(1, units // 10)

    def sample(i: int) -> None:
        s = {"unit": i, "rss_mb": round(rss_mb(), 1)}
        if cuda:
            s["cuda_allocated_mb"] = round(torch.cuda.memory_allocated(device) / 2**20, 1)
        samples.append(s)

    with _Stop(args.max_s) as stop:
        t_start = time.perf_counter()
        for i in range(units):
            t0 = time.perf_counter()
            one(args.warmup + i)
            if cuda:
                torch.cuda.synchronize(device)
            times.append((time.perf_counter() - t0) * 1e3)
            if i % every == 0 or i == units - 1:
                sample(i)
            elif stop.check():
                sample(i)  # the last sample is the last unit stepped
                break
    wall = time.perf_counter() - t_start
    unit_ms = cfg.unit_ticks * TICK_MS
    first, last = samples[0], samples[-1]
    captured = bool(graph_note) or (model._graph is not None and model._graph.graph is not None)
    result = {
        "bench": "streamer",
        "size": None if args.weights else args.size.upper(),  # a checkpoint: its config decides
        **({"weights": model.source} if args.weights else {}),
        "params_m": round(sum(p.numel() for p in model.core.parameters()) / 1e6, 2),
        "device": str(device) + (f" ({torch.cuda.get_device_name(device)})" if cuda else ""),
        "dtype": str(model.dtype).replace("torch.", ""),
        "threads": torch.get_num_threads(),
        "path": ("core" if use_core else "model.step") + ("+cuda_graph" if args.cuda_graph else ""),
        "cuda_graph_captured": captured,
        "frame_size": cfg.video_out_size,
        "tokens_per_unit": cfg.unit_len,
        "kv_tokens": cfg.sink_len + cfg.window_units * cfg.unit_len,
        "units": len(times),
        "units_asked": units,
        "stopped_early": stop.reason or None,
        "graph_check": graph_check,
        "unit_ms": unit_ms,
        "step_ms": {
            "p50": _pct(times, 50),
            "p99": _pct(times, 99),
            "mean": round(float(np.mean(times)), 3),
            "max": round(float(np.max(times)), 3),
        },
        "rtf_p50": round(_pct(times, 50) / unit_ms, 3),
        "realtime_units_per_s": round(len(times) / wall, 2),
        "memory": {
            "samples": samples,
            "rss_growth_mb": round(last["rss_mb"] - first["rss_mb"], 1),
            **(
                {
                    "cuda_allocated_growth_mb": round(
                        last["cuda_allocated_mb"] - first["cuda_allocated_mb"], 1
                    ),
                    "cuda_max_allocated_mb": round(torch.cuda.max_memory_allocated(device) / 2**20, 1),
                }
                if cuda
                else {}
            ),
        },
    }
    print(json.dumps(result))
    model.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
