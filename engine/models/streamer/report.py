"""What `duet-engine train` reports: the smoothed loss, the decision accuracy beside its
baselines, and the loss curve (loss.png)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from engine.protocol import Decision

from .config import PRESETS, StreamerConfig
from .core import StreamerCore
from .heads import DECISION_INDEX
from .inputs import UnitBatch, as_float

if TYPE_CHECKING:  # train.py imports this module
    from .data import Example
    from .train import TrainOptions


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
