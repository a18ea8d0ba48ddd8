"""Causal output decoders: avatar audio latents -> 24 kHz PCM, avatar video latents -> 25 fps RGB.

Explicit streaming state as in encoders.py: state=None starts a stream.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.protocol import AVATAR_SAMPLES_PER_TICK

from .config import StreamerConfig
from .encoders import CausalConv1d, unpatchify


class AudioDecoder(nn.Module):
    """Latents (B, U, ticks * A, Da) -> PCM (B, U, ticks * 960) in [-1, 1] at 24 kHz."""

    def __init__(self, cfg: StreamerConfig) -> None:
        super().__init__()
        self.frame = AVATAR_SAMPLES_PER_TICK // cfg.audio_out_tokens
        self.conv1 = CausalConv1d(cfg.audio_dec_dim, cfg.audio_kernel)
        self.conv2 = CausalConv1d(cfg.audio_dec_dim, cfg.audio_kernel)
        self.out = nn.Linear(cfg.audio_dec_dim, self.frame)

    def forward(self, latents: Tensor, state: list[Tensor] | None) -> tuple[Tensor, list[Tensor]]:
        b, u, n, _ = latents.shape
        h = latents.reshape(b, u * n, -1).transpose(1, 2)  # (B, Da, F) in time order
        s1, s2 = (None, None) if state is None else state
        y1, n1 = self.conv1(h, s1)
        h = h + F.gelu(y1)
        y2, n2 = self.conv2(h, s2)
        h = (h + F.gelu(y2)).transpose(1, 2)  # (B, F, Da)
        # samples in float32 whatever the model's dtype (bf16 would leave ~8 bits: a -48 dB noise
        # floor on the voice); autocast (training on a GPU) is kept from casting it back
        with torch.autocast(h.device.type, enabled=False):
            w, bias = self.out.weight.float(), self.out.bias.float()
            pcm = torch.tanh(F.linear(h.float(), w, bias)).reshape(b, u, n * self.frame)
        return pcm, [n1, n2]


class VideoDecoder(nn.Module):
    """Latents (B, U, ticks, grid^2, Dv) -> frames (B, U, ticks, 3, S, S) in [0, 1].

    Causal in time: each tick mixes in the previous tick's latents (state: (B, grid^2, Dv)).
    """

    def __init__(self, cfg: StreamerConfig) -> None:
        super().__init__()
        self.grid = cfg.video_out_grid
        self.patch = cfg.video_out_size // cfg.video_out_grid
        self.prev = nn.Linear(cfg.video_dec_dim, cfg.video_dec_dim)
        self.mix = nn.Linear(cfg.video_dec_dim, cfg.video_dec_dim)
        self.out = nn.Linear(cfg.video_dec_dim, 3 * self.patch**2)

    def forward(self, latents: Tensor, state: Tensor | None) -> tuple[Tensor, Tensor]:
        b, u, t, p, d = latents.shape
        seq = latents.reshape(b, u * t, p, d)
        if state is None:
            state = seq.new_zeros(b, p, d)
        previous = torch.cat([state[:, None], seq[:, :-1]], dim=1)  # (B, U*t, P, D): tick k-1
        h = seq + self.mix(F.gelu(seq + self.prev(previous)))
        pixels = torch.sigmoid(self.out(h))  # (B, U*t, P, 3*patch^2)
        frames = unpatchify(pixels.reshape(b * u * t, p, -1), self.grid, self.patch)
        return frames.reshape(b, u, t, *frames.shape[1:]), seq[:, -1]
