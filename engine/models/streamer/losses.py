"""Training losses: LM loss on the avatar's text tokens + decision loss (weight 1.0, SoundFlow's
ablation) + reconstruction losses on the avatar's audio (24 kHz PCM) and video (RGB frames)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .core import CoreOutputs
from .data import Targets

DECISION_WEIGHT = 1.0


def streamer_loss(
    out: CoreOutputs, tgt: Targets, audio_weight: float = 1.0, video_weight: float = 1.0
) -> tuple[Tensor, dict[str, float]]:
    decision = F.cross_entropy(out.decision_logits.flatten(0, 1).float(), tgt.decision.flatten())
    text = F.cross_entropy(out.text_logits.flatten(0, 2).float(), tgt.text.flatten())
    # audio: L1 on the waveform plus L1 on log-magnitude per 20 ms frame (loudness envelope)
    pcm, ref = out.pcm.float(), tgt.pcm
    audio = (pcm - ref).abs().mean()
    frame = 480
    b, u, n = pcm.shape
    env_p = torch.log(pcm.reshape(b, u, n // frame, frame).pow(2).mean(-1) + 1e-5)
    env_r = torch.log(ref.reshape(b, u, n // frame, frame).pow(2).mean(-1) + 1e-5)
    audio = audio + 0.1 * (env_p - env_r).abs().mean()
    per_seq = (out.frames.float() - tgt.frames).abs().flatten(1).mean(1)  # (B,)
    mask = tgt.has_frames.to(per_seq.dtype)
    video = (per_seq * mask).sum() / mask.sum().clamp(min=1.0)
    total = text + DECISION_WEIGHT * decision + audio_weight * audio + video_weight * video
    parts = {
        "loss": float(total.detach()),
        "text": float(text.detach()),
        "decision": float(decision.detach()),
        "audio": float(audio.detach()),
        "video": float(video.detach()),
    }
    return total, parts
