"""Causal input encoders: mic audio (16 kHz -> 25 Hz tokens), camera frames (-> patch tokens),
and the feedback embedders for the avatar's own previous output (24 kHz PCM, last frame).

Streaming state is explicit: a module returns its new state; passing state=None means "start of
stream" (zeros), so one call over a whole sequence equals chunked calls that carry the state.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.protocol import AVATAR_SAMPLES_PER_TICK, MIC_SAMPLES_PER_TICK

from .config import StreamerConfig


class CausalConv1d(nn.Module):
    """Conv1d over time that only sees the past: state = the last (kernel - 1) input frames."""

    def __init__(self, channels: int, kernel: int) -> None:
        super().__init__()
        self.kernel = kernel
        self.conv = nn.Conv1d(channels, channels, kernel)

    def forward(self, x: Tensor, state: Tensor | None) -> tuple[Tensor, Tensor]:
        # x: (B, C, T); state: (B, C, kernel - 1) or None
        b, c, _ = x.shape
        if state is None:
            state = x.new_zeros(b, c, self.kernel - 1)
        full = torch.cat([state, x], dim=-1)
        new_state = full[..., full.shape[-1] - (self.kernel - 1) :]
        return self.conv(full), new_state


def patchify(images: Tensor, patch: int) -> Tensor:
    """(N, 3, S, S) -> (N, (S/patch)^2, 3 * patch^2), row-major patches."""
    n, c, s, _ = images.shape
    g = s // patch
    x = images.reshape(n, c, g, patch, g, patch).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(n, g * g, c * patch * patch)


def unpatchify(patches: Tensor, grid: int, patch: int) -> Tensor:
    """(N, grid^2, 3 * patch^2) -> (N, 3, grid * patch, grid * patch)."""
    n = patches.shape[0]
    x = patches.reshape(n, grid, grid, 3, patch, patch).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(n, 3, grid * patch, grid * patch)


class AudioEncoder(nn.Module):
    """Mic PCM (B, U, unit_ticks * 640) at 16 kHz -> (B, U, unit_ticks, d): one token per 40 ms tick."""

    def __init__(self, cfg: StreamerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.frame = MIC_SAMPLES_PER_TICK // cfg.audio_subframes
        self.inp = nn.Linear(self.frame, cfg.audio_enc_dim)
        self.conv1 = CausalConv1d(cfg.audio_enc_dim, cfg.audio_kernel)
        self.conv2 = CausalConv1d(cfg.audio_enc_dim, cfg.audio_kernel)
        self.out = nn.Linear(2 * cfg.audio_enc_dim, cfg.d_model)

    def forward(self, mic: Tensor, state: list[Tensor] | None) -> tuple[Tensor, list[Tensor]]:
        b, u, _ = mic.shape
        ticks, sub = self.cfg.unit_ticks, self.cfg.audio_subframes
        frames = mic.reshape(b, u * ticks * sub, self.frame)  # (B, F, 640/sub), F frames in time order
        # log-energy per frame makes quiet and loud speech alike visible to the encoder
        energy = torch.log(frames.pow(2).mean(-1, keepdim=True) + 1e-6)
        h = self.inp(frames * 4.0).transpose(1, 2)  # (B, E, F)
        s1, s2 = (None, None) if state is None else state
        y1, n1 = self.conv1(h, s1)
        h = h + F.gelu(y1)
        y2, n2 = self.conv2(h, s2)
        h = (h + F.gelu(y2)).transpose(1, 2)  # (B, F, E)
        h = h.reshape(b, u * ticks, sub, -1)
        pooled = torch.cat([h.mean(2), h.amax(2)], dim=-1)  # (B, U*ticks, 2E)
        tokens = self.out(pooled).reshape(b, u, ticks, -1)
        tokens = tokens + energy.reshape(b, u, ticks, sub).mean(-1, keepdim=True) * 0.1
        return tokens, [n1, n2]


class VideoEncoder(nn.Module):
    """Frames (N, 3, S, S) in [0, 1] -> (N, (S/patch)^2, d) patch tokens. Per frame, so causal."""

    def __init__(self, cfg: StreamerConfig) -> None:
        super().__init__()
        self.patch = cfg.video_patch
        self.proj = nn.Linear(3 * cfg.video_patch**2, cfg.d_model)
        self.pos = nn.Parameter(torch.randn(cfg.video_in_tokens, cfg.d_model) * 0.02)
        self.no_video = nn.Parameter(torch.randn(cfg.d_model) * 0.02)

    def forward(self, frames: Tensor, present: Tensor) -> Tensor:
        # frames: (N, 3, S, S); present: (N,) bool -> (N, P, d)
        tokens = self.proj(patchify(frames * 2.0 - 1.0, self.patch))
        tokens = torch.where(present[:, None, None], tokens, self.no_video.to(tokens.dtype))
        return tokens + self.pos


class PcmFeedback(nn.Module):
    """The avatar's previous-unit PCM (B, U, ticks * 960) -> (B, U, ticks * A, d)."""

    def __init__(self, cfg: StreamerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.frame = AVATAR_SAMPLES_PER_TICK // cfg.audio_out_tokens
        self.proj = nn.Linear(self.frame, cfg.d_model)

    def forward(self, pcm: Tensor) -> Tensor:
        b, u, _ = pcm.shape
        return self.proj(pcm.reshape(b, u, -1, self.frame) * 4.0)


class FrameFeedback(nn.Module):
    """The avatar's previous frame (N, 3, S, S) -> (N, grid^2, d), pooled to grid * fb_patch."""

    def __init__(self, cfg: StreamerConfig) -> None:
        super().__init__()
        self.side = cfg.video_out_grid * cfg.video_fb_patch
        self.patch = cfg.video_fb_patch
        self.proj = nn.Linear(3 * cfg.video_fb_patch**2, cfg.d_model)

    def forward(self, frames: Tensor) -> Tensor:
        pooled = F.adaptive_avg_pool2d(frames, self.side)
        return self.proj(patchify(pooled * 2.0 - 1.0, self.patch))
