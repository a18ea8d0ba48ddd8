"""`duet-engine train`: fit the streamer on recorded sessions (NAME.mkv + NAME.events.jsonl).

Writes to --out: config.json + model.safetensors (loadable with --weights), optimizer.safetensors
(AdamW state, for --resume), losses.jsonl (one line per step) and loss.png (the loss curve); see
checkpoint.py (all or nothing), report.py (what it says) and stopping.py (Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from engine import hub
from engine.paths import folder_reason
from engine.protocol import TICK_S
from engine.signals import handling

from .checkpoint import (
    LOSSES_NAME,
    OPTIMIZER_NAME,
    CheckpointSaveError,
    _read_losses,
    load_optimizer,
    save_checkpoint,
)
from .config import PRESETS, StreamerConfig, preset
from .core import StreamerCore
from .data import DataError, Example, load_examples, sample_batch
from .losses import streamer_loss
from .model import cpu_threads, pick_device
from .report import (
    DecisionScore,
    _mean,
    decision_accuracy,
    decision_line,
    size_name,
    smoothed_loss,
)
from .stopping import (
    StopNow,
    TrainOutOfMemory,
    _raise_stop_now,
    _StopOnCtrlC,
    is_out_of_memory,
)

SIZE_DEFAULT = "S"


@dataclass
class TrainOptions:
    steps: int = 300
    batch: int = 4
    seq_units: int = 16
    lr: float = 3e-3
    weight_decay: float = 0.01
    warmup: int = 20
    clip: float = 1.0
    seed: int = 0
    save_every: int = 100
    audio_weight: float = 1.0
    video_weight: float = 1.0
    device: str = "cpu"
    progress: bool = True


@dataclass
class TrainResult:
    core: StreamerCore
    losses: list[dict[str, float]] = field(default_factory=list)
    step: int = 0
    interrupted: bool = False  # stopped early by Ctrl-C (after a whole step, checkpointed)
    trained: int = 0  # optimizer steps taken by this call (0: a resumed checkpoint already at --steps)
    # interrupted before the first checkpoint of a run that replaces one (--overwrite): nothing of
    # this run was saved and the checkpoint that was there is kept
    kept_previous: bool = False
    code: int = 130  # the exit status an interruption gives: 130 Ctrl-C, 143 SIGTERM


# ---------------------------------------------------------------- training
def train(
    examples: list[Example],
    cfg: StreamerConfig,
    opts: TrainOptions,
    out_dir: Path | None = None,
    resume: bool = False,
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    """Fit a StreamerCore on `examples`; with out_dir, checkpoint there (and resume from it).
    `log`: without the progress bar (opts.progress False), a line every ~10% of the steps.
    TrainOutOfMemory when a step runs out of memory (the checkpoints saved before it are kept)."""
    if not examples:
        raise DataError("no training sessions")
    torch.manual_seed(opts.seed)
    device = pick_device(opts.device)
    resuming = resume and out_dir is not None and (out_dir / hub.WEIGHTS_NAME).is_file()
    if resuming and out_dir is not None:  # an edited config fails here, before allocating the model
        hub.check_before_build(out_dir, cfg, lambda: StreamerCore(cfg))
    core = StreamerCore(cfg)
    losses: list[dict[str, float]] = []
    start = 0
    meta = hub.load_weights(core, out_dir, config=cfg) if resuming and out_dir is not None else {}
    core.to(device)  # before the optimizer: its state lives where the parameters do
    opt = torch.optim.AdamW(core.parameters(), lr=opts.lr, weight_decay=opts.weight_decay, betas=(0.9, 0.98))
    if resuming and out_dir is not None:
        if (out_dir / OPTIMIZER_NAME).is_file():
            start = load_optimizer(opt, out_dir / OPTIMIZER_NAME)
            weights_step = meta.get("duet_steps")
            if weights_step is not None and weights_step != str(start):
                raise hub.CheckpointError(
                    f"{out_dir}: the weights are from step {weights_step} but {OPTIMIZER_NAME} from step"
                    f" {start} (a save was cut off): --overwrite starts over; deleting {OPTIMIZER_NAME}"
                    " keeps the weights"
                )
        if (out_dir / LOSSES_NAME).is_file():
            losses = _read_losses(out_dir / LOSSES_NAME)[:start]
    core.to(device).train()
    gen = torch.Generator().manual_seed(opts.seed + start)
    bar = None
    if opts.progress:
        from tqdm import tqdm

        bar = tqdm(total=opts.steps, initial=start, desc="train streamer", unit="step", file=sys.stderr)
    every = max(1, round(opts.steps / 10))  # without the bar: a line every ~10% of the steps
    since, t_since = len(losses), time.perf_counter()
    step = start
    saved = start if resume and start else None  # newest step whose checkpoint is complete in out_dir
    # a checkpoint from before this run is there (--overwrite): a Ctrl-C before this run's first
    # scheduled save keeps it rather than trading it for a few steps of the new run
    replacing = out_dir is not None and not resume and (out_dir / hub.WEIGHTS_NAME).is_file()
    kept_previous = False
    stop = _StopOnCtrlC()
    doing = step + 1
    try:
        with stop:
            stopping = False
            while step < opts.steps and not stopping:
                doing = step + 1  # the step an out-of-memory error is reported at (its save included)
                sink, ident, inputs, targets = sample_batch(examples, opts.batch, opts.seq_units, gen)
                # bf16 autocast on CUDA (the losses are computed in float32); plain float32 on CPU
                with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
                    out = core(sink.to(device), ident.to(device), inputs.to(device))
                fields = targets.__dataclass_fields__
                targets = type(targets)(*(getattr(targets, f).to(device) for f in fields))
                loss, parts = streamer_loss(out, targets, opts.audio_weight, opts.video_weight)
                if not math.isfinite(parts["loss"]):
                    raise FloatingPointError(f"loss is {parts['loss']} at step {step}; lower --lr")
                for group in opt.param_groups:  # warmup + cosine, a pure function of the step (resumable)
                    group["lr"] = opts.lr * _lr_factor(step, opts)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(core.parameters(), opts.clip)
                opt.step()
                del out, loss  # the step's activations go before the next batch is drawn
                if step == start and start:
                    parts["resumed_from"] = start  # the curve marks where a resumed run began
                step += 1
                parts["step"] = step
                losses.append(parts)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{parts['loss']:.3f}", dec=f"{parts['decision']:.3f}")
                elif log is not None and (step % every == 0 or step == opts.steps):
                    recent = losses[since:]
                    took = (time.perf_counter() - t_since) / max(1, len(recent))
                    log(
                        f"step {step}/{opts.steps}: loss {_mean(recent, 'loss'):.3f}"
                        f" (decision {_mean(recent, 'decision'):.3f}), {took:.2f} s a step"
                    )
                    since, t_since = len(losses), time.perf_counter()
                stopping = stop.requested  # read once: the loop stops after the step it saved
                # every save_every steps, at the end, and after the step a Ctrl-C came in
                scheduled = step % opts.save_every == 0 or step == opts.steps
                if stopping and not scheduled and replacing and saved is None:
                    kept_previous = True
                elif out_dir is not None and (scheduled or stopping):
                    with stop.save():
                        save_checkpoint(core, cfg, opt, out_dir, step, losses, len(examples), saved)
                    saved = step
            interrupted = stopping and step < opts.steps  # main() says so, once
    except (MemoryError, RuntimeError) as e:
        if not is_out_of_memory(e):
            raise
        raise TrainOutOfMemory(doing, e) from None
    finally:
        if bar is not None:
            bar.close()
    core.eval()
    return TrainResult(
        core,
        losses,
        step,
        interrupted=interrupted,
        trained=step - start,
        kept_previous=kept_previous,
        code=stop.code,
    )


def _lr_factor(step: int, opts: TrainOptions) -> float:
    if step < opts.warmup:
        return (step + 1) / opts.warmup
    progress = (step - opts.warmup) / max(1, opts.steps - opts.warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


# ---------------------------------------------------------------- CLI
class UsageError(ValueError):
    """A flag's value that can never work: one line and exit 2, before anything is read."""


