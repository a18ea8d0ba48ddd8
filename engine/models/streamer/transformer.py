"""Block-causal Transformer with a ring KV cache and a pinned, position-free sink.

Sequence: [sink (S tokens)] [unit 0 (L tokens)] [unit 1] ... Attention rules:
- sink tokens see the sink only;
- a unit token sees the whole sink and every token of the last `window_units` units, its own
  unit included (full within a unit, causal across units).
Positions: every token of unit u has absolute position u (RoPE); order inside a unit comes from
learned slot embeddings. The sink has no position: its scores use the un-rotated q.k, so it is
equally visible at unit 10 and unit 10 000. Implemented by concatenating the head dim:
q' = [rot(q), q]; unit keys k' = [rot(k), 0]; sink keys k' = [0, k]; scale 1/sqrt(head_dim).

Streaming keeps, per layer, fixed-size buffers: S sink slots + window_units * L ring slots,
written with index_copy_ from device index tensors, so a step has fixed shapes (CUDA-graphable)
and memory stays constant however long the session runs. The step recomputes the sink's score
columns un-rotated, so the cache does not store the zero halves of the concatenated keys.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import StreamerConfig


def rope_tables(pos: Tensor, head_dim: int, theta: float, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """cos/sin (N, head_dim/2) for integer positions (N,): angles in float64 (float32 on MPS, which
    has no float64), tables in float32 or `dtype`, whichever is wider (apply_rope works in float32)."""
    half = head_dim // 2
    wide = torch.float32 if pos.device.type == "mps" else torch.float64
    inv = theta ** (-torch.arange(half, dtype=wide, device=pos.device) / half)
    ang = pos.to(wide)[:, None] * inv[None, :]
    out = dtype if dtype == torch.float64 else torch.float32
    return ang.cos().to(out), ang.sin().to(out)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """x: (B, H, N, hd); cos/sin: (N, hd/2)."""
    x1, x2 = x.float().chunk(2, dim=-1)
    cos, sin = cos.float(), sin.float()
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).to(x.dtype)


def attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, scale: float) -> Tensor:
    """softmax(q k^T * scale, masked) v. q (..., Nq, E), k (..., Nk, E), v (..., Nk, Ev); mask bool
    broadcastable to (..., Nq, Nk), True = attend. Fused SDPA kernels on GPU; on CPU a plain
    matmul-softmax is faster for these small, masked shapes (no mask conversion per call)."""
    if q.is_cuda:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)
    scores = torch.matmul(q, k.transpose(-1, -2)) * scale
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.matmul(torch.softmax(scores, dim=-1), v)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype) * self.weight


@dataclass
class LayerCache:
    k: Tensor  # (B, H, S + W*L, hd): un-rotated sink keys, then rotated unit keys in ring slot order
    v: Tensor  # (B, H, S + W*L, hd)


class Attention(nn.Module):
    def __init__(self, cfg: StreamerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.h, self.hd = cfg.n_heads, cfg.head_dim
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.out = nn.Linear(cfg.d_model, cfg.d_model, bias=False)

    def _split(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        b, n, _ = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.h, self.hd).permute(2, 0, 3, 1, 4)
        return q, k, v  # each (B, H, N, hd)

    def _attend(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
        y = attention(q, k, v, mask, 1.0 / math.sqrt(self.hd))
        b, _, n, _ = y.shape
        return self.out(y.transpose(1, 2).reshape(b, n, self.h * self.hd))

    def forward_full(self, x: Tensor, n_sink: int, cos: Tensor, sin: Tensor, mask: Tensor) -> Tensor:
        """x: (B, S + U*L, d); cos/sin for every token; mask (S+UL, S+UL) bool (True = attend)."""
        q, k, v = self._split(x)
        zeros = torch.zeros_like(k)
        q2 = torch.cat([apply_rope(q, cos, sin), q], dim=-1)
        k_rot = apply_rope(k, cos, sin)
        k2 = torch.cat(
            [
                torch.cat([zeros[:, :, :n_sink], k[:, :, :n_sink]], dim=-1),
                torch.cat([k_rot[:, :, n_sink:], zeros[:, :, n_sink:]], dim=-1),
            ],
            dim=2,
        )
        return self._attend(q2, k2, v, mask)

    def forward_windowed(self, x: Tensor, n_sink: int, n_units: int, cos: Tensor, sin: Tensor) -> Tensor:
        """Same result as forward_full, computing only the sink + window blocks (training path).

        x: (B, S + U*L, d). Each unit's queries attend to the sink and to a gathered stack of the
        last `window_units` units' keys (units before the start are masked), like a streaming step.
        """
        b, n, _ = x.shape
        # a crop shorter than the window needs no more than its own units (the rest would be masked)
        w, ln = min(self.cfg.window_units, n_units), (n - n_sink) // n_units
        q, k, v = self._split(x)
        qs, ks, vs = q[:, :, :n_sink], k[:, :, :n_sink], v[:, :, :n_sink]
        qu = apply_rope(q[:, :, n_sink:], cos[n_sink:], sin[n_sink:])
        ku = apply_rope(k[:, :, n_sink:], cos[n_sink:], sin[n_sink:])
        qu = torch.cat([qu, q[:, :, n_sink:]], dim=-1).reshape(b, self.h, n_units, ln, 2 * self.hd)
        ku = torch.cat([ku, torch.zeros_like(ku)], dim=-1).reshape(b, self.h, n_units, ln, 2 * self.hd)
        vu = v[:, :, n_sink:].reshape(b, self.h, n_units, ln, self.hd)

        def windows(t: Tensor) -> Tensor:  # (B, H, U, L, E) -> (B, H, U, W*L, E), oldest unit first
            padded = F.pad(t, (0, 0, 0, 0, w - 1, 0))
            return padded.unfold(2, w, 1).permute(0, 1, 2, 5, 3, 4).reshape(b, self.h, n_units, w * ln, -1)

        sink_k = torch.cat([torch.zeros_like(ks), ks], dim=-1)[:, :, None].expand(-1, -1, n_units, -1, -1)
        sink_v = vs[:, :, None].expand(-1, -1, n_units, -1, -1)
        keys = torch.cat([sink_k, windows(ku)], dim=3)
        vals = torch.cat([sink_v, windows(vu)], dim=3)
        unit = torch.arange(n_units, device=x.device)[:, None]
        slot_unit = unit - (w - 1) + torch.arange(w, device=x.device).repeat_interleave(ln)[None, :]
        mask = torch.cat(
            [torch.ones(n_units, n_sink, dtype=torch.bool, device=x.device), slot_unit >= 0], dim=1
        )
        # flatten (H, U) into one batch dim: 4-D inputs keep the fused GPU kernels available
        hu, kn = self.h * n_units, n_sink + w * ln
        mask4 = mask[None, :, None].expand(self.h, n_units, 1, kn).reshape(hu, 1, kn)
        yu = attention(
            qu.reshape(b, hu, ln, -1),
            keys.reshape(b, hu, kn, -1),
            vals.reshape(b, hu, kn, -1),
            mask4,
            1.0 / math.sqrt(self.hd),
        )
        yu = yu.reshape(b, self.h, n_units * ln, self.hd)
        if n_sink:
            qs2 = torch.cat([torch.zeros_like(qs), qs], dim=-1)
            ks2 = torch.cat([torch.zeros_like(ks), ks], dim=-1)
            ys = attention(qs2, ks2, vs, None, 1.0 / math.sqrt(self.hd))
            yu = torch.cat([ys, yu], dim=2)
        return self.out(yu.transpose(1, 2).reshape(b, n, self.h * self.hd))

    def prefill_sink(self, x: Tensor, cache: LayerCache) -> Tensor:
        """x: (B, S, d) sink tokens; writes the sink keys/values into the cache."""
        q, k, v = self._split(x)
        n = x.shape[1]
        cache.k[:, :, :n] = k
        cache.v[:, :, :n] = v
        return self._attend(q, k, v, None)

    def step(
        self, x: Tensor, cos: Tensor, sin: Tensor, write_idx: Tensor, mask: Tensor, cache: LayerCache
    ) -> Tensor:
        """x: (B, L, d) one unit; write_idx (L,) cache slots; mask (S + W*L,) bool: slots in use.

        Scores are rot(q) . k over the ring and q . k over the sink (its columns are recomputed
        un-rotated in place), softmax in float32, then weights . v: the same numbers as the
        concatenated-head-dim form of forward_full, without storing zero halves.
        """
        q, k, v = self._split(x)
        n_sink = self.cfg.sink_len
        cache.k.index_copy_(2, write_idx, apply_rope(k, cos, sin))
        cache.v.index_copy_(2, write_idx, v)
        scale = 1.0 / math.sqrt(self.hd)
        scores = torch.matmul(apply_rope(q, cos, sin) * scale, cache.k.transpose(-1, -2))
        if n_sink:
            scores[..., :n_sink] = torch.matmul(q * scale, cache.k[:, :, :n_sink].transpose(-1, -2))
        scores = scores.masked_fill_(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1, dtype=torch.float32).to(v.dtype)
        y = torch.matmul(weights, cache.v)
        b, _, n, _ = y.shape
        return self.out(y.transpose(1, 2).reshape(b, n, self.h * self.hd))


class Block(nn.Module):
    def __init__(self, cfg: StreamerConfig) -> None:
        super().__init__()
        self.norm1 = RMSNorm(cfg.d_model)
        self.attn = Attention(cfg)
        self.norm2 = RMSNorm(cfg.d_model)
        hidden = cfg.ffn_mult * cfg.d_model
        self.mlp = nn.Sequential(nn.Linear(cfg.d_model, hidden), nn.GELU(), nn.Linear(hidden, cfg.d_model))

    def _mlp(self, x: Tensor) -> Tensor:
        return x + self.mlp(self.norm2(x))


def block_causal_mask(n_sink: int, n_units: int, unit_len: int, window: int, device: torch.device) -> Tensor:
    """(S + U*L, S + U*L) bool: the sink+window block-causal pattern of this module's docstring."""
    unit = torch.arange(n_units, device=device).repeat_interleave(unit_len)  # (U*L,)
    du = unit[:, None] - unit[None, :]
    units = (du >= 0) & (du < window)
    n = n_sink + n_units * unit_len
    mask = torch.zeros(n, n, dtype=torch.bool, device=device)
    mask[:n_sink, :n_sink] = True
    mask[n_sink:, :n_sink] = True
    mask[n_sink:, n_sink:] = units
    return mask


