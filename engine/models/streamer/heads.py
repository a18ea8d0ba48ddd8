"""Output heads read from the hidden states of a unit's output slots.

decision: listen / speak / yield (the speak head of ROMA, the decision token of SoundFlow);
text: avatar text bytes (the language-model head); audio / video: latents for the causal decoders.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from engine.protocol import Decision

from . import tokenizer
from .config import StreamerConfig

DECISIONS: tuple[Decision, ...] = (Decision.LISTEN, Decision.SPEAK, Decision.YIELD)  # class index order
DECISION_INDEX: dict[Decision, int] = {d: i for i, d in enumerate(DECISIONS)}


@dataclass
class HeadOutputs:
    decision_logits: Tensor  # (B, U, 3)
    text_logits: Tensor  # (B, U, text_out_slots, VOCAB_SIZE)
    audio_latents: Tensor  # (B, U, ticks * A, audio_dec_dim)
    video_latents: Tensor  # (B, U, ticks, grid^2, video_dec_dim)


class OutputHeads(nn.Module):
    def __init__(self, cfg: StreamerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.decision = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.d_model), nn.GELU(), nn.Linear(cfg.d_model, 3)
        )
        self.text = nn.Linear(cfg.d_model, tokenizer.VOCAB_SIZE)
        self.audio = nn.Linear(cfg.d_model, cfg.audio_dec_dim)
        self.video = nn.Linear(cfg.d_model, cfg.video_dec_dim)

    def forward(self, hidden: Tensor) -> HeadOutputs:
        # hidden: (B, U, L, d) -> slices per segment
        off = self.cfg.offsets()
        b, u = hidden.shape[:2]

        def seg(name: str) -> Tensor:
            lo, hi = off[name]
            return hidden[:, :, lo:hi]

        return HeadOutputs(
            decision_logits=self.decision(seg("decision")[:, :, 0]),
            text_logits=self.text(seg("text_out")),
            audio_latents=self.audio(seg("audio_out")),
            video_latents=self.video(seg("video_out")).reshape(
                b, u, self.cfg.unit_ticks, self.cfg.video_out_tokens, -1
            ),
        )