MAX_THREADS = 256  # as run's --model-option threads


def build_parser() -> argparse.ArgumentParser:
    d = TrainOptions
    p = argparse.ArgumentParser(prog="duet-engine train", description=__doc__)
    p.add_argument(
        "--sessions",
        nargs="+",
        required=True,
        help="session .mkv files or folders of them (searched recursively; each file used once)",
    )
    p.add_argument("--out", required=True, help="checkpoint folder (config.json + model.safetensors)")
    p.add_argument(
        "--size", default=None, help=f"model size preset {sorted(PRESETS)} (default {SIZE_DEFAULT})"
    )
    p.add_argument("--config", default="", help="a config.json to use instead of --size")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    p.add_argument(
        "--overwrite", action="store_true", help="start over, replacing the checkpoint already in --out"
    )
    p.add_argument("--steps", type=int, default=d.steps, help=f"total optimizer steps (default {d.steps})")
    p.add_argument("--batch", type=int, default=d.batch, help=f"crops per step (default {d.batch})")
    p.add_argument(
        "--seq-units",
        type=int,
        default=d.seq_units,
        help=f"units (160 ms each) per training crop, >= 2 (default {d.seq_units})",
    )
    p.add_argument("--lr", type=float, default=d.lr, help=f"peak learning rate (default {d.lr:g})")
    p.add_argument(
        "--weight-decay",
        type=float,
        default=d.weight_decay,
        help=f"AdamW weight decay (default {d.weight_decay:g})",
    )
    p.add_argument(
        "--save-every",
        type=int,
        default=d.save_every,
        help=f"checkpoint every N steps (default {d.save_every})",
    )
    p.add_argument("--seed", type=int, default=d.seed, help=f"random seed of the crops (default {d.seed})")
    p.add_argument(
        "--device", default="auto", help="auto | cpu | cuda | cuda:N (default auto: cuda if there)"
    )
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help=f"CPU threads, 1..{MAX_THREADS} (default 0: half the cores, at most 8)",
    )
    p.add_argument(
        "--no-progress", action="store_true", help="no progress bar: a line every ~10%% of the steps instead"
    )
    return p