class StreamerTransformer(nn.Module):
    def __init__(self, cfg: StreamerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.d_model)

    def forward(self, sink: Tensor, units: Tensor, first_unit: int = 0, impl: str = "window") -> Tensor:
        """Batch pass. sink: (B, S, d); units: (B, U, L, d) -> hidden (B, U, L, d).

        impl "mask": one attention over the whole sequence with the block-causal mask (the
        reference); "window": only the sink + window blocks (same result, far cheaper for long U).
        `first_unit` is the absolute index of units[:, 0] (only relative positions matter).
        """
        if impl not in ("mask", "window"):
            raise ValueError(f"impl must be 'mask' or 'window', got {impl!r}")
        b, u, ln, d = units.shape
        s = sink.shape[1]
        x = torch.cat([sink, units.reshape(b, u * ln, d)], dim=1)
        pos = torch.cat(
            [torch.zeros(s, dtype=torch.long), torch.arange(first_unit, first_unit + u).repeat_interleave(ln)]
        ).to(x.device)
        cos, sin = rope_tables(pos, self.cfg.head_dim, self.cfg.rope_theta, x.dtype)
        mask = block_causal_mask(s, u, ln, self.cfg.window_units, x.device) if impl == "mask" else None
        for blk in self._blocks():
            if mask is not None:
                x = x + blk.attn.forward_full(blk.norm1(x), s, cos, sin, mask)
            else:
                x = x + blk.attn.forward_windowed(blk.norm1(x), s, u, cos, sin)
            x = blk._mlp(x)
        return self.norm(x[:, s:]).reshape(b, u, ln, d)

    def _blocks(self) -> list[Block]:
        return cast("list[Block]", self.blocks)  # nn.ModuleList iterates as plain Modules

    def new_cache(self, batch: int, device: torch.device, dtype: torch.dtype) -> list[LayerCache]:
        n = self.cfg.sink_len + self.cfg.window_units * self.cfg.unit_len
        h, hd = self.cfg.n_heads, self.cfg.head_dim
        return [
            LayerCache(
                k=torch.zeros(batch, h, n, hd, device=device, dtype=dtype),
                v=torch.zeros(batch, h, n, hd, device=device, dtype=dtype),
            )
            for _ in self.blocks
        ]

    def prefill_sink(self, sink: Tensor, caches: list[LayerCache]) -> None:
        x = sink
        for blk, cache in zip(self._blocks(), caches):
            if x.shape[1]:
                x = x + blk.attn.prefill_sink(blk.norm1(x), cache)
                x = blk._mlp(x)

    def step(
        self,
        unit: Tensor,
        cos: Tensor,
        sin: Tensor,
        write_idx: Tensor,
        mask: Tensor,
        caches: list[LayerCache],
    ) -> Tensor:
        """One unit. unit: (B, L, d); cos/sin (L, hd/2) at the unit's position -> hidden (B, L, d)."""
        x = unit
        for blk, cache in zip(self._blocks(), caches):
            x = x + blk.attn.step(blk.norm1(x), cos, sin, write_idx, mask, cache)
            x = blk._mlp(x)
        return self.norm(x)
