"""Tensors the core consumes, and the conversions from numpy media shared by inference and training.

Inference (model.py) and training (data.py) build inputs with the same functions here, so a model
sees at run time exactly what it was trained on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from engine.paths import assets_dir

from . import tokenizer
from .config import StreamerConfig


@dataclass
class UnitBatch:
    """B sequences of U units. The `prev_*` fields are the avatar's output of the previous unit
    (teacher forcing in training; the model's own output when streaming)."""

    mic: Tensor  # (B, U, unit_ticks * 640) float, 16 kHz
    video: Tensor  # (B, U, 3, video_in_size, video_in_size) float in [0, 1]: last camera frame of the unit
    has_video: Tensor  # (B, U) bool: False when the unit had no camera frame
    text_in: Tensor  # (B, U, text_in_slots) long byte ids (PAD-filled)
    prev_decision: Tensor  # (B, U) long, index into heads.DECISIONS
    prev_text: Tensor  # (B, U, text_out_slots) long
    prev_pcm: Tensor  # (B, U, unit_ticks * 960) float, 24 kHz
    prev_frame: Tensor  # (B, U, 3, video_out_size, video_out_size) float in [0, 1]: last avatar frame

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.mic.shape[0]), int(self.mic.shape[1])

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> UnitBatch:
        out = {}
        for f in fields(self):
            t: Tensor = getattr(self, f.name)
            out[f.name] = (
                t.to(device=device, dtype=dtype) if (dtype and t.is_floating_point()) else t.to(device)
            )
        return UnitBatch(**out)

    def select(self, lo: int, hi: int) -> UnitBatch:
        """Units [lo, hi) of every sequence."""
        return UnitBatch(**{f.name: getattr(self, f.name)[:, lo:hi] for f in fields(self)})

    @staticmethod
    def stack(items: list[UnitBatch]) -> UnitBatch:
        """Concatenate along the batch dimension (same U)."""
        return UnitBatch(
            **{f.name: torch.cat([getattr(i, f.name) for i in items]) for f in fields(UnitBatch)}
        )


def frames_to_tensor(frames: np.ndarray, size: int) -> Tensor:
    """uint8 (N, H, W, 3) RGB -> float (N, 3, size, size) in [0, 1] (antialiased bilinear)."""
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (N, H, W, 3) uint8, got {frames.shape}")
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255.0
    if x.shape[-2:] != (size, size) and x.shape[0]:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x.clamp(0.0, 1.0)


def frames_u8(frames: np.ndarray, index: list[int], size: int, chunk: int = 256) -> Tensor:
    """frames[index] resized to size x size, as uint8 (N, 3, size, size): sessions stay compact in
    memory (float conversion happens per training batch, see as_float)."""
    parts = [
        (frames_to_tensor(frames[index[i : i + chunk]], size) * 255.0 + 0.5).to(torch.uint8)
        for i in range(0, len(index), chunk)
    ]
    return torch.cat(parts) if parts else torch.zeros(0, 3, size, size, dtype=torch.uint8)


def as_float(x: Tensor) -> Tensor:
    """uint8 pixels -> float in [0, 1]; float tensors pass through."""
    return x.float() / 255.0 if x.dtype == torch.uint8 else x


def tensor_to_frames(x: Tensor) -> np.ndarray:
    """float (N, 3, S, S) in [0, 1] -> uint8 (N, S, S, 3)."""
    return (x.detach().float().clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


# ---------------------------------------------------------------- sink: persona prompt + identity frame
def persona_text(persona: str) -> str:
    """The persona prompt: name, description and system prompt from assets/personas/<id>.yaml (or a
    YAML path) when present, else the id itself."""
    path = (
        Path(persona)
        if persona.endswith((".yaml", ".yml"))
        else assets_dir() / "personas" / f"{persona}.yaml"
    )
    if path.is_file():
        try:
            import yaml

            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except Exception:  # a broken persona file must not stop the model: fall back to its id
            data = None
        if isinstance(data, dict):
            parts = [str(data.get(k) or "") for k in ("name", "description", "system_prompt", "prompt")]
            text = " ".join(p for p in parts if p).strip()
            if text:
                return text
    return persona


def identity_frame(avatar: str, size: int) -> np.ndarray:
    """uint8 (size, size, 3): assets/avatars/<id>.png if shipped, else a deterministic pattern of the id."""
    path = assets_dir() / "avatars" / f"{avatar}.png"
    if path.is_file():
        try:
            from PIL import Image

            with Image.open(path) as img:
                rgb = img.convert("RGB").resize((size, size))
                return np.asarray(rgb, dtype=np.uint8).copy()
        except Exception:  # unreadable image: use the pattern below
            pass
    digest = hashlib.sha256(avatar.encode("utf-8")).digest()
    c1, c2 = np.frombuffer(digest[:3], np.uint8), np.frombuffer(digest[3:6], np.uint8)
    yy, xx = np.mgrid[0:size, 0:size]
    r = np.hypot(yy - size / 2, xx - size / 2) / (size / 2)
    w = np.clip(1.0 - r, 0, 1)[..., None]
    return (c1 * w + c2 * (1 - w)).astype(np.uint8)


def sink_inputs(cfg: StreamerConfig, persona: str, avatar: str) -> tuple[Tensor, Tensor]:
    """(1, sink_text_tokens) long persona bytes, (1, 3, video_in_size, video_in_size) identity frame."""
    ids = tokenizer.pad_to([tokenizer.BOS, *tokenizer.encode(persona_text(persona))], cfg.sink_text_tokens)
    text = torch.tensor([ids], dtype=torch.long)
    frame = frames_to_tensor(identity_frame(avatar, cfg.video_in_size)[None], cfg.video_in_size)
    return text, frame