def _check_args(args: argparse.Namespace) -> None:
    """UsageError for a value no run could use (before any session is read)."""
    for name, value, least in (
        ("--steps", args.steps, 1),
        ("--batch", args.batch, 1),
        ("--seq-units", args.seq_units, 2),
        ("--save-every", args.save_every, 1),
    ):
        if value < least:
            raise UsageError(f"{name} must be >= {least}, got {value}")
    if not (math.isfinite(args.lr) and args.lr > 0):
        raise UsageError(f"--lr must be a finite number > 0, got {args.lr:g}")
    if not (math.isfinite(args.weight_decay) and args.weight_decay >= 0):
        raise UsageError(f"--weight-decay must be a finite number >= 0, got {args.weight_decay:g}")
    if not 0 <= args.threads <= MAX_THREADS:
        raise UsageError(f"--threads must be 1..{MAX_THREADS} (0: half the cores), got {args.threads}")


def _say(message: str) -> None:
    print(f"duet-engine train: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        _check_args(args)
    except UsageError as e:
        _say(f"error: {e}")
        return 2
    # SIGTERM outside the training loop (which handles it itself) stops with a word, not silently
    with handling(_raise_stop_now, signal.SIGTERM):
        return _main(args)


def _main(args: argparse.Namespace) -> int:
    out_dir = Path(args.out)
    created = [p for p in (out_dir, *out_dir.parents) if not p.exists()]  # removed again if empty

    def remove_created() -> None:
        for folder in created:  # nothing was saved: leave no empty folders behind (innermost first)
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()

    phase = "starting"
    cfg = preset(SIZE_DEFAULT)
    try:
        if args.resume and args.overwrite:
            raise ValueError("--resume and --overwrite exclude each other")
        has_checkpoint = (out_dir / hub.WEIGHTS_NAME).is_file()
        found = _model_files(out_dir)
        if found and not (args.resume or args.overwrite):
            raise ValueError(
                f"{out_dir} already holds a checkpoint ({', '.join(found)}): --resume continues it,"
                " --overwrite starts over"
            )
        if args.resume and not has_checkpoint and found:
            raise ValueError(
                f"{out_dir} holds {', '.join(found)} but no {hub.WEIGHTS_NAME}: --resume continues a"
                " checkpoint that train wrote; --overwrite starts over there, or pick another --out"
            )
        if args.resume and not has_checkpoint:
            _say(f"note: no checkpoint in {out_dir} to resume; from step 0")
        elif args.resume and not (out_dir / OPTIMIZER_NAME).is_file():
            _say(
                f"note: {out_dir} has weights but no {OPTIMIZER_NAME}: the weights go on,"
                " the optimizer and the step count start over"
            )
        if args.resume and (out_dir / hub.CONFIG_NAME).is_file():
            cfg = hub.load_config(out_dir, StreamerConfig)
            given = [f for f, v in (("--config", args.config), ("--size", args.size is not None)) if v]
            if given:
                _say(
                    f"note: {' and '.join(given)} ignored: --resume goes on with {out_dir / hub.CONFIG_NAME}"
                )
        elif args.config:
            cfg = _config_file(args.config)
            if args.size is not None:
                _say(f"note: --size ignored: --config {args.config} sets the model's size")
        else:
            cfg = preset(args.size or SIZE_DEFAULT)
        torch.set_num_threads(cpu_threads(str(args.threads) if args.threads else None))
        device = pick_device(args.device)  # an unusable --device is said before the sessions are read
        opts = TrainOptions(
            steps=args.steps,
            batch=args.batch,
            seq_units=args.seq_units,
            lr=args.lr,
            weight_decay=args.weight_decay,
            save_every=args.save_every,
            seed=args.seed,
            device=args.device,
            progress=not args.no_progress,
        )
        _check_out(out_dir)  # before hours of training, not at the first checkpoint
        phase = "reading"
        _say(f"reading the sessions under {', '.join(args.sessions)} ...")
        examples = load_examples(
            args.sessions, cfg, warn=lambda m: _say(f"warning: {m}"), note=lambda m: _say(f"note: {m}")
        )
        units = sum(e.n_units for e in examples)
        minutes = units * cfg.unit_ticks * TICK_S / 60
        _say(
            f"{len(examples)} session{'s' if len(examples) != 1 else ''} ({units} units, {minutes:.1f} min),"
            f" size {size_name(cfg)}"
            f" ({_parameters(cfg) / 1e6:.1f} M params), device {device}, threads {torch.get_num_threads()}"
            f" -> {out_dir}"
        )
        phase = "training"
        t0 = time.perf_counter()
        result = train(
            examples, cfg, opts, out_dir=out_dir, resume=args.resume, log=None if opts.progress else _say
        )
        seconds = round(time.perf_counter() - t0, 1)
        accuracy: DecisionScore | None = None
        if not result.interrupted:  # a stop asked for is not held up by a measurement
            phase = "measuring"
            try:
                accuracy = decision_accuracy(result.core, examples, opts)
            except (MemoryError, RuntimeError) as e:
                if not is_out_of_memory(e):
                    raise
                _say("warning: the decision accuracy was not measured: out of memory")
    except TrainOutOfMemory as e:
        size = f"size {size_name(cfg)}, batch {args.batch}, seq-units {args.seq_units}"
        _say(
            f"error: out of memory at step {e.step} ({size}): try a smaller --batch/--seq-units/--size;"
            f" {_kept(out_dir)}"
        )
        remove_created()
        return 1
    except (MemoryError, RuntimeError) as e:
        if not is_out_of_memory(e):
            raise
        if phase == "reading":
            why = (
                f"reading the sessions (all are held in memory, their frames at size {size_name(cfg)}'s"
                f" {cfg.video_out_size} px): train on fewer sessions or a smaller --size"
            )
        else:  # building the model, loading a checkpoint
            why = f"building the size {size_name(cfg)} model: try a smaller --size"
        _say(f"error: out of memory {why}")
        remove_created()
        return 1
    except (DataError, hub.CheckpointError, ValueError, FloatingPointError, OSError) as e:
        # OSError: an unwritable --out, a full disk (CheckpointSaveError says what is kept)
        message = e.strerror if isinstance(e, CheckpointSaveError) else str(e)
        _say(f"error: {message}")
        remove_created()
        return 1
    except KeyboardInterrupt as e:  # a second Ctrl-C / SIGTERM, or one before training began
        code = e.code if isinstance(e, StopNow) else 130
        if phase in ("starting", "reading"):
            _say("interrupted before training began: nothing was saved")
        elif phase == "measuring":
            _say(f"interrupted while measuring the decision accuracy; {_kept(out_dir)}")
        else:
            _say(f"stopped at once; {_kept(out_dir)}")
        remove_created()
        return code
    if result.step >= args.steps and not result.trained:
        _say(
            f"note: the checkpoint in {out_dir} is already at step {result.step}"
            f" (--steps {args.steps}): nothing to train; raise --steps to go on"
        )
    last = result.losses[-1] if result.losses else {}
    summary = {
        "out": str(out_dir),
        "steps": result.step,  # the step training reached (a resumed run counts on from its checkpoint)
        "saved_step": _checkpoint_step(out_dir),  # the step of the checkpoint in --out (None: none)
        "sessions": len(examples),
        "units": units,
        "first_loss": result.losses[0]["loss"] if result.losses else None,
        "last_loss": last.get("loss"),
        "last_loss_mean": smoothed_loss(result.losses),
        # teacher-forced on the training sessions; the baselines to judge it by (README)
        "decision_accuracy": None if accuracy is None else round(accuracy.accuracy, 4),
        "always_listen_accuracy": None if accuracy is None else round(accuracy.always_listen, 4),
        "keep_previous_accuracy": None if accuracy is None else round(accuracy.keep_previous, 4),
        "accuracy_units": None if accuracy is None else accuracy.units,
        "seconds": seconds,
        "interrupted": result.interrupted,
    }
    print(json.dumps(summary))
    if accuracy is not None:
        _say(decision_line(accuracy))
    if result.interrupted and result.kept_previous:
        _say(
            f"interrupted at step {result.step}, before this run's first checkpoint:"
            f" the checkpoint already in {out_dir} is kept (nothing of this run was saved)"
        )
        return result.code
    if result.interrupted:
        _say(
            f"interrupted at step {result.step}; its checkpoint is complete in {out_dir}: --resume continues"
        )
        return result.code
    return 0


def _parameters(cfg: StreamerConfig) -> int:
    """The model's parameter count, without allocating it (the meta device)."""
    with torch.device("meta"):
        return sum(p.numel() for p in StreamerCore(cfg).parameters())


def _checkpoint_step(out_dir: Path) -> int | None:
    """The step of the checkpoint in out_dir (its weights' duet_steps), or None."""
    try:
        with safe_open(str(out_dir / hub.WEIGHTS_NAME), framework="pt") as f:
            return int((f.metadata() or {})["duet_steps"])
    except (OSError, KeyError, ValueError, SafetensorError):
        return None


def _kept(out_dir: Path) -> str:
    step = _checkpoint_step(out_dir)
    if step is not None:
        return f"the checkpoint of step {step} in {out_dir} is kept"
    if (out_dir / hub.WEIGHTS_NAME).is_file():
        return f"the checkpoint in {out_dir} is kept"
    return "no checkpoint was saved"


def _model_files(out_dir: Path) -> list[str]:
    """Names in out_dir that a checkpoint (ours or another's) is made of: config, weights, pickles."""
    if not out_dir.is_dir():
        return []
    return sorted(
        p.name
        for p in out_dir.iterdir()
        if p.name in (hub.CONFIG_NAME, OPTIMIZER_NAME)
        or p.suffix == ".safetensors"
        or p.suffix in hub.PICKLE_SUFFIXES
    )


def _check_out(out_dir: Path) -> None:
    """--out can be created and written, or OSError with a plain reason."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OSError(f"cannot write checkpoints to {out_dir}: {folder_reason(e, out_dir)}") from None
    if not os.access(out_dir, os.W_OK):
        raise OSError(f"cannot write checkpoints to {out_dir}: the folder is not writable")


def _config_file(path: str) -> StreamerConfig:
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise hub.CheckpointError(f"{p}: cannot read config ({e})") from e
    return hub.config_from_dict(StreamerConfig, data, str(p))


if __name__ == "__main__":
    raise SystemExit(main())
