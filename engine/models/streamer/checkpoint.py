"""Checkpoints of `duet-engine train` in --out: config.json + model.safetensors, the AdamW state
in optimizer.safetensors, losses.jsonl and loss.png. A checkpoint is all or nothing: its files are
written into a staging folder first and moved in only when all of them were written, so a full
disk or a crash mid-save keeps the previous one whole."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from engine import hub

from .config import StreamerConfig
from .core import StreamerCore
from .report import plot_losses, size_name

OPTIMIZER_NAME = "optimizer.safetensors"
LOSSES_NAME = "losses.jsonl"
PLOT_NAME = "loss.png"
STAGING_PREFIX = ".saving-step-"  # a checkpoint being written (removed when it is moved in or fails)


class CheckpointSaveError(OSError):
    """A checkpoint could not be written; the previous one (if any) is untouched."""


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
