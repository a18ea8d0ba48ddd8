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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from engine import hub
from engine.paths import folder_reason
from engine.protocol import TICK_S, Decision

from .config import PRESETS, StreamerConfig, preset
from .core import StreamerCore
from .data import DataError, Example, load_examples, sample_batch
from .heads import DECISION_INDEX
from .inputs import UnitBatch, as_float
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
    code: int = 130  # the exit status an interruption gives: 130 Ctrl-C, 143 SIGTERM


class StopNow(KeyboardInterrupt):
    """A second Ctrl-C or SIGTERM: training stops at once (the last checkpoint is kept).
    `code`: the exit status (130 Ctrl-C, 143 SIGTERM, as a shell reports them)."""

    def __init__(self, code: int = 130) -> None:
        super().__init__()
        self.code = code


class TrainOutOfMemory(RuntimeError):
    """Out of memory in training step `step` (1-based); nothing of that step was saved. A
    RuntimeError, as torch's own (callers that caught those still do)."""

    def __init__(self, step: int, cause: BaseException) -> None:
        super().__init__(f"out of memory at step {step} ({cause})")
        self.step = step


def is_out_of_memory(e: BaseException) -> bool:
    """MemoryError, torch's OutOfMemoryError (CUDA), or the CPU allocator's RuntimeError."""
    if isinstance(e, (MemoryError, torch.OutOfMemoryError)):
        return True
    text = str(e)
    return isinstance(e, RuntimeError) and (
        "can't allocate memory" in text or "out of memory" in text.lower()
    )


def exit_code(signum: int | None) -> int:
    """130 for Ctrl-C (SIGINT), 143 for SIGTERM: 128 + the signal, as a shell reports it."""
    return 143 if signum == signal.SIGTERM else 130


class _StopOnCtrlC:
    """The first Ctrl-C (SIGINT) or SIGTERM (`kill`, `timeout`, a service manager stopping it) asks
    training to stop after the step it is in, so that step is checkpointed whole (an optimizer
    update cut in half would leave weights and moments apart); a second one stops at once
    (StopNow), except while a checkpoint is being moved in (then right after it, so no folder is
    left half old, half new). Only in the main thread (where Python delivers signals), and not
    for a signal that is ignored (SIGINT in a job started in the background). The handler only
    sets flags: printing from it could re-enter a stderr write in progress (the progress bar)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self.signum: int | None = None  # the signal that asked to stop
        self.saving = False  # a checkpoint is being written: a second signal waits for it
        self._abort = False  # a second signal came while saving
        self._previous: dict[int, Any] = {}  # signal -> the handler before ours

    @property
    def code(self) -> int:
        return exit_code(self.signum)

    def __enter__(self) -> _StopOnCtrlC:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                if signal.getsignal(sig) is not signal.SIG_IGN:
                    self._previous[sig] = signal.signal(sig, self._on_sigint)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)

    def _on_sigint(self, signum: int, frame: object) -> None:
        if not self.requested:
            self.requested = True
            self.signum = signum
        elif self.saving:
            self._abort = True
        else:
            raise StopNow(exit_code(signum))

    @contextlib.contextmanager
    def save(self) -> Iterator[None]:
        """Around a checkpoint save: a second signal during it stops training right after it."""
        self.saving = True
        try:
            yield
        finally:
            self.saving = False
        if self._abort:
            raise StopNow(self.code)


def _raise_stop_now(signum: int, frame: object) -> None:
    """SIGTERM outside the training loop (reading the sessions, measuring the accuracy): stop now,
    saying so, rather than die without a word."""
    raise StopNow(exit_code(signum))


def current_umask() -> int:
    """The process's umask, read without setting it where the system says it (Linux: another
    thread creating a file meanwhile would get a passing mask)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _respect_umask(path: Path) -> None:
    """safetensors creates its files -rw------- whatever the umask: give them the mode any other
    new file gets (0666 less the umask), as config.json and losses.jsonl have."""
    os.chmod(path, 0o666 & ~current_umask())


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
    _respect_umask(tmp)
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
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    """Fit a StreamerCore on `examples`; with out_dir, checkpoint there (and resume from it).
    `log`: without the progress bar (opts.progress False), a line every ~10% of the steps.
    TrainOutOfMemory when a step runs out of memory (the checkpoints saved before it are kept)."""
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


def _mean(rows: list[dict[str, float]], key: str) -> float:
    return sum(r[key] for r in rows) / max(1, len(rows))


