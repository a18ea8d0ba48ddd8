"""Random StreamerCore inputs for the streamer tests."""

from __future__ import annotations

import torch

from engine.models.streamer import tokenizer
from engine.models.streamer.config import StreamerConfig
from engine.models.streamer.inputs import UnitBatch

FIELDS = ("decision_logits", "text_logits", "pcm", "frames")


def random_units(cfg: StreamerConfig, b: int, u: int, seed: int) -> UnitBatch:
    g = torch.Generator().manual_seed(seed)
    s_in, s_out = cfg.video_in_size, cfg.video_out_size
    return UnitBatch(
        mic=torch.randn(b, u, cfg.mic_per_unit, generator=g) * 0.2,
        video=torch.rand(b, u, 3, s_in, s_in, generator=g),
        has_video=torch.rand(b, u, generator=g) > 0.3,
        text_in=torch.randint(0, tokenizer.VOCAB_SIZE, (b, u, cfg.text_in_slots), generator=g),
        prev_decision=torch.randint(0, 3, (b, u), generator=g),
        prev_text=torch.randint(0, tokenizer.VOCAB_SIZE, (b, u, cfg.text_out_slots), generator=g),
        prev_pcm=torch.randn(b, u, cfg.pcm_per_unit, generator=g) * 0.2,
        prev_frame=torch.rand(b, u, 3, s_out, s_out, generator=g),
    )
