"""A burst too short to be a turn (a cough, a click) withdraws the partial caption it started."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import numpy as np

from engine.models.lite.hearing import VAD_CHUNK, StreamingVad
from engine.protocol import SessionSpec

from .harness import place, run_model

if TYPE_CHECKING:
    from engine.models.lite.model import LiteModel


class BurstVad:
    """The real VAD, except that chunks starting inside [t0, t1) seconds are sure speech."""

    def __init__(self, real: StreamingVad, t0: float, t1: float) -> None:
        self.real, self.t0, self.t1, self.pos = real, t0, t1, 0

    def reset(self) -> None:
        self.real.reset()
        self.pos = 0

    def process(self, pcm: np.ndarray) -> np.ndarray:
        probs = self.real.process(pcm)
        for i in range(len(probs)):
            t = (self.pos + i * VAD_CHUNK) / 16000
            probs[i] = 0.99 if self.t0 <= t < self.t1 else 0.0
        self.pos += len(probs) * VAD_CHUNK
        return probs


def test_short_burst_withdraws_its_partial_and_gets_no_answer(
    lite_model: LiteModel, user_speech: dict[str, np.ndarray]
) -> None:
    mic = place(3.0, [(1.0, user_speech["what"])])
    lite_model.open(SessionSpec(frame_size=64, options={"tts_wait_ms": "10000"}))
    real = lite_model._vad
    # 100 ms of speech: shorter than a turn (160 ms); BurstVad stands in for the StreamingVad it wraps
    lite_model._vad = cast(StreamingVad, BurstVad(real, 1.0, 1.1))
    try:
        run = run_model(lite_model, mic, keep_frames=False, open_session=False)
    finally:
        lite_model._vad = real
    user = [(t.text, t.final) for t in run.transcripts("user")]
    assert user and not user[0][1] and user[0][0], "the burst started a partial caption"
    assert user[-1] == ("", True), "and the partial was withdrawn"
    assert not [t for t in user if t[1] and t[0]], "no final user turn"
    assert not run.transcripts("avatar") and not np.any(run.avatar_pcm), "nothing to answer"
