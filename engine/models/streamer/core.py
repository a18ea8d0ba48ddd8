"""StreamerCore: encoders + block-causal Transformer + heads + decoders, batch and streaming.

`forward(sink_text, identity, batch)` runs whole sequences at once (training, reference);
`start(...)` + `step(unit)` run the same computation one unit at a time with explicit state
(ring KV cache, encoder/decoder conv states). Both give the same outputs (tests/streamer).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from . import tokenizer
from .config import StreamerConfig
from .decoders import AudioDecoder, VideoDecoder
from .encoders import AudioEncoder, FrameFeedback, PcmFeedback, VideoEncoder
from .heads import HeadOutputs, OutputHeads
from .inputs import UnitBatch
from .transformer import LayerCache, StreamerTransformer, rope_tables


@dataclass
class CoreOutputs:
    decision_logits: Tensor  # (B, U, 3)
    text_logits: Tensor  # (B, U, text_out_slots, VOCAB)
    pcm: Tensor  # (B, U, unit_ticks * 960) avatar audio for the NEXT unit's ticks, 24 kHz
    frames: Tensor  # (B, U, unit_ticks, 3, S, S) avatar frames for the NEXT unit's ticks, [0, 1]


@dataclass
class StreamState:
    caches: list[LayerCache]
    mask: Tensor  # (S + W*L,) bool: which cache slots hold something (the sink always)
    write_idx: Tensor  # (L,) long: cache slots of the unit being stepped
    pos: Tensor  # (1,) long: absolute position (unit index) of the unit being stepped
    audio_enc: list[Tensor] | None = None
    audio_dec: list[Tensor] | None = None
    video_dec: Tensor | None = None
    units: int = 0  # units stepped so far

    def clone(self) -> StreamState:
        """A copy that shares no tensor with this state (stepping one leaves the other as it was)."""
        copy = lambda ts: None if ts is None else [t.clone() for t in ts]  # noqa: E731
        return StreamState(
            [LayerCache(c.k.clone(), c.v.clone()) for c in self.caches],
            self.mask.clone(),
            self.write_idx.clone(),
            self.pos.clone(),
            audio_enc=copy(self.audio_enc),
            audio_dec=copy(self.audio_dec),
            video_dec=None if self.video_dec is None else self.video_dec.clone(),
            units=self.units,
        )


class StreamerCore(nn.Module):
    def __init__(self, cfg: StreamerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.text_emb = nn.Embedding(tokenizer.VOCAB_SIZE, d)
        self.decision_emb = nn.Embedding(3, d)
        self.slot_emb = nn.Parameter(torch.randn(cfg.unit_len, d) * 0.02)  # order inside a unit
        self.sink_emb = nn.Parameter(torch.randn(max(cfg.sink_len, 1), d) * 0.02)  # order inside the sink
        self.audio_enc = AudioEncoder(cfg)
        self.video_enc = VideoEncoder(cfg)
        self.pcm_fb = PcmFeedback(cfg)
        self.frame_fb = FrameFeedback(cfg)
        self.transformer = StreamerTransformer(cfg)
        self.heads = OutputHeads(cfg)
        self.audio_dec = AudioDecoder(cfg)
        self.video_dec = VideoDecoder(cfg)

    # ------------------------------------------------------------ embeddings
    def embed_sink(self, sink_text: Tensor, identity: Tensor) -> Tensor:
        """sink_text (B, St) long, identity (B, 3, Sv, Sv) -> (B, S, d)."""
        present = torch.ones(identity.shape[0], dtype=torch.bool, device=identity.device)
        x = torch.cat([self.text_emb(sink_text), self.video_enc(identity, present)], dim=1)
        return x + self.sink_emb[: x.shape[1]]

    def embed_units(self, batch: UnitBatch, audio_state: list[Tensor] | None) -> tuple[Tensor, list[Tensor]]:
        """-> (B, U, L, d) in segment order of cfg.segments, and the new audio encoder state."""
        cfg = self.cfg
        b, u = batch.shape
        video = self.video_enc(batch.video.flatten(0, 1), batch.has_video.flatten()).reshape(
            b, u, -1, cfg.d_model
        )
        audio, audio_state = self.audio_enc(batch.mic, audio_state)
        frame_fb = self.frame_fb(batch.prev_frame.flatten(0, 1)).reshape(b, u, 1, -1, cfg.d_model)
        parts = [
            video,
            audio,
            self.text_emb(batch.text_in),
            self.decision_emb(batch.prev_decision)[:, :, None],
            self.text_emb(batch.prev_text),
            self.pcm_fb(batch.prev_pcm),
            frame_fb.expand(b, u, cfg.unit_ticks, -1, -1).reshape(b, u, -1, cfg.d_model),
        ]
        return torch.cat(parts, dim=2) + self.slot_emb, audio_state

    def _decode(
        self, heads: HeadOutputs, audio_state: list[Tensor] | None, video_state: Tensor | None
    ) -> tuple[CoreOutputs, list[Tensor], Tensor]:
        pcm, audio_state = self.audio_dec(heads.audio_latents, audio_state)
        frames, video_state = self.video_dec(heads.video_latents, video_state)
        out = CoreOutputs(heads.decision_logits, heads.text_logits, pcm, frames)
        return out, audio_state, video_state

    # ------------------------------------------------------------ batch
    def forward(
        self, sink_text: Tensor, identity: Tensor, batch: UnitBatch, impl: str = "window"
    ) -> CoreOutputs:
        """Whole sequences: sink_text (B, St), identity (B, 3, Sv, Sv), batch of U units.

        impl: "mask" (one pass with the block-causal mask, the reference) or "window" (cheaper).
        """
        sink = self.embed_sink(sink_text, identity)
        units, _ = self.embed_units(batch, None)
        hidden = self.transformer(sink, units, impl=impl)
        out, _, _ = self._decode(self.heads(hidden), None, None)
        return out

    # ------------------------------------------------------------ streaming
    @torch.no_grad()
    def start(self, sink_text: Tensor, identity: Tensor) -> StreamState:
        cfg = self.cfg
        p = next(self.parameters())
        b = sink_text.shape[0]
        caches = self.transformer.new_cache(b, p.device, p.dtype)
        sink = self.embed_sink(sink_text.to(p.device), identity.to(p.device, p.dtype))
        self.transformer.prefill_sink(sink, caches)
        mask = torch.zeros(cfg.sink_len + cfg.window_units * cfg.unit_len, dtype=torch.bool, device=p.device)
        mask[: cfg.sink_len] = True
        write_idx = torch.arange(cfg.unit_len, device=p.device) + cfg.sink_len
        k = cfg.audio_kernel - 1
        zeros = lambda *shape: torch.zeros(*shape, device=p.device, dtype=p.dtype)  # noqa: E731
        return StreamState(
            caches,
            mask,
            write_idx,
            torch.zeros(1, dtype=torch.long, device=p.device),
            audio_enc=[zeros(b, cfg.audio_enc_dim, k), zeros(b, cfg.audio_enc_dim, k)],
            audio_dec=[zeros(b, cfg.audio_dec_dim, k), zeros(b, cfg.audio_dec_dim, k)],
            video_dec=zeros(b, cfg.video_out_tokens, cfg.video_dec_dim),
        )

    def _advance(self, state: StreamState) -> None:
        """Point the state's index tensors at the next unit (in place: CUDA-graph friendly)."""
        cfg = self.cfg
        slot = state.units % cfg.window_units
        lo = cfg.sink_len + slot * cfg.unit_len
        state.write_idx.copy_(torch.arange(lo, lo + cfg.unit_len, device=state.write_idx.device))
        state.mask[lo : lo + cfg.unit_len] = True
        state.pos.fill_(state.units)

    @torch.no_grad()
    def step(self, state: StreamState, unit: UnitBatch) -> CoreOutputs:
        """One unit (U == 1) -> outputs (B, 1, ...). Fixed shapes; memory does not grow."""
        if unit.shape[1] != 1:
            raise ValueError(f"step() takes one unit at a time, got {unit.shape[1]}")
        self._advance(state)
        out = self.step_body(state, unit)
        state.units += 1
        return out

    def step_body(self, state: StreamState, unit: UnitBatch) -> CoreOutputs:
        """The device work of a step: reads the state's index tensors, updates every state tensor
        in place, allocates nothing that outlives the call. This is what a CUDA graph captures."""
        assert state.audio_enc is not None and state.audio_dec is not None and state.video_dec is not None
        x, audio_enc = self.embed_units(unit, state.audio_enc)
        cos, sin = rope_tables(state.pos, self.cfg.head_dim, self.cfg.rope_theta, x.dtype)
        hidden = self.transformer.step(x[:, 0], cos, sin, state.write_idx, state.mask, state.caches)
        heads = self.heads(hidden[:, None])
        pcm, audio_dec = self.audio_dec(heads.audio_latents, state.audio_dec)
        frames, video_dec = self.video_dec(heads.video_latents, state.video_dec)
        for dst, src in zip(
            [*state.audio_enc, *state.audio_dec, state.video_dec], [*audio_enc, *audio_dec, video_dec]
        ):
            dst.copy_(src)
        return CoreOutputs(heads.decision_logits, heads.text_logits, pcm, frames)
