"""`duet-engine train`: fit the streamer on recorded sessions (NAME.mkv + NAME.events.jsonl).

Writes to --out: config.json + model.safetensors (loadable with --weights), optimizer.safetensors
(AdamW state, for --resume), losses.jsonl (one line per step) and loss.png (the loss curve).
A checkpoint is all or nothing: its files are written into a staging folder first and moved in
only when all of them were written, so a full disk or a crash mid-save keeps the previous one whole.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from engine import hub
from engine.paths import folder_reason

from .config import PRESETS, StreamerConfig, preset
from .core import StreamerCore
from .data import DataError, Example, load_examples, sample_batch
from .losses import streamer_loss
from .model import cpu_threads, pick_device

OPTIMIZER_NAME = "optimizer.safetensors"
LOSSES_NAME = "losses.jsonl"
SIZE_DEFAULT = "S"
PLOT_NAME = "loss.png"
STAGING_PREFIX = ".saving-step-"  # a checkpoint being written (removed when it is moved in or fails)


class CheckpointSaveError(OSError):
    """A checkpoint could not be written; the previous one (if any) is untouched."""


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


class _StopOnCtrlC:
    """The first Ctrl-C (SIGINT) asks training to stop after the step it is in, so that step is
    checkpointed whole (an optimizer update cut in half would leave weights and moments apart); a
    second one stops at once, except while a checkpoint is being moved in (then right after it, so
    no folder is left half old, half new). Only in the main thread (where Python delivers
    signals), and not where SIGINT is ignored (a job started in the background). The handler only
    sets flags: printing from it could re-enter a stderr write in progress (the progress bar)."""

    def __init__(self) -> None:
        self.requested = False
        self.saving = False  # a checkpoint is being written: a second Ctrl-C waits for it
        self._abort = False  # a second Ctrl-C came while saving
        self._previous: Any = None  # the SIGINT handler before ours
        self._installed = False

    def __enter__(self) -> _StopOnCtrlC:
        main = threading.current_thread() is threading.main_thread()
        if main and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
            self._installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)

    def _on_sigint(self, signum: int, frame: object) -> None:
        if not self.requested:
            self.requested = True
        elif self.saving:
            self._abort = True
        else:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def save(self) -> Iterator[None]:
        """Around a checkpoint save: a second Ctrl-C during it stops training right after it."""
        self.saving = True
        try:
            yield
        finally:
            self.saving = False
        if self._abort:
            raise KeyboardInterrupt


# ---------------------------------------------------------------- optimizer state in safetensors
def save_optimizer(opt: torch.optim.Optimizer, path: Path, step: int) -> None:
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, float]] = {}
    for idx, st in sd["state"].items():
        for key, val in st.items():
            if isinstance(val, torch.Tensor):
                tensors[f"state.{idx}.{key}"] = val.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(idx), {})[key] = float(val)
    meta = {"step": str(step), "param_groups": json.dumps(sd["param_groups"]), "scalars": json.dumps(scalars)}
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)


def load_optimizer(opt: torch.optim.Optimizer, path: Path) -> int:
    hub.check_safetensors_file(path)
    state: dict[int, dict[str, object]] = {}
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            for key in f.keys():  # noqa: SIM118 - "state.{param index}.{name}"
                prefix, idx, name = key.split(".", 2)
                if prefix != "state":
                    raise ValueError(f"unexpected tensor {key!r}")
                state.setdefault(int(idx), {})[name] = f.get_tensor(key)
        groups = json.loads(meta["param_groups"])
        for idx, vals in json.loads(meta.get("scalars", "{}")).items():
            state.setdefault(int(idx), {}).update(vals)
        step = int(meta["step"])
    except (KeyError, ValueError, SafetensorError) as e:
        raise hub.CheckpointError(f"{path}: not a Duet optimizer checkpoint ({e})") from e
    try:
        opt.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError) as e:
        raise hub.CheckpointError(f"{path}: does not match the model ({e})") from e
    return step


# ---------------------------------------------------------------- training
def train(
    examples: list[Example],
    cfg: StreamerConfig,
    opts: TrainOptions,
    out_dir: Path | None = None,
    resume: bool = False,
) -> TrainResult:
    """Fit a StreamerCore on `examples`; with out_dir, checkpoint there (and resume from it)."""
    if not examples:
        raise DataError("no training sessions")
    torch.manual_seed(opts.seed)
    device = pick_device(opts.device)
    core = StreamerCore(cfg)
    losses: list[dict[str, float]] = []
    start = 0
    resuming = resume and out_dir is not None and (out_dir / hub.WEIGHTS_NAME).is_file()
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
    step = start
    saved = start if resume and start else None  # newest step whose checkpoint is complete in out_dir
    # a checkpoint from before this run is there (--overwrite): a Ctrl-C before this run's first
    # scheduled save keeps it rather than trading it for a few steps of the new run
    replacing = out_dir is not None and not resume and (out_dir / hub.WEIGHTS_NAME).is_file()
    kept_previous = False
    try:
        with _StopOnCtrlC() as stop:
            stopping = False
            while step < opts.steps and not stopping:
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
                step += 1
                parts["step"] = step
                losses.append(parts)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{parts['loss']:.3f}", dec=f"{parts['decision']:.3f}")
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
    finally:
        if bar is not None:
            bar.close()
    core.eval()
    return TrainResult(
        core, losses, step, interrupted=interrupted, trained=step - start, kept_previous=kept_previous
    )


def _lr_factor(step: int, opts: TrainOptions) -> float:
    if step < opts.warmup:
        return (step + 1) / opts.warmup
    progress = (step - opts.warmup) / max(1, opts.steps - opts.warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def save_checkpoint(
    core: StreamerCore,
    cfg: StreamerConfig,
    opt: torch.optim.Optimizer,
    out_dir: Path,
    step: int,
    losses: list[dict[str, float]],
    n_sessions: int,
    previous: int | None = None,
) -> None:
    """Weights, config, optimizer and losses of `step` into out_dir, all or nothing; then the plot.
    `previous`: the step of the checkpoint already there (named in the error if this one fails)."""
    meta = {"duet_trained": "true", "duet_steps": str(step), "duet_sessions": str(n_sessions)}
    stage = out_dir / f"{STAGING_PREFIX}{step}"
    try:
        for left in out_dir.glob(f"{STAGING_PREFIX}*"):  # left by a crash mid-save (any step)
            shutil.rmtree(left, ignore_errors=True)
        stage.mkdir(parents=True)
        hub.save_pretrained(core, cfg, stage, metadata=meta)
        save_optimizer(opt, stage / OPTIMIZER_NAME, step)
        (stage / LOSSES_NAME).write_text("".join(json.dumps(x) + "\n" for x in losses), encoding="utf-8")
        # the weights last: a folder that has them has everything of the same step
        for name in (hub.CONFIG_NAME, OPTIMIZER_NAME, LOSSES_NAME, hub.WEIGHTS_NAME):
            os.replace(stage / name, out_dir / name)
    except (OSError, SafetensorError) as e:  # safetensors reports a full disk as its own error
        reason = (e.strerror or str(e)) if isinstance(e, OSError) else _io_reason(str(e))
        if previous is not None:
            kept = f"the checkpoint of step {previous} is kept"
        elif (out_dir / hub.WEIGHTS_NAME).is_file():
            kept = f"the checkpoint already in {out_dir} is kept"
        else:
            kept = "no checkpoint had been saved yet"
        errno = (e.errno if isinstance(e, OSError) else None) or 5
        raise CheckpointSaveError(
            errno, f"cannot save the checkpoint of step {step} in {out_dir}: {reason}; {kept}"
        ) from e
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    try:
        plot_losses(losses, out_dir / PLOT_NAME)
    except OSError as e:  # the curve is a convenience: the checkpoint is already safe
        print(f"duet-engine train: warning: cannot write {out_dir / PLOT_NAME}: {e}", file=sys.stderr)


def _read_losses(path: Path) -> list[dict[str, float]]:
    """The loss log, one JSON object a step; lines that do not parse (a hand edit, a cut-off write)
    are skipped with a warning: the log only draws the curve, the checkpoint does not depend on it."""
    out: list[dict[str, float]] = []
    bad: list[int] = []
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            row = None
        if isinstance(row, dict) and all(isinstance(row.get(k), (int, float)) for k in ("step", "loss")):
            out.append(row)
        else:
            bad.append(n)
    if bad:
        where = ", ".join(map(str, bad[:5])) + (f" (+{len(bad) - 5} more)" if len(bad) > 5 else "")
        print(f"duet-engine train: warning: {path}: skipped unreadable line(s) {where}", file=sys.stderr)
    return out


def _io_reason(message: str) -> str:
    """safetensors' "Error while serializing: I/O error: No space left on device (os error 28)"
    -> "No space left on device"."""
    message = re.sub(r"^Error while serializing: (I/O error: )?", "", message)
    return re.sub(r" \(os error \d+\)$", "", message)


def plot_losses(losses: list[dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    steps = [x["step"] for x in losses]
    for key in ("loss", "text", "decision", "audio", "video"):
        ax.plot(steps, [x[key] for x in losses], label=key, linewidth=1.6 if key == "loss" else 1.0)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.set_title("streamer training")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# ---------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="duet-engine train", description=__doc__)
    p.add_argument("--sessions", nargs="+", required=True, help="session .mkv files or folders of them")
    p.add_argument("--out", required=True, help="checkpoint folder (config.json + model.safetensors)")
    p.add_argument(
        "--size", default=None, help=f"model size preset {sorted(PRESETS)} (default {SIZE_DEFAULT})"
    )
    p.add_argument("--config", default="", help="a config.json to use instead of --size")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    p.add_argument(
        "--overwrite", action="store_true", help="start over, replacing the checkpoint already in --out"
    )
    p.add_argument("--steps", type=int, default=TrainOptions.steps, help="total optimizer steps")
    p.add_argument("--batch", type=int, default=TrainOptions.batch)
    p.add_argument("--seq-units", type=int, default=TrainOptions.seq_units, help="units per training crop")
    p.add_argument("--lr", type=float, default=TrainOptions.lr)
    p.add_argument("--weight-decay", type=float, default=TrainOptions.weight_decay)
    p.add_argument("--save-every", type=int, default=TrainOptions.save_every)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (default: half the cores)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out_dir = Path(args.out)
    created = [p for p in (out_dir, *out_dir.parents) if not p.exists()]  # removed again if empty
    try:
        for name, value in (
            ("--steps", args.steps),
            ("--batch", args.batch),
            ("--seq-units", args.seq_units),
            ("--save-every", args.save_every),
        ):
            if value < 1:
                raise ValueError(f"{name} must be >= 1")
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
            print(
                f"duet-engine train: note: no checkpoint in {out_dir} to resume; from step 0", file=sys.stderr
            )
        elif args.resume and not (out_dir / OPTIMIZER_NAME).is_file():
            print(
                f"duet-engine train: note: {out_dir} has weights but no {OPTIMIZER_NAME}: the weights go on,"
                " the optimizer and the step count start over",
                file=sys.stderr,
            )
        if args.resume and (out_dir / hub.CONFIG_NAME).is_file():
            cfg = hub.load_config(out_dir, StreamerConfig)
            given = [f for f, v in (("--config", args.config), ("--size", args.size is not None)) if v]
            if given:
                print(
                    f"duet-engine train: note: {' and '.join(given)} ignored: --resume goes on with"
                    f" {out_dir / hub.CONFIG_NAME}",
                    file=sys.stderr,
                )
        elif args.config:
            cfg = _config_file(args.config)
        else:
            cfg = preset(args.size or SIZE_DEFAULT)
        torch.set_num_threads(cpu_threads(str(args.threads) if args.threads else None))
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
        examples = load_examples(
            args.sessions,
            cfg,
            warn=lambda m: print(f"duet-engine train: warning: {m}", file=sys.stderr),
            note=lambda m: print(f"duet-engine train: note: {m}", file=sys.stderr),
        )
        t0 = time.perf_counter()
        result = train(examples, cfg, opts, out_dir=out_dir, resume=args.resume)
    except (DataError, hub.CheckpointError, ValueError, FloatingPointError, OSError) as e:
        # OSError: an unwritable --out, a full disk (CheckpointSaveError says what is kept)
        message = e.strerror if isinstance(e, CheckpointSaveError) else str(e)
        print(f"duet-engine train: error: {message}", file=sys.stderr)
        for folder in created:  # nothing was saved: leave no empty folders behind (innermost first)
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        return 1
    if result.step >= args.steps and not result.trained:
        print(
            f"duet-engine train: note: the checkpoint in {out_dir} is already at step {result.step}"
            f" (--steps {args.steps}): nothing to train; raise --steps to go on",
            file=sys.stderr,
        )
    last = result.losses[-1] if result.losses else {}
    summary = {
        "out": str(out_dir),
        "steps": result.step,
        "sessions": len(examples),
        "units": sum(e.n_units for e in examples),
        "first_loss": result.losses[0]["loss"] if result.losses else None,
        "last_loss": last.get("loss"),
        "seconds": round(time.perf_counter() - t0, 1),
        "interrupted": result.interrupted,
    }
    print(json.dumps(summary))
    if result.interrupted and result.kept_previous:
        print(
            f"duet-engine train: interrupted at step {result.step}, before this run's first checkpoint:"
            f" the checkpoint already in {out_dir} is kept (nothing of this run was saved)",
            file=sys.stderr,
        )
        return 130
    if result.interrupted:
        print(
            f"duet-engine train: interrupted at step {result.step}; its checkpoint is complete in {out_dir}:"
            " --resume continues",
            file=sys.stderr,
        )
        return 130
    return 0


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
