"""Hearing: streaming voice activity detection (silero-vad, ONNX) and speech recognition (pocketsphinx).

Both run on 16 kHz mono float32 audio fed as it arrives. The VAD works in 512-sample chunks
(32 ms) and keeps its recurrent state and 64-sample context between calls; the recognizer is fed
only while the user is speaking (an utterance), which keeps it cheap.
start()/feed()/partial()/finish() bracket one utterance.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np

VAD_CHUNK = 512  # samples at 16 kHz = 32 ms
_VAD_CONTEXT = 64


class StreamingVad:
    """Silero VAD v5/v6 via onnxruntime (one thread): speech probability per 32 ms chunk."""

    def __init__(self) -> None:
        import onnxruntime as ort

        path = resources.files("silero_vad.data").joinpath("silero_vad.onnx")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self._session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        self._sr = np.array(16000, dtype=np.int64)
        self.reset()

    def reset(self) -> None:
        self._state = np.zeros((2, 1, 128), np.float32)
        self._context = np.zeros(_VAD_CONTEXT, np.float32)
        self._pending = np.zeros(0, np.float32)

    def process(self, pcm: np.ndarray) -> np.ndarray:
        """Feed float32 (n,) audio; returns one probability per completed 512-sample chunk."""
        buf = np.concatenate([self._pending, np.asarray(pcm, np.float32)])
        n = len(buf) // VAD_CHUNK
        probs = np.zeros(n, np.float32)
        for i in range(n):
            chunk = buf[i * VAD_CHUNK : (i + 1) * VAD_CHUNK]
            x = np.concatenate([self._context, chunk])[None, :]
            out, self._state = self._session.run(None, {"input": x, "state": self._state, "sr": self._sr})
            self._context = chunk[-_VAD_CONTEXT:]
            probs[i] = float(out[0, 0])
        self._pending = buf[n * VAD_CHUNK :]
        return probs


@dataclass(frozen=True)
class Hypothesis:
    text: str
    confidence: float  # 0..1 (posterior probability of the best path; 0 when unknown)


class StreamingAsr:
    """pocketsphinx with its bundled en-us acoustic model, dictionary and language model.

    start() begins an utterance (optionally with pre-roll audio), feed() adds audio and returns the
    current partial hypothesis text, finish() ends the utterance and returns the final hypothesis.
    """

    def __init__(self) -> None:
        from pocketsphinx import Decoder

        self._decoder = Decoder(samprate=16000, loglevel="FATAL")
        self._active = False

    @property
    def active(self) -> bool:
        return self._active

    def start(self, pre_roll: np.ndarray | None = None) -> None:
        if self._active:
            self._decoder.end_utt()
        self._decoder.start_utt()
        self._active = True
        if pre_roll is not None and len(pre_roll):
            self.feed(pre_roll)

    def feed(self, pcm: np.ndarray) -> None:
        if not self._active:
            return
        data = (np.clip(pcm, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
        self._decoder.process_raw(data, False, False)

    def partial(self) -> str:
        """The current best hypothesis of the utterance so far ("" if none)."""
        if not self._active:
            return ""
        hyp = self._decoder.hyp()
        return _clean(hyp.hypstr) if hyp is not None else ""

    def finish(self) -> Hypothesis:
        if not self._active:
            return Hypothesis("", 0.0)
        self._decoder.end_utt()
        self._active = False
        hyp = self._decoder.hyp()
        if hyp is None:
            return Hypothesis("", 0.0)
        try:
            conf = float(self._decoder.get_logmath().exp(hyp.prob))
        except (AttributeError, OverflowError, ValueError):
            conf = 0.0
        return Hypothesis(_clean(hyp.hypstr), conf)

    def cancel(self) -> None:
        if self._active:
            self._decoder.end_utt()
            self._active = False


def _clean(text: str) -> str:
    """Drop pocketsphinx fillers (<sil>, [noise], ++garbage++) and alternates markers."""
    words = [w for w in text.split() if not w.startswith(("<", "[", "+"))]
    return " ".join(w.split("(")[0] for w in words)