def smoothed_loss(losses: list[dict[str, float]]) -> float | None:
    """The mean total loss over the last 10% of the steps (at least one): one step's loss is a
    single random batch, too noisy to compare runs by."""
    if not losses:
        return None
    tail = losses[-max(1, len(losses) // 10) :]
    return _mean(tail, "loss")


@dataclass(frozen=True)
class DecisionScore:
    """How often the model's decision matches the recorded one, and two baselines to judge it by."""

    accuracy: float
    always_listen: float  # the fraction of "listen" labels: a model that never speaks scores this
    # the fraction of units whose decision is the one before (fed back to the model): a model that
    # only copies its input scores this; above it, the model predicts turn changes
    keep_previous: float
    units: int  # units measured


@torch.no_grad()
def decision_accuracy(
    core: StreamerCore, examples: list[Example], opts: TrainOptions, max_units: int | None = None
) -> DecisionScore:
    """The model's decisions teacher-forced over the sessions, against the labels the decision
    loss uses (the recorded DecisionChanged events), and the baselines.
    Each session is cut into consecutive crops of --seq-units units, as training sees them, run
    --batch at a time; only the trunk and the decision head run (not the audio/video decoders).
    Past `max_units` (default: 16 training batches' worth) evenly spread crops stand for all."""
    seq = max(1, opts.seq_units)
    crops = [
        (i, lo, min(lo + seq, ex.n_units))
        for i, ex in enumerate(examples)
        for lo in range(0, ex.n_units, seq)
    ]
    limit = max_units if max_units is not None else 16 * opts.batch * seq
    total = sum(hi - lo for _, lo, hi in crops)
    if total > limit:
        keep = max(1, limit // seq)
        crops = [crops[round(k * len(crops) / keep)] for k in range(keep)]
    p = next(core.parameters())
    device = p.device
    was_training = core.training
    core.eval()
    right = listen = same = units = 0
    listen_index = DECISION_INDEX[Decision.LISTEN]
    by_length: dict[int, list[tuple[int, int, int]]] = {}
    for crop in crops:
        by_length.setdefault(crop[2] - crop[1], []).append(crop)
    try:
        for group in by_length.values():
            for k in range(0, len(group), max(1, opts.batch)):
                part = group[k : k + max(1, opts.batch)]
                ins = [examples[i].inputs.select(lo, hi) for i, lo, hi in part]
                labels = torch.cat([examples[i].targets.decision[:, lo:hi] for i, lo, hi in part])
                before = torch.cat([examples[i].inputs.prev_decision[:, lo:hi] for i, lo, hi in part])
                batch = UnitBatch.stack(ins)
                batch.video, batch.prev_frame = as_float(batch.video), as_float(batch.prev_frame)
                sink_text = torch.cat([examples[i].sink_text for i, _, _ in part]).to(device)
                identity = torch.cat([examples[i].identity for i, _, _ in part]).to(device)
                with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
                    sink = core.embed_sink(sink_text, identity)
                    x, _ = core.embed_units(batch.to(device), None)
                    hidden = core.transformer(sink, x)
                    logits = core.heads(hidden).decision_logits
                guess = logits.float().argmax(-1).cpu()
                right += int((guess == labels).sum())
                listen += int((labels == listen_index).sum())
                same += int((labels == before).sum())
                units += labels.numel()
    finally:
        core.train(was_training)
    n = max(1, units)
    return DecisionScore(right / n, listen / n, same / n, units)


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
        _respect_umask(stage / hub.WEIGHTS_NAME)
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
        plot_losses(losses, out_dir / PLOT_NAME, title=f"size {size_name(cfg)}, {n_sessions} sessions")
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


def size_name(cfg: StreamerConfig) -> str:
    """The preset `cfg` is (S, M, L), else "custom"."""
    return next((name for name, p in PRESETS.items() if p == cfg), "custom")


def moving_average(values: list[float], window: int) -> list[float]:
    """The mean of each value and the up to window - 1 before it (as long as the curve)."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def plot_losses(losses: list[dict[str, float]], path: Path, title: str = "") -> None:
    import matplotlib.pyplot as plt

    fig = loss_figure(losses, title)
    try:
        fig.savefig(path)
    finally:
        plt.close(fig)


def loss_figure(losses: list[dict[str, float]], title: str = "") -> Any:
    """The loss curves (a matplotlib Figure): each part's raw per-step loss faint, its moving
    average over ~10% of the steps on top; the total is "total"; a dashed line where a resumed run
    began; the legend outside, upper right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    steps = [x["step"] for x in losses]
    window = max(1, min(100, len(losses) // 10))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for n, key in enumerate(("loss", "text", "decision", "audio", "video")):
        color = colors[n % len(colors)]
        raw = [x[key] for x in losses]
        ax.plot(steps, raw, color=color, linewidth=0.8, alpha=0.25)
        ax.plot(
            steps,
            moving_average(raw, window),
            color=color,
            label="total" if key == "loss" else key,
            linewidth=2.0 if key == "loss" else 1.2,
        )
    resumed = [x["step"] - 1 for x in losses if x.get("resumed_from")]
    for k, at in enumerate(resumed):
        ax.axvline(at, color="grey", linestyle="--", linewidth=1.0, label="resumed" if k == 0 else None)
    ax.set_xlabel("step")
    ax.set_ylabel(f"loss (moving average of {window} steps; raw faint)" if window > 1 else "loss")
    ax.set_yscale("log")
    ax.set_title("streamer training" + (f": {title}" if title else ""))
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    return fig


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
    handled = threading.current_thread() is threading.main_thread() and (
        signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN
    )
    previous = signal.signal(signal.SIGTERM, _raise_stop_now) if handled else None
    try:
        return _main(args)
    finally:
        if handled:  # None: a handler not set from Python; the default is the closest
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


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


def decision_line(score: DecisionScore) -> str:
    """The accuracy beside its baselines, and what a score at a baseline means."""
    best = max(score.always_listen, score.keep_previous)
    if score.accuracy <= score.always_listen + 0.005:
        verdict = ": no better than always 'listen' (undertrained: more --steps; or broken: see README)"
    elif score.accuracy <= best + 0.005:
        verdict = ": no better than keeping the previous decision (it has not learned turn changes yet)"
    else:
        verdict = ""
    return (
        f"decision accuracy {score.accuracy:.3f} on the training sessions ({score.units} units);"
        f" always 'listen' would score {score.always_listen:.3f}, keeping the previous decision"
        f" {score.keep_previous:.3f}{verdict}"
    )


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
